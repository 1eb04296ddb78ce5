// bench/forward: kernel forwarding vs. tunguard on the same lab topology (OpenWrt's fw4 loaded), in
// one run. WAN-opened traffic (a WAN client, a LAN server): tunguard pass-through, and defended (the
// SYN proxy translating every segment). LAN-opened traffic (a LAN client, a WAN server): tunguard
// with its defaults, where such flows bypass the TUN once seen; and the same two again with fw4's
// flow offloading on, where the kernel has flowtables ('n/a' where it has none: then
// `npm run bench:offload` measures that row in the QEMU guest, cross-build/qemu-test). The proxied 4-stream
// runs again with two queues spread by flow (one WAN client: spread by address, the default, would
// put all four streams on one worker). tunguard's CPU (main thread, workers and the nft children)
// while only bypassed traffic flows, and idle, over CPU_WINDOW_S each. The LAN-opened comparison is
// paired: each round runs kernel, tunguard, tunguard, kernel, and its ratio (of sums) and added
// latency (of means) are that round's; the table gives their medians over the rounds. Prints a
// table and one JSON line with the ratios. Usage:
//   node dist/bench/forward.js [--seconds 5] [--rounds 1] [--smoke] [--prog-cost] [--lan-only]

import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDR, fw4Ruleset, Lab, RAM_STATE_BASE, sleep } from '../test/lab/lab.js';
import { benchArgs } from './args.js';
import { costOf, enableBpfStats, requireBpftool, tcPrograms } from './prog-cost.js';

const USAGE = `usage: node dist/bench/forward.js [--seconds 5] [--rounds 1] [--pings 1000] [--queues n] [--spin-us us]
                                [--smoke] [--prog-cost] [--lan-only]

Kernel forwarding vs. tunguard (pass-through, defended, LAN-opened with bypass) on the lab topology
with fw4 (root, netns): bulk TCP, UDP, request/response, ping latency. LAN-opened traffic is measured
again with fw4's flow offloading on where the kernel has flowtables (else the columns say n/a).
The proxied 4 streams run again with --queues 2 --spread flow (rows 'q2'; not when --queues is
given). tunguard's CPU, its nft children included: while one LAN-opened (bypassed) stream flows, and
idle (20 s each; 3 s with --smoke).
--prog-cost: the kernel's time in tunguard's tc programs per packet during the LAN-opened runs
(turns kernel.bpf_stats_enabled on for the run, machine-wide; needs bpftool). A full run takes a few
minutes (every mode × --rounds × --seconds per measurement); --smoke is a short one.
--lan-only: only the paired LAN-opened comparison (kernel, tunguard, tunguard, kernel per round), no
CPU windows, no WAN-opened or offload runs: many rounds in the time of a few.`;
const values = benchArgs(USAGE, {
  seconds: { type: 'string', default: '5' },
  rounds: { type: 'string', default: '1' },
  pings: { type: 'string', default: '1000' },
  smoke: { type: 'boolean', default: false },
  'spin-us': { type: 'string' },
  queues: { type: 'string' },
  'prog-cost': { type: 'boolean', default: false },
  'lan-only': { type: 'boolean', default: false },
});
const LAN_ONLY = values['lan-only'];
const SECONDS = values.smoke ? 1 : Number(values.seconds);
const ROUNDS = values.smoke ? 1 : Number(values.rounds);
const PINGS = values.smoke ? 100 : Number(values.pings);
const RR = values.smoke ? 200 : 5000;
/** Seconds over which tunguard's CPU is read while only bypassed traffic flows, and idle. */
const CPU_WINDOW_S = values.smoke ? 3 : 20;

type Metrics = Record<string, number>;

/** The multi-queue run of the proxied 4 streams (see the header). */
const Q2 = ['--queues', '2', '--spread', 'flow'];

const RR_SERVER = `require('node:net').createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); })
  .listen(7000, process.argv[1], () => console.log('listening'));`;
