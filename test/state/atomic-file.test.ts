// Atomic file replacement, both forms: the whole new content or the old, the mode it is given or the one
// it had, nothing left behind when it fails, and a link at the target replaced rather than followed.
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync } from '../../src/state/atomic-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tunguard-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const forms = [
  ['async', writeFileAtomic],
  ['sync', async (...a: Parameters<typeof writeFileAtomicSync>) => writeFileAtomicSync(...a)],
] as const;

describe.each(forms)('writeFileAtomic (%s)', (_form, write) => {
  it('creates 0600, replaces the whole content, leaves no temporary file', async () => {
    const file = join(dir, 'x');
    await write(file, 'one');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await write(file, 'two');
    expect(readFileSync(file, 'utf8')).toBe('two');
    expect(readdirSync(dir)).toEqual(['x']);
  });

  it("takes the given mode, or with 'keep' the old file's", async () => {
    const file = join(dir, 'x');
    await write(file, 'a', { mode: 0o644 });
    expect(statSync(file).mode & 0o777).toBe(0o644);
    chmodSync(file, 0o640);
    await write(file, 'b', { mode: 'keep' });
    expect(statSync(file).mode & 0o777).toBe(0o640);
    await write(join(dir, 'new'), 'c', { mode: 'keep' });
    expect(statSync(join(dir, 'new')).mode & 0o777).toBe(0o600);
  });

  it('fails without leaving anything when the directory is missing', async () => {
    await expect(write(join(dir, 'missing', 'x'), 'y')).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('replaces a link at the target instead of writing through it', async () => {
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'keep me');
    symlinkSync(secret, join(dir, 'x'));
    await write(join(dir, 'x'), 'new');
    expect(readFileSync(secret, 'utf8')).toBe('keep me');
    expect(readFileSync(join(dir, 'x'), 'utf8')).toBe('new');
  });
});
