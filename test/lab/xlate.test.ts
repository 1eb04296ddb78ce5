// Proxied (WAN-opened) connections translated in the kernel (bpf/seqadj.c): once the LAN host has
// sent its first bytes, the proxy hands the connection's translation to the programs at lan0's TCX
// hooks and its segments stop crossing the TUN; FIN/RST come back to the proxy, which takes the
// entry back. Every test has its negative control: the same transfer with --no-bypass, where every
// segment crosses tg0.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { XlateQueue } from '../../src/dataplane/xlate-queue.js';
import { XLATE_CONNS_ENV } from '../../src/netcfg/xlate.js';
import { XLATE_KEY_SIZE, XLATE_VALUE_SIZE } from '../../src/tun/xlate-map.js';
import { ADDR, Lab, makeTempDir, REPO_ROOT, sleep, startHttpServer } from './lab.js';

let lab: Lab;
let sha = '';
let data: Buffer;
const root = makeTempDir('tunguard-xlate-');
/** tbf: 1 MB/s, with a bucket smaller than a 64 KiB super-packet so the data moves in MTU-sized packets. */
const SHAPED_1MBS = ['rate', '8mbit', 'burst', '16kb', 'latency', '200ms'];
/** How long packets through tg0 are counted after a restart. */
const RESTART_WINDOW_MS = 2500;

beforeAll(async () => {
  lab = Lab.create();
  data = randomBytes(16 << 20);
  writeFileSync(join(root, 'f.bin'), data);
  sha = createHash('sha256').update(data).digest('hex');
  FULL_SHA = createHash('sha256').update(data.subarray(0, FULL_BYTES)).digest('hex');
  // The LAN host's server: the WAN opens connections to it, which the SYN proxy proxies.
  await startHttpServer(lab, lab.ns.lan, root, 8080, [ADDR.lan4, ADDR.lan6]);
});

afterEach(async () => {
  await lab?.tunguard?.stop();
});

afterAll(() => {
  lab?.destroy();
});

/** Packets through tg0 (both ways) while `fn` runs. */
async function tunPackets(fn: () => Promise<void> | void): Promise<number> {
  const a = lab.devStats(lab.ns.rtr, 'tg0');
  await fn();
  const b = lab.devStats(lab.ns.rtr, 'tg0');
  return b.rxPackets - a.rxPackets + (b.txPackets - a.txPackets);
}

