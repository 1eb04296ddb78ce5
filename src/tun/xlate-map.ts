// Proxied connections translated in the kernel (bpf/seqadj.c): the map the proxy owns, its key and
// value layout, and the queue of hand-overs and take-backs the dataplane writes after each batch
// (one native call each way). The key is the bypass map's (src/tun/flow-bypass.ts), protocol 6, in
// the LAN host's view; the value is the connection's SeqAdj record, and what the kernel reports back:
//
//   [0..3] delta  [4..7] tsOff (host byte order)  [8] flags (XlateFlag)
//   [9..10] client→server window shifts (left, right)  [11..12] server→client window shifts
//   [16..23] last segment translated, bpf_ktime_get_ns() (CLOCK_MONOTONIC, as process.hrtime)
//   [24..31] / [32..39] packets client→server / server→client  [40..47] / [48..55] their bytes
import type { ConnTable } from '../defense/conntable.js';
import { clientWindowShift, type SeqAdj, serverWindowShifts } from '../defense/seqadj.js';
import { BYPASS_KEY_SIZE, writeKey } from './flow-bypass.js';

export const XLATE_OBJECT = 'seqadj';
export const XLATE_TO_SERVER_SECTION = 'tc/to_server';
export const XLATE_TO_CLIENT_SECTION = 'tc/to_client';
export const XlateMapName = { conf: 'tg_xl_conf', conns: 'tg_xl_conns' } as const;
export const XLATE_KEY_SIZE = BYPASS_KEY_SIZE;
export const XLATE_VALUE_SIZE = 56;
export const XLATE_CONF_SIZE = 8;
/** Connections the map holds (as the bypass map): past it, a connection stays on the TUN path. */
export const XLATE_MAX_CONNS = 32768;

/** xl_value.flags in bpf/seqadj.c. */
export const XlateFlag = { WIN_TO_SERVER: 1, WIN_TO_CLIENT: 2, TS: 4 } as const;

const OFF_LAST_NS = 16;
const OFF_PACKETS = 24;
const OFF_BYTES = 40;

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The map's settings word: the TUN's ifindex and the steering's re-inject mark. */
export function encodeXlateConf(tunIfindex: number, reinjectMark: number): Uint8Array {
  const out = new Uint8Array(XLATE_CONF_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, tunIfindex >>> 0, LE);
  dv.setUint32(4, reinjectMark >>> 0, LE);
  return out;
}

/** Writes a connection's value at `at` of `out` (its counters zero). */
export function encodeXlateValue(a: SeqAdj, out: Uint8Array, at: number): void {
  out.fill(0, at, at + XLATE_VALUE_SIZE);
  const dv = new DataView(out.buffer, out.byteOffset + at, XLATE_VALUE_SIZE);
  dv.setUint32(0, a.delta >>> 0, LE);
  dv.setUint32(4, a.tsOff >>> 0, LE);
  let flags = a.ts ? XlateFlag.TS : 0;
  const toServer = clientWindowShift(a);
  if (toServer >= 0) {
    flags |= XlateFlag.WIN_TO_SERVER;
    out[at + 9] = toServer;
  }
  const toClient = serverWindowShifts(a);
  if (toClient >= 0) {
    flags |= XlateFlag.WIN_TO_CLIENT;
    out[at + 11] = toClient >>> 8;
    out[at + 12] = toClient & 0xff;
  }
  out[at + 8] = flags;
}

/** What the kernel reports of one connection (read by the proxy when it looks at an idle one). */
export interface XlateSeen {
  lastNs: bigint;
  packets: [bigint, bigint];
  bytes: [bigint, bigint];
}

export function decodeXlateSeen(value: Uint8Array): XlateSeen {
  const dv = new DataView(value.buffer, value.byteOffset, XLATE_VALUE_SIZE);
  return {
    lastNs: dv.getBigUint64(OFF_LAST_NS, LE),
    packets: [dv.getBigUint64(OFF_PACKETS, LE), dv.getBigUint64(OFF_PACKETS + 8, LE)],
    bytes: [dv.getBigUint64(OFF_BYTES, LE), dv.getBigUint64(OFF_BYTES + 8, LE)],
  };
}

/** The last-seen time of a value, without allocating (a BigInt: ns since boot, CLOCK_MONOTONIC). */
export function xlateLastNs(value: Uint8Array): bigint {
  return new DataView(value.buffer, value.byteOffset, XLATE_VALUE_SIZE).getBigUint64(OFF_LAST_NS, LE);
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
    encodeXlateValue(a, this.addValues, this.addCount * XLATE_VALUE_SIZE);
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
    writeKey(out, at, this.addrs, ver, 6, 16, t.serverPort(slot), 0, t.clientPort(slot));
  }

  reset(): void {
    this.addCount = 0;
    this.removeCount = 0;
  }
}
