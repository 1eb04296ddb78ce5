// SourceTracker: per source address, handshakes answered but never completed (more than a set number
// makes the source "aggressive" and its SYNs are dropped for a hold time), in
// bounded tables that evict the least recently seen source, with an allowlist of sources never marked.
import { SYN_DEFAULTS } from '../config/default-values.js';
import { parsePrefix } from '../config/net.js';
import { AddrTable } from './addr-table.js';
import { type PrefixMatcher, toMatcher } from './prefix.js';

/** Slots of the per-source ring of answered-handshake counts; each covers unfinishedWindowMs / SLOTS. */
const SLOTS = 8;
/** Slot of an epoch: `e & SLOT_MASK` (ToInt32 keeps the low bits of any integer below 2^53). */
const SLOT_MASK = SLOTS - 1;
/** Counts per slot saturate here (only "more than maxUnfinished" matters). */
const SAT = 255;

/** A source became aggressive (handed to `onAggressive`). */
export interface AggressiveEvent {
  /** The source ("192.0.2.7", "2001:db8::7", or "2001:db8:1:2::/64" with v6PrefixLen 64). */
  address: string;
  /** When (the caller's clock, ms). */
  at: number;
  /** Its SYNs are dropped until this time. */
  until: number;
  /** Unfinished handshakes counted when it was marked. */
  unfinished: number;
}

/** An aggressive source as listed for the API. */
export interface AggressiveSource {
  address: string;
  since: number;
  until: number;
  remainingMs: number;
  unfinished: number;
  /** SYNs dropped (isAggressive answered true) since it was marked. */
  drops: number;
}

export interface SourceOptions {
  /** Sources whose handshakes are tracked at once (default 65 536; least recently seen evicted). */
  capacity?: number;
  /** More unfinished handshakes than this: aggressive (default 5; 0..254). */
  maxUnfinished?: number;
  /** How long an aggressive source stays marked, ms (default 60 000). */
  holdMs?: number;
  /**
   * An answered handshake counts as unfinished for this long, ms (default 10 000), then ages out, so
   * a client whose handshakes fail now and then never accumulates. Kept at 1/8-window granularity.
   */
  unfinishedWindowMs?: number;
  /**
   * A handshake counts as unfinished only once it has been outstanding this long, ms (default 1000),
   * so a client opening many connections at once (browsers open 6+ in parallel) is not marked while
   * its ACKs are still on the way. Rounded up to whole 1/8-window slots; 0 counts every answered
   * handshake at once. At most 5/8 of the window.
   */
  graceMs?: number;
  /** Sources never marked (and not tracked): CIDR strings or a matcher. */
  allow?: PrefixMatcher | readonly string[];
  /** Aggressive marks kept at once (default 4096; least recently seen evicted). */
  maxAggressive?: number;
  /** Key IPv6 sources by /64 instead of the full address (default 128). */
  v6PrefixLen?: 64 | 128;
  /** Probe window of the hash tables (default 8). */
  probeLimit?: number;
  /** Fixed hash seed (tests); default random. */
  seed?: number;
  /** Called when a source becomes aggressive (rare: allocation there is fine). Must not throw. */
  onAggressive?: (event: AggressiveEvent) => void;
  /**
   * The same without allocation, for a caller that sees marks by the thousand a second (a spoofed
   * flood through the kernel fast path): the source's address at buf[off] (version ver), the mark's
   * time and end (the caller's clock) and its count. Must not throw.
   */
  onMark?: (buf: Uint8Array, off: number, ver: number, at: number, until: number, unfinished: number) => void;
}

/**
 * Calls from the SYN proxy (all hot path, no allocation; `now` in ms from the caller):
 * - `isAggressive(buf, srcOff, ver, now)` before answering a new SYN: true → drop it;
 * - `onAnswered(...)` once per new handshake answered with a SYN-ACK (not per retransmission);
 * - `onCompleted(...)` when a handshake from the source completes.
 * The unfinished count of a source is handshakes answered between graceMs and unfinishedWindowMs
 * ago, less those completed (a completion cancels the newest answered one). When it exceeds
 * maxUnfinished the source is marked for holdMs and its count starts over.
 */