const RR_CLIENT = `const n = Number(process.argv[2]); const s = require('node:net').connect(7000, process.argv[1]);
s.setNoDelay(true); const t = []; let t0 = 0, i = 0;
s.on('connect', () => { t0 = process.hrtime.bigint(); s.write('x'); });
s.on('data', () => { const t1 = process.hrtime.bigint(); t.push(Number(t1 - t0) / 1000); if (++i >= n) { s.end();
  console.log(JSON.stringify(t)); return; } t0 = process.hrtime.bigint(); s.write('x'); });`;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** Who opens the connections: a WAN client to the LAN host, or the LAN host to a WAN server. */
type Opener = 'wan' | 'lan';

/** The iperf3 servers: the one the LAN-opened runs reach (in wan), the one the WAN-opened reach. */
const servers: { lan?: ChildProcess; wan?: ChildProcess } = {};
/** Runs retried after an iperf3 client failed or hung (its server was then started again). */
let iperfRetries = 0;

function startIperfServer(lab: Lab, side: 'lan' | 'wan'): void {
  servers[side]?.kill('SIGKILL');
  servers[side] = lab.spawn(side === 'lan' ? lab.ns.lan : lab.ns.wan, 'iperf3', ['-s']);
  lab.waitIperf(side === 'lan' ? ADDR.lan4 : ADDR.wan4);
}

function iperf(lab: Lab, from: Opener, extra: string[]): number {
  const [ns, dst] = from === 'wan' ? [lab.ns.wan, ADDR.lan4] : [lab.ns.lan, ADDR.wan4];
  const args = ['-c', dst, '-t', String(SECONDS), '-J', ...extra];
  let out: string;
  try {
    out = lab.run(ns, 'iperf3', args, (SECONDS + 30) * 1000);
  } catch (err) {
    // iperf3 3.12's server now and then never ends a test (its client then waits for good): a new
    // server, and the run once more; counted in the JSON line.
    console.error(
      `bench/forward: iperf3 ${args.join(' ')} failed, server restarted: ${(err as Error).message}`,
    );
    iperfRetries++;
    startIperfServer(lab, from === 'wan' ? 'lan' : 'wan');
    out = lab.run(ns, 'iperf3', args, (SECONDS + 30) * 1000);
  }
  return JSON.parse(out).end.sum_received.bits_per_second / 1e9;
}

/** ppid, and utime + stime + the reaped children's (clock ticks, 100/s) of one process. */
function procStat(pid: number): { ppid: number; ticks: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return {
    ppid: Number(rest[1]),
    ticks: Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]),
  };
}

/** CPU ticks of the daemon (all its threads) and of every live descendant (its nft children). */
function procTicks(pid: number): number {
  const all = new Map<number, { ppid: number; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      all.set(Number(d), procStat(Number(d)));
    } catch {} // gone meanwhile
  }
  let sum = 0;
  const todo = [pid];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    sum += all.get(p)?.ticks ?? 0;
    for (const [c, s] of all) if (s.ppid === p) todo.push(c);
  }
  return sum;
}

/** Percent of a core the daemon and its children used over the next `seconds`. */
async function cpuOver(pid: number, seconds: number): Promise<number> {
  const t0 = procTicks(pid);
  const w0 = Date.now();
  await sleep(seconds * 1000);
  return (procTicks(pid) - t0) / ((Date.now() - w0) / 1000);
}

function rssMiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function measure(lab: Lab, from: Opener, pid?: number): Promise<Metrics> {
  const [ns, dst] = from === 'wan' ? [lab.ns.wan, ADDR.lan4] : [lab.ns.lan, ADDR.wan4];
  const m: Metrics = {};
  const cpu = (fn: () => number, key: string) => {
    const t0 = pid ? procTicks(pid) : 0;
    const w0 = Date.now();
    const v = fn();
    if (pid) m[`cpu_pct_${key}`] = ((procTicks(pid) - t0) / 100 / ((Date.now() - w0) / 1000)) * 100;
    return v;
  };
  m.tcp1_up_gbps = cpu(() => iperf(lab, from, []), 'tcp1_up');
  m.tcp1_down_gbps = iperf(lab, from, ['-R']);
  m.tcp4_up_gbps = iperf(lab, from, ['-P', '4']);
  m.tcp4_down_gbps = iperf(lab, from, ['-P', '4', '-R']);
  // UDP toward the opener, as fast as it goes (what arrives): a QUIC download, for the LAN-opened runs.
  m.udp_down_gbps = iperf(lab, from, ['-u', '-b', '0', '-l', '1400', '-R']);
  const pingOut = lab.run(ns, 'ping', ['-c', String(PINGS), '-i', '0.002', '-n', dst], 120_000);
  const rtts = [...pingOut.matchAll(/time=([\d.]+) ms/g)].map((x) => Number(x[1]) * 1000);
  m.ping_p50_us = pct(rtts, 50);
  m.ping_p99_us = pct(rtts, 99);
  const rr = JSON.parse(lab.run(ns, process.execPath, ['-e', RR_CLIENT, dst, String(RR)])) as number[];
  m.tcp_rr_p50_us = pct(rr.slice(10), 50);
  m.tcp_rr_p99_us = pct(rr.slice(10), 99);
  if (pid) m.rss_mib = rssMiB(pid);
  return m;
}

/**
 * One round's LAN-opened comparison from kernel and tunguard runs taken in turn: throughput as the
 * ratio of the sums, latency as the difference of the means.
 */
function paired(kernel: Metrics[], tg: Metrics[]): Metrics {
  const sum = (ms: Metrics[], k: string) => ms.reduce((a, m) => a + m[k], 0);
  const out: Metrics = {};
  for (const k of Object.keys(kernel[0])) {
    if (k.endsWith('_gbps')) out[k] = sum(tg, k) / sum(kernel, k);
    else if (k.endsWith('_us')) out[k] = (sum(tg, k) - sum(kernel, k)) / tg.length;
  }
  return out;
}

/** Whether this kernel takes fw4's ruleset with a flowtable (nft checks it against the kernel). */
function hasFlowtables(lab: Lab): boolean {
  const file = join(lab.stateDir, 'fw4-offload-check.nft');
  writeFileSync(file, fw4Ruleset('offload'));
  return lab.exec(lab.ns.rtr, 'nft', ['-c', '-f', file]).code === 0;
}

/**
 * LAN-opened traffic through tunguard (the bypass): its metrics, the packets that crossed tg0
 * meanwhile, and the tc programs' cost when asked for.
 */
async function measureBypass(
  lab: Lab,
  extra: string[],
  progCost: Metrics[],
  withCpu = true,
): Promise<{ m: Metrics; tunPackets: number }> {
  const base = values['prog-cost'] ? tcPrograms() : new Map();
  const tg = lab.startTunguard(extra);
  await tg.ready();
  const before = values['prog-cost'] ? tcPrograms() : new Map();
  const tun0 = lab.devStats(lab.ns.rtr, 'tg0').txPackets;
  const m = await measure(lab, 'lan', tg.pid);
  if (!withCpu) {
    const tunPackets = lab.devStats(lab.ns.rtr, 'tg0').txPackets - tun0;
    if (values['prog-cost']) {
      const c = costOf(base, before, tcPrograms());
      progCost.push({ tc_runs: c.runs, tc_ns_per_run: c.nsPerRun });
    }
    await tg.stop();
    return { m, tunPackets };
  }
  // Only bypassed traffic: one LAN-opened stream, after its first packets (which cross tg0).
  const stream = lab.execAsync(
    lab.ns.lan,
    'iperf3',
    ['-c', ADDR.wan4, '-t', String(CPU_WINDOW_S + 3), '-J'],
    (CPU_WINDOW_S + 60) * 1000,
  );
  await sleep(1500);
  m.cpu_pct_bypassed_stream = await cpuOver(tg.pid, CPU_WINDOW_S);
  const streamed = await stream;
  if (streamed.code !== 0) throw new Error(`iperf3 (bypassed stream): ${streamed.stderr || streamed.stdout}`);
  m.bypassed_stream_gbps = JSON.parse(streamed.stdout).end.sum_received.bits_per_second / 1e9;
  // Idle, once the stream's end has settled (the workers' timers stop a few seconds after traffic).
  await sleep(5000);
  m.cpu_pct_idle = await cpuOver(tg.pid, CPU_WINDOW_S);
  const tunPackets = lab.devStats(lab.ns.rtr, 'tg0').txPackets - tun0;
  if (values['prog-cost']) {
    const c = costOf(base, before, tcPrograms());
    progCost.push({ tc_runs: c.runs, tc_ns_per_run: c.nsPerRun });
  }
  await tg.stop();
  return { m, tunPackets };
}

