// loadConfigFile: real files, and the file-level failures (missing, a directory, too big, not UTF-8).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_UCI, defaultConfig, loadConfigFile, MAX_CONFIG_BYTES } from '../../src/config/index.js';
import { configErrorOf } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tunguard-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('loadConfigFile', () => {
  test('loads the shipped file', () => {
    expect(loadConfigFile(write('tunguard', DEFAULT_UCI))).toEqual({ config: defaultConfig(), warnings: [] });
  });

  test('loads settings and returns warnings with their lines', () => {
    const path = write('w', "config tunguard 'main'\n\toption queues '2'\n\toption queues '3'\n");
    const { config, warnings } = loadConfigFile(path);
    expect(config.main.queues).toBe(3);
    expect(warnings).toEqual([
      { line: 3, column: 9, message: 'line 3: option queues repeated; it overrides the value from line 2' },
    ]);
  });

  test('an error names the file and the line', () => {
    const path = write('bad', "config defense 'syn'\n\toption risky_action 'nuke'\n");
    const err = configErrorOf(() => loadConfigFile(path));
    expect(err.path).toBe(path);
    expect(err.line).toBe(2);
    expect(err.message).toBe(
      `${path}: line 2: option risky_action: expected one of 'cookie', 'drop', got 'nuke'`,
    );
  });

  test('a missing file', () => {
    const path = join(dir, 'nope');
    const err = configErrorOf(() => loadConfigFile(path));
    expect(err.path).toBe(path);
    expect(err.line).toBeUndefined();
    expect(err.issues).toEqual([]);
    expect(err.message).toBe(`${path}: cannot read: ENOENT`);
  });

  test('a directory', () => {
    const path = join(dir, 'sub');
    mkdirSync(path);
    expect(configErrorOf(() => loadConfigFile(path)).message).toBe(`${path}: not a regular file`);
  });

  test('a file too large to be a config', () => {
    const path = write('big', `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    expect(configErrorOf(() => loadConfigFile(path)).message).toMatch(/larger than/);
  });

  test('bytes that are not UTF-8, with their line', () => {
    const path = write(
      'latin1',
      Buffer.concat([
        Buffer.from("config tunguard\n\toption wan_device 'eth"),
        Buffer.from([0xe9]),
        Buffer.from("'\n"),
      ]),
    );
    const err = configErrorOf(() => loadConfigFile(path));
    expect([err.line, err.column]).toEqual([2, 24]);
    expect(err.message).toBe(`${path}: line 2: not valid UTF-8 text`);
  });
});
