// TierTracker: the SYN defense's risk tiers. New first SYNs are counted over a sliding window in
// ring-buffer buckets; the count picks normal / moderate / risky, and every change is reported.

import { SYN_DEFAULTS } from '../config/default-values.js';

/** Risk tiers, ordered. */
export const Tier = {
  NORMAL: 0,
  MODERATE: 1,
  RISKY: 2,
} as const;
export type Tier = (typeof Tier)[keyof typeof Tier];

export const TIER_NAMES = ['normal', 'moderate', 'risky'] as const;
export type TierName = (typeof TIER_NAMES)[number];

/** A tier change, as handed to `onChange`. */
export interface TierEvent {
  /** When (the caller's clock, ms). */
  at: number;
  from: Tier;
  to: Tier;
  fromName: TierName;
  toName: TierName;
  /** New first SYNs in the window at the change. */
  synCount: number;
  /** SYNs answered minus handshakes completed in the window at the change. */
  halfOpen: number;
}

/**
 * Several dataplane workers, one tier: each publishes its own window counts (new SYNs, half-open) in
 * two Int32 slots of a shared buffer, and decides on the sum over all workers. Aligned Int32 stores
 * do not tear; a peer's count is at most one of its ticks (100 ms) old.
 */
export interface TierShare {
  sab: SharedArrayBuffer;
  /** This worker's slot pair. */
  index: number;
  workers: number;
}

export interface TierOptions {
  /** Sliding window length, ms (default 3000: long enough to see a flood, short enough to end the risky tier soon after it). */
  windowMs?: number;
  /**
   * Bucket width, ms (default 100). A SYN leaves the count between windowMs - bucketMs and windowMs
   * after it was seen. Rounded so that a whole number of buckets covers the window.
   */
  bucketMs?: number;
  /** More SYNs in the window than this: moderate (default 100). */
  moderateThreshold?: number;
  /** More SYNs in the window than this: risky (default 300). */
  riskyThreshold?: number;
  /**
   * Hysteresis in SYNs, for stepping down only (default 0: the same thresholds both ways). With
   * h > 0, risky falls back to moderate only once the count is <= riskyThreshold - h, and moderate
   * to normal only at <= moderateThreshold - h; stepping up always uses the thresholds exactly.
   */
  hysteresis?: number;
  /** Called on every tier change (rare: allocation there is fine). Must not throw. */
  onChange?: (event: TierEvent) => void;
  /** Count with the other workers (see TierShare). */
  share?: TierShare;
}

/**
 * Counts what the SYN proxy reports: `onSyn` for every new first SYN (all of them count,
 * including those never followed by an ACK; not retransmissions of one already seen), `onAnswered`
 * when a SYN-ACK is sent for one, `onCompleted` when a handshake completes. Time is passed in (ms,
 * monotonic; an earlier time than the last is taken as the last). No allocation on these calls.
 *
 * The window only slides when called: the dataplane calls `update(now)` once per batch (and the
 * worker on idle ticks) so the tier falls back after a flood even when no SYN arrives.
 */
export class TierTracker {
  private _windowMs: number;
  private _bucketMs: number;
  private moderate: number;
  private risky: number;
  private hyst: number;
  private readonly onChange: ((event: TierEvent) => void) | undefined;
  private n: number;
  private syn: Float64Array;
  private answered: Float64Array;
  private completed: Float64Array;
  /** The bucket width asked for (the window is cut into whole buckets of about this). */
  private readonly bucketWanted: number;
  /** Epoch (time / bucketMs, floored) of the newest bucket. */
  private epoch = Number.NEGATIVE_INFINITY;
  private synSum = 0;
  private ansSum = 0;
  private doneSum = 0;
  private cur: Tier = Tier.NORMAL;
  /** When the current tier was entered (ms; -Infinity before any change). */
  since = Number.NEGATIVE_INFINITY;
  private readonly shared: Int32Array | undefined;
  private readonly me: number;

