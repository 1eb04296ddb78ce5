// Token-bucket rate limits for ICMP and UDP crossing the router (by default 100 ICMP/s, 200 UDP/s):
// one global bucket and one bucket per source (in a bounded AddrTable) per protocol, plus a separate
// generous bucket for ICMP errors so that path MTU discovery never starves behind a ping flood.
// One file (about 500 lines): the buckets, the limiter built of them and the ICMP/UDP pair the stage
// holds are each small and used only together; their settings and defaults sit beside them.
import { ICMP_RATE_DEFAULTS, UDP_RATE_DEFAULTS } from '../config/default-values.js';
import { Frag, GsoType, IpProto, icmp4IsError, type PacketInfo } from '../packet/index.js';
import { AddrTable } from './addr-table.js';
import { type PrefixMatcher, toMatcher } from './prefix.js';
import { UdpFlows } from './udp-flows.js';

/** A token bucket: `rate` tokens per second up to `burst`; rate 0 means unlimited. */
const ICMP_ECHO_REQUEST = 8;
const ICMPV6_ECHO_REQUEST = 128;

export class TokenBucket {
  rate: number;
  burst: number;
  private held = 0;
  /** Time of the last refill (ms); the bucket starts full, so the first refill adds nothing. */
  last = 0;

  constructor(rate: number, burst: number) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
  }

  /** Tokens in the bucket (may be negative: a super-packet's debt). */
  get tokens(): number {
    return this.held;
  }
  set tokens(v: number) {
    this.held = v;
  }

  /** New rate and burst; tokens are kept (capped at the new burst). */
  configure(rate: number, burst: number): void {
    this.rate = rate;
    this.burst = burst;
    if (this.tokens > burst) this.tokens = burst;
  }

  /** Adds the tokens earned since the last refill (time running backwards earns none). */
  refill(now: number): void {
    const dt = now - this.last;
    if (dt > 0) {
      const t = this.tokens + (dt * this.rate) / 1000;
      this.tokens = Math.min(t, this.burst);
      this.last = now;
    }
  }

  /**
   * Takes `n` tokens at `now` if at least one is available (a multi-packet super-packet may leave a
   * debt that later packets wait out); returns whether the packet passes.
   */
  take(now: number, n = 1): boolean {
    if (this.rate === 0) return true;
    this.refill(now);
    return this.tryTake(n);
  }

  /** take() without the refill (the caller refilled). */
  tryTake(n = 1): boolean {
    if (this.tokens < 1) return false;
    this.tokens -= n;
    return true;
  }

  /** Timer hook of the shared variant; a private bucket refills on use. */
  tick(_now: number): void {}

  /** Whether tick() has tokens to add (never: a private bucket refills on use). */
  needsTick(): boolean {
    return false;
  }
}

/** Shared global buckets: three Int32 slots (ICMP, UDP, ICMP errors) in one SharedArrayBuffer. */
export const SHARED_BUCKET_SLOTS = 3;
/** Tokens are kept in thousandths (Int32: at most ~2 M tokens a bucket). */
const MILLI = 1000;
const MAX_SHARED_BURST = 2_000_000;

/**
 * A global bucket several dataplane workers take from: the tokens live in an Int32 slot of a
 * SharedArrayBuffer (thousandths), taken with a compare-and-swap so no token is spent twice, and
 * only the leading worker refills it, on its tick (every 100 ms): the rate is the configured one
 * whatever the number of workers. Same interface as TokenBucket.
 */
export class SharedTokenBucket extends TokenBucket {
  private readonly cell: Int32Array;
  private lastTick = -1;

  constructor(
    sab: SharedArrayBuffer,
    slot: number,
    private readonly leader: boolean,
    rate: number,
    burst: number,
  ) {
    super(rate, Math.min(burst, MAX_SHARED_BURST));
    this.cell = new Int32Array(sab, slot * 4, 1);
  }

  override configure(rate: number, burst: number): void {
    this.rate = rate;
    this.burst = Math.min(burst, MAX_SHARED_BURST);
    const cap = this.burst * MILLI;
    for (let v = Atomics.load(this.cell, 0); v > cap; v = Atomics.load(this.cell, 0))
      if (Atomics.compareExchange(this.cell, 0, v, cap) === v) break;
  }

