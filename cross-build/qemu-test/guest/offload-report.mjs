// The offload bench's table and JSON line (bench-offload.sh; node builtins only, runs in the guest).
//   node offload-report.mjs <records.jsonl> <seconds> [control]
// Records: {column, round, row, mbps | p50us, start, end}, start/end = each connection's conntrack
// state at the window's start and end. Paired as bench/forward pairs them: a round runs kernel,
// tunguard, tunguard, kernel; its throughput ratio is the sum of its tunguard runs over the sum of
// its kernel runs, its added latency the difference of the means; the table gives the median over
// the rounds. A row's ratio is refused (and the last line says so) unless every kernel and tunguard
// connection of it was [OFFLOAD] at both ends of its window and the window's packets that met the
// forward hook or crossed the TUN are at most 1 % of its packets on wan0 (smoke-net.mjs paths()):
// the number is then that of a flow offloaded past tunguard. [OFFLOAD] alone is not enough: with
// the daemon's --no-bypass every packet crosses the TUN and the flow is offloaded all the same.
// Records with cpuPct: the daemon's CPU over a tunguard run. The kernel-off column must show no [OFFLOAD] (else offloading was not off). Last line:
// "verdict: ok" or "verdict: refused: <why>".
import { readFileSync } from 'node:fs';

const [file, seconds, control = ''] = process.argv.slice(2);
const all = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));
// 'warmup' runs (the bench's first) are only logged.
const records = all.filter((r) => r.row !== undefined && r.column !== 'warmup');
/** The daemon's CPU over each tunguard run, % of one core (bench-offload.sh). */
const cpu = all.filter((r) => r.cpuPct !== undefined).map((r) => r.cpuPct);
const COLUMNS = ['kernel-off', 'kernel', 'tunguard'];
const ROW_NAMES = {
  up1: '1 stream up (LAN→WAN), Mbit/s',
  down1: '1 stream down (WAN→LAN), Mbit/s',
  up4: '4 streams up, Mbit/s',
  down4: '4 streams down, Mbit/s',
  rr: 'TCP request/response p50, µs',
};
const rows = [...new Set(records.map((r) => r.row))];
const rounds = [...new Set(records.map((r) => r.round))].sort((a, b) => a - b);

const median = (xs) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const mean = (xs) => sum(xs) / xs.length;
const value = (r) => (r.row === 'rr' ? r.p50us : r.mbps);
const of = (row, column, round) =>
  records.filter((r) => r.row === row && r.column === column && (round === undefined || r.round === round));
/** At most this share of a window's packets on wan0 may meet the forward hook (the slow path). */
const MAX_SLOW_SHARE = 0.01;
const slowShare = (r) =>
  (r.packets.slowUp + r.packets.slowDown + r.packets.tun) / Math.max(1, r.packets.wan0);
const offloaded = (r) =>
  [...r.start, ...r.end].every((s) => s === 'OFFLOAD') && slowShare(r) <= MAX_SLOW_SHARE;
/** The states of a set of runs, deduplicated ("OFFLOAD", "ESTABLISHED/OFFLOAD"), and the largest slow-path share. */
const statesOf = (rs) =>
  rs.length
    ? `${[...new Set(rs.flatMap((r) => [...r.start, ...r.end]))].sort().join('/')}, slow ≤ ${(100 * Math.max(...rs.map(slowShare))).toFixed(1)} %`
    : '-';
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