  constructor(options: TierOptions = {}) {
    const windowMs = options.windowMs ?? SYN_DEFAULTS.windowSeconds * 1000;
    const bucket = options.bucketMs ?? 100;
    if (!(windowMs > 0) || !(bucket > 0)) throw new Error('tier window and bucket must be > 0 ms');
    this.bucketWanted = bucket;
    this.n = Math.max(1, Math.round(windowMs / Math.min(bucket, windowMs)));
    this._windowMs = windowMs;
    this._bucketMs = windowMs / this.n;
    this.syn = new Float64Array(this.n);
    this.answered = new Float64Array(this.n);
    this.completed = new Float64Array(this.n);
    this.moderate = SYN_DEFAULTS.moderateThreshold;
    this.risky = SYN_DEFAULTS.riskyThreshold;
    this.hyst = 0;
    this.setThresholds(
      options.moderateThreshold ?? SYN_DEFAULTS.moderateThreshold,
      options.riskyThreshold ?? SYN_DEFAULTS.riskyThreshold,
      options.hysteresis ?? 0,
    );
    this.onChange = options.onChange;
    const share = options.share;
    this.shared = share && share.workers > 1 ? new Int32Array(share.sab, 0, share.workers * 2) : undefined;
    this.me = share ? share.index * 2 : 0;
  }

  /** Changes the thresholds (config reload) keeping the counts; takes effect at the next call. */
  setThresholds(moderateThreshold: number, riskyThreshold: number, hysteresis = this.hyst): void {
    if (!(moderateThreshold >= 0 && riskyThreshold >= moderateThreshold && hysteresis >= 0)) {
      throw new Error('tier thresholds must satisfy 0 <= moderate <= risky, hysteresis >= 0');
    }
    this.moderate = moderateThreshold;
    this.risky = riskyThreshold;
    this.hyst = hysteresis;
  }

  get windowMs(): number {
    return this._windowMs;
  }
  get bucketMs(): number {
    return this._bucketMs;
  }

  /**
   * A new window length (config reload). The buckets are cut anew, so the counts start over; the tier
   * is re-evaluated at the next call.
   */
  setWindow(windowMs: number): void {
    if (!(windowMs > 0)) throw new Error('tier window must be > 0 ms');
    if (windowMs === this._windowMs) return;
    this.n = Math.max(1, Math.round(windowMs / Math.min(this.bucketWanted, windowMs)));
    this._windowMs = windowMs;
    this._bucketMs = windowMs / this.n;
    this.syn = new Float64Array(this.n);
    this.answered = new Float64Array(this.n);
    this.completed = new Float64Array(this.n);
    this.epoch = Number.NEGATIVE_INFINITY;
    this.reset();
  }

  get moderateThreshold(): number {
    return this.moderate;
  }
  get riskyThreshold(): number {
    return this.risky;
  }

  /** The current tier (as of the last call). */
  get tier(): Tier {
    return this.cur;
  }
  get tierName(): TierName {
    return TIER_NAMES[this.cur];
  }
  /** New first SYNs in the window (this worker's). */
  get synCount(): number {
    return this.synSum;
  }
  /** New first SYNs in the window over all workers: what sets the tier. */
  get totalSynCount(): number {
    return this.synSum + this.peers(0);
  }
  /** Half-open handshakes over all workers. */
  get totalHalfOpen(): number {
    return this.halfOpen + this.peers(1);
  }
  /** SYN-ACKs sent in the window. */
  get answeredCount(): number {
    return this.ansSum;
  }
  /** Handshakes completed in the window. */
  get completedCount(): number {
    return this.doneSum;
  }
  /**
   * The normal tier and nothing in this worker's window: no SYN is left to slide out of it, so the
   * window needs no timer until the next call that counts.
   */
  get quiet(): boolean {
    return this.cur === Tier.NORMAL && this.synSum === 0 && this.ansSum === 0 && this.doneSum === 0;
  }
  /** Nothing in the other workers' windows either (as they last published). */
  get peersQuiet(): boolean {
    return this.peers(0) === 0 && this.peers(1) === 0;
  }
  /** Answered minus completed within the window (never negative). */
  get halfOpen(): number {
    return Math.max(this.ansSum - this.doneSum, 0);
  }

  /** A new first SYN at `now`; returns the tier after counting it. */
  onSyn(now: number): Tier {
    const b = this.advance(now);
    this.syn[b]++;
    this.synSum++;
    this.publish();
    return this.evaluate(now);
  }

  /** A SYN-ACK was sent for a new first SYN. */
  onAnswered(now: number): void {
    const b = this.advance(now);
    this.answered[b]++;
    this.ansSum++;
    this.publish();
  }

