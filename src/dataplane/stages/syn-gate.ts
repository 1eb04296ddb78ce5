// The SYN proxy's admission policy: risk tiers from the count of new SYNs in the
// window, and per-source aggressive marks. Joins the defense modules to the proxy stage.

import { readFileSync } from 'node:fs';
import { parseAddress } from '../../config/net.js';
import { SourceTracker } from '../../defense/sources.js';
import { TIER_NAMES, type Tier, type TierShare, TierTracker } from '../../defense/tiers.js';
import type { PacketInfo } from '../../packet/index.js';
import { FastMode, type FastPathMaps, type FastSettings } from '../../tun/fast-path-maps.js';
import type { DataplaneCommand, StageContext } from '../stage.js';
import { ANSWER, ANSWER_UNRECORDED, dropVerdict, type SynGate, type SynVerdict } from './synproxy.js';

const NORMAL = 0;
const MODERATE = 1;
const RISKY = 2;

export interface SynGateSettings {
  windowSeconds: number;
  moderateThreshold: number;
  riskyThreshold: number;
  /** 'cookie': answer SYNs statelessly in the risky tier; 'drop': no new connection at all. */
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
  // What the kernel fast path did (bpf/synproxy.c), as the leader last read it.
  'fast_syn_answered',
  'drop_fast_syn_risky',
  'drop_fast_syn_aggressive',
  'drop_fast_bad_checksum',
  'drop_fast_syn_duplicate',
  // Of fast_syn_answered, those answered at an uplink's ingress (the rest at a LAN device's egress).
  'fast_syn_answered_uplink',
] as const;

/** The kernel fast path as the gate drives it: its maps and its fixed settings. */
export interface FastPathDriver {
  maps: FastPathMaps;
  /** tunIfindex 0: read from `tunName` at the first tick (the TUN exists by then). */
  settings: FastSettings;
  tunName: string;
}

function ifindexOf(dev: string): number {
  return Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8'));
}

export class TieredSynGate implements SynGate {
  readonly tiers: TierTracker;
  readonly sources: SourceTracker;
  private ctx?: StageContext;
  private c: Float64Array = new Float64Array(GATE_COUNTERS.length);
  private i = GATE_COUNTERS.map((_, k) => k);
  /** Drop verdicts of aggressive, duplicate and risky SYNs (their counters: the first three). */
  private drops = this.i.slice(0, 3).map(dropVerdict);
  /** The fast path's counters at the last tick (their increase is what it saw since). */
  private fastAnswered = 0;
  private fastRisky = 0;
  /** Sources this worker marked aggressive and told the fast path of: address → until (worker ms), oldest first. */
  private readonly fastMarks = new Map<string, number>();
  /** Sources the fast path reported past the limit, judged once the grace second has passed. */
  private readonly suspects: { bytes: Uint8Array; due: number }[] = [];
  private readonly suspect = new Uint8Array(16);

  /** Worker 0 speaks for the shared tier (events, the tier gauge); the others count. */
  private readonly leader: boolean;

