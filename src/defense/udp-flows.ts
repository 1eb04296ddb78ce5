// UdpFlows: which UDP flows the LAN opened, so their replies are not rate-limited as a flood. A QUIC
// download or a video call sends the LAN host thousands of datagrams a second that are answers to
// what the host asked for; counted against the default 200/s UDP limit they would be cut to a trickle.
// A fixed table of 32-bit flow fingerprints and expiry times (no per-packet allocation, bounded
// memory): an outbound datagram (LAN → outside) records or refreshes its flow; an inbound one
// (outside → LAN) is a reply when its mirrored flow is there and not expired. Keyed hashing (random
// per table) so a sender cannot aim collisions; a slot keeps a 32-bit value derived from the whole
// hash, so a stranger's datagram passes as a reply with a chance of about 2^-32 per probe. A sender
// who knows a live flow's addresses and ports can still reach the host unthrottled, as through the
// kernel's conntrack.

import { randomFillSync } from 'node:crypto';

/** Slots probed from a flow's home slot. */
export const WAYS = 4;

export interface UdpFlowsOptions {
  /** Slots (rounded up to a power of two; default 16384: 192 KiB). */
  capacity?: number;
  /** A flow without outbound traffic for this long is forgotten (ms; default 120 000, like conntrack's UDP stream). */
  timeoutMs?: number;
  /** Fixed hash keys (tests). */
  seed?: number;
}

export class UdpFlows {
  readonly capacity: number;
  readonly timeoutMs: number;
  private readonly mask: number;
  private readonly fp: Int32Array;
  private readonly until: Float64Array;
  private readonly k: Int32Array;
  /** Flows recorded (new or taken-over slots) since construction. */
  recorded = 0;

  constructor(options: UdpFlowsOptions = {}) {
    let cap = 1;
    while (cap < (options.capacity ?? 16384)) cap <<= 1;
    this.capacity = Math.max(cap, WAYS);
    this.mask = this.capacity - 1;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.fp = new Int32Array(this.capacity);
    this.until = new Float64Array(this.capacity);
    this.k = new Int32Array(4);
    if (options.seed === undefined) randomFillSync(this.k);
    else for (let i = 0; i < 4; i++) this.k[i] = Math.imul(options.seed + i + 1, 0x9e3779b1);
  }

  /**
   * A datagram from the LAN: remember (local = source, remote = destination) until now + timeout.
   * `addrLen` 4 or 16; offsets into `buf` of the addresses; ports as numbers.
   */
  noteOutbound(
    buf: Uint8Array,
    srcOff: number,
    dstOff: number,
    addrLen: number,
    srcPort: number,
    dstPort: number,
    now: number,
  ): void {
    const h = this.hash(buf, srcOff, dstOff, addrLen, srcPort, dstPort);
    const f = this.fingerprint(h);
    let victim = -1;
    let oldest = Number.POSITIVE_INFINITY;
    for (let w = 0; w < WAYS; w++) {
      const s = (h + w) & this.mask;
      if (this.fp[s] === f) {
        this.until[s] = now + this.timeoutMs;
        return;
      }
      const u = this.until[s];
      if (u < oldest) {
        oldest = u;
        victim = s;
      }
    }
    // A free or expired slot if there is one, else the one closest to expiry.
    this.fp[victim] = f;
    this.until[victim] = now + this.timeoutMs;
    this.recorded++;
  }

  /** A datagram to the LAN: is it a reply on a flow the LAN host opened (local = destination)? */
  isReply(
    buf: Uint8Array,
    srcOff: number,
    dstOff: number,
    addrLen: number,
    srcPort: number,
    dstPort: number,
    now: number,
  ): boolean {
    const h = this.hash(buf, dstOff, srcOff, addrLen, dstPort, srcPort);
    const f = this.fingerprint(h);
    for (let w = 0; w < WAYS; w++) {
      const s = (h + w) & this.mask;
      if (this.fp[s] === f) return this.until[s] > now;
    }
    return false;
  }

  /** Live flows (walks the table: for tests and status, not the hot path). */
  live(now: number): number {
    let n = 0;
    for (let s = 0; s < this.capacity; s++) if (this.fp[s] !== 0 && this.until[s] > now) n++;
    return n;
  }

  clear(): void {
    this.fp.fill(0);
    this.until.fill(0);
  }

  /** Keyed hash of (local address, remote address, local port, remote port). */
  private hash(
    buf: Uint8Array,
    localOff: number,
    remoteOff: number,
    addrLen: number,
    localPort: number,
    remotePort: number,
  ): number {
    const k = this.k;
    let h = k[0] ^ Math.imul((localPort << 16) | remotePort, 0x85ebca6b);
    for (let i = 0; i < addrLen; i += 4) {
      const a =
        (buf[localOff + i] << 24) |
        (buf[localOff + i + 1] << 16) |
        (buf[localOff + i + 2] << 8) |
        buf[localOff + i + 3];
      const b =
        (buf[remoteOff + i] << 24) |
        (buf[remoteOff + i + 1] << 16) |
        (buf[remoteOff + i + 2] << 8) |
        buf[remoteOff + i + 3];
      h = Math.imul(h ^ (a + k[1]), 0xcc9e2d51);
      h = (h << 15) | (h >>> 17);
      h = Math.imul(h ^ (b + k[2]), 0x1b873593);
      h = (h << 13) | (h >>> 19);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  /** A second, independent-looking 32-bit value of the flow (never 0: 0 marks an empty slot). */
  private fingerprint(h: number): number {
    let x = Math.imul(h ^ this.k[3], 0x27d4eb2d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x165667b1);
    x ^= x >>> 13;
    return x === 0 ? 1 : x;
  }
}
