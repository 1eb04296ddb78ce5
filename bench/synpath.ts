// bench/synpath: the JS cost of the SYN path alone (classify + stages + cookie SYN-ACK), no syscalls —
// a component measurement with no peer to compare against (bench/synflood compares end to end):
// batches of spoofed SYNs from random sources through the real pipeline with the default stages and
// tier settings. Prints ns per SYN, split by tier. Usage: node dist/bench/synpath.js [--syns 2000000]

import { Pipeline, pipelineLayout } from '../src/dataplane/pipeline.js';
import { buildStages, DEFAULT_STAGES, testStageEnv } from '../src/dataplane/stages/index.js';
import { Batch } from '../src/tun/packet-io.js';
import { tcp, v4 } from '../test/packet/helpers.js';
import { benchArgs } from './args.js';

const USAGE = `usage: node dist/bench/synpath.js [--syns 2000000] [--smoke]

The JS cost of the SYN path alone (classify + stages + cookie SYN-ACK, no syscalls, no root): ns per
SYN by tier. Seconds with the defaults; --smoke is shorter.`;
const values = benchArgs(USAGE, {
  syns: { type: 'string', default: '2000000' },
  smoke: { type: 'boolean' },
});
const N = values.smoke ? 100_000 : Number(values.syns);
const BATCH = 64;
const stages = buildStages(
  DEFAULT_STAGES,
  testStageEnv({
    lanPrefixes: ['192.0.2.0/24'],
    maxConnections: 65536,
    synCacheSize: 65536,
    syn: {
      windowSeconds: 3,
      moderateThreshold: 100,
      riskyThreshold: 300,
      riskyAction: 'cookie',
      maxUnfinishedPerSource: 5,
      aggressiveHoldSeconds: 60,
      allow: [],
    },
  }),
);
const layout = pipelineLayout(stages);
const counters = new Float64Array(layout.names.length);
const pipeline = new Pipeline(stages, layout, counters, false);
const opts = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
const syn = v4(
  { src: [198, 18, 0, 1], dst: [192, 0, 2, 2] },
  tcp({ sport: 40000, dport: 8080, seq: 1, flags: 2, opts }),
);
const batch = new Batch(BATCH * 128, BATCH);
for (let i = 0; i < BATCH; i++) {
  batch.buf.set(syn, i * 128);
  batch.offsets[i] = i * 128;
}
let x = 0x9e3779b9 | 0;
const SRC_LO = (syn[14] << 8) | syn[15];
const ID0 = (syn[4] << 8) | syn[5];
const SPORT0 = (syn[20] << 8) | syn[21];
let now = 1000;
const run = (count: number) => {
  for (let done = 0; done < count; done += BATCH) {
    for (let i = 0; i < BATCH; i++) {
      const o = i * 128;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      // The low 16 bits of the source address change; the IP ID and the TCP source port absorb the
      // difference (ones' complement) so both checksums stay valid without recomputing them.
      const w = (x >>> 8) & 0xffff;
      const comp = (base: number) => {
        let v = base + (~w & 0xffff) + SRC_LO;
        v = (v & 0xffff) + (v >>> 16);
        return (v & 0xffff) + (v >>> 16);
      };
      const id = comp(ID0);
      const sp = comp(SPORT0);
      batch.buf[o + 14] = w >>> 8;
      batch.buf[o + 15] = w;
      batch.buf[o + 4] = id >>> 8;
      batch.buf[o + 5] = id;
      batch.buf[o + 20] = sp >>> 8;
      batch.buf[o + 21] = sp;
      batch.lengths[i] = syn.length;
      batch.offsets[i] = o;
    }
    batch.count = BATCH;
    now += 0.5;
    pipeline.process(batch, now);
    pipeline.ctx.emitter.reset();
  }
};
run(200_000);
const t0 = performance.now();
run(N);
const ms = performance.now() - t0;
const seen: Record<string, number> = {};
for (const n of layout.names) if (counters[layout.of(n)] > 0) seen[n] = counters[layout.of(n)];
console.log(
  `${N} SYNs: ${((ms * 1e6) / N).toFixed(0)} ns/SYN (${((N / ms) * 1000).toFixed(0)} SYN/s on one core)`,
);
console.log(JSON.stringify({ bench: 'synpath', syns: N, nsPerSyn: (ms * 1e6) / N, counters: seen }));