  override get tokens(): number {
    return this.cell ? Atomics.load(this.cell, 0) / MILLI : this.burst;
  }
  override set tokens(v: number) {
    // The base constructor assigns before the cell exists: the owner fills it afterwards.
    if (this.cell) Atomics.store(this.cell, 0, Math.round(Math.min(v, this.burst) * MILLI));
  }

  /** Refilled by the leader's tick, not per packet. */
  override refill(_now: number): void {}

  override tryTake(n = 1): boolean {
    const c = this.cell;
    for (;;) {
      const v = Atomics.load(c, 0);
      if (v < MILLI) return false;
      if (Atomics.compareExchange(c, 0, v, v - n * MILLI) === v) return true;
    }
  }

  /** The leader's bucket below its burst: its ticks refill it. */
  override needsTick(): boolean {
    return this.leader && this.rate !== 0 && Atomics.load(this.cell, 0) < this.burst * MILLI;
  }

  override tick(now: number): void {
    if (!this.leader) return;
    const dt = this.lastTick < 0 ? 0 : now - this.lastTick;
    this.lastTick = now;
    if (!(dt > 0) || this.rate === 0) return;
    const add = Math.round(dt * this.rate); // thousandths: rate/s × dt ms
    const cap = this.burst * MILLI;
    const c = this.cell;
    for (;;) {
      const v = Atomics.load(c, 0);
      const nv = Math.min(v + add, cap);
      if (nv <= v || Atomics.compareExchange(c, 0, v, nv) === v) return;
    }
  }
}

/** One protocol's limits (the shape `config ratelimit` maps onto). */
export interface RateLimitSettings {
  /** Default true; false passes everything. */
  enabled?: boolean;
  /** Global rate, packets per second; 0 = no global limit. */
  rate: number;
  /** Global bucket size, packets (>= 1). */
  burst: number;
  /** Per-source rate, packets per second; 0 = no per-source limit. */
  perSourceRate: number;
  /** Per-source bucket size, packets (>= 1). */
  perSourceBurst: number;
}

/** ICMP settings: the limits, and the bucket ICMP errors use instead. */
export interface IcmpRateLimitSettings extends RateLimitSettings {
  /**
   * ICMP errors (destination unreachable incl. fragmentation needed, packet too big, time exceeded,
   * parameter problem...) take from their own global bucket, never from the ones above, and have no
   * per-source bucket (one upstream router sends them all). Packets per second; default 1000;
   * 0 exempts errors from limiting altogether.
   */
  errorRate?: number;
  /** Error bucket size (default: errorRate). */
  errorBurst?: number;
}

/** UDP settings: the limits, and destination ports never limited. */
export interface UdpRateLimitSettings extends RateLimitSettings {
  /** Destination ports whose datagrams are not counted (default [53]). */
  exemptPorts?: readonly number[];
}

export interface RateLimiterOptions {
  /** Per-source buckets kept at once (default 16 384; least recently seen evicted). */
  capacity?: number;
  /** Key IPv6 sources by /64 (default) or by full address. */
  v6PrefixLen?: 64 | 128;
  probeLimit?: number;
  seed?: number;
}

/** RateLimiter.check results. */
export const RateVerdict = { PASS: 0, GLOBAL: 1, SOURCE: 2 } as const;

function checkSettings(what: string, s: RateLimitSettings): void {
  const ok =
    s.rate >= 0 &&
    s.perSourceRate >= 0 &&
    (s.rate === 0 || s.burst >= 1) &&
    (s.perSourceRate === 0 || s.perSourceBurst >= 1);
  if (!ok) throw new Error(`${what}: rates must be >= 0 and bursts >= 1`);
}

/**
 * A global token bucket and per-source buckets for one protocol. A packet passes only when both its
 * source's bucket and the global bucket have a token, and then takes from both: packets dropped for
 * one reason do not use up the other bucket. A source evicted from the table and seen again starts
 * with a full bucket; the global bucket bounds what rotating sources can gain from that.
 */
export class RateLimiter {
  readonly global: TokenBucket;
  private enabled = true;
  private psRate = 0;
  private psBurst = 1;
  private readonly table: AddrTable;
  private readonly tokens: Float64Array;
  private readonly last: Float64Array;