  constructor(
    readonly settings: SynGateSettings,
    share?: TierShare,
    private readonly fast?: FastPathDriver,
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
      onAggressive: (ev) => {
        this.ctx?.post({
          type: 'attacker',
          address: ev.address,
          at: Date.now(),
          until: Date.now() + (ev.until - ev.at),
          unfinished: ev.unfinished,
        });
        // The fast path drops its SYNs too, until the mark expires (rare: allocation is fine).
        if (this.fast?.maps.aggressive(parseAddress(ev.address).bytes, true)) {
          this.fastMarks.delete(ev.address); // to the end: the map stays in order of expiry
          this.fastMarks.set(ev.address, ev.until);
        }
      },
    });
  }

  bind(indices: readonly number[], ctx: StageContext, counters: Float64Array): void {
    this.i = [...indices];
    this.drops = this.i.slice(0, 3).map(dropVerdict);
    this.ctx = ctx;
    this.c = counters;
  }

  onSyn(buf: Uint8Array, info: PacketInfo, now: number, duplicate: boolean): SynVerdict {
    if (this.sources.isAggressive(buf, info.srcAddrOff, info.ipVersion, now)) return this.drops[0];
    // Retransmissions of a SYN already answered are not new SYNs (only first SYNs count).
    const tier: Tier = duplicate ? this.tiers.update(now) : this.tiers.onSyn(now);
    if (tier === NORMAL) return ANSWER;
    if (tier === MODERATE) return duplicate ? this.drops[1] : ANSWER;
    return this.settings.riskyAction === 'drop' ? this.drops[2] : ANSWER_UNRECORDED;
  }

  onAnswered(buf: Uint8Array, info: PacketInfo, now: number): void {
    this.tiers.onAnswered(now);
    this.sources.onAnswered(buf, info.srcAddrOff, info.ipVersion, now);
  }

  onCompleted(buf: Uint8Array, info: PacketInfo, now: number): void {
    this.tiers.onCompleted(now);
    this.sources.onCompleted(buf, info.srcAddrOff, info.ipVersion, now);
    // The fast path may have answered its SYN: its count of the source's handshakes drops too.
    this.fast?.maps.completed(buf, info.srcAddrOff, info.ipVersion);
  }

  mayCache(): boolean {
    return this.tiers.tier !== RISKY;
  }

  /**
   * Every tick (`now`) while the window still counts, or (the leader) another worker's does, or
   * suspects wait for their grace second; outside the normal tier that also keeps the fast path's
   * mode and clock current. Else when a mark the fast path holds expires. Else never (a new mark
   * comes with a SYN, which the window counts: the marks' gauge follows at those ticks).
   */
  nextTickAt(now: number): number {
    const t = this.tiers;
    if (!t.quiet || (this.leader && (!t.peersQuiet || this.suspects.length > 0))) return now;
    let at = Number.POSITIVE_INFINITY;
    for (const until of this.fastMarks.values()) if (until < at) at = until;
    return at;
  }

  tick(now: number): void {
    if (this.fast) this.driveFastPath(now);
    else this.tiers.update(now);
    const c = this.c;
    // Gauges are summed over workers: the tier once (the leader's), the counts each their own.
    c[this.i[3]] = this.leader ? this.tiers.tier : 0;
    c[this.i[4]] = this.tiers.synCount;
    c[this.i[5]] = this.tiers.halfOpen;
    c[this.i[6]] = this.sources.markCount;
  }

  /**
   * Once a tick: the SYNs the fast path answered (or dropped for the tier) count in the tier like
   * the proxy's own; then the tier sets what the program does until the next tick, with the clock
   * its cookies and timestamps use. The leader does it; every worker expires its own marks.
   */
  private driveFastPath(now: number): void {
    const f = this.fast as FastPathDriver;
    // In order of expiry (one hold time for all; after a change of it, a few expire late): the
    // first mark still running ends the walk, which a spoofed flood would otherwise make long.
    for (const [addr, until] of this.fastMarks) {
      if (until > now) break;
      f.maps.aggressive(parseAddress(addr).bytes, false);
      this.fastMarks.delete(addr);
    }
    if (!this.leader) {
      this.tiers.update(now);
      return;
    }
    if (f.settings.tunIfindex === 0) f.settings.tunIfindex = ifindexOf(f.tunName);
    this.setEarly(f.settings);
    const answered = f.maps.read('answered');
    const risky = f.maps.read('drop_risky');
    const tier = this.tiers.addSeen(
      now,
      answered - this.fastAnswered + (risky - this.fastRisky),
      answered - this.fastAnswered,
    );
    this.fastAnswered = answered;
    this.fastRisky = risky;
    this.judgeSuspects(now);
    const mode =
      tier === NORMAL
        ? FastMode.PASS
        : tier === RISKY && this.settings.riskyAction === 'drop'
          ? FastMode.DROP
          : tier === MODERATE
            ? FastMode.CHART
            : FastMode.ANSWER;
    f.maps.write(f.settings, mode, Date.now());
    const c = this.c;
    c[this.i[7]] = answered;
    c[this.i[8]] = risky;
    c[this.i[9]] = f.maps.read('drop_aggressive');
    c[this.i[10]] = f.maps.read('bad_checksum');
    c[this.i[11]] = f.maps.read('duplicate');
    c[this.i[12]] = f.maps.read('answered_uplink');
  }

  /**
   * The tiers' window and thresholds, which the program applies itself to the SYNs it passes while
   * the mode says PASS: a flood is answered in the kernel from its first hundred SYNs, not from the
   * tick that reads them (bpf/synproxy.c: early_mode). No allocation after the first call.
   */
  private setEarly(s: FastSettings): void {
    s.early ??= { windowMs: 0, moderateAbove: 0, riskyAbove: 0, riskyMode: FastMode.ANSWER };
    const e = s.early;
    // The shortest time a SYN stays in the tiers' count: the program's window then never holds a
    // SYN the tiers have already let go of.
    e.windowMs = Math.max(1, this.tiers.windowMs - this.tiers.bucketMs);
    e.moderateAbove = this.tiers.moderateThreshold;
    e.riskyAbove = this.tiers.riskyThreshold;
    e.riskyMode = this.settings.riskyAction === 'drop' ? FastMode.DROP : FastMode.ANSWER;
  }

  /**
   * Sources the program counted past max_unfinished: after the grace second (a browser's parallel
   * connections complete within it, each taking one off the count), still over → aggressive, as
   * the proxy's own tracker would have marked it. At most 256 taken a tick (the queue holds 1024).
   */
  private judgeSuspects(now: number): void {
    const f = this.fast as FastPathDriver;
    for (let i = 0; i < 256 && f.maps.popSuspect(this.suspect); i++)
      this.suspects.push({ bytes: this.suspect.slice(), due: now + this.sources.graceMs });
    while (this.suspects.length > 0 && this.suspects[0].due <= now) {
      const s = this.suspects.shift() as { bytes: Uint8Array };
      const v4 = s.bytes.subarray(0, 12).every((b, k) => b === (k < 10 ? 0 : 0xff));
      const addr = v4 ? s.bytes.subarray(12) : s.bytes;
      this.sources.markCounted(addr, 0, v4 ? 4 : 6, f.maps.sourceCount(addr), now);
    }
  }

  command(cmd: DataplaneCommand): void {
    if (cmd.type === 'attackers.clear') {
      if (cmd.address === undefined) this.sources.clearAll();
      else this.sources.clear(cmd.address.replace(/\/\d+$/, ''));
      if (this.fast) {
        for (const addr of this.fastMarks.keys()) {
          if (cmd.address !== undefined && addr !== cmd.address.replace(/\/\d+$/, '')) continue;
          this.fast.maps.aggressive(parseAddress(addr).bytes, false);
          this.fastMarks.delete(addr);
        }
      }
    } else if (cmd.type === 'allowlist.set') {
      this.sources.setAllow(cmd.prefixes);
    } else if (cmd.type === 'settings' && cmd.syn) {
      // Every option the control plane reports as applied on reload lands here (see SYN_RESTART_ONLY in
      // src/daemon/control.ts for the others).
      const s = cmd.syn as Partial<SynGateSettings>;
      if (s.moderateThreshold !== undefined && s.riskyThreshold !== undefined)
        this.tiers.setThresholds(s.moderateThreshold, s.riskyThreshold);
      if (s.riskyAction !== undefined) this.settings.riskyAction = s.riskyAction;
      if (s.windowSeconds !== undefined) {
        this.tiers.setWindow(s.windowSeconds * 1000);
        this.settings.windowSeconds = s.windowSeconds;
      }
      if (s.maxUnfinishedPerSource !== undefined || s.aggressiveHoldSeconds !== undefined) {
        const max = s.maxUnfinishedPerSource ?? this.settings.maxUnfinishedPerSource;
        const hold = s.aggressiveHoldSeconds ?? this.settings.aggressiveHoldSeconds;
        this.sources.setLimits(max, hold * 1000);
        // The kernel fast path reports sources past the same limit (written at the next tick).
        if (this.fast) this.fast.settings.maxUnfinished = max;
        this.settings.maxUnfinishedPerSource = max;
        this.settings.aggressiveHoldSeconds = hold;
      }
    }
  }

  tierName(): string {
    return TIER_NAMES[this.tiers.tier];
  }
}
