// bench/durable-flash: bytes written to flash per day by the durable store, kept in place on flash
// (what older versions did) against kept in tmpfs with hourly snapshots (src/state/snapshot.ts).
//
// The day is a travel router's: `--hosts` LAN devices (phones, laptops) that the passive feed sees;
// it re-writes a host when a fingerprint (DHCP, TCP SYN, HTTP user agent) is new or 15 min old
// (src/inventory/passive/feed.ts), so each host is written about `--per-host-hour` times an hour, one
// observation per commit. Optionally a vulnerability feed of `--threats` records sits in the store
// (it is written once, but every snapshot copies it). In-place bytes are the write() bytes of this
// process (/proc/self/io wchar) during one simulated hour of commits, times 24; snapshot bytes are the
// snapshot's size times the snapshots of a day (one per commit_interval with a change).
//
// Usage: node dist/bench/durable-flash.js [--hosts 15] [--per-host-hour 12] [--threats 0] [--interval 3600]
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inventory } from '../src/inventory/inventory.js';
import { emptyObservation, type Observation } from '../src/inventory/model.js';
import { openDurable } from '../src/state/durable.js';
import { SNAPSHOT_FILE, writeSnapshot } from '../src/state/snapshot.js';
import { benchArgs } from './args.js';

const USAGE = `usage: node dist/bench/durable-flash.js [--hosts 15] [--per-host-hour 12] [--threats 0] [--interval 3600]

Bytes written to flash per day by the durable store: kept in place on flash (older versions) against
kept in tmpfs with a snapshot every --interval seconds. Simulates one hour of a travel router's passive
inventory commits (--hosts devices, each re-written --per-host-hour times an hour), optionally beside a
vulnerability feed of --threats records. A few seconds; everything goes to a temp dir.`;
const values = benchArgs(USAGE, {
  hosts: { type: 'string', default: '15' },
  'per-host-hour': { type: 'string', default: '12' },
  threats: { type: 'string', default: '0' },
  interval: { type: 'string', default: '3600' },
});
const HOSTS = Number(values.hosts);
const PER_HOST_HOUR = Number(values['per-host-hour']);
const THREATS = Number(values.threats);
const INTERVAL_S = Number(values.interval);

const wchar = () => Number(/^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`;

function observation(i: number, now: number): Observation {
  const o = emptyObservation();
  o.ipv4 = [`198.18.0.${10 + i}`];
  o.mac = `02:00:00:00:00:${(16 + i).toString(16)}`;
  o.hostnames = [`device-${i}`];
  o.dhcpClientId = `01:02:00:00:00:00:${(16 + i).toString(16)}`;
  o.os = [{ name: i % 2 ? 'Android 14' : 'Windows 11', confidence: 60, source: 'dhcp', seenAt: now }];
  o.software = [{ product: 'Chrome', version: '131.0', confidence: 40, source: 'http-ua', seenAt: now }];
  return o;
}

const dir = mkdtempSync(join(tmpdir(), 'tg-bench-flash-'));
try {
  const store = openDurable(join(dir, 'flash'));
  const inv = new Inventory(store);
  for (let i = 0; i < THREATS; i++)
    await inv.putThreat({
      key: `CVE-2024-${10000 + i}`,
      type: 'vulnerability',
      scheme: 'CVE',
      // An NVD summary is a few hundred characters.
      summary: 'A flaw in a widely used component lets a remote attacker run code. '.repeat(5),
      cvss: 7.5,
      published: '2024-05-01T00:00:00.000',
      configurations: [],
      source: 'nvd',
    });
  for (let i = 0; i < HOSTS; i++) await inv.importObservations([observation(i, Date.now())]);
  await store.flushed();

  // One simulated hour: HOSTS × PER_HOST_HOUR commits of one observation each, 25 ms apart (more
  // than the store's 20 ms commit delay, so each is its own commit, as minutes apart would be).
  const commits = HOSTS * PER_HOST_HOUR;
  const before = wchar();
  for (let c = 0; c < commits; c++) {
    await inv.importObservations([observation(c % HOSTS, Date.now())]);
    await sleep(25);
  }
  await store.flushed();
  const inPlaceHour = wchar() - before;

  const t0 = performance.now();
  const snapBytes = await writeSnapshot(store.env, join(dir, 'snapshots'));
  const snapMs = performance.now() - t0;
  const perDay = Math.ceil(86400 / INTERVAL_S);
  const liveFile = statSync(store.path).size;
  await store.close();

  console.log(
    `durable store, ${HOSTS} hosts, ${THREATS} threat records, ${commits} commits an hour (${PER_HOST_HOUR} per host):`,
  );
  console.log(
    `  live file ${kib(liveFile)}; snapshot ${kib(snapBytes)} (${SNAPSHOT_FILE}), written in ${snapMs.toFixed(0)} ms`,
  );
  console.log(`  in place on flash:   ${mib(inPlaceHour)} an hour -> ${mib(inPlaceHour * 24)} a day`);
  console.log(
    `  tmpfs + snapshots:   ${perDay} snapshots a day (commit_interval ${INTERVAL_S} s) -> ${mib(snapBytes * perDay)} a day`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