async function main(): Promise<void> {
  if (values['prog-cost']) requireBpftool();
  const lab = Lab.create({ stateBase: RAM_STATE_BASE });
  const restoreStats = values['prog-cost'] ? enableBpfStats() : () => {};
  // tunguard: the dataplane alone (--pass-through); defended: with the default defense stages
  // (rate limits and the SYN proxy translating every TCP segment of these connections).
  const results: {
    kernel: Metrics[];
    tunguard: Metrics[];
    defended: Metrics[];
    kernelLan: Metrics[];
    bypass: Metrics[];
    kernelOffload: Metrics[];
    bypassOffload: Metrics[];
    progCost: Metrics[];
    defendedQ2: Metrics[];
    /** Per round, LAN-opened: tunguard over kernel (throughput) and tunguard less kernel (latency). */
    bypassPaired: Metrics[];
  } = {
    kernel: [],
    tunguard: [],
    defended: [],
    kernelLan: [],
    bypass: [],
    kernelOffload: [],
    bypassOffload: [],
    progCost: [],
    defendedQ2: [],
    bypassPaired: [],
  };
  let bypassTun = 0;
  const offload = hasFlowtables(lab);
  let tunPackets = 0;
  try {
    servers.lan = lab.spawn(lab.ns.lan, 'iperf3', ['-s']);
    servers.wan = lab.spawn(lab.ns.wan, 'iperf3', ['-s']);
    for (const [ns, addr] of [
      [lab.ns.lan, ADDR.lan4],
      [lab.ns.wan, ADDR.wan4],
    ]) {
      const rrSrv = lab.spawn(ns, process.execPath, ['-e', RR_SERVER, addr]);
      await new Promise<void>((r) => rrSrv.stdout?.once('data', () => r()));
    }
    lab.waitIperf(ADDR.lan4);
    lab.waitIperf(ADDR.wan4);
    const extra = [
      ...(values['spin-us'] ? ['--spin-us', values['spin-us']] : []),
      ...(values.queues ? ['--queues', values.queues] : []),
    ];
    for (let r = 0; r < ROUNDS; r++) {
      if (!LAN_ONLY) results.kernel.push(await measure(lab, 'wan'));
      {
        // Kernel, tunguard, tunguard, kernel: a drift in the machine's speed over the round (2 cores
        // shared with whatever else runs) weighs on both sides alike; the round's ratio is of sums.
        const k1 = await measure(lab, 'lan');
        const b1 = await measureBypass(lab, extra, results.progCost, !LAN_ONLY);
        const b2 = await measureBypass(lab, extra, [], false);
        const k2 = await measure(lab, 'lan');
        results.kernelLan.push(k1, k2);
        results.bypass.push(b1.m, b2.m);
        results.bypassPaired.push(paired([k1, k2], [b1.m, b2.m]));
        bypassTun += b1.tunPackets + b2.tunPackets;
      }
      if (LAN_ONLY) continue;
      if (offload) {
        // fw4 with flow_offloading '1': the kernel's own fast path, with and without tunguard.
        lab.loadFirewall('offload');
        results.kernelOffload.push(await measure(lab, 'lan'));
        results.bypassOffload.push((await measureBypass(lab, extra, [])).m);
        lab.loadFirewall('lab');
      }
      for (const mode of ['tunguard', 'defended'] as const) {
        const args = [...extra];
        if (mode === 'tunguard') args.push('--pass-through');
        const tg = lab.startTunguard(args);
        await tg.ready();
        const before = lab.devStats(lab.ns.rtr, 'tg0').txPackets;
        results[mode].push(await measure(lab, 'wan', tg.pid));
        tunPackets += lab.devStats(lab.ns.rtr, 'tg0').txPackets - before;
        await tg.stop();
      }
      // The proxied 4 streams over two workers (unless --queues says otherwise for every run).
      if (!values.queues) {
        const tg = lab.startTunguard([...extra, ...Q2]);
        await tg.ready();
        const before = lab.devStats(lab.ns.rtr, 'tg0').txPackets;
        results.defendedQ2.push({
          tcp4_up_gbps: iperf(lab, 'wan', ['-P', '4']),
          tcp4_down_gbps: iperf(lab, 'wan', ['-P', '4', '-R']),
        });
        tunPackets += lab.devStats(lab.ns.rtr, 'tg0').txPackets - before;
        await tg.stop();
      }
    }
  } finally {
    await lab.tunguard?.stop();
    lab.destroy();
    restoreStats();
  }
  // Guard against the classic benchmark lie: tunguard silently bypassed.
  if (!LAN_ONLY && tunPackets < 10_000)
    throw new Error(`only ${tunPackets} packets crossed tg0: tunguard was bypassed`);
  // And its opposite for the LAN-opened runs: their first packets cross tg0 (the daemon was there).
  if (bypassTun === 0)
    throw new Error('no packet crossed tg0 during the LAN-opened runs: tunguard was not running');
  // The median of each metric over the runs that have it (the second bypass run of a round has no CPU
  // windows).
  const median = (ms: Metrics[]) => {
    const out: Metrics = {};
    for (const k of new Set(ms.flatMap((x) => Object.keys(x))))
      out[k] = pct(
        ms.map((x) => x[k]).filter((v) => Number.isFinite(v)),
        50,
      );
    return out;
  };
  const k = median(results.kernel);
  const t = median(results.tunguard);
  const d = median(results.defended);
  const kl = median(results.kernelLan);
  const b = median(results.bypass);
  const bp = median(results.bypassPaired);
  const ko = median(results.kernelOffload);
  const bo = median(results.bypassOffload);
  const dq = median(results.defendedQ2);
  const ratiosDefendedQ2: Metrics = {};
  for (const key of Object.keys(dq)) ratiosDefendedQ2[key.replace('_gbps', '')] = dq[key] / k[key];
  const ratios: Metrics = {};
  const ratiosDefended: Metrics = {};
  const ratiosBypass: Metrics = {};
  const ratiosOffload: Metrics = {};
  for (const key of Object.keys(k)) {
    if (key.endsWith('_gbps')) {
      ratios[key.replace('_gbps', '')] = t[key] / k[key];
      ratiosDefended[key.replace('_gbps', '')] = d[key] / k[key];
      if (offload) ratiosOffload[key.replace('_gbps', '')] = bo[key] / ko[key];
    }
  }
  for (const key of Object.keys(bp))
    if (key.endsWith('_gbps')) ratiosBypass[key.replace('_gbps', '')] = bp[key];
  const added = {
    ping_p50_us: t.ping_p50_us - k.ping_p50_us,
    ping_p99_us: t.ping_p99_us - k.ping_p99_us,
    tcp_rr_p50_us: t.tcp_rr_p50_us - k.tcp_rr_p50_us,
    tcp_rr_p99_us: t.tcp_rr_p99_us - k.tcp_rr_p99_us,
  };
  const addedBypass = {
    ping_p50_us: bp.ping_p50_us,
    ping_p99_us: bp.ping_p99_us,
    tcp_rr_p50_us: bp.tcp_rr_p50_us,
    tcp_rr_p99_us: bp.tcp_rr_p99_us,
  };
  const rows = [...new Set([...Object.keys(t), ...Object.keys(b)])].map((key) => [
    key,
    k[key],
    t[key],
    ratios[key.replace('_gbps', '')],
    d[key],
    ratiosDefended[key.replace('_gbps', '')],
    kl[key],
    b[key],
    ratiosBypass[key.replace('_gbps', '')],
    ...(offload ? [ko[key], bo[key], ratiosOffload[key.replace('_gbps', '')]] : ['n/a', 'n/a', 'n/a']),
  ]);
  console.log(
    `bench/forward: ${SECONDS}s per iperf3 run, ${ROUNDS} round(s), ${PINGS} pings, ${RR} TCP round trips`,
  );
  const f = (x: unknown) =>
    typeof x === 'string' ? x : typeof x === 'number' && Number.isFinite(x) ? x.toFixed(2) : '-';
  console.log(
    'WAN-opened: kernel, pass-thru, defended (proxied) | LAN-opened: kernel, tunguard (bypass) | LAN-opened with fw4 flow offload: kernel, tunguard',
  );
  if (!offload)
    console.log(
      '(fw4 flow offload: n/a, this kernel has no flowtables; `npm run bench:offload` measures it in the QEMU guest)',
    );
  const cols = [
    'metric',
    'kernel',
    'pass-thru',
    'ratio',
    'defended',
    'ratio',
    'kernel',
    'bypass',
    'ratio',
    'k+offload',
    'b+offload',
    'ratio',
  ];
  console.log(cols.map((c, i) => (i === 0 ? c.padEnd(22) : c.padStart(10))).join(''));
  for (const [key, ...vals] of rows)
    console.log(`${String(key).padEnd(22)}${vals.map((x) => f(x).padStart(10)).join('')}`);
  for (const key of Object.keys(dq))
    console.log(
      `${`${key} q2`.padEnd(22)}${[k[key], '-', '-', dq[key], ratiosDefendedQ2[key.replace('_gbps', '')]]
        .map((x) => f(x).padStart(10))
        .join('')}   (defended: ${Q2.join(' ')})`,
    );
  for (const [key, v] of LAN_ONLY ? [] : Object.entries(added))
    console.log(`added ${key.padEnd(16)}${v.toFixed(1).padStart(12)} us`);
  for (const [key, v] of Object.entries(addedBypass))
    console.log(`added ${key.padEnd(16)}${v.toFixed(1).padStart(12)} us (LAN-opened, bypass)`);
  console.log(`packets through tg0 during the LAN-opened runs: ${bypassTun}`);
  const progCost = median(results.progCost);
  if (values['prog-cost'])
    console.log(
      `tunguard's tc programs during the LAN-opened runs: ${progCost.tc_runs} runs, ${progCost.tc_ns_per_run.toFixed(0)} ns per run (mean)`,
    );
  console.log(
    JSON.stringify({
      bench: 'forward',
      seconds: SECONDS,
      rounds: ROUNDS,
      tunPackets,
      iperfRetries,
      kernel: k,
      tunguard: t,
      defended: d,
      ratiosDefended,
      defendedQ2: values.queues || LAN_ONLY ? null : { args: Q2.join(' '), ...dq },
      ratiosDefendedQ2: values.queues || LAN_ONLY ? null : ratiosDefendedQ2,
      ratios,
      added,
      kernelLan: kl,
      bypass: b,
      ratiosBypass,
      addedBypass,
      bypassPerRound: results.bypassPaired,
      bypassTunPackets: bypassTun,
      offload: offload ? 'measured' : 'n/a',
      kernelOffload: offload ? ko : null,
      bypassOffload: offload ? bo : null,
      ratiosOffload: offload ? ratiosOffload : null,
      progCost: values['prog-cost'] ? progCost : null,
    }),
  );
}

main().catch((err) => {
  console.error(`bench/forward: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
});