  constructor(settings: RateLimitSettings, options: RateLimiterOptions = {}, global?: TokenBucket) {
    this.table = new AddrTable(options.capacity ?? 16_384, {
      probeLimit: options.probeLimit,
      v6PrefixLen: options.v6PrefixLen ?? 64,
      seed: options.seed,
    });
    this.tokens = new Float64Array(this.table.capacity);
    this.last = new Float64Array(this.table.capacity);
    this.global = global ?? new TokenBucket(0, 1);
    this.configure(settings);
    this.global.tokens = this.global.burst; // start full
  }

  /** New settings (config reload); bucket state is kept, capped at the new bursts. */
  configure(s: RateLimitSettings): void {
    checkSettings('rate limit', s);
    this.enabled = s.enabled ?? true;
    this.global.configure(s.rate, Math.max(1, s.burst));
    this.psRate = s.perSourceRate;
    this.psBurst = Math.max(1, s.perSourceBurst);
    const t = this.tokens;
    for (let i = 0; i < t.length; i++) if (t[i] > this.psBurst) t[i] = this.psBurst;
  }

  /** Per-source table capacity (fixed). */
  get capacity(): number {
    return this.table.capacity;
  }
  /** Sources with a bucket now. */
  get sources(): number {
    return this.table.size;
  }
  get evictions(): number {
    return this.table.evictions;
  }

  /**
   * Decides a packet from the source at buf[srcOff] counting as `n` packets (n > 1 for a UDP GSO
   * super-packet): RateVerdict.PASS, SOURCE (its bucket is empty) or GLOBAL. Hot path.
   */
  check(buf: Uint8Array, srcOff: number, ver: number, now: number, n = 1): number {
    if (!this.enabled) return RateVerdict.PASS;
    const g = this.global;
    if (g.rate !== 0) g.refill(now);
    let s = -1;
    if (this.psRate !== 0) {
      const t = this.table;
      s = t.upsert(buf, srcOff, ver, now);
      if (t.created) {
        this.tokens[s] = this.psBurst;
        this.last[s] = now;
      } else {
        const dt = now - this.last[s];
        if (dt > 0) {
          const v = this.tokens[s] + (dt * this.psRate) / 1000;
          this.tokens[s] = Math.min(v, this.psBurst);
          this.last[s] = now;
        }
      }
      if (this.tokens[s] < 1) return RateVerdict.SOURCE;
    }
    if (g.rate !== 0 && !g.tryTake(n)) return RateVerdict.GLOBAL;
    if (s >= 0) this.tokens[s] -= n;
    return RateVerdict.PASS;
  }

  /** Forgets every per-source bucket and refills the global one. */
  reset(): void {
    this.table.clear();
    this.global.tokens = this.global.burst;
  }
}

/** Why RateLimits.decide() drops a packet (0 = pass); the stage maps these to counters. */
export const RateLimitReason = {
  PASS: 0,
  ICMP_GLOBAL: 1,
  ICMP_SOURCE: 2,
  ICMP_ERROR: 3,
  UDP_GLOBAL: 4,
  UDP_SOURCE: 5,
} as const;

/** Counter names of the reasons above, in order from ICMP_GLOBAL. */
export const RATE_LIMIT_DROP_REASONS = [
  'drop_icmp_rate_global',
  'drop_icmp_rate_source',
  'drop_icmp_error_rate',
  'drop_udp_rate_global',
  'drop_udp_rate_source',
] as const;

/**
 * Settings of the rate-limit stage. `icmp` and `udp` have the shape of the config's
 * `ratelimit.icmp` / `ratelimit.udp` sections (rate, burst, perSourceRate, perSourceBurst, enabled,
 * udp.exemptPorts) plus icmp.errorRate / errorBurst; missing sections get the defaults.
 */
export interface RateLimitsSettings {
  icmp?: Partial<IcmpRateLimitSettings>;
  udp?: Partial<UdpRateLimitSettings>;
  /** Sources never limited (the config's allow prefixes): CIDR strings or a matcher. */
  allow?: PrefixMatcher | readonly string[];
  /**
   * When given and non-empty, only packets to these destinations are limited (e.g. the LAN prefixes:
   * limit what comes in, not the LAN's own traffic out). Default: every packet crossing the router.
   */
  destinations?: PrefixMatcher | readonly string[];
}

