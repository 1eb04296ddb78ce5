// The sources a SYN gate marked aggressive since its last tick, sent to the main thread as one message
// per tick. A spoofed flood marks thousands of sources a second; a message, a check and an event
// object each, on the core whose softirqs answer the flood, cost more than the marking itself.
// The worker fills fixed typed arrays (no allocation per mark); the main thread checks the batch
// once where it arrives (src/dataplane/dataplane.ts), and its listeners take the checked marks
// (src/daemon/control.ts, src/daemon/run.ts).
import { formatMappedAt } from '../config/net.js';
import { ADDR_BYTES } from '../defense/addr-ring.js';
import { mapAddressAt } from '../tun/fast-path-maps.js';

/** Marks in one message at most: the gate sends the batch when it is full, not only at its tick. */
export const ATTACKER_BATCH_MAX = 1024;

/** What crosses to the main thread: mark k is addresses[16k..16k+16] (IPv4 as ::ffff:a.b.c.d). */
export interface AttackerBatchMessage {
  type: 'attackers';
  /** Wall-clock ms when it was sent. */
  at: number;
  addresses: Uint8Array;
  /** Wall-clock ms each mark ends. */
  until: Float64Array;
  /** Unfinished handshakes counted when each was marked. */
  unfinished: Uint16Array;
}

/** One mark as the API's 'attacker' event takes it (src/api/events.ts). */
export interface AttackerMark {
  type: 'attacker';
  action: 'mark';
  address: string;
  reason: 'unfinished-handshakes';
  holdSeconds: number;
  unfinished: number;
  at: number;
}

export class AttackerBatch {
  readonly addresses = new Uint8Array(ATTACKER_BATCH_MAX * ADDR_BYTES);
  /** Until when each is marked (the gate's clock until take()). */
  readonly until = new Float64Array(ATTACKER_BATCH_MAX);
  readonly unfinished = new Uint16Array(ATTACKER_BATCH_MAX);
  count = 0;

  get full(): boolean {
    return this.count === ATTACKER_BATCH_MAX;
  }

  /** Forgets the marks not sent yet (all marks were cleared: the main thread must not get them after). */
  clear(): void {
    this.count = 0;
  }

  /** Adds the source at buf[off] (IPv4 or IPv6 by `ver`); the caller sends a full batch first. */
  add(buf: Uint8Array, off: number, ver: number, until: number, unfinished: number): void {
    if (this.full) throw new Error('attacker batch full: send it first');
    const k = this.count++;
    mapAddressAt(buf, off, ver, this.addresses, k * ADDR_BYTES);
    this.until[k] = until;
    this.unfinished[k] = Math.min(unfinished, 0xffff);
  }

  /** The message (copies: the batch is reused, emptied here), `toWall` added to each end time. */
  take(wallMs: number, toWall: number): AttackerBatchMessage {
    const n = this.count;
    const until = this.until.slice(0, n);
    for (let k = 0; k < n; k++) until[k] += toWall;
    this.count = 0;
    return {
      type: 'attackers',
      at: wallMs,
      addresses: this.addresses.slice(0, n * ADDR_BYTES),
      until,
      unfinished: this.unfinished.slice(0, n),
    };
  }
}

/** A worker's batch once the main thread has checked it, each address as text: what its listeners
 * (the API's book, the SYN police, the log) get, from the one check where the message arrives. */
export interface AttackerMarks {
  /** Wall-clock ms when it was sent. */
  at: number;
  /** Mark k's address ("192.0.2.7", "2001:db8::7"). */
  addresses: readonly string[];
  /** Wall-clock ms each mark ends. */
  until: Float64Array;
  /** Unfinished handshakes counted when each was marked. */
  unfinished: Uint16Array;
}

/** The batch in a message from a worker, checked (typed arrays of matching lengths, finite times)
 * and its addresses made text; undefined for anything else. */
export function parseAttackerBatch(x: unknown): AttackerMarks | undefined {
  if (typeof x !== 'object' || x === null || (x as { type?: unknown }).type !== 'attackers') return undefined;
  const b = x as Partial<AttackerBatchMessage>;
  if (!(b.addresses instanceof Uint8Array) || !(b.until instanceof Float64Array)) return undefined;
  if (!(b.unfinished instanceof Uint16Array) || typeof b.at !== 'number' || !Number.isFinite(b.at))
    return undefined;
  const n = b.until.length;
  if (n > ATTACKER_BATCH_MAX || b.unfinished.length !== n || b.addresses.length !== n * ADDR_BYTES)
    return undefined;
  for (let k = 0; k < n; k++) if (!Number.isFinite(b.until[k])) return undefined;
  const addresses = new Array<string>(n);
  for (let k = 0; k < n; k++) addresses[k] = formatMappedAt(b.addresses, k * ADDR_BYTES);
  return { at: b.at, addresses, until: b.until, unfinished: b.unfinished };
}

/** Mark k of a checked batch as the API's event (allocates: the main thread's per-mark work). */
export function markOf(b: AttackerMarks, k: number): AttackerMark {
  const at = Math.round(b.at);
  return {
    type: 'attacker',
    action: 'mark',
    address: b.addresses[k],
    reason: 'unfinished-handshakes',
    holdSeconds: Math.round(Math.max(0, b.until[k] - at)) / 1000,
    unfinished: b.unfinished[k],
    at,
  };
}
