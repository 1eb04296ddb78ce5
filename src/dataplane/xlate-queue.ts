// The SYN proxy's hand-overs to the kernel translation (bpf/seqadj.c) and its take-backs, queued per
// batch and written by the worker after it (one native call each way). Here, between the proxy's
// connection table and translation record (src/defense/) and the map's layout (src/tun/xlate-map.ts),
// so neither of those knows the other.
import type { ConnTable } from '../defense/conntable.js';
import { clientWindowShift, type SeqAdj, serverWindowShifts } from '../defense/seqadj.js';
import {
  encodeXlateValue,
  writeXlateKey,
  XLATE_KEY_SIZE,
  XLATE_VALUE_SIZE,
  xlateLastNs,
} from '../tun/xlate-map.js';

/** Writes a connection's translation record as the map's value at `at` of `out` (counters zero). */
export function encodeSeqAdj(a: SeqAdj, out: Uint8Array, at: number): void {
  encodeXlateValue(out, at, a.delta, a.tsOff, a.ts, clientWindowShift(a), serverWindowShifts(a));
}

/**
 * Hand-overs (key + value) and take-backs (key) of one batch, written by the worker after it (one
 * native call each way), take-backs first. Bounded: what does not fit stays on the TUN path and is
 * asked for again with the connection's next segment there. What the map refuses (it is full) is
 * given back to the connection's owner (onRefused) and asked for again after RETRY_MS.
 */
export class XlateQueue {
  static readonly CAPACITY = 256;
  /** After the map refused a hand-over, none is asked for during this long (ms): while it stays full,
   * one refused write a second, not one per segment of every connection it cannot take. */
  static readonly RETRY_MS = 1000;
  readonly addKeys = new Uint8Array(XlateQueue.CAPACITY * XLATE_KEY_SIZE);
  readonly addValues = new Uint8Array(XlateQueue.CAPACITY * XLATE_VALUE_SIZE);
  /** The connection table's slot of each hand-over. */
  readonly addSlots = new Int32Array(XlateQueue.CAPACITY);
  readonly removeKeys = new Uint8Array(XlateQueue.CAPACITY * XLATE_KEY_SIZE);
  addCount = 0;
  removeCount = 0;
  /** A hand-over the map did not take: its owner forgets that it asked (and asks again later). */
  onRefused: (slot: number) => void = () => {};
  /** No hand-over is asked for before this time (the stages' clock, ms). */
  private pausedUntil = Number.NEGATIVE_INFINITY;
  /** Whether the map is there (the daemon loaded the programs, and the option did not turn it off). */
  enabled = false;
  /** Reads a connection's value from the map into `value` (the worker's; false: not in the map). */
  read: (key: Uint8Array, value: Uint8Array) => boolean = () => false;
  /** Writes the queued take-backs now (the worker's): a full queue never leaves an entry behind. */
  flushRemoves: () => void = () => {
    this.removeCount = 0;
  };
  private readonly keyScratch = new Uint8Array(XLATE_KEY_SIZE);
  private readonly valueScratch = new Uint8Array(XLATE_VALUE_SIZE);
  private readonly addrs = new Uint8Array(32);

  /** Queues a connection's hand-over at `now`; false when the queue is full or the map was (ask again later). */
  add(t: ConnTable, slot: number, a: SeqAdj, now: number): boolean {
    if (!this.enabled || this.addCount >= XlateQueue.CAPACITY || now < this.pausedUntil) return false;
    this.writeKey(t, slot, this.addKeys, this.addCount * XLATE_KEY_SIZE);
    encodeSeqAdj(a, this.addValues, this.addCount * XLATE_VALUE_SIZE);
    this.addSlots[this.addCount] = slot;
    this.addCount++;
    return true;
  }

  /** Queues a take-back (a full queue is written first). */
  remove(t: ConnTable, slot: number): void {
    if (!this.enabled) return;
    // Handed over in this same batch (its first bytes and its FIN in one read): the hand-over is
    // dropped. Written after this take-back, as adds are, it would leave the closed connection's
    // entry in the map, where nothing takes it out and a later connection of the same 4-tuple
    // would be translated by it.
    for (let i = 0; i < this.addCount; i++)
      if (this.addSlots[i] === slot) {
        this.dropAdd(i);
        return;
      }
    if (this.removeCount >= XlateQueue.CAPACITY) this.flushRemoves();
    this.writeKey(t, slot, this.removeKeys, this.removeCount * XLATE_KEY_SIZE);
    this.removeCount++;
  }

  /**
   * When the kernel last translated a segment of the connection (ns, CLOCK_MONOTONIC), or −1n when
   * its map does not hold it.
   */
  lastSeenNs(t: ConnTable, slot: number): bigint {
    this.writeKey(t, slot, this.keyScratch, 0);
    return this.read(this.keyScratch, this.valueScratch) ? xlateLastNs(this.valueScratch) : -1n;
  }

  /** The map key of a connection (the LAN host is the server), at `at` of `out`. */
  writeKey(t: ConnTable, slot: number, out: Uint8Array, at: number): void {
    const ver = t.addresses(slot, this.addrs);
    writeXlateKey(out, at, this.addrs, ver, 16, t.serverPort(slot), 0, t.clientPort(slot));
  }

  /**
   * After a write the map refused in part (it is full): each hand-over it does not hold goes back
   * to its owner, and none is asked for again before RETRY_MS from `now`. The worker's, with the
   * batch's hand-overs still queued.
   */
  refused(now: number): void {
    this.pausedUntil = now + XlateQueue.RETRY_MS;
    for (let i = 0; i < this.addCount; i++) {
      this.keyScratch.set(this.addKeys.subarray(i * XLATE_KEY_SIZE, (i + 1) * XLATE_KEY_SIZE));
      if (!this.read(this.keyScratch, this.valueScratch)) this.onRefused(this.addSlots[i]);
    }
  }

  /** Removes hand-over i, the last one taking its place (their order does not matter). */
  private dropAdd(i: number): void {
    const last = --this.addCount;
    if (i === last) return;
    this.addKeys.copyWithin(i * XLATE_KEY_SIZE, last * XLATE_KEY_SIZE, (last + 1) * XLATE_KEY_SIZE);
    this.addValues.copyWithin(i * XLATE_VALUE_SIZE, last * XLATE_VALUE_SIZE, (last + 1) * XLATE_VALUE_SIZE);
    this.addSlots[i] = this.addSlots[last];
  }

  reset(): void {
    this.addCount = 0;
    this.removeCount = 0;
  }
}
