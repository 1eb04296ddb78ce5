// bench/fib-rules: what one policy rule costs each route lookup of the router. Any rule besides the
// kernel's three sets fib_has_custom_rules (for the namespace's life): from then on every lookup,
// the kernel's forwarding and every bpf_fib_lookup of the fast path (bpf/synproxy.c), walks the
// rule list over a local table split from the main one. tunguard once routed the router's answers by
// such a rule (pref 4747 → table 4746); src/netcfg/router-egress.ts replaced it. Here: two fresh
// namespaces, one without a rule and one with that rule, and in each a tc program that does one
// bpf_fib_lookup per run (BPF_PROG_TEST_RUN, pinned to CPU 1), IPv4 and IPv6. Prints a table and
// one JSON line; ns per run include the test run's own overhead (the same in both). Usage:
//   node dist/bench/fib-rules.js [--runs 2000000] [--rounds 7] [--smoke]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadAddon } from '../src/tun/addon.js';
import { Alu, Asm, FP, Helper, ProgType, Size } from '../src/tun/ebpf.js';
import { benchArgs } from './args.js';

const USAGE = `usage: node dist/bench/fib-rules.js [--runs 2000000] [--rounds 7] [--smoke]

ns per bpf_fib_lookup in a namespace without policy rules and in one with tunguard's former rule
(pref 4747 fwmark 0x4000000 lookup 4746), IPv4 and IPv6. Root; a few seconds (--smoke: 200,000
runs, 3 rounds).`;
const values = benchArgs(USAGE, {
  runs: { type: 'string' },
  rounds: { type: 'string' },
  smoke: { type: 'boolean', default: false },
  measure: { type: 'string' }, // internal: run inside a namespace, print the medians
});
const RUNS = Number(values.runs ?? (values.smoke ? 200_000 : 2_000_000));
const ROUNDS = Number(values.rounds ?? (values.smoke ? 3 : 7));
if (!(RUNS > 0 && RUNS <= 1e8 && ROUNDS > 0 && ROUNDS <= 99)) {
  process.stderr.write('fib-rules: --runs 1..1e8, --rounds 1..99\n');
  process.exit(2);
}
const DEV = 'tgfib0';
const FIB = -64;

/** One bpf_fib_lookup toward `dst` as if the packet came in on `ifindex`; returns its code. */
function lookupProgram(ifindex: number, v6: boolean): Uint8Array {
  const a = new Asm().movReg(6, 1);
  for (let o = 0; o < 64; o += 8) a.storeImm(Size.DW, FP, FIB + o, 0);
  a.storeImm(Size.B, FP, FIB, v6 ? 10 : 2).storeImm(Size.W, FP, FIB + 8, ifindex);
  // Destination: 198.51.100.2, or 2001:db8:1::2 (big-endian words read as little-endian).
  if (v6) {
    a.storeImm(Size.W, FP, FIB + 32, 0xb80d0120).storeImm(Size.W, FP, FIB + 36, 0x00000100);
    a.storeImm(Size.W, FP, FIB + 44, 0x02000000);
  } else a.storeImm(Size.W, FP, FIB + 32, 0x026433c6);
  a.movReg(1, 6).movReg(2, FP).aluImm(Alu.ADD, 2, FIB).movImm(3, 64).movImm(4, 4).call(Helper.fibLookup);
  return a.exit().assemble();
}

function measure(): void {
  const addon = loadAddon();
  const ifindex = Number(readFileSync(`/sys/class/net/${DEV}/ifindex`, 'utf8'));
  const out: Record<string, number> = {};
  for (const v6 of [false, true]) {
    const fd = addon.bpfLoad(ProgType.SCHED_CLS, lookupProgram(ifindex, v6));
    const frame = new Uint8Array(14 + 40);
    frame.set(v6 ? [0x86, 0xdd, 0x60] : [0x08, 0x00, 0x45], 12);
    const ctx = new Uint8Array(192);
    new DataView(ctx.buffer).setUint32(40, ifindex, true);
    const ns: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const [ret, , perRun] = addon.bpfTestRun(fd, frame, new Uint8Array(128), ctx, RUNS);
      if (ret !== 0) throw new Error(`bpf_fib_lookup answered ${ret}, not success`);
      ns.push(perRun);
    }
    addon.close(fd);
    out[v6 ? 'ipv6' : 'ipv4'] = ns.sort((x, y) => x - y)[ns.length >> 1];
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function main(): void {
  const results: Record<string, Record<string, number>> = {};
  for (const variant of ['no_rule', 'rule_4747'] as const) {
    const ns = `tgfib-${process.pid}`;
    sh('ip', ['netns', 'add', ns]);
    try {
      const ip = (...a: string[]) => sh('ip', ['-n', ns, ...a]);
      ip('link', 'add', 'name', DEV, 'type', 'veth', 'peer', 'name', 'tgfib1');
      ip('link', 'set', DEV, 'up');
      ip('link', 'set', 'tgfib1', 'up');
      ip('addr', 'add', '198.51.100.1/24', 'dev', DEV);
      ip('-6', 'addr', 'add', '2001:db8:1::1/64', 'dev', DEV, 'nodad');
      sh('ip', [
        'netns',
        'exec',
        ns,
        'sysctl',
        '-qw',
        'net.ipv4.ip_forward=1',
        'net.ipv6.conf.all.forwarding=1',
      ]);
      if (variant === 'rule_4747')
        for (const fam of ['-4', '-6']) {
          ip(fam, 'route', 'add', 'default', 'dev', 'tgfib1', 'table', '4746');
          ip(fam, 'rule', 'add', 'pref', '4747', 'fwmark', '0x4000000/0x4000000', 'lookup', '4746');
        }
      const args = [process.argv[1], '--measure', '1', '--runs', String(RUNS), '--rounds', String(ROUNDS)];
      results[variant] = JSON.parse(
        sh('ip', ['netns', 'exec', ns, 'taskset', '-c', '1', process.execPath, ...args]),
      );
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  }
  console.log(`ns per bpf_fib_lookup (median of ${ROUNDS} × ${RUNS} test runs, CPU 1)`);
  console.log(
    `${'family'.padEnd(8)}${'no_rule'.padStart(10)}${'rule_4747'.padStart(12)}${'added'.padStart(8)}`,
  );
  for (const fam of ['ipv4', 'ipv6']) {
    const a = results.no_rule[fam];
    const b = results.rule_4747[fam];
    console.log(
      `${fam.padEnd(8)}${String(a).padStart(10)}${String(b).padStart(12)}${String(b - a).padStart(8)}`,
    );
  }
  console.log(JSON.stringify({ bench: 'fib-rules', runs: RUNS, rounds: ROUNDS, results }));
}

if (values.measure) measure();
else main();
