// The SYN proxy's admission policy (seed FIG. 4–5): risk tiers from the count of new SYNs in the
// window, and per-source aggressive marks. Joins the defense modules to the proxy stage.

import { SourceTracker } from '../../defense/sources.js';
import { TIER_NAMES, type Tier, type TierShare, TierTracker } from '../../defense/tiers.js';
import type { PacketInfo } from '../../packet/index.js';
import type { DataplaneCommand, StageContext } from '../stage.js';
import type { SynGate } from './synproxy.js';

const NORMAL = 0;
const MODERATE = 1;
const RISKY = 2;

export interface SynGateSettings {
  windowSeconds: number;
  moderateThreshold: number;
  riskyThreshold: number;
  /** 'cookie': answer SYNs statelessly in the risky tier; 'drop': the seed's "no new SYN". */
  riskyAction: 'cookie' | 'drop';
  maxUnfinishedPerSource: number;
  aggressiveHoldSeconds: number;
  /** Sources never marked aggressive (CIDR strings). */
  allow: string[];
}

/** Counter names the gate drops under, and the gauges it keeps current. */
export const GATE_COUNTERS = [
  'drop_syn_aggressive',
  'drop_syn_duplicate',
  'drop_syn_risky',
  'gauge_tier',
  'gauge_syn_window',
  'gauge_half_open',
  'gauge_aggressive_sources',
] as const;

export class TieredSynGate implements SynGate {
  readonly tiers: TierTracker;
  readonly sources: SourceTracker;
  private ctx?: StageContext;
  private c: Float64Array = new Float64Array(GATE_COUNTERS.length);
  private i = [0, 1, 2, 3, 4, 5, 6];

  /** Worker 0 speaks for the shared tier (events, the tier gauge); the others count. */
  private readonly leader: boolean;

  constructor(
    readonly settings: SynGateSettings,
    share?: TierShare,
  ) {
    this.leader = !share || share.index === 0;
    this.tiers = new TierTracker({
      share,
      windowMs: settings.windowSeconds * 1000,
      moderateThreshold: settings.moderateThreshold,
      riskyThreshold: settings.riskyThreshold,
      onChange: (ev) =>
        this.leader &&
        this.ctx?.post({
          type: 'tier',
          at: Date.now(),
          from: ev.fromName,
          to: ev.toName,
          synCount: ev.synCount,
          halfOpen: ev.halfOpen,
        }),
    });
    this.sources = new SourceTracker({
      maxUnfinished: settings.maxUnfinishedPerSource,
      holdMs: settings.aggressiveHoldSeconds * 1000,
      allow: settings.allow,
      // The tracker's times are worker-clock ms: report wall-clock ones.
      onAggressive: (ev) =>
        this.ctx?.post({
          type: 'attacker',
          address: ev.address,
          at: Date.now(),
          until: Date.now() + (ev.until - ev.at),
          unfinished: ev.unfinished,
        }),
    });
  }

  bind(indices: readonly number[], ctx: StageContext, counters: Float64Array): void {
    this.i = [...indices];
    this.ctx = ctx;
    this.c = counters;
  }

  onSyn(buf: Uint8Array, info: PacketInfo, now: number, duplicate: boolean): number {
    if (this.sources.isAggressive(buf, info.srcAddrOff, info.ipVersion, now)) return this.i[0];
    // Retransmissions of a SYN already answered are not new SYNs (the seed counts first SYNs).
    const tier: Tier = duplicate ? this.tiers.update(now) : this.tiers.onSyn(now);
    if (tier === NORMAL) return 0;
    if (tier === MODERATE) return duplicate ? this.i[1] : 0;
    return this.settings.riskyAction === 'drop' ? this.i[2] : 1;
  }

  onAnswered(buf: Uint8Array, info: PacketInfo, now: number): void {
    this.tiers.onAnswered(now);
    this.sources.onAnswered(buf, info.srcAddrOff, info.ipVersion, now);
  }

  onCompleted(buf: Uint8Array, info: PacketInfo, now: number): void {
    this.tiers.onCompleted(now);
    this.sources.onCompleted(buf, info.srcAddrOff, info.ipVersion, now);
  }

  mayCache(): boolean {
    return this.tiers.tier !== RISKY;
  }

  tick(now: number): void {
    this.tiers.update(now);
    const c = this.c;
    // Gauges are summed over workers: the tier once (the leader's), the counts each their own.
    c[this.i[3]] = this.leader ? this.tiers.tier : 0;
    c[this.i[4]] = this.tiers.synCount;
    c[this.i[5]] = this.tiers.halfOpen;
    c[this.i[6]] = this.sources.markCount;
  }

  command(cmd: DataplaneCommand): void {
    if (cmd.type === 'attackers.clear') {
      if (cmd.address === undefined) this.sources.clearAll();
      else this.sources.clear(cmd.address.replace(/\/\d+$/, ''));
    } else if (cmd.type === 'allowlist.set') {
      this.sources.setAllow(cmd.prefixes);
    } else if (cmd.type === 'settings' && cmd.syn) {
      const s = cmd.syn as Partial<SynGateSettings>;
      if (s.moderateThreshold !== undefined && s.riskyThreshold !== undefined)
        this.tiers.setThresholds(s.moderateThreshold, s.riskyThreshold);
      if (s.riskyAction !== undefined) this.settings.riskyAction = s.riskyAction;
    }
  }

  tierName(): string {
    return TIER_NAMES[this.tiers.tier];
  }
}
