// The SYN proxy's admission policy: risk tiers from the count of new SYNs in the
// window, and per-source aggressive marks. Joins the defense modules to the proxy stage.

import { readFileSync } from 'node:fs';
import { mappedFamilyAt, parseAddress } from '../../config/net.js';
import { ADDR_BYTES, AddrRing } from '../../defense/addr-ring.js';
import { SourceTracker } from '../../defense/sources.js';
import { TIER_NAMES, type Tier, type TierShare, TierTracker } from '../../defense/tiers.js';
import type { PacketInfo } from '../../packet/index.js';
import { FastMode, type FastPathMaps, type FastSettings, mappedAddress } from '../../tun/fast-path-maps.js';
import { AttackerBatch } from '../attacker-batch.js';
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
  // Marks the fast path was not given (its map or the gate's expiry ring full): the proxy still
  // drops those sources' SYNs that reach it, the kernel answers them.
  'fast_marks_refused',
  // Ticks at which the gate's grace ring was full, its suspects left in the kernel's queue.
  'fast_suspects_deferred',
] as const;

/** The fast path's aggressive map holds this many sources (bpf/synproxy.c tg_fp_aggressive). */
export const FAST_MARKS_MAX = 16384;
/** Suspects waiting for their grace second: 256 a tick over a second of ticks, and room for bursts. */
export const SUSPECTS_MAX = 4096;
/** Suspects taken from the kernel's queue a tick (it holds 1024). */
const SUSPECTS_PER_TICK = 256;

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
  /**
   * Sources this worker told the fast path to drop, with their ends (worker ms), oldest first: a
   * superset of what the map holds (a mark the map refused is here too, and clearing it is harmless).
   */
  readonly fastMarks = new AddrRing(FAST_MARKS_MAX);
  /** Sources the fast path reported past the limit (mapped addresses), judged when due (worker ms). */
  readonly suspects = new AddrRing(SUSPECTS_MAX);
  /** The marks made since the last tick: sent to the main thread and the fast path together. */
  private readonly batch = new AttackerBatch();
  /** Keys of marks to clear, laid end to end for one map write. */
  private readonly expired = new Uint8Array(SUSPECTS_PER_TICK * 4 * ADDR_BYTES);
  private readonly suspect = new Uint8Array(ADDR_BYTES);

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
      // A spoofed flood marks thousands of sources a second: into the tick's batch, no allocation.
      onMark: (buf, off, ver, at, until, unfinished) => {
        if (this.batch.full) this.flushMarks(at);
        this.batch.add(buf, off, ver, until, unfinished);
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
    // Until the leader's first tick has written the tiers' window and thresholds to the fast path,
    // the program cannot answer a flood's start itself (early_mode): asked for here, not left to the
    // worker's first regular tick, which a wake-up before it (a command at start) cancels.
    if (this.fast && this.leader && !this.fastWritten) return now;
    const t = this.tiers;
    if (this.batch.count > 0 || !t.quiet || (this.leader && (!t.peersQuiet || this.suspects.size > 0)))
      return now;
    // Quiet, the leader still writes the program's clock at each wall-clock minute: early_mode
    // answers a flood's start with the minute of the last write in its cookies, which the proxy
    // refuses once 2 minutes old.
    if (this.fast && this.leader)
      return Math.min(this.fastMarks.headTime, now + 60_001 - (Date.now() % 60_000));
    return this.fastMarks.headTime;
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
    this.flushMarks(now);
    c[this.i[13]] = this.fastMarks.refused + this.refusedByMap;
    c[this.i[14]] = this.suspectsDeferred;
  }

  /** Whether the leader has written the fast path's settings (early tiers, clock, mode) once. */
  private fastWritten = false;
  /** Marks the fast path's map refused (full), since the start. */
  private refusedByMap = 0;
  /** Ticks at which the grace ring was full (the kernel's queue left for later). */
  private suspectsDeferred = 0;

  /**
   * The marks made since the last tick, to the fast path's map (one native call) and to the main
   * thread (one message). A mark the expiry ring has no room for is not given to the map, so that
   * every key in the map has an entry here to clear it.
   */
  private flushMarks(now: number): void {
    const b = this.batch;
    const n = b.count;
    if (n === 0) return;
    if (this.fast) {
      const k = Math.min(n, this.fastMarks.free);
      this.refusedByMap += this.fast.maps.markAggressive(b.addresses, k, b.until);
      // The ring refuses (and counts) those past its room, which the map was not given.
      for (let j = 0; j < n; j++) this.fastMarks.push(b.addresses, j * ADDR_BYTES, b.until[j]);
    }
    const wall = Date.now();
    const message = b.take(wall, wall - now); // emptied whether or not anyone listens
    this.ctx?.post(message);
  }

  /**
   * Once a tick: the SYNs the fast path answered (or dropped for the tier) count in the tier like
   * the proxy's own; then the tier sets what the program does until the next tick, with the clock
   * its cookies and timestamps use. The leader does it; every worker expires its own marks.
   */
  private driveFastPath(now: number): void {
    const f = this.fast as FastPathDriver;
    this.expireFastMarks(now);
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
    this.fastWritten = true;
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
   * The fast path's marks that ended, cleared from its map in one native call (at most a batch a
   * tick; the rest at the next). In order of expiry (one hold time for all; after a change of it, a
   * few leave late, which the program's own check of each mark's end makes harmless): the first
   * mark still running ends the walk. A source marked again since (its tracker's mark ends later,
   * and the map has that end) goes back in with that end instead.
   */
  private expireFastMarks(now: number): void {
    const ring = this.fastMarks;
    const keys = this.expired;
    const max = keys.length / ADDR_BYTES;
    let n = 0;
    while (n < max && ring.headTime <= now) {
      const off = n * ADDR_BYTES;
      const until = ring.shift(keys, off);
      const v4 = mappedFamilyAt(keys, off) === 4;
      const later = this.sources.markedUntil(keys, v4 ? off + 12 : off, v4 ? 4 : 6);
      if (later > until) ring.push(keys, off, later);
      else n++;
    }
    (this.fast as FastPathDriver).maps.clearAggressive(keys, n);
  }

  /**
   * Sources the program counted past max_unfinished: after the grace second (a browser's parallel
   * connections complete within it, each taking one off the count), still over → aggressive, as
   * the proxy's own tracker would have marked it. At most 256 taken a tick (the queue holds 1024),
   * and none while the grace ring is full (they wait in the kernel's queue).
   */
  private judgeSuspects(now: number): void {
    const f = this.fast as FastPathDriver;
    const due = now + this.sources.graceMs;
    const s = this.suspect;
    let i = 0;
    for (; i < SUSPECTS_PER_TICK && this.suspects.free > 0 && f.maps.popSuspect(s); i++)
      this.suspects.push(s, 0, due);
    if (i < SUSPECTS_PER_TICK && this.suspects.free === 0) this.suspectsDeferred++;
    while (this.suspects.headTime <= now) {
      this.suspects.shift(s, 0);
      const v4 = mappedFamilyAt(s, 0) === 4;
      // sourceCount takes the mapped form as it is (16 bytes).
      this.sources.markCounted(s, v4 ? 12 : 0, v4 ? 4 : 6, f.maps.sourceCount(s), now);
    }
  }

  command(cmd: DataplaneCommand): void {
    if (cmd.type === 'attackers.clear') {
      if (cmd.address === undefined) {
        this.sources.clearAll();
        this.batch.clear(); // marks made since the tick: cleared too
      } else this.sources.clear(cmd.address.replace(/\/\d+$/, ''));
      if (this.fast) this.clearFastMarks(cmd.address);
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

  /**
   * Clears one source's mark (its entry in the ring stays and clears it again harmlessly, or goes
   * back in if marked anew) or all, from the fast path's map.
   */
  private clearFastMarks(address: string | undefined): void {
    const maps = (this.fast as FastPathDriver).maps;
    if (address !== undefined) {
      maps.clearAggressive(mappedAddress(parseAddress(address.replace(/\/\d+$/, '')).bytes), 1);
      return;
    }
    // The ring's entries lie in at most two runs (it wraps): one native call each.
    const ring = this.fastMarks;
    const first = ring.size === 0 ? 0 : Math.min(ring.size, ring.capacity - ring.slot(0));
    maps.clearAggressive(ring.addrs.subarray(ring.slot(0) * ADDR_BYTES), first);
    maps.clearAggressive(ring.addrs, ring.size - first);
    ring.clear();
  }

  tierName(): string {
    return TIER_NAMES[this.tiers.tier];
  }
}