export interface RateLimitsOptions {
  /** Per-source buckets per protocol (default 16 384). */
  sourceCapacity?: number;
  /** Key IPv6 sources by /64 (default) or by full address. */
  v6PrefixLen?: 64 | 128;
  seed?: number;
  /**
   * With several dataplane workers: the global buckets live in this SharedArrayBuffer
   * (SHARED_BUCKET_SLOTS Int32 slots) so the global rates hold for the router, not per worker;
   * `leader` (one worker) refills them on its tick.
   */
  share?: { sab: SharedArrayBuffer; leader: boolean };
}

export const ICMP_DEFAULTS: Required<IcmpRateLimitSettings> = {
  enabled: true,
  rate: ICMP_RATE_DEFAULTS.rate,
  burst: ICMP_RATE_DEFAULTS.rate,
  perSourceRate: ICMP_RATE_DEFAULTS.perSourceRate,
  perSourceBurst: ICMP_RATE_DEFAULTS.perSourceRate,
  errorRate: 1000,
  errorBurst: 1000,
};

export const UDP_DEFAULTS: Required<UdpRateLimitSettings> = {
  enabled: true,
  rate: UDP_RATE_DEFAULTS.rate,
  burst: UDP_RATE_DEFAULTS.rate,
  perSourceRate: UDP_RATE_DEFAULTS.perSourceRate,
  perSourceBurst: UDP_RATE_DEFAULTS.perSourceRate,
  exemptPorts: [...UDP_RATE_DEFAULTS.exemptPorts],
};

/**
 * The ICMP and UDP limits over classified packets. ICMP is ICMPv4 in IPv4 or ICMPv6 in IPv6 (ICMP of
 * the wrong version is an unknown protocol and passes, like every other protocol).
 */
export class RateLimits {
  readonly icmp: RateLimiter;
  readonly udp: RateLimiter;
  readonly icmpErrors: TokenBucket;
  /** One bit per destination port: 1 = exempt. */
  private readonly exempt = new Uint8Array(8192);
  private allowSet!: PrefixMatcher;
  private dstSet!: PrefixMatcher;
  /** UDP flows LAN hosts opened (only with `destinations`: they say what the LAN is). */
  readonly udpFlows: UdpFlows;

  constructor(settings: RateLimitsSettings = {}, options: RateLimitsOptions = {}) {
    const o = { capacity: options.sourceCapacity, v6PrefixLen: options.v6PrefixLen, seed: options.seed };
    const sh = options.share;
    const bucket = (slot: number, rate: number, burst: number) =>
      sh ? new SharedTokenBucket(sh.sab, slot, sh.leader, rate, burst) : new TokenBucket(rate, burst);
    this.icmp = new RateLimiter(ICMP_DEFAULTS, o, bucket(0, 0, 1));
    this.udp = new RateLimiter(
      UDP_DEFAULTS,
      { ...o, seed: o.seed === undefined ? undefined : o.seed + 1 },
      bucket(1, 0, 1),
    );
    this.icmpErrors = bucket(2, ICMP_DEFAULTS.errorRate, ICMP_DEFAULTS.errorBurst);
    this.udpFlows = new UdpFlows({ seed: o.seed === undefined ? undefined : o.seed + 2 });
    this.configure(settings);
    this.icmpErrors.tokens = this.icmpErrors.burst; // start full
  }