function checkMaxUnfinished(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n >= SAT)
    throw new Error(`maxUnfinished must be an integer 0..${SAT - 1}`);
  return n;
}

export class SourceTracker {
  private _maxUnfinished: number;
  private _holdMs: number;
  readonly unfinishedWindowMs: number;
  readonly graceMs: number;
  /** Handshake counts per source (slot indices into ring/epoch). */
  private readonly counts: AddrTable;
  /** Aggressive marks (slot indices into until/since/unfinishedAt/drops). */
  private readonly marks: AddrTable;
  private readonly ring: Uint8Array;
  /** Slot epoch (time / slotMs) of each source's newest ring slot, modulo 2^32 (see slide()). */
  private readonly epoch: Uint32Array;
  private readonly until: Float64Array;
  private readonly since: Float64Array;
  private readonly unfinishedAt: Uint16Array;
  private readonly drops: Float64Array;
  private readonly slotMs: number;
  /** Newest slots not yet counted (the grace period). */
  private readonly skip: number;
  private allowSet: PrefixMatcher;
  private readonly onAggressive: ((event: AggressiveEvent) => void) | undefined;
  private readonly onMark: SourceOptions['onMark'];
  private readonly scratch = new Uint8Array(16);

  get maxUnfinished(): number {
    return this._maxUnfinished;
  }
  get holdMs(): number {
    return this._holdMs;
  }

  /** New limits (config reload): the next check uses them; marks already set keep their end. */
  setLimits(maxUnfinished: number, holdMs: number): void {
    if (!(holdMs >= 0)) throw new Error('holdMs must be >= 0');
    this._maxUnfinished = checkMaxUnfinished(maxUnfinished);
    this._holdMs = holdMs;
  }

  constructor(options: SourceOptions = {}) {
    this._maxUnfinished = checkMaxUnfinished(options.maxUnfinished ?? SYN_DEFAULTS.maxUnfinishedPerSource);
    this._holdMs = options.holdMs ?? SYN_DEFAULTS.aggressiveHoldSeconds * 1000;
    this.unfinishedWindowMs = options.unfinishedWindowMs ?? 10_000;
    this.graceMs = options.graceMs ?? 1000;
    if (!(this._holdMs >= 0) || !(this.unfinishedWindowMs > 0) || !(this.graceMs >= 0)) {
      throw new Error('holdMs and graceMs must be >= 0, unfinishedWindowMs > 0');
    }
    this.slotMs = this.unfinishedWindowMs / SLOTS;
    this.skip = this.graceMs > 0 ? Math.ceil(this.graceMs / this.slotMs) + 1 : 0;
    if (this.skip > SLOTS - 2) throw new Error('graceMs must be at most 5/8 of unfinishedWindowMs');
    const tableOpts = {
      probeLimit: options.probeLimit,
      v6PrefixLen: options.v6PrefixLen,
      seed: options.seed,
    };
    this.counts = new AddrTable(options.capacity ?? 65_536, tableOpts);
    this.marks = new AddrTable(options.maxAggressive ?? 4096, {
      ...tableOpts,
      seed: options.seed === undefined ? undefined : options.seed ^ 0x5bd1e995,
    });
    this.ring = new Uint8Array(this.counts.capacity * SLOTS);
    this.epoch = new Uint32Array(this.counts.capacity);
    const m = this.marks.capacity;
    this.until = new Float64Array(m);
    this.since = new Float64Array(m);
    this.unfinishedAt = new Uint16Array(m);
    this.drops = new Float64Array(m);
    this.allowSet = toMatcher(options.allow);
    this.onAggressive = options.onAggressive;
    this.onMark = options.onMark;
  }

  /** Sources tracked (table capacity is fixed). */
  get capacity(): number {
    return this.counts.capacity;
  }
  get markCapacity(): number {
    return this.marks.capacity;
  }
  /** Sources with handshake counts now. */
  get tracked(): number {
    return this.counts.size;
  }
  /** Marks held now (including expired ones not yet looked at). */
  get markCount(): number {
    return this.marks.size;
  }
  /** Sources evicted from the handshake table to make room (a flood of many sources). */
  get evictions(): number {
    return this.counts.evictions;
  }
  /** Marks evicted to make room for newer ones. */
  get markEvictions(): number {
    return this.marks.evictions;
  }
  get allow(): PrefixMatcher {
    return this.allowSet;
  }