  /** A handshake completed (valid third ACK). */
  onCompleted(now: number): void {
    const b = this.advance(now);
    this.completed[b]++;
    this.doneSum++;
    this.publish();
  }

  /**
   * `syns` new first SYNs, `answered` of them answered, seen elsewhere since the last call (the
   * kernel fast path answers them without the proxy): counted at `now`. Returns the tier after.
   */
  addSeen(now: number, syns: number, answered: number): Tier {
    const b = this.advance(now);
    this.syn[b] += syns;
    this.synSum += syns;
    this.answered[b] += answered;
    this.ansSum += answered;
    this.publish();
    return this.evaluate(now);
  }

  /** Slides the window to `now` and re-evaluates the tier; returns it. */
  update(now: number): Tier {
    this.advance(now);
    this.publish();
    return this.evaluate(now);
  }

  // Sequentially consistent stores and loads: a sleeping leader announces it, then reads the peers'
  // counts (worker.ts); a peer publishes, then reads the announcement. One of them sees the other.
  private publish(): void {
    const sh = this.shared;
    if (sh === undefined) return;
    Atomics.store(sh, this.me, this.synSum);
    Atomics.store(sh, this.me + 1, this.ansSum > this.doneSum ? this.ansSum - this.doneSum : 0);
  }

  /** Sum of the other workers' slot `k` (0: SYNs, 1: half-open). */
  private peers(k: number): number {
    const sh = this.shared;
    if (sh === undefined) return 0;
    let sum = 0;
    for (let i = k; i < sh.length; i += 2) if (i - k !== this.me) sum += Atomics.load(sh, i);
    return sum;
  }

  /** Forgets all counts (the tier is re-evaluated, and may fall, at the next call). */
  reset(): void {
    this.syn.fill(0);
    this.answered.fill(0);
    this.completed.fill(0);
    this.synSum = 0;
    this.ansSum = 0;
    this.doneSum = 0;
    this.publish();
  }

  /** The state for the API (allocates). */
  snapshot(): {
    tier: TierName;
    since: number;
    synCount: number;
    answered: number;
    completed: number;
    halfOpen: number;
    windowMs: number;
    moderateThreshold: number;
    riskyThreshold: number;
  } {
    return {
      tier: this.tierName,
      since: this.since,
      synCount: this.synSum,
      answered: this.ansSum,
      completed: this.doneSum,
      halfOpen: this.halfOpen,
      windowMs: this.windowMs,
      moderateThreshold: this.moderate,
      riskyThreshold: this.risky,
    };
  }

  /** Moves the ring to the bucket of `now`, emptying the buckets that fell out; returns its index. */
  private advance(now: number): number {
    const n = this.n;
    const e = Math.floor(now / this.bucketMs);
    if (e > this.epoch) {
      if (e - this.epoch >= n) this.reset();
      else {
        for (let x = this.epoch + 1; x <= e; x++) {
          const b = ((x % n) + n) % n;
          this.synSum -= this.syn[b];
          this.ansSum -= this.answered[b];
          this.doneSum -= this.completed[b];
          this.syn[b] = 0;
          this.answered[b] = 0;
          this.completed[b] = 0;
        }
      }
      this.epoch = e;
    } else if (this.epoch === Number.NEGATIVE_INFINITY) this.epoch = 0; // first time was NaN
    return ((this.epoch % n) + n) % n;
  }

  private evaluate(now: number): Tier {
    const c = this.shared === undefined ? this.synSum : this.synSum + this.peers(0);
    const from = this.cur;
    let to: Tier = c > this.risky ? Tier.RISKY : c > this.moderate ? Tier.MODERATE : Tier.NORMAL;
    if (to < from && this.hyst > 0) {
      // Stepping down: stay while the count is still inside the hysteresis band below a threshold.
      if (from === Tier.RISKY && c > this.risky - this.hyst) to = Tier.RISKY;
      else if (to === Tier.NORMAL && c > this.moderate - this.hyst) to = Tier.MODERATE;
    }
    if (to !== from) {
      this.cur = to;
      this.since = now;
      if (this.onChange) {
        this.onChange({
          at: now,
          from,
          to,
          fromName: TIER_NAMES[from],
          toName: TIER_NAMES[to],
          synCount: c,
          halfOpen: this.totalHalfOpen,
        });
      }
    }
    return to;
  }
}
