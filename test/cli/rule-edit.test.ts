// The CLI's bounded reads for `rules save` and `programs add`: a regular file or stdin, never through a
// symlink, and never more than the bound (the rpcd plugin passes browser input through here).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBounded } from '../../src/cli/rule-edit.js';
import { REPO_ROOT } from '../lab/lab.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tunguard-rule-edit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readBounded', () => {
  it('reads a regular file up to the bound, and refuses one byte more', () => {
    writeFileSync(join(dir, 'ok'), 'x'.repeat(100));
    expect(readBounded(join(dir, 'ok'), 100, 'the rule').length).toBe(100);
    expect(() => readBounded(join(dir, 'ok'), 99, 'the rule')).toThrow(/is 100 bytes; at most 99 are taken/);
  });

  it('refuses a symlink, a directory and a missing file, saying which', () => {
    writeFileSync(join(dir, 'target'), 'secret');
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    mkdirSync(join(dir, 'sub'));
    expect(() => readBounded(join(dir, 'link'), 100, 'the program')).toThrow(/is a symlink: refused/);
    expect(() => readBounded(join(dir, 'sub'), 100, 'the program')).toThrow(/not a regular file/);
    expect(() => readBounded(join(dir, 'none'), 100, 'the program')).toThrow(/cannot open .*ENOENT/);
  });

  it('bounds stdin too (no size to check first): `rules save -` with 64 KiB + 1 is refused', () => {
    const cli = join(REPO_ROOT, 'bin', 'tunguard');
    const run = (input: string) =>
      spawnSync(process.execPath, [cli, 'rules', 'save', '-', '--api', '127.0.0.1:9', '--json'], {
        input,
        encoding: 'utf8',
      });
    const big = run(`{"id":"r","pad":"${'x'.repeat(64 * 1024)}"}`);
    expect(big.status).toBe(1);
    expect(big.stderr + big.stdout).toMatch(/larger than 65536 bytes/);
    const notJson = run('{nope');
    expect(notJson.status).toBe(2);
    expect(notJson.stderr + notJson.stdout).toMatch(/the rule is not JSON/);
    // A well-formed rule gets as far as the API (nothing listens on port 9 here).
    const ok = run('{"rule":{"id":"r1","kind":"threat"},"create":true}');
    expect(ok.stderr + ok.stdout).toMatch(/cannot reach the API|ECONNREFUSED/);
  });
});
