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
 * asked for again with the connection's next segment there.
 */
export class XlateQueue {
  static readonly CAPACITY = 256;
  readonly addKeys = new Uint8Array(XlateQueue.CAPACITY * XLATE_KEY_SIZE);
  readonly addValues = new Uint8Array(XlateQueue.CAPACITY * XLATE_VALUE_SIZE);
  readonly removeKeys = new Uint8Array(XlateQueue.CAPACITY * XLATE_KEY_SIZE);
  addCount = 0;
  removeCount = 0;
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

  /** Queues a connection's hand-over; false when the queue is full (ask again later). */
  add(t: ConnTable, slot: number, a: SeqAdj): boolean {
    if (!this.enabled || this.addCount >= XlateQueue.CAPACITY) return false;
    this.writeKey(t, slot, this.addKeys, this.addCount * XLATE_KEY_SIZE);
    encodeSeqAdj(a, this.addValues, this.addCount * XLATE_VALUE_SIZE);
    this.addCount++;
    return true;
  }

  /** Queues a take-back (a full queue is written first). */
  remove(t: ConnTable, slot: number): void {
    if (!this.enabled) return;
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

  reset(): void {
    this.addCount = 0;
    this.removeCount = 0;
  }
}