  /** Whether SYNs from the source at buf[off] are to be dropped now. Hot path. */
  isAggressive(buf: Uint8Array, off: number, ver: number, now: number): boolean {
    const marks = this.marks;
    if (marks.size !== 0) {
      const m = marks.find(buf, off, ver);
      if (m >= 0) {
        if (this.until[m] > now) {
          this.drops[m]++;
          marks.seen[m] = now;
          return true;
        }
        marks.remove(m);
      }
    }
    const s = this.counts.find(buf, off, ver);
    if (s < 0) return false;
    this.slide(s, now);
    return this.check(s, buf, off, ver, now);
  }

  /** A new handshake from the source was answered (SYN-ACK sent). Returns whether it is now aggressive. */
  onAnswered(buf: Uint8Array, off: number, ver: number, now: number): boolean {
    if (!this.allowSet.empty && this.allowSet.matches(buf, off, ver)) return false;
    const t = this.counts;
    const s = t.upsert(buf, off, ver, now);
    const e = Math.floor(now / this.slotMs);
    const base = s * SLOTS;
    if (t.created) {
      for (let k = 0; k < SLOTS; k++) this.ring[base + k] = 0;
      this.epoch[s] = e;
    } else this.slide(s, now);
    const i = base + (this.epoch[s] & SLOT_MASK);
    if (this.ring[i] < SAT) this.ring[i]++;
    return this.check(s, buf, off, ver, now);
  }

  /** A handshake from the source completed: cancels its newest answered handshake. */
  onCompleted(buf: Uint8Array, off: number, ver: number, now: number): void {
    const s = this.counts.find(buf, off, ver);
    if (s < 0) return;
    this.counts.seen[s] = now;
    this.slide(s, now);
    const base = s * SLOTS;
    const e = this.epoch[s];
    for (let k = 0; k < SLOTS; k++) {
      const i = base + ((e - k) & SLOT_MASK);
      if (this.ring[i] !== 0) {
        this.ring[i]--;
        return;
      }
    }
  }

  /** Until when the source at buf[off] is marked (0: not marked, or its mark was evicted). Hot path. */
  markedUntil(buf: Uint8Array, off: number, ver: number): number {
    const m = this.marks.size === 0 ? -1 : this.marks.find(buf, off, ver);
    return m < 0 ? 0 : this.until[m];
  }

  /** Unfinished handshakes of the source counted now (0 if untracked). */
  unfinished(buf: Uint8Array, off: number, ver: number, now: number): number {
    const s = this.counts.find(buf, off, ver);
    if (s < 0) return 0;
    this.slide(s, now);
    return this.counted(s);
  }

  /** The marks in force at `now`, for the API (allocates). */
  list(now: number): AggressiveSource[] {
    const out: AggressiveSource[] = [];
    const m = this.marks;
    for (let i = 0; i < m.capacity; i++) {
      if (!m.live(i) || !(this.until[i] > now)) continue;
      out.push({
        address: m.keyText(i),
        since: this.since[i],
        until: this.until[i],
        remainingMs: this.until[i] - now,
        unfinished: this.unfinishedAt[i],
        drops: this.drops[i],
      });
    }
    return out.sort((a, b) => a.since - b.since);
  }

  /**
   * Marks a source by hand (the API) or from the connection store after a restart, until `until`
   * (default now + holdMs). Allowlisted sources are refused (false). Throws on a bad address.
   */
  mark(address: string, now: number, until = now + this._holdMs): boolean {
    const { family, bytes } = this.parse(address);
    if (this.allowSet.matches(bytes, 0, family)) return false;
    const m = this.marks.upsert(bytes, 0, family, now);
    this.until[m] = until;
    this.since[m] = now;
    this.unfinishedAt[m] = 0;
    this.drops[m] = 0;
    return true;
  }