function download(url: string): string {
  return lab
    .run(lab.ns.wan, 'bash', ['-c', `set -o pipefail; curl -sS --fail --max-time 60 ${url} | sha256sum`])
    .split(' ')[0];
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** A TCP counter of a namespace's stack (nstat, absolute). */
function nstat(ns: string, name: string): number {
  const out = lab.run(ns, 'nstat', ['-az', '-j', name]);
  const j = JSON.parse(out) as { kernel: Record<string, number> };
  return j.kernel[name] ?? 0;
}

/** The full-map test: the map's size, and what each connection moves (the head of f.bin). */
const SMALL_MAP = 4;
const FULL_BYTES = 2 << 20;
let FULL_SHA = '';

/**
 * The LAN host's service: greets (its first bytes: the proxy hands the connection over), then on 'go'
 * sends the first FULL_BYTES of the file and closes.
 */
const GREETING_SERVER = `const data = require('node:fs').readFileSync(process.argv[1]).subarray(0, ${FULL_BYTES});
require('node:net').createServer((s) => {
  s.on('error', () => {});
  s.write('hello\\n');
  let got = '';
  s.on('data', (b) => { got += b; if (got === 'go\\n') s.end(data); });
}).listen(7003, '${ADDR.lan4}', () => console.log('listening'));`;

/**
 * The WAN client: opens `n` connections, says 'greeted' once every one has its greeting, then waits for
 * the file `go` to appear, asks each for its data and prints their SHA-256s (JSON, in order).
 */
const GREETED_CLIENTS = `const [n, goFile] = [Number(process.argv[1]), process.argv[2]];
const { createHash } = require('node:crypto');
setTimeout(() => { console.error('timed out'); process.exit(3); }, 40000).unref();
const conns = [];
let greeted = 0, ended = 0;
for (let i = 0; i < n; i++) {
  const c = { s: require('node:net').connect(7003, '${ADDR.lan4}'), h: createHash('sha256'), head: Buffer.alloc(0), digest: '' };
  c.s.on('data', (b) => {
    if (c.head.length < 6) {
      c.head = Buffer.concat([c.head, b]);
      if (c.head.length < 6) return;
      b = c.head.subarray(6);
      if (++greeted === n) {
        console.log('greeted');
        const t = setInterval(() => {
          if (!require('node:fs').existsSync(goFile)) return;
          clearInterval(t);
          for (const x of conns) x.s.write('go\\n');
        }, 50);
      }
    }
    c.h.update(b);
  });
  c.s.on('end', () => { c.digest = c.h.digest('hex'); if (++ended === n) console.log(JSON.stringify(conns.map((x) => x.digest))); });
  c.s.on('error', (e) => { console.error(String(e)); process.exit(2); });
  conns.push(c);
}`;

/** `n` proxied connections from the WAN, greeted and held until go(); digests: their data's SHA-256s. */
function greetedClients(n: number, name: string) {
  const goFile = join(root, `${name}.go`);
  rmSync(goFile, { force: true });
  const p = lab.spawn(lab.ns.wan, process.execPath, ['-e', GREETED_CLIENTS, String(n), goFile]);
  let out = '';
  let err = '';
  p.stderr?.on('data', (b: Buffer) => {
    err += b;
  });
  const greeted = new Promise<void>((resolve, reject) => {
    p.stdout?.on('data', (b: Buffer) => {
      out += b;
      if (out.includes('greeted\n')) resolve();
    });
    p.once('close', (code) => reject(new Error(`clients ended before all were greeted (${code}): ${err}`)));
  });
  const digests = new Promise<string[]>((resolve, reject) =>
    p.once('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('[')) resolve(JSON.parse(last));
      else reject(new Error(`clients exited ${code}: ${err}`));
    }),
  );
  return { greeted, digests, go: () => writeFileSync(goFile, '') };
}

/** Entries in the daemon's connection map (the one hash map of its sizes: the test's small one). */
function xlateMapEntries(): number {
  const maps = JSON.parse(lab.run(lab.ns.rtr, 'bpftool', ['map', 'show', '-j'])) as {
    id: number;
    type: string;
    bytes_key: number;
    bytes_value: number;
    max_entries: number;
  }[];
  const ours = maps.filter(
    (m) =>
      m.type === 'hash' &&
      m.bytes_key === XLATE_KEY_SIZE &&
      m.bytes_value === XLATE_VALUE_SIZE &&
      m.max_entries === SMALL_MAP,
  );
  expect(ours).toHaveLength(1);
  return (
    JSON.parse(lab.run(lab.ns.rtr, 'bpftool', ['map', 'dump', 'id', String(ours[0].id), '-j'])) as unknown[]
  ).length;
}

/** How many of the greeting service's proxied connections the API lists on each path. */
function connectionPaths(): Record<string, number> {
  const r = lab.exec(lab.ns.rtr, process.execPath, [
    join(REPO_ROOT, 'bin', 'tunguard'),
    'connections',
    '--json',
    '--state-dir',
    lab.stateDir,
    '--port',
    '7003',
    '--state',
    'established',
  ]);
  expect(r.code, r.stderr).toBe(0);
  const byPath: Record<string, number> = {};
  for (const i of (JSON.parse(r.stdout) as { items: { path: string }[] }).items)
    byPath[i.path] = (byPath[i.path] ?? 0) + 1;
  return byPath;
}

/**
 * tg_xl_held's word as the kernel has it (the daemon names its maps): 1 while the programs look
 * segments up, 0 while the main thread has seen every hand-over taken back.
 */
function heldFlag(): number {
  const out = lab.run(lab.ns.rtr, 'bpftool', ['map', 'dump', 'name', 'tg_xl_held', '-j']);
  const entries = JSON.parse(out) as { value: string[] }[];
  expect(entries, 'one tg_xl_held map, one entry').toHaveLength(1);
  return Number(entries[0].value[0]);
}

/** Waits up to 3 s (the main thread resets the flag once a second) for the flag to read `want`. */
async function heldBecomes(want: number): Promise<number> {
  let v = heldFlag();
  for (let i = 0; i < 30 && v !== want; i++) {
    await sleep(100);
    v = heldFlag();
  }
  return v;
}

interface Run {
  crossed: number;
  handed: number;
  removed: number;
  closed: number;
  established: number;
}

/** One download through a fresh daemon with `extra`; the counters are its deltas. */
async function proxiedDownload(url: string, extra: string[], check = () => {}): Promise<Run> {
  await lab.startTunguard(extra).ready();
  const before = (await lab.freshStatus()).counters;
  const crossed = await tunPackets(() => {
    expect(download(url)).toBe(sha);
  });
  await sleep(300); // the last FIN/ACK exchange
  check();
  const after = (await lab.freshStatus()).counters;
  expect(await lab.tunguard?.stop()).toBe(0);
  const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  return {
    crossed,
    handed: d('xlate_handed'),
    removed: d('xlate_removed'),
    closed: d('synproxy_closed'),
    established: d('synproxy_conn_established'),
  };
}

describe('proxied connections translated in the kernel', () => {
  for (const [family, url] of [
    ['IPv4', `http://${ADDR.lan4}:8080/f.bin`],
    ['IPv6', `http://[${ADDR.lan6}]:8080/f.bin`],
  ] as const) {
    it(`a 16 MiB download the WAN opens (${family}): proxied, byte-exact, a handful of packets through tg0; FIN leaves the table and the map`, async () => {
      const kernel = await proxiedDownload(url, []);
      // Negative control: every segment crosses the TUN, to be translated by the daemon.
      const steered = await proxiedDownload(url, ['--no-bypass']);
      console.log(
        `${family} WAN-opened (proxied) 16 MiB: ${kernel.crossed} packets through tg0 translated in the kernel, ${steered.crossed} without`,
      );
      expect(kernel.established).toBe(1);
      expect(kernel.handed).toBe(1);
      expect(kernel.removed).toBe(1); // the FIN took it back
      expect(kernel.closed).toBe(1); // …and the proxy saw the teardown
      expect(kernel.crossed).toBeLessThan(50);
      expect(steered.established).toBe(1);
      expect(steered.handed).toBe(0);
      expect(steered.crossed).toBeGreaterThan(500);
    }, 120_000);
  }

  it('a 16 MiB upload the WAN opens (the host answers only at the end): handed over after 256 KiB, byte-exact', async () => {
    // The LAN host reads everything, then answers with its SHA-256: it sends no byte before.
    const sink = lab.spawn(lab.ns.lan, process.execPath, [
      '-e',
      `const h = () => require('node:crypto').createHash('sha256');
       require('node:net').createServer((s) => { const d = h(); s.on('data', (b) => d.update(b)); s.on('end', () => s.end(d.digest('hex'))); })
         .listen(7001, '${ADDR.lan4}', () => console.log('listening'));`,
    ]);
    const upload = () =>
      lab.run(lab.ns.wan, process.execPath, [
        '-e',
        `const s = require('node:net').connect(7001, '${ADDR.lan4}'); let r = '';
         s.on('data', (b) => { r += b; }); s.on('end', () => console.log(r));
         s.end(require('node:fs').readFileSync('${join(root, 'f.bin')}'));`,
      ]);
    try {
      await new Promise<void>((r) => sink.stdout?.once('data', () => r()));
      const run = async (extra: string[]) => {
        await lab.startTunguard(extra).ready();
        const before = (await lab.freshStatus()).counters;
        let got = '';
        const crossed = await tunPackets(() => {
          got = upload().trim();
        });
        await sleep(300);
        const after = (await lab.freshStatus()).counters;
        expect(await lab.tunguard?.stop()).toBe(0);
        return { got, crossed, handed: after.xlate_handed - before.xlate_handed };
      };
      const kernel = await run([]);
      const steered = await run(['--no-bypass']);
      console.log(
        `WAN-opened (proxied) 16 MiB upload: ${kernel.crossed} packets through tg0 translated in the kernel, ${steered.crossed} without`,
      );
      expect(kernel.got).toBe(sha);
      expect(kernel.handed).toBe(1);
      expect(kernel.crossed).toBeLessThan(150);
      expect(steered.got).toBe(sha);
      expect(steered.handed).toBe(0);
      expect(steered.crossed).toBeGreaterThan(500);
    } finally {
      sink.kill();
    }
  }, 120_000);

  it('timestamps and SACK (3 % loss at the client): byte-exact, the host uses the translated SACK blocks', async () => {
    // The host's data is lost on its way to the client (this kernel has no netem: nft numgen drops
    // at the client, as forward.test.ts): the client answers with SACK blocks, which the egress
    // program translates into the host's sequence space; timestamps are on (Linux's default).
    const undo = lab.impairLoss(lab.ns.wan, 3);
    try {
      const counters = () => ({
        recovery: nstat(lab.ns.lan, 'TcpExtTCPSackRecovery'),
        discard: nstat(lab.ns.lan, 'TcpExtTCPSACKDiscard') + nstat(lab.ns.lan, 'TcpExtTCPDSACKIgnoredOld'),
      });
      const c0 = counters();
      const kernel = await proxiedDownload(`http://${ADDR.lan4}:8080/f.bin`, []);
      const c1 = counters();
      const steered = await proxiedDownload(`http://${ADDR.lan4}:8080/f.bin`, ['--no-bypass']);
      console.log(
        `3 % loss, proxied 16 MiB: ${kernel.crossed} packets through tg0 in the kernel (${c1.recovery - c0.recovery} SACK recoveries at the host, ${c1.discard - c0.discard} SACK blocks discarded), ${steered.crossed} without`,
      );
      expect(kernel.handed).toBe(1);
      expect(kernel.crossed).toBeLessThan(200);
      expect(c1.recovery - c0.recovery).toBeGreaterThan(3);
      expect(c1.discard - c0.discard).toBe(0);
      expect(steered.crossed).toBeGreaterThan(500);
    } finally {
      undo();
    }
  }, 180_000);

  it('a RST from the client mid-transfer takes the connection back from the kernel', async () => {
    lab.run(lab.ns.lan, 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', ...SHAPED_1MBS]);
    try {
      await lab.startTunguard().ready();
      const before = (await lab.freshStatus()).counters;
      const curl = lab.spawn(lab.ns.wan, 'curl', [
        '-sS',
        '-o',
        '/dev/null',
        `http://${ADDR.lan4}:8080/f.bin`,
      ]);
      const ended = new Promise<void>((r) => curl.once('close', () => r()));
      await sleep(1500);
      const mid = (await lab.freshStatus()).counters;
      curl.kill('SIGKILL'); // unread data in its socket: the client's kernel sends a RST
      await ended;
      await sleep(500);
      const after = (await lab.freshStatus()).counters;
      expect(await lab.tunguard?.stop()).toBe(0);
      expect(mid.xlate_handed - before.xlate_handed).toBe(1);
      expect(mid.xlate_removed - before.xlate_removed).toBe(0);
      expect(after.xlate_removed - before.xlate_removed).toBe(1);
      expect(after.synproxy_closed - before.synproxy_closed).toBe(1);
    } finally {
      lab.run(lab.ns.lan, 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
    }
  }, 60_000);

  it('a restart mid-transfer keeps the transfer, and the new daemon hands it over again (negative control: --no-bypass)', async () => {
    const acrossRestart = async (extra: string[], file: string) => {
      await lab.startTunguard(extra).ready();
      const out = join(root, file);
      const curl = lab.spawn(lab.ns.wan, 'curl', [
        '-sS',
        '--fail',
        '--max-time',
        '60',
        '-o',
        out,
        `http://${ADDR.lan4}:8080/f.bin`,
      ]);
      const ended = new Promise<number | null>((r) => curl.once('close', (code) => r(code)));
      await sleep(1500);
      expect(await lab.tunguard?.stop()).toBe(0);
      await lab.startTunguard(extra).ready();
      // The window starts once the download moves again: the host's retransmissions back off while
      // no daemon translates (up to seconds on a loaded machine), which says nothing of the new one.
      const stalled = fileSize(out);
      for (let i = 0; i < 200 && fileSize(out) === stalled; i++) await sleep(50);
      const from = fileSize(out);
      const crossed = await tunPackets(() => sleep(RESTART_WINDOW_MS));
      const moved = fileSize(out) - from;
      const c = (await lab.freshStatus()).counters;
      // Then the rest: the download finishes bit-exact through the restarted daemon.
      lab.run(lab.ns.lan, 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
      const code = await ended;
      expect(await lab.tunguard?.stop()).toBe(0);
      lab.run(lab.ns.lan, 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', ...SHAPED_1MBS]);
      const got = readFileSync(out);
      return {
        crossed,
        moved,
        handed: c.xlate_handed,
        code,
        sha: createHash('sha256').update(got).digest('hex'),
      };
    };
    lab.run(lab.ns.lan, 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', ...SHAPED_1MBS]);
    try {
      const kernel = await acrossRestart([], 'restart-kernel.bin');
      const steered = await acrossRestart(['--no-bypass'], 'restart-steered.bin');
      console.log(
        `proxied download across a restart, ${RESTART_WINDOW_MS} ms window after it: ${kernel.crossed} packets through tg0 in the kernel (${(kernel.moved / 1e6).toFixed(2)} MB moved), ${steered.crossed} without (${(steered.moved / 1e6).toFixed(2)} MB)`,
      );
      expect(kernel.code).toBe(0);
      expect(kernel.sha).toBe(sha);
      expect(kernel.moved).toBeGreaterThan(500_000);
      expect(kernel.handed).toBe(1); // the restored connection, handed over again
      expect(kernel.crossed).toBeLessThan(50);
      expect(steered.code).toBe(0);
      expect(steered.sha).toBe(sha);
      expect(steered.moved).toBeGreaterThan(500_000);
      expect(steered.handed).toBe(0);
      // ~0.9 MB in MTU-sized segments and their ACKs: 500–900 packets in the window seen here.
      expect(steered.crossed).toBeGreaterThan(200);
    } finally {
      lab.run(lab.ns.lan, 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
    }
  }, 180_000);

  it('a full map (4 entries here): 4 connections in the kernel, 4 more refused and translated by the proxy, all byte-exact; once the first 4 close, the refused ones ask again and move to the kernel (negative control: no retry leaves them on the proxy)', async () => {
    const sink = lab.spawn(lab.ns.lan, process.execPath, ['-e', GREETING_SERVER, join(root, 'f.bin')]);
    try {
      await new Promise<void>((r) => sink.stdout?.once('data', () => r()));
      // The map holds 4 (a test-only size; the daemon's own is XLATE_MAX_CONNS).
      await lab.startTunguard([], true, { ...process.env, [XLATE_CONNS_ENV]: String(SMALL_MAP) }).ready();
      const c0 = (await lab.freshStatus()).counters;
      const d = (c: Record<string, number>, k: string) => (c[k] ?? 0) - (c0[k] ?? 0);
      const until = async (ok: (c: Record<string, number>) => boolean) => {
        let c = (await lab.freshStatus()).counters;
        for (let i = 0; i < 20 && !ok(c); i++) c = (await lab.freshStatus()).counters;
        return c;
      };

      // The host's greeting asks for each hand-over: the first 4 fill the map; of the next 4, the
      // first asked is refused, and the others are not asked for during the retry delay that follows.
      expect(heldFlag(), 'nothing handed over yet: no lookup').toBe(0);
      const first = greetedClients(4, 'full-1');
      await first.greeted;
      let c = await until((x) => d(x, 'xlate_handed') >= 4);
      expect(d(c, 'xlate_handed')).toBe(4);
      expect(await heldBecomes(1), 'connections in the map: the programs look them up').toBe(1);
      const second = greetedClients(4, 'full-2');
      await second.greeted;
      c = await until((x) => d(x, 'xlate_refused') >= 1);
      expect(d(c, 'xlate_handed')).toBe(4);
      expect(d(c, 'xlate_refused')).toBeGreaterThanOrEqual(1);
      const refused = d(c, 'xlate_refused');
      expect(xlateMapEntries()).toBe(SMALL_MAP);
      // …and the admin sees which are which (the list is fed about once a second).
      let paths: Record<string, number> = {};
      for (let i = 0; i < 20 && (paths.kernel ?? 0) + (paths.proxy ?? 0) < 8; i++) {
        await sleep(250);
        paths = connectionPaths();
      }
      expect(paths).toEqual({ kernel: 4, proxy: 4 });
      const crossed = await tunPackets(async () => {
        first.go();
        expect(await first.digests).toEqual(Array(4).fill(FULL_SHA));
      });
      await sleep(500); // the last FIN/ACK exchanges
      c = (await lab.freshStatus()).counters;
      expect(d(c, 'xlate_removed')).toBe(4);
      expect(xlateMapEntries()).toBe(0);

      // The map has room again and the refusal is older than the retry delay: the refused 4 are
      // handed over with the host's next bytes, and their data is translated in the kernel.
      await sleep(XlateQueue.RETRY_MS);
      second.go();
      expect(await second.digests).toEqual(Array(4).fill(FULL_SHA));
      await sleep(500);
      c = (await lab.freshStatus()).counters;
      expect(d(c, 'xlate_handed'), 'the refused connections asked again').toBe(8);
      expect(d(c, 'xlate_refused'), 'no refusal once the map had room').toBe(refused);
      expect(d(c, 'xlate_removed')).toBe(8);
      expect(d(c, 'synproxy_closed')).toBe(8);
      expect(xlateMapEntries()).toBe(0);
      // Every one taken back: the main thread turns the lookups off again.
      expect(await heldBecomes(0), 'all taken back: the flag reset').toBe(0);
      expect(await lab.tunguard?.stop()).toBe(0);
      console.log(
        `full map (${SMALL_MAP}): 4 + 4 connections × ${FULL_BYTES >> 20} MiB, the refused 4 handed over on retry; ${crossed} packets through tg0 for the first 4`,
      );
    } finally {
      sink.kill();
    }
  }, 120_000);

  it('kill -9: the programs go with the daemon (nothing translates a connection no proxy holds)', async () => {
    const tg = lab.startTunguard();
    await tg.ready();
    const attached = lab.tcx('lan0');
    process.kill(tg.pid, 'SIGKILL');
    await tg.wait();
    // steering (ingress + egress) + translation (ingress + egress) + the SYN fast path (egress).
    expect(attached.ingress).toBeGreaterThanOrEqual(2);
    expect(attached.egress).toBeGreaterThanOrEqual(2);
    expect(lab.tcx('lan0')).toEqual({ ingress: 0, egress: 0 });
  }, 30_000);
});
