// The per-batch pipeline: classify every packet, run the stages, keep what passes, count all of it.
import { classify, MALFORMED_NAMES, PacketInfo } from '../packet/index.js';
import type { Batch } from '../tun/packet-io.js';
import { CounterLayout } from './counters.js';
import { Emitter } from './emit.js';
import { type DataplaneCommand, PASS, type Stage, StageContext } from './stage.js';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;

/** Counter names for malformed packets, one per classify() reason (index 0 = not malformed). */
const malformedCounters = MALFORMED_NAMES.slice(1).map((n) => `malformed_${n}`);

export function pipelineLayout(stages: readonly Stage[]): CounterLayout {
  return new CounterLayout([...malformedCounters, ...stages.flatMap((s) => s.dropReasons)]);
}

export class Pipeline {
  private readonly info = new PacketInfo();
  readonly ctx: StageContext;
  private readonly c: Float64Array;
  private readonly malformedBase: number;
  private readonly idx: {
    rxPackets: number;
    rxBytes: number;
    ipv4: number;
    ipv6: number;
    tcp: number;
    udp: number;
    icmp: number;
    other: number;
    fragments: number;
    gso: number;
  };

  constructor(
    private readonly stages: readonly Stage[],
    layout: CounterLayout,
    counters: Float64Array,
    private readonly vnetHdr: boolean,
  ) {
    this.c = counters;
    this.malformedBase = layout.of(malformedCounters[0]) - 1;
    this.idx = {
      rxPackets: layout.of('rx_packets'),
      rxBytes: layout.of('rx_bytes'),
      ipv4: layout.of('ipv4'),
      ipv6: layout.of('ipv6'),
      tcp: layout.of('tcp'),
      udp: layout.of('udp'),
      icmp: layout.of('icmp'),
      other: layout.of('other_proto'),
      fragments: layout.of('fragments'),
      gso: layout.of('gso_packets'),
    };
    this.ctx = new StageContext(new Emitter(vnetHdr));
    for (const s of stages)
      s.bind(
        s.dropReasons.map((r) => layout.of(r)),
        this.ctx,
        counters,
      );
  }

  /**
   * Runs the batch through the stages in place (stages may also originate packets: `emitted`). Packets that pass are compacted to the front of
   * offsets/lengths (order kept); returns how many to write.
   */
  process(batch: Batch, now: number): number {
    this.ctx.now = now;
    const c = this.c;
    const ix = this.idx;
    const info = this.info;
    const stages = this.stages;
    const n = batch.count;
    let keep = 0;
    let bytes = 0;
    next: for (let i = 0; i < n; i++) {
      const off = batch.offsets[i];
      const len = batch.lengths[i];
      bytes += len;
      const bad = classify(batch.buf, off, len, this.vnetHdr, info);
      if (bad !== 0) {
        c[this.malformedBase + bad]++;
        continue;
      }
      c[info.ipVersion === 4 ? ix.ipv4 : ix.ipv6]++;
      const p = info.proto;
      if (p === IPPROTO_TCP) c[ix.tcp]++;
      else if (p === IPPROTO_UDP) c[ix.udp]++;
      else if (p === IPPROTO_ICMP || p === IPPROTO_ICMPV6) c[ix.icmp]++;
      else c[ix.other]++;
      // Fragments and unknown protocols pass by rule (stages see them with no L4 view).
      if (info.fragment !== 0) c[ix.fragments]++;
      if (info.gsoType !== 0) c[ix.gso]++;
      for (let s = 0; s < stages.length; s++) {
        const v = stages[s].handle(batch, i, info);
        if (v !== PASS) {
          c[v]++;
          continue next;
        }
      }
      batch.offsets[keep] = off;
      batch.lengths[keep] = len;
      keep++;
    }
    c[ix.rxPackets] += n;
    c[ix.rxBytes] += bytes;
    return keep;
  }

  /** Runs the stages' timers. */
  tick(now: number): void {
    this.ctx.now = now;
    for (const s of this.stages) s.tick?.();
  }

  /** When the earliest stage's timer must run (see Stage.nextTickAt); Infinity: none runs. */
  nextTickAt(now: number): number {
    let at = Number.POSITIVE_INFINITY;
    for (const s of this.stages) {
      if (!s.tick) continue;
      const t = s.nextTickAt?.(now) ?? now;
      if (t < at) at = t;
    }
    return at;
  }

  command(cmd: DataplaneCommand): void {
    for (const s of this.stages) s.command?.(cmd);
  }

  flush(now: number): void {
    this.ctx.now = now;
    for (const s of this.stages) s.flush?.();
  }

  /** Packets the stages originated since the last reset (written after the forwarded ones). */
  get emitted(): Batch {
    return this.ctx.emitter.batch;
  }
}
