// Quarantine and restore against a local user racing them: a real process flips a parent directory to a
// symlink in a loop, or keeps creating the file a restore is about to put back. The checks run on the
// agent's Quarantine in this process; the racer is a separate process, as an attacker would be.
// Negative controls: the old path-based restore (check, then rename by path) under the same racer.

import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveUnderRoots } from '../../src/agent/paths.js';
import { Quarantine } from '../../src/agent/quarantine.js';
import { Refused } from '../../src/agent/refused.js';

let racer: ChildProcess | undefined;
const bases: string[] = [];

afterEach(() => {
  racer?.kill('SIGKILL');
  racer = undefined;
  for (const b of bases.splice(0)) rmSync(b, { recursive: true, force: true });
});

function tempBase(parent = tmpdir()): string {
  const b = mkdtempSync(join(parent, 'tg-qrace-'));
  bases.push(b);
  return b;
}

/** Starts `script` (Node) as its own process with `args`; resolves once it prints "ready". */
function startRacer(script: string, args: string[]): Promise<void> {
  racer = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    racer?.stdout?.once('data', () => ok());
    racer?.once('exit', (c) => fail(new Error(`racer exited ${c}`)));
  });
}

/** Flips `sub` between the real directory and a symlink to `target`, four renames a round, forever. */
const SWAPPER = `
const fs = require('node:fs');
const [sub, target] = process.argv.slice(1);
const real = sub + '.real', link = sub + '.link';
fs.symlinkSync(target, link);
console.log('ready');
for (;;) {
  try { fs.renameSync(sub, real); fs.renameSync(link, sub); fs.renameSync(sub, link); fs.renameSync(real, sub); } catch {}
}`;

/** Creates `path` (O_EXCL) and unlinks it again, forever: the unlink removes whatever sits there then. */
const SQUATTER = `
const fs = require('node:fs');
const [path] = process.argv.slice(1);
console.log('ready');
for (;;) {
  try { fs.closeSync(fs.openSync(path, 'wx')); fs.unlinkSync(path); } catch {}
}`;

/** The restore before this fix: checks the path component by component, then renames by path. */
function oldRestore(qdir: string, id: string, roots: string[]): string {
  const meta = JSON.parse(readFileSync(join(qdir, `${id}.json`), 'utf8'));
  const r = resolveUnderRoots(dirname(meta.originalPath), basename(meta.originalPath), roots, false);
  if (r.stat || existsSync(r.path)) throw new Refused('exists', 'exists');
  try {
    renameSync(join(qdir, `${id}.data`), r.path);
  } catch (e) {
    throw new Refused('not-found', String(e)); // the swapper's gap: sub missing for a moment
  }
  rmSync(join(qdir, `${id}.json`));
  return r.path;
}

/** Quarantines `count` files named f<i> from `dir` (no racer yet); returns their ids. */
function quarantineMany(q: Quarantine, dir: string, count: number, same = false): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = same ? 'target' : `f${i}`;
    writeFileSync(join(dir, name), `ours-${i}`);
    ids.push(q.put(dir, name, `c${i}`).quarantineId);
  }
  return ids;
}

/** Tries each restore up to `tries` times while the racer runs; returns how many came back. */
async function restoreAll(restore: (id: string) => void, ids: string[], tries: number): Promise<number> {
  let back = 0;
  for (const id of ids)
    for (let t = 0; t < tries; t++) {
      try {
        restore(id);
        back++;
        break;
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
      }
      if (t % 50 === 49) await new Promise((r) => setImmediate(r));
    }
  return back;
}

function swapSetup() {
  const base = tempBase();
  const root = join(base, 'root');
  const sub = join(root, 'sub');
  const outside = join(base, 'etc');
  for (const d of [sub, outside, join(base, 'q')]) mkdirSync(d, { recursive: true });
  return { base, root, sub, outside, qdir: join(base, 'q') };
}

