// The rate-limit stage: ICMP and UDP crossing the router through global and per-source token
// buckets (src/defense/ratelimit.ts); the excess is dropped and counted per reason.

import { PrefixMatcher } from '../../defense/prefix.js';
import {
  RATE_LIMIT_DROP_REASONS,
  RateLimitReason,
  RateLimits,
  type RateLimitsOptions,
  type RateLimitsSettings,
} from '../../defense/ratelimit.js';
import type { PacketInfo } from '../../packet/index.js';
import type { Batch } from '../../tun/packet-io.js';
import type { DataplaneCommand } from '../stage.js';
import { PASS, type Stage, type StageContext } from '../stage.js';

const IPPROTO_UDP = 17;

/**
 * Settings (all optional; missing values are the defaults):
 * ```
 * {
 *   icmp: { enabled, rate: 100, burst: 100, perSourceRate: 50, perSourceBurst: 50,
 *           errorRate: 1000, errorBurst: 1000 },          // ICMP errors: own global bucket
 *   udp:  { enabled, rate: 200, burst: 200, perSourceRate: 100, perSourceBurst: 100,
 *           exemptPorts: [53] },                          // by destination port
 *   allow: ['192.168.1.10/32'],                           // sources never limited
 *   destinations: [],                                     // non-empty: limit only packets to these
 * }
 * ```
 * Rates are packets per second (0 = no limit of that kind), bursts are bucket sizes in packets.
 * UCI `config ratelimit 'icmp'|'udp'` maps option for option: rate, burst, per_source_rate,
 * per_source_burst, enabled, list exempt_port.
 *
 * Time: the batch's clock, `ctx.now`, which `Pipeline.process(batch, now)` sets once per batch (the
 * worker's performance.now()). Outside a pipeline, `setNow(ms)` sets it.
 */
export class RateLimitStage implements Stage {
  readonly name = 'ratelimit';
  readonly dropReasons = RATE_LIMIT_DROP_REASONS;
  readonly limits: RateLimits;
  /** Counter index per RateLimitReason (index 0: PASS). */
  private readonly reasonIndex = new Int32Array(RATE_LIMIT_DROP_REASONS.length + 1);
  /** The clock: the pipeline's StageContext once bound, else a private one for setNow(). */
  private clock: { now: number } = { now: 0 };
  private ctx?: StageContext;

  private settings: RateLimitsSettings;
  /** The router's own addresses: limited too when `destinations` names what is limited. */
  private router: readonly string[];

  constructor(
    settings: RateLimitsSettings = {},
    options: RateLimitsOptions = {},
    router: readonly string[] = [],
  ) {
    this.settings = settings;
    this.router = router;
    this.limits = new RateLimits(this.inForce(), options);
  }

  /** The settings with the router's addresses among the destinations (none named: all are limited). */
  private inForce(): RateLimitsSettings {
    const d = this.settings.destinations;
    const named = d === undefined ? [] : d instanceof PrefixMatcher ? d.prefixes : d;
    if (named.length === 0 || this.router.length === 0) return this.settings;
    return { ...this.settings, destinations: [...named, ...this.router] };
  }

  bind(reasonIndex: readonly number[], ctx?: StageContext): void {
    this.reasonIndex[RateLimitReason.PASS] = PASS;
    for (let i = 0; i < RATE_LIMIT_DROP_REASONS.length; i++) this.reasonIndex[i + 1] = reasonIndex[i];
    if (ctx) {
      this.clock = ctx;
      this.ctx = ctx;
    }
  }

  /** Sets the time (ms, monotonic) for packets handled outside a Pipeline (which sets ctx.now). */
  setNow(ms: number): void {
    this.clock.now = ms;
  }

  /**
   * Reloaded settings from the control plane (bucket state is kept). What the command leaves out
   * (the LAN destinations the daemon derived, for one) stays as it was.
   */
  command(cmd: DataplaneCommand): void {
    if (cmd.type === 'settings' && cmd.ratelimit)
      this.configure({ ...this.settings, ...(cmd.ratelimit as RateLimitsSettings) });
    else if (cmd.type === 'allowlist.set') this.configure({ ...this.settings, allow: cmd.prefixes });
    else if (cmd.type === 'router.set') {
      this.router = cmd.prefixes;
      this.configure(this.settings);
    }
  }

  /** New settings on a config reload; bucket state is kept. */
  configure(settings: RateLimitsSettings): void {
    this.settings = settings;
    this.limits.configure(this.inForce());
  }

  /** Every 100 ms: the leading worker refills the shared global buckets. */
  tick(): void {
    this.limits.tick(this.clock.now);
  }

  /** Every tick while the leader has a shared bucket to refill, else never. */
  nextTickAt(now: number): number {
    return this.limits.needsTick() ? now : Number.POSITIVE_INFINITY;
  }

  handle(batch: Batch, _i: number, info: PacketInfo): number {
    const r = this.limits.decide(batch.buf, info, this.clock.now);
    if (r !== RateLimitReason.PASS) return this.reasonIndex[r];
    // A UDP flow the LAN opened needs nothing more of us: its replies may take the kernel path.
    if (this.limits.outboundEcho) {
      // A ping the LAN sends: its echo replies (same identifier) may take the kernel path.
      const id = (batch.buf[info.l4Off + 4] << 8) | batch.buf[info.l4Off + 5];
      this.ctx?.bypass.add(batch.buf, info.ipVersion, info.proto, info.srcAddrOff, id, info.dstAddrOff, 0);
    } else if (this.limits.outboundUdp)
      this.ctx?.bypass.add(
        batch.buf,
        info.ipVersion,
        IPPROTO_UDP,
        info.srcAddrOff,
        info.srcPort,
        info.dstAddrOff,
        info.dstPort,
      );
    return PASS;
  }
}