  /** Applies settings (at start and on reload); per-source state is kept. Throws on bad values. */
  configure(settings: RateLimitsSettings): void {
    const icmp = { ...ICMP_DEFAULTS, ...settings.icmp };
    const udp = { ...UDP_DEFAULTS, ...settings.udp };
    if (!(icmp.errorRate >= 0) || (icmp.errorRate > 0 && !(icmp.errorBurst >= 1))) {
      throw new Error('icmp: errorRate must be >= 0 and errorBurst >= 1');
    }
    for (const p of udp.exemptPorts) {
      if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`udp: bad exempt port ${p}`);
    }
    this.icmp.configure(icmp);
    this.udp.configure(udp);
    // An explicit errorRate without errorBurst gets a burst of one second's worth.
    const errorBurst = settings.icmp?.errorBurst ?? Math.max(1, icmp.errorRate);
    this.icmpErrors.configure(icmp.errorRate, errorBurst);
    this.exempt.fill(0);
    for (const p of udp.exemptPorts) this.exempt[p >>> 3] |= 1 << (p & 7);
    this.allowSet = toMatcher(settings.allow);
    this.dstSet = toMatcher(settings.destinations);
  }

  /**
   * What the last decide() saw a LAN host send out whose answers are welcome: a UDP datagram, or an
   * ICMP echo request (its replies). False for anything else.
   */
  outboundUdp = false;
  outboundEcho = false;

  /** A RateLimitReason for the classified packet `info` in `buf` at `now` (ms). Hot path. */
  decide(buf: Uint8Array, info: PacketInfo, now: number): number {
    this.outboundUdp = false;
    this.outboundEcho = false;
    const p = info.proto;
    const ver = info.ipVersion;
    const isUdp = p === IpProto.UDP;
    const isIcmp = ver === 4 ? p === IpProto.ICMP : p === IpProto.ICMPV6;
    if (!isUdp && !isIcmp) return RateLimitReason.PASS;
    const nonFirst = info.fragment === Frag.NON_FIRST;
    if (!this.dstSet.empty && !this.dstSet.matches(buf, info.dstAddrOff, ver)) {
      // Leaving the LAN: not limited, but a UDP flow a LAN host opens makes its replies welcome.
      if (
        isIcmp &&
        !nonFirst &&
        info.icmpType === (ver === 4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST) &&
        info.l4Len >= 8 &&
        this.dstSet.matches(buf, info.srcAddrOff, ver)
      )
        this.outboundEcho = true;
      if (isUdp && !nonFirst && this.dstSet.matches(buf, info.srcAddrOff, ver)) {
        this.outboundUdp = true;
        this.udpFlows.noteOutbound(
          buf,
          info.srcAddrOff,
          info.dstAddrOff,
          ver === 4 ? 4 : 16,
          info.srcPort,
          info.dstPort,
          now,
        );
      }
      return RateLimitReason.PASS;
    }
    if (!this.allowSet.empty && this.allowSet.matches(buf, info.srcAddrOff, ver)) return RateLimitReason.PASS;
    // A reply on a flow the LAN host opened is not a flood.
    const f = this.udpFlows;
    if (
      isUdp &&
      !nonFirst &&
      !this.dstSet.empty &&
      f.isReply(buf, info.srcAddrOff, info.dstAddrOff, ver === 4 ? 4 : 16, info.srcPort, info.dstPort, now)
    )
      return RateLimitReason.PASS;
    if (isUdp) {
      // Non-first fragments carry no UDP header, so no port: they are counted against the global
      // and their source's bucket like any datagram (an exempt port cannot be recognised on them).
      let n = 1;
      if (!nonFirst) {
        const port = info.dstPort;
        if ((this.exempt[port >>> 3] & (1 << (port & 7))) !== 0) return RateLimitReason.PASS;
        // A USO super-packet holds one datagram per gsoSize bytes of payload.
        if ((info.gsoType & ~GsoType.ECN) === GsoType.UDP_L4 && info.gsoSize > 0) {
          n = Math.max(1, Math.ceil((info.l4Len - 8) / info.gsoSize));
        }
      }
      const v = this.udp.check(buf, info.srcAddrOff, ver, now, n);
      return v === 0 ? 0 : v === 1 ? RateLimitReason.UDP_GLOBAL : RateLimitReason.UDP_SOURCE;
    }
    // ICMP. A non-first fragment has no ICMP header (icmpType reads 0): never an error.
    if (!nonFirst && (ver === 4 ? icmp4IsError(info.icmpType) : info.icmpType < 128)) {
      return this.icmpErrors.take(now) ? RateLimitReason.PASS : RateLimitReason.ICMP_ERROR;
    }
    const v = this.icmp.check(buf, info.srcAddrOff, ver, now, 1);
    return v === 0 ? 0 : v === 1 ? RateLimitReason.ICMP_GLOBAL : RateLimitReason.ICMP_SOURCE;
  }

  /** Timer (the stage's tick, every 100 ms): shared global buckets are refilled here. */
  tick(now: number): void {
    this.icmp.global.tick(now);
    this.udp.global.tick(now);
    this.icmpErrors.tick(now);
  }

  /** Whether tick() has a shared bucket to refill. */
  needsTick(): boolean {
    return this.icmp.global.needsTick() || this.udp.global.needsTick() || this.icmpErrors.needsTick();
  }

  /** Forgets all per-source state and refills the global buckets. */
  reset(): void {
    this.icmp.reset();
    this.udp.reset();
    this.udpFlows.clear();
    this.icmpErrors.tokens = this.icmpErrors.burst;
  }
}