  /** Forgets a source's mark and counts (the API's "unblock"); returns whether it was marked. */
  clear(address: string): boolean {
    const { family, bytes } = this.parse(address);
    const s = this.counts.find(bytes, 0, family);
    if (s >= 0) this.counts.remove(s);
    const m = this.marks.find(bytes, 0, family);
    if (m < 0) return false;
    this.marks.remove(m);
    return true;
  }

  /** Forgets every mark and count. */
  clearAll(): void {
    this.counts.clear();
    this.marks.clear();
  }

  /** Replaces the allowlist (config reload) and forgets the marks and counts of allowlisted sources. */
  setAllow(allow: PrefixMatcher | readonly string[]): void {
    this.allowSet = toMatcher(allow);
    if (this.allowSet.empty) return;
    this.purge(this.counts);
    this.purge(this.marks);
  }

  private purge(t: AddrTable): void {
    const b = this.scratch;
    for (let i = 0; i < t.capacity; i++) {
      const ver = t.version(i);
      if (ver === 0) continue;
      for (let w = 0; w < 4; w++) {
        const v = t.keys[4 * i + w];
        b[4 * w] = v >>> 24;
        b[4 * w + 1] = v >>> 16;
        b[4 * w + 2] = v >>> 8;
        b[4 * w + 3] = v;
      }
      if (this.allowSet.matches(b, 0, ver)) t.remove(i);
    }
  }

  /** "192.0.2.1", "2001:db8::1" or a listed "2001:db8::/64". */
  private parse(address: string): { family: 4 | 6; bytes: Uint8Array } {
    return parsePrefix(address, false);
  }

  /**
   * Ages the ring of slot `s` to `now`: slots that left the window are emptied. Epochs are kept
   * modulo 2^32 (4 bytes a source, not 8): the steps forward are `(e - last) >>> 0`, and a
   * "step" of 2^31 or more is an earlier time than the last, taken as the last. SLOTS divides 2^32,
   * so a slot's ring index is the same either way.
   */
  private slide(s: number, now: number): void {
    const e = Math.floor(now / this.slotMs);
    const last = this.epoch[s];
    const steps = (e - last) >>> 0;
    if (steps === 0 || steps >= 0x8000_0000) return;
    const base = s * SLOTS;
    if (steps >= SLOTS) for (let k = 0; k < SLOTS; k++) this.ring[base + k] = 0;
    else {
      for (let k = 1; k <= steps; k++) this.ring[base + ((last + k) & SLOT_MASK)] = 0;
    }
    this.epoch[s] = e;
  }

  /** Unfinished handshakes in the counted slots (older than the grace period, within the window). */
  private counted(s: number): number {
    const base = s * SLOTS;
    const e = this.epoch[s];
    let sum = 0;
    for (let k = this.skip; k < SLOTS; k++) sum += this.ring[base + ((e - k) & SLOT_MASK)];
    return sum;
  }

  /**
   * A source whose handshakes were counted elsewhere (the kernel fast path answers SYNs the proxy
   * never sees): marked as if counted here, when `unfinished` is over the limit and it is not
   * allowed. Returns whether it was marked.
   */
  markCounted(buf: Uint8Array, off: number, ver: number, unfinished: number, now: number): boolean {
    if (unfinished <= this.maxUnfinished) return false;
    if (!this.allowSet.empty && this.allowSet.matches(buf, off, ver)) return false;
    this.markAt(buf, off, ver, unfinished, now);
    return true;
  }

  /** Marks the source in slot `s` when its count is over the limit; returns whether it was marked. */
  private check(s: number, buf: Uint8Array, off: number, ver: number, now: number): boolean {
    const n = this.counted(s);
    if (n <= this._maxUnfinished) return false;
    this.counts.remove(s); // counting starts over when the hold ends
    this.markAt(buf, off, ver, n, now);
    return true;
  }

  private markAt(buf: Uint8Array, off: number, ver: number, n: number, now: number): void {
    const m = this.marks.upsert(buf, off, ver, now);
    const until = now + this._holdMs;
    this.until[m] = until;
    this.since[m] = now;
    this.unfinishedAt[m] = n;
    this.drops[m] = 0;
    if (this.onMark) this.onMark(buf, off, ver, now, until, n);
    if (this.onAggressive)
      this.onAggressive({ address: this.marks.keyText(m), at: now, until, unfinished: n });
  }
}