const out = [];
const refused = [];
const ratios = {};
const perRound = {};
const states = {};
let rrAddedUs;
out.push(
  'flow offload bench: LAN-opened TCP through the QEMU aarch64 guest (TCG emulation), fw4 ruleset with flow offloading',
  'TCG: the absolute Mbit/s and µs say nothing about real hardware; the ratio (tunguard / kernel, same guest, same boot,',
  "paired rounds kernel, tunguard, tunguard, kernel) says what tunguard's bypass costs an offloaded flow there.",
  `rounds ${rounds.length}, ${seconds} s per run${control ? `, CONTROL: ${control}` : ''}`,
  `A ratio needs every measured connection [OFFLOAD] at the window's start and end, and ≤ ${100 * MAX_SLOW_SHARE} % of the window's packets (on wan0) on the forward hook or the TUN ('slow').`,
  '',
  '| row | kernel, offload off | kernel + offload | tunguard + offload | paired ratio (rounds) | conntrack, slow-path share: kernel / tunguard / off |',
  '|---|---|---|---|---|---|',
);
for (const row of rows) {
  const med = Object.fromEntries(COLUMNS.map((c) => [c, median(of(row, c).map(value))]));
  const kernelRuns = of(row, 'kernel');
  const tgRuns = of(row, 'tunguard');
  const offRuns = of(row, 'kernel-off');
  states[row] = { kernel: statesOf(kernelRuns), tunguard: statesOf(tgRuns), off: statesOf(offRuns) };
  const why = [];
  if (!kernelRuns.length || !tgRuns.length) why.push('no paired runs');
  const notOff = [...kernelRuns, ...tgRuns].filter((r) => !offloaded(r));
  for (const r of notOff)
    why.push(
      `${r.column} round ${r.round}: conntrack ${r.start.join(',')} → ${r.end.join(',')}, forward hook ${r.packets.slowUp} up + ${r.packets.slowDown} down, TUN ${r.packets.tun}, of ${r.packets.wan0} packets on wan0: not offloaded throughout`,
    );
  const offOffloaded = offRuns.filter((r) => [...r.start, ...r.end].includes('OFFLOAD'));
  if (offOffloaded.length)
    why.push(`kernel-off round ${offOffloaded[0].round} was offloaded: offloading was not off`);
  const each = rounds
    .map((n) => {
      const k = of(row, 'kernel', n).map(value);
      const t = of(row, 'tunguard', n).map(value);
      if (!k.length || !t.length) return Number.NaN;
      return row === 'rr' ? mean(t) - mean(k) : sum(t) / sum(k);
    })
    .filter(Number.isFinite);
  const d = row === 'rr' ? 1 : 2;
  let ratioCell;
  if (why.length) {
    refused.push(`${row}: ${why.join('; ')}`);
    ratioCell = `refused: ${why[0]}`;
  } else {
    if (row === 'rr') rrAddedUs = Number(median(each).toFixed(1));
    else ratios[row] = Number(median(each).toFixed(3));
    perRound[row] = each.map((x) => Number(x.toFixed(3)));
    ratioCell = `${row === 'rr' ? (median(each) >= 0 ? '+' : '') : ''}${fmt(median(each), d)}${row === 'rr' ? ' µs' : ''} (${each.map((x) => fmt(x, d)).join(', ')})`;
  }
  const cell = (c) => fmt(med[c], row === 'rr' ? 0 : 1);
  out.push(
    `| ${ROW_NAMES[row] ?? row} | ${cell('kernel-off')} | ${cell('kernel')} | ${cell('tunguard')} | ${ratioCell} | ${states[row].kernel} / ${states[row].tunguard} / ${states[row].off} |`,
  );
}
if (cpu.length)
  out.push(
    `tunguard CPU while its offloaded flows ran (all threads, % of one core): median ${fmt(median(cpu), 1)} (runs: ${cpu.join(', ')})`,
  );
out.push('');
out.push(
  JSON.stringify({
    bench: 'offload',
    guest: 'qemu-aarch64-tcg',
    rounds: rounds.length,
    seconds: Number(seconds),
    ...(control ? { control } : {}),
    ratios,
    ...(rrAddedUs === undefined ? {} : { rrAddedUs }),
    perRound,
    ...(cpu.length ? { tunguardCpuPct: median(cpu) } : {}),
    states,
    medians: Object.fromEntries(
      rows.map((row) => [row, Object.fromEntries(COLUMNS.map((c) => [c, median(of(row, c).map(value))]))]),
    ),
    refused,
  }),
);
for (const r of refused) out.push(`ratio refused: ${r}`);
out.push(refused.length ? `verdict: refused: ${refused[0]}` : 'verdict: ok');
console.log(out.join('\n'));
process.exit(refused.length ? 1 : 0);
