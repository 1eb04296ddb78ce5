// The durable store kept in tmpfs with snapshots on flash (src/state/snapshot.ts), on real LMDB: a
// restart after a reboot restores the last snapshot; a truncated or damaged snapshot is refused with
// its reason and the previous one restored (and kept); nothing usable starts an empty store; a quiet
// interval writes nothing; kill -9 between snapshots loses at most one interval (a child process
// running the built store, dist/, killed for real), while without snapshots it loses everything.
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DURABLE_FILE, openDurable } from '../../src/state/durable.js';
import {
  checkSnapshot,
  PREVIOUS_FILE,
  REFUSED_FILE,
  SNAPSHOT_FILE,
  TRAILER_BYTES,
} from '../../src/state/snapshot.js';
import { REPO_ROOT } from '../lab/lab.js';

const base = mkdtempSync(join(tmpdir(), 'tg-snapshot-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
/** A fresh pair: `live` plays tmpfs, `flash` durable_dir. */
function dirs() {
  const d = join(base, `case-${n++}`);
  return { live: join(d, 'live'), flash: join(d, 'flash') };
}

function open(d: { live: string; flash: string }, logs: string[], intervalMs = 0) {
  return openDurable(d.live, { snapshot: { dir: d.flash, intervalMs, log: (m) => logs.push(m) } });
}

/** A reboot: tmpfs is empty again. */
const reboot = (d: { live: string }) => rmSync(d.live, { recursive: true, force: true });

async function fill(d: { live: string; flash: string }, from: number, to: number) {
  const logs: string[] = [];
  const s = open(d, logs);
  for (let i = from; i < to; i++) await s.db('hosts').put(`h${i}`, { id: `h${i}`, pad: 'x'.repeat(200) });
  await s.close();
  return logs;
}

function hosts(d: { live: string; flash: string }, logs: string[] = []) {
  const s = open(d, logs);
  const ids = [...s.db<{ id: string }>('hosts').getRange()].map((e) => e.value.id);
  return { ids, close: () => s.close() };
}

describe('snapshots', () => {
  it('the live store stays out of durable_dir; a stop writes a snapshot a reboot restores', async () => {
    const d = dirs();
    await fill(d, 0, 50);
    expect(existsSync(join(d.live, DURABLE_FILE))).toBe(true);
    expect(existsSync(join(d.flash, DURABLE_FILE))).toBe(false);
    expect(checkSnapshot(join(d.flash, SNAPSHOT_FILE))).toBeUndefined();
    // It holds the router's private key (meta), as the live store does: the owner's alone.
    expect(statSync(join(d.flash, SNAPSHOT_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(d.flash).mode & 0o777).toBe(0o700);
    reboot(d);
    const logs: string[] = [];
    const h = hosts(d, logs);
    expect(h.ids.length).toBe(50);
    expect(logs.join('\n')).toMatch(/durable: restored \d+ bytes from .*durable\.snap$/m);
    await h.close();
    // Without a reboot the live store (newer than any snapshot) is used as it is.
    const again: string[] = [];
    const h2 = hosts(d, again);
    expect(h2.ids.length).toBe(50);
    expect(again.join('\n')).not.toMatch(/restored/);
    await h2.close();
  });

  it('the snapshot is compacted: deleting most records shrinks it, unlike the live file', async () => {
    const d = dirs();
    await fill(d, 0, 2000);
    const full = statSync(join(d.flash, SNAPSHOT_FILE)).size;
    const s = open(d, []);
    for (let i = 0; i < 1900; i++) await s.db('hosts').remove(`h${i}`);
    await s.close();
    const after = statSync(join(d.flash, SNAPSHOT_FILE)).size;
    expect(after).toBeLessThan(full / 4);
    expect(statSync(join(d.live, DURABLE_FILE)).size).toBeGreaterThanOrEqual(full - TRAILER_BYTES);
  });

  it('an interval without a commit writes nothing; one with a commit writes once', async () => {
    const d = dirs();
    const s = open(d, [], 100);
    await new Promise((r) => setTimeout(r, 350));
    expect(s.snapshots!.stats.snapshots).toBe(0);
    expect(s.snapshots!.stats.skipped).toBeGreaterThanOrEqual(2);
    await s.db('hosts').put('a', { id: 'a' });
    await new Promise((r) => setTimeout(r, 350));
    expect(s.snapshots!.stats.snapshots).toBe(1);
    await s.close(); // nothing new: the stop writes nothing either
    expect(s.snapshots!.stats.snapshots).toBe(1);
  });
});

describe('a damaged snapshot', () => {
  /** Two generations: prev with 10 hosts, current with 20. */
  async function twoGenerations() {
    const d = dirs();
    await fill(d, 0, 10);
    await fill(d, 10, 20);
    return d;
  }

  for (const [what, damage, reason] of [
    [
      'truncated',
      (f: string) => truncateSync(f, Math.floor(statSync(f).size / 2)),
      /no snapshot trailer at its end \(truncated/,
    ],
    [
      'one flipped byte',
      (f: string) => {
        const b = readFileSync(f);
        b[4096 + 17] ^= 0x40;
        writeFileSync(f, b);
      },
      /sha256 mismatch \(damaged\)/,
    ],
    ['empty', (f: string) => writeFileSync(f, ''), /0 bytes: shorter than its trailer \(truncated\)/],
    [
      'a symlink',
      (f: string) => {
        rmSync(f);
        symlinkSync('/etc/passwd', f);
      },
      /ELOOP|symbolic link/,
    ],
  ] as const) {
    it(`${what}: refused with the reason, moved aside, the previous one restored and kept`, async () => {
      const d = await twoGenerations();
      const prevBytes = readFileSync(join(d.flash, PREVIOUS_FILE));
      damage(join(d.flash, SNAPSHOT_FILE));
      reboot(d);
      const logs: string[] = [];
      const h = hosts(d, logs);
      const text = logs.join('\n');
      expect(text).toMatch(/durable: snapshot .*durable\.snap refused: .*/);
      expect(text).toMatch(reason);
      expect(text).toMatch(/moved to .*durable\.snap\.bad; trying the previous one/);
      expect(text).toMatch(/restored \d+ bytes from .*durable\.snap\.prev/);
      expect(h.ids.length).toBe(10); // the previous generation: one interval lost, not all
      expect(existsSync(join(d.flash, REFUSED_FILE)) || what === 'a symlink').toBe(true);
      await h.close(); // no commit since the restore: no snapshot, the previous one untouched
      expect(readFileSync(join(d.flash, PREVIOUS_FILE)).equals(prevBytes)).toBe(true);
      // The next snapshot rotates the good ones only: the refused file never becomes "previous".
      await fill(d, 100, 101);
      expect(checkSnapshot(join(d.flash, PREVIOUS_FILE))).toBeUndefined();
      expect(checkSnapshot(join(d.flash, SNAPSHOT_FILE))).toBeUndefined();
    });
  }

  it('both generations damaged: an empty store, and the daemon carries on', async () => {
    const d = await twoGenerations();
    truncateSync(join(d.flash, SNAPSHOT_FILE), 100);
    writeFileSync(join(d.flash, PREVIOUS_FILE), 'not a snapshot at all, but long enough to have a trailer…');
    reboot(d);
    const logs: string[] = [];
    const h = hosts(d, logs);
    expect(h.ids).toEqual([]);
    expect(logs.join('\n')).toMatch(/previous snapshot .* refused too: no snapshot trailer/);
    expect(logs.join('\n')).toMatch(/no usable snapshot in .*: starting with an empty store/);
    await h.close();
  });

  it('the control: an undamaged pair restores the current generation (20)', async () => {
    const d = await twoGenerations();
    reboot(d);
    const h = hosts(d);
    expect(h.ids.length).toBe(20);
    await h.close();
  });
});

describe('an older version’s store on flash', () => {
  it('is taken into tmpfs, snapshotted at once, then removed from flash', async () => {
    const d = dirs();
    // What older versions did: the live store in durable_dir itself.
    const old = openDurable(d.flash);
    await old.db('hosts').put('legacy', { id: 'legacy' });
    await old.close();
    const logs: string[] = [];
    const s = open(d, logs);
    expect(s.db<{ id: string }>('hosts').get('legacy')?.id).toBe('legacy');
    await s.snapshots!.snapshot();
    expect(existsSync(join(d.flash, DURABLE_FILE))).toBe(false);
    expect(checkSnapshot(join(d.flash, SNAPSHOT_FILE))).toBeUndefined();
    expect(logs.join('\n')).toMatch(
      /took \d+ bytes from .*durable\.mdb \(an older version's store on flash\)/,
    );
    await s.close();
  });
});

/** A child process running the built store: writes host i every 20 ms, printing each committed i. */
const CHILD = `
const [dist, live, flash, interval] = process.argv.slice(1);
const { openDurable } = await import(dist + '/src/state/durable.js');
const s = openDurable(live, { snapshot: { dir: flash, intervalMs: Number(interval), log: (m) => process.stdout.write('log ' + m + '\\n') } });
for (let i = 0; ; i++) {
  await s.db('hosts').put('h' + i, { id: i, at: Date.now() });
  process.stdout.write('wrote ' + i + ' ' + Date.now() + '\\n');
  await new Promise((r) => setTimeout(r, 20));
}
`;

async function killedChild(d: { live: string; flash: string }, intervalMs: number, runMs: number) {
  const dist = join(REPO_ROOT, 'dist');
  if (!existsSync(join(dist, 'src/state/snapshot.js')))
    throw new Error("dist/ has no src/state/snapshot.js: run 'npm run build' first");
  const p = spawn(process.execPath, [
    '--input-type=module',
    '-e',
    CHILD,
    dist,
    d.live,
    d.flash,
    String(intervalMs),
  ]);
  let out = '';
  p.stdout.on('data', (b) => {
    out += b;
  });
  let err = '';
  p.stderr.on('data', (b) => {
    err += b;
  });
  await new Promise((r) => setTimeout(r, runMs));
  const killedAt = Date.now();
  p.kill('SIGKILL');
  await new Promise((r) => p.once('exit', r));
  const wrote = [...out.matchAll(/^wrote (\d+) (\d+)$/gm)].map((m) => ({
    i: Number(m[1]),
    at: Number(m[2]),
  }));
  if (wrote.length < 10) throw new Error(`the child wrote ${wrote.length} records: ${out}${err}`);
  return { wrote, killedAt };
}

describe('kill -9 between snapshots', () => {
  it('loses at most one interval after a reboot, nothing without one', async () => {
    const intervalMs = 1000;
    const d = dirs();
    const { wrote, killedAt } = await killedChild(d, intervalMs, 3500);
    // No reboot: the live store in tmpfs has every committed write.
    const same = hosts(d);
    expect(same.ids.length).toBeGreaterThanOrEqual(wrote.length);
    await same.close();
    reboot(d);
    const logs: string[] = [];
    const h = hosts(d, logs);
    const have = new Set(h.ids.map((id) => Number(id)));
    await h.close();
    // Every record committed more than one interval (plus the snapshot's own time) before the kill
    // is there; the snapshot holds a prefix of the writes.
    const slack = 300;
    const mustHave = wrote.filter((w) => w.at <= killedAt - intervalMs - slack);
    expect(mustHave.length).toBeGreaterThan(50);
    for (const w of mustHave) expect(have.has(w.i), `record ${w.i}`).toBe(true);
    expect(have.size).toBeLessThan(wrote.length); // the last interval is gone: this is a real reboot
    console.log(
      `kill -9: ${wrote.length} committed, ${have.size} restored after a reboot (interval ${intervalMs} ms)`,
    );
  }, 20_000);

  it('the control: with snapshots only at stop, kill -9 and a reboot lose everything', async () => {
    const d = dirs();
    await killedChild(d, 0, 1500);
    reboot(d);
    const h = hosts(d);
    expect(h.ids).toEqual([]);
    await h.close();
  }, 20_000);
});
