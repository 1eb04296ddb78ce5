// The agent's log file stays within its bound: past it the log moves to .1, and only one .1 is kept.

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogFile } from '../../src/agent/logfile.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-agent-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('agent log file', () => {
  it('rotates at the bound and never holds more than twice it', () => {
    const file = join(dir, 'agent.log');
    const log = new LogFile(file, 1000);
    for (let i = 0; i < 200; i++) log.write(`line ${i} ${'x'.repeat(40)}`);
    expect(statSync(file).size).toBeLessThanOrEqual(1000);
    expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(1000);
    expect(existsSync(`${file}.2`)).toBe(false);
    // The newest line is in the log, and the lines just before it in .1: nothing in between was lost.
    expect(readFileSync(file, 'utf8')).toMatch(/line 199 x+\n$/);
    const last = Number(/line (\d+) x+\n$/.exec(readFileSync(`${file}.1`, 'utf8'))?.[1]);
    expect(readFileSync(file, 'utf8')).toMatch(new RegExp(`^\\S+ line ${last + 1} `));
  });

  it('counts what an earlier run left in the file', () => {
    const file = join(dir, 'again.log');
    new LogFile(file, 500).write('a'.repeat(400));
    new LogFile(file, 500).write('b'.repeat(200));
    expect(readFileSync(`${file}.1`, 'utf8')).toContain('a'.repeat(400));
    expect(readFileSync(file, 'utf8')).toContain('b'.repeat(200));
  });
});