describe('a parent directory swapped for a symlink during restore', () => {
  const N = 300;

  it('negative control: the old path-based restore lands files in the symlink target', async () => {
    const s = swapSetup();
    const q = new Quarantine(s.qdir, [s.root]);
    const ids = quarantineMany(q, s.sub, N);
    await startRacer(SWAPPER, [s.sub, s.outside]);
    await restoreAll((id) => oldRestore(s.qdir, id, [s.root]), ids, 200);
    racer?.kill('SIGKILL');
    expect(readdirSync(s.outside).length).toBeGreaterThan(0);
  });

  it('never puts a file outside the root, and loses none', async () => {
    const s = swapSetup();
    const q = new Quarantine(s.qdir, [s.root]);
    const ids = quarantineMany(q, s.sub, N);
    await startRacer(SWAPPER, [s.sub, s.outside]);
    const back = await restoreAll((id) => q.restore(id), ids, 200);
    racer?.kill('SIGKILL');
    await new Promise((r) => racer?.once('exit', r) ?? r(undefined));
    expect(readdirSync(s.outside)).toEqual([]);
    // The swapper may have stopped half-way: the real directory is at sub or sub.real.
    const realDir = existsSync(join(s.root, 'sub.real')) ? join(s.root, 'sub.real') : s.sub;
    const restored = readdirSync(realDir);
    expect(restored.length).toBe(back);
    expect(back).toBeGreaterThan(0);
    const left = readdirSync(s.qdir).filter((f) => f.endsWith('.data'));
    expect(restored.length + left.length).toBe(N);
    for (const f of restored) expect(readFileSync(join(realDir, f), 'utf8')).toBe(`ours-${f.slice(1)}`);
  });

  it('never quarantines a file from the symlink target', async () => {
    const s = swapSetup();
    const q = new Quarantine(s.qdir, [s.root]);
    for (let i = 0; i < N; i++) {
      writeFileSync(join(s.sub, `f${i}`), `ours-${i}`);
      writeFileSync(join(s.outside, `f${i}`), `system-${i}`);
    }
    await startRacer(SWAPPER, [s.sub, s.outside]);
    let moved = 0;
    for (let i = 0; i < N; i++)
      try {
        const r = q.put(s.sub, `f${i}`, `c${i}`);
        expect(readFileSync(join(s.qdir, `${r.quarantineId}.data`), 'utf8')).toBe(`ours-${i}`);
        moved++;
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
      }
    racer?.kill('SIGKILL');
    expect(moved).toBeGreaterThan(0);
    for (let i = 0; i < N; i++) expect(readFileSync(join(s.outside, `f${i}`), 'utf8')).toBe(`system-${i}`);
  });
});

describe('a file created at the restore place meanwhile', () => {
  const N = 400;

  /** Restores while the squatter runs; after each success reads the file back. Returns the lost count. */
  async function lostUnder(
    restorer: (q: Quarantine, s: ReturnType<typeof swapSetup>) => (id: string) => void,
  ): Promise<number> {
    const s = swapSetup();
    const q = new Quarantine(s.qdir, [s.root]);
    const restore = restorer(q, s);
    const ids = quarantineMany(q, s.sub, N, true);
    const target = join(s.sub, 'target');
    await startRacer(SQUATTER, [target]);
    let lost = 0;
    for (const [i, id] of ids.entries())
      for (let t = 0; t < 500; t++) {
        try {
          restore(id);
        } catch (e) {
          if (!(e instanceof Refused)) throw e;
          continue;
        }
        // Said restored: it must be there, ours, until we take it away for the next one.
        let got: string | undefined;
        try {
          got = readFileSync(target, 'utf8');
          rmSync(target);
        } catch {}
        if (got !== `ours-${i}`) lost++;
        break;
      }
    racer?.kill('SIGKILL');
    return lost;
  }

  it('negative control: the old rename overwrites it, and the file is lost', async () => {
    let lost = 0;
    // Each attempt needs the squatter's file to appear between the check and the rename: a few rounds.
    for (let round = 0; round < 5 && lost === 0; round++)
      lost = await lostUnder((_q, s) => (id) => oldRestore(s.qdir, id, [s.root]));
    expect(lost).toBeGreaterThan(0);
  });

  it('is never overwritten: the restore is refused as "exists" instead', async () => {
    const lost = await lostUnder((q) => (id) => q.restore(id));
    expect(lost).toBe(0);
  });
});

describe('quarantine on another file system than the file', () => {
  it('copies, checks the copy by digest, removes the original, and restores it', () => {
    const base = tempBase();
    const root = join(base, 'root');
    mkdirSync(root);
    const qdir = join(tempBase('/dev/shm'), 'q');
    expect(statSync('/dev/shm').dev).not.toBe(statSync(base).dev);
    const q = new Quarantine(qdir, [root]);
    const f = join(root, 'worm.bin');
    writeFileSync(f, 'worm', { mode: 0o640 });
    const r = q.put(root, 'worm.bin', 'c1');
    expect(r.path).toBe(f);
    expect(existsSync(f)).toBe(false);
    expect(readFileSync(join(qdir, `${r.quarantineId}.data`), 'utf8')).toBe('worm');
    const back = q.restore(r.quarantineId);
    expect(back.sha256).toBe(r.sha256);
    expect(readFileSync(f, 'utf8')).toBe('worm');
    expect(statSync(f).mode & 0o777).toBe(0o640);
    expect(readdirSync(qdir)).toEqual([]);
  });
});
