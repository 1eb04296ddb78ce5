// Proxied connections translated in the kernel (bpf/seqadj.c): the map the proxy owns and its key and
// value layout, in the map's own terms (numbers and bytes: what a proxied connection's record means is
// src/defense/seqadj.ts's, and src/dataplane/xlate-queue.ts writes one in this layout). The key is the
// bypass map's (src/tun/flow-bypass.ts), protocol 6, in the LAN host's view; the value is what the
// programs translate with, and what the kernel reports back:
//
//   [0..3] delta  [4..7] tsOff (host byte order)  [8] flags (XlateFlag)
//   [9..10] client→server window shifts (left, right)  [11..12] server→client window shifts
//   [16..23] last segment translated, bpf_ktime_get_ns() (CLOCK_MONOTONIC, as process.hrtime)
//   [24..31] / [32..39] packets client→server / server→client  [40..47] / [48..55] their bytes
import { BYPASS_KEY_SIZE, writeKey } from './flow-bypass.js';

export const XLATE_OBJECT = 'seqadj';
export const XLATE_TO_SERVER_SECTION = 'tc/to_server';
export const XLATE_TO_CLIENT_SECTION = 'tc/to_client';
export const XlateMapName = { conf: 'tg_xl_conf', conns: 'tg_xl_conns', held: 'tg_xl_held' } as const;
export const XLATE_KEY_SIZE = BYPASS_KEY_SIZE;
export const XLATE_VALUE_SIZE = 56;
export const XLATE_CONF_SIZE = 8;
/** tg_xl_held's one value: 1 while the connection map may hold a connection (bpf/seqadj.c). */
export const XLATE_HELD_SIZE = 4;
/** The values of tg_xl_held, and its one key. */
export const XLATE_HELD = new Uint8Array([1, 0, 0, 0]);
export const XLATE_NONE_HELD = new Uint8Array(XLATE_HELD_SIZE);
export const XLATE_HELD_KEY = new Uint8Array(4);
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

/**
 * Writes a connection's value at `at` of `out` (its counters zero): the sequence offset `delta`, the
 * timestamp offset `tsOff` when `ts`, and the window rewrites, or −1 for none: the client's window
 * toward the server is shifted left by `toServerShift`; the server's toward the client left by
 * `toClientShifts >> 8`, then right by `toClientShifts & 0xff`.
 */
export function encodeXlateValue(
  out: Uint8Array,
  at: number,
  delta: number,
  tsOff: number,
  ts: boolean,
  toServerShift: number,
  toClientShifts: number,
): void {
  out.fill(0, at, at + XLATE_VALUE_SIZE);
  const dv = new DataView(out.buffer, out.byteOffset + at, XLATE_VALUE_SIZE);
  dv.setUint32(0, delta >>> 0, LE);
  dv.setUint32(4, tsOff >>> 0, LE);
  let flags = ts ? XlateFlag.TS : 0;
  if (toServerShift >= 0) {
    flags |= XlateFlag.WIN_TO_SERVER;
    out[at + 9] = toServerShift;
  }
  if (toClientShifts >= 0) {
    flags |= XlateFlag.WIN_TO_CLIENT;
    out[at + 11] = toClientShifts >>> 8;
    out[at + 12] = toClientShifts & 0xff;
  }
  out[at + 8] = flags;
}

/**
 * Writes a connection's key at `at` of `out`: its addresses as `addrs` holds them (the LAN host's at
 * `lanOff`, the remote end's at `remoteOff`; 4 or 16 bytes by `ver`) and its ports.
 */
export function writeXlateKey(
  out: Uint8Array,
  at: number,
  addrs: Uint8Array,
  ver: number,
  lanOff: number,
  lanPort: number,
  remoteOff: number,
  remotePort: number,
): void {
  writeKey(out, at, addrs, ver, 6, lanOff, lanPort, remoteOff, remotePort);
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
