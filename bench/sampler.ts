// bench/sampler: what the passive-inventory sampler stage costs per packet, in process, on the real
// pipeline (classify + stages) over batches of real packets: no stage (classify only) vs the sampler,
// for bulk data both ways (the common case: nothing to sample) and for a storm of LAN SYNs (the worst
// case: every packet is a candidate). Prints a table and one JSON line. Usage:
//   node dist/bench/sampler.js [--packets 2000000] [--smoke]

import { Pipeline, pipelineLayout } from '../src/dataplane/pipeline.js';
import { buildStages, testStageEnv } from '../src/dataplane/stages/index.js';
import type { SamplerStage } from '../src/dataplane/stages/sampler.js';
import { Batch } from '../src/tun/packet-io.js';
import { tcp, v4 } from '../test/packet/helpers.js';
import { benchArgs } from './args.js';

const USAGE = `usage: node dist/bench/sampler.js [--packets 2000000] [--smoke]

What the passive-inventory sampler stage costs per packet, in process (no root): classify only vs. the
sampler, for bulk data and a storm of LAN SYNs. Tens of seconds with the defaults; --smoke is short.`;
const values = benchArgs(USAGE, {
  packets: { type: 'string', default: '2000000' },
  smoke: { type: 'boolean', default: false },
});
const PACKETS = values.smoke ? 200_000 : Number(values.packets);
const BATCH = 256;
const LAN_PREFIXES = ['192.0.2.0/24'];

/** One batch of `make(i)` packets, laid out as the TUN reader does. */
function batchOf(make: (i: number) => Uint8Array): Batch {
  const b = new Batch(BATCH * 1600, BATCH);
  let pos = 0;
  for (let i = 0; i < BATCH; i++) {
    const p = make(i);
    b.buf.set(p, pos);
    b.offsets[i] = pos;
    b.lengths[i] = p.length;
    pos += (p.length + 7) & ~7;
  }
  b.count = BATCH;
  return b;
}

const payload = new Uint8Array(1400).map((_, i) => (i * 31 + 7) & 0xff);
const WORKLOADS: Record<string, (i: number) => Uint8Array> = {
  'download (WAN → LAN data)': (i) =>
    v4(
      { src: [198, 51, 100, 2], dst: [192, 0, 2, 2], ttl: 63 },
      tcp({ sport: 80, dport: 40000, seq: i * 1400, flags: 0x10, payload }),
    ),
  'upload (LAN → WAN data)': (i) =>
    v4(
      { src: [192, 0, 2, 2], dst: [198, 51, 100, 2], ttl: 63 },
      tcp({ sport: 40000, dport: 443, seq: i * 1400, flags: 0x10, payload }),
    ),
  'SYN storm (LAN SYNs, 256 hosts)': (i) =>
    v4(
      { src: [192, 0, 2, i & 0xff], dst: [198, 51, 100, 2], ttl: 63 },
      tcp({ sport: 40000 + i, dport: 443, flags: 0x02, win: 64240, opts: [2, 4, 5, 180, 4, 2, 1, 3, 3, 7] }),
    ),
};

/** A pipeline over one batch; `run(n)` pushes the batch through n times and returns ns per packet. */
function bench(stageNames: string[], make: (i: number) => Uint8Array) {
  const batch = batchOf(make);
  const stages = buildStages(stageNames, testStageEnv({ lanPrefixes: LAN_PREFIXES }));
  const layout = pipelineLayout(stages);
  const counters = new Float64Array(layout.names.length);
  const pipeline = new Pipeline(stages, layout, counters, false);
  const sampler = stages.find((s) => s.name === 'sampler') as SamplerStage | undefined;
  let clock = 0;
  const run = (rounds: number): number => {
    const t = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) {
      batch.count = BATCH;
      // The clock moves 1 ms a batch, like a busy worker's.
      pipeline.process(batch, clock++);
      sampler?.ring.drain(() => {});
    }
    return Number(process.hrtime.bigint() - t) / (rounds * BATCH);
  };
  const samples = () => (sampler ? counters[layout.of('sampler_samples')] : 0);
  const bad = () => counters[layout.of('malformed_bad_ip_csum')];
  return { run, samples, bad };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const REPS = 7;
const rows: Array<{ workload: string; base: number; sampler: number; added: number; samples: number }> = [];
for (const [name, make] of Object.entries(WORKLOADS)) {
  const base = bench([], make);
  const withSampler = bench(['sampler'], make);
  const rounds = Math.ceil(PACKETS / BATCH / REPS);
  base.run(200); // warm-up (JIT) for both
  withSampler.run(200);
  const a: number[] = [];
  const b: number[] = [];
  // Interleaved, so load from elsewhere on the machine hits both alike; the median of each.
  for (let r = 0; r < REPS; r++) {
    a.push(base.run(rounds));
    b.push(withSampler.run(rounds));
  }
  if (base.bad() + withSampler.bad() > 0) throw new Error('bench packets went bad (checksum)');
  rows.push({
    workload: name,
    base: median(a),
    sampler: median(b),
    added: median(b) - median(a),
    samples: withSampler.samples(),
  });
}
console.log(
  `bench/sampler: ${PACKETS} packets per run, batches of ${BATCH}, ns per packet (classify + stages)`,
);
console.log(
  `${'workload'.padEnd(34)}${'classify'.padStart(12)}${'+ sampler'.padStart(12)}${'added'.padStart(9)}${'samples'.padStart(9)}`,
);
for (const r of rows)
  console.log(
    `${r.workload.padEnd(34)}${r.base.toFixed(1).padStart(12)}${r.sampler.toFixed(1).padStart(12)}${r.added.toFixed(1).padStart(9)}${String(r.samples).padStart(9)}`,
  );
console.log(JSON.stringify({ bench: 'sampler', packets: PACKETS, rows }));
