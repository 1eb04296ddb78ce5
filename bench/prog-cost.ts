// What the kernel spends in tunguard's tc programs per packet: the kernel's own BPF run-time
// statistics (run_cnt, run_time_ns per program), read with bpftool before and after a measurement.
// Turning the statistics on (kernel.bpf_stats_enabled) is global and costs every BPF program on
// the machine a clock read per run, so a bench asks for it (--prog-cost) and it is put back after.
import { execFileSync, spawnSync } from 'node:child_process';

export interface ProgRun {
  runs: number;
  ns: number;
}

const STATS = 'kernel.bpf_stats_enabled';

/** Fails naming the Debian package when bpftool is missing. */
export function requireBpftool(): void {
  if (spawnSync('sh', ['-c', 'command -v bpftool']).status !== 0)
    throw new Error('--prog-cost needs bpftool (apt-get install bpftool)');
}

/** Turns the statistics on; answers the undo (the value found is restored). */
export function enableBpfStats(): () => void {
  const was = execFileSync('sysctl', ['-n', STATS], { encoding: 'utf8' }).trim();
  execFileSync('sysctl', ['-qw', `${STATS}=1`]);
  return () => execFileSync('sysctl', ['-qw', `${STATS}=${was}`]);
}

/** Every tc (sched_cls) program loaded on the machine, by id, with its run statistics. */
export function tcPrograms(): Map<number, ProgRun> {
  const all = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as {
    id: number;
    type: string;
    run_cnt?: number;
    run_time_ns?: number;
  }[];
  const out = new Map<number, ProgRun>();
  for (const p of all)
    if (p.type === 'sched_cls') out.set(p.id, { runs: p.run_cnt ?? 0, ns: p.run_time_ns ?? 0 });
  return out;
}

/**
 * Runs and mean nanoseconds per run, summed over the programs in `after` that were not loaded in
 * `before` (the ones the daemon loaded) — what one packet pays crossing all of them, per packet that
 * meets any. Answers the total runs and the mean.
 */
export function costOf(
  base: Map<number, ProgRun>,
  before: Map<number, ProgRun>,
  after: Map<number, ProgRun>,
): { runs: number; nsPerRun: number } {
  let runs = 0;
  let ns = 0;
  for (const [id, a] of after) {
    if (base.has(id)) continue; // not the daemon's
    const b = before.get(id) ?? { runs: 0, ns: 0 };
    runs += a.runs - b.runs;
    ns += a.ns - b.ns;
  }
  return { runs, nsPerRun: runs > 0 ? ns / runs : 0 };
}
