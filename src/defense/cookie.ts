// SYN cookies as Linux builds them (net/ipv4/syncookies.c), over IPv4 and IPv6 4-tuples:
//   cookie = H(k0; tuple) + ISN_c + (count << 24) + ((H(k1; tuple, count) + mssind) & 0xFFFFFF)
// count ticks once a minute; a cookie is accepted while it is less than 2 ticks old. The options a
// stateless proxy must remember (window scale, SACK, ECN) ride in the low bits of the timestamp.
import { SipKey, siphash32 } from './siphash.js';

export const MSS_TABLE_V4 = [536, 1300, 1440, 1460] as const;
export const MSS_TABLE_V6 = [1220, 1420, 1440, 8940] as const;
/** Cookies older than this many minute ticks are refused (Linux: MAX_SYNCOOKIE_AGE). */
export const COOKIE_MAX_AGE = 2;

// Message scratch: client addr, server addr (16 bytes each, IPv4 in the first 4), ports, count.
const msg = new Uint8Array(40);

export class CookieKeys {
  readonly k0: SipKey;
  readonly k1: SipKey;

  /** 32 random bytes: two SipHash keys. Persisted so cookies survive a restart. */
  constructor(readonly bytes: Uint8Array) {
    if (bytes.length !== 32) throw new Error('cookie keys must be 32 bytes');
    this.k0 = new SipKey(bytes.subarray(0, 16));
    this.k1 = new SipKey(bytes.subarray(16, 32));
  }
}

/** Loads the tuple (client = source of the SYN) into the scratch; returns the message length. */
function loadTuple(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  ver: number,
  sport: number,
  dport: number,
): number {
  const n = ver === 4 ? 4 : 16;
  for (let i = 0; i < n; i++) {
    msg[i] = buf[srcOff + i];
    msg[n + i] = buf[dstOff + i];
  }
  const p = 2 * n;
  msg[p] = sport >>> 8;
  msg[p + 1] = sport & 0xff;
  msg[p + 2] = dport >>> 8;
  msg[p + 3] = dport & 0xff;
  return p + 4;
}

function withCount(len: number, count: number): number {
  msg[len] = count & 0xff;
  msg[len + 1] = (count >>> 8) & 0xff;
  msg[len + 2] = (count >>> 16) & 0xff;
  msg[len + 3] = (count >>> 24) & 0xff;
  return len + 4;
}

/** Index of the largest table MSS not above the client's (no MSS option: 536 → index 0). */
export function mssIndex(mss: number, ver: number): number {
  const t = ver === 4 ? MSS_TABLE_V4 : MSS_TABLE_V6;
  for (let i = t.length - 1; i > 0; i--) if (mss >= t[i]) return i;
  return 0;
}

export function mssFromIndex(idx: number, ver: number): number {
  return (ver === 4 ? MSS_TABLE_V4 : MSS_TABLE_V6)[idx & 3];
}

/** The cookie ISN for a SYN (addresses at offsets in buf; client = the SYN's source). */
export function makeCookie(
  keys: CookieKeys,
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  ver: number,
  sport: number,
  dport: number,
  isnClient: number,
  mssIdx: number,
  count: number,
): number {
  const len = loadTuple(buf, srcOff, dstOff, ver, sport, dport);
  const h0 = siphash32(keys.k0, msg, 0, len);
  const h1 = siphash32(keys.k1, msg, 0, withCount(len, count));
  return (h0 + isnClient + ((count & 0xff) << 24) + ((h1 + mssIdx) & 0xffffff)) >>> 0;
}

/**
 * Checks the cookie of a third ACK (cookie = ack − 1, ISN_c = seq − 1; addresses as in the SYN,
 * i.e. the ACK's own source and destination). Returns the MSS index, or −1 when invalid or expired.
 */
export function checkCookie(
  keys: CookieKeys,
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  ver: number,
  sport: number,
  dport: number,
  isnClient: number,
  cookie: number,
  countNow: number,
): number {
  const len = loadTuple(buf, srcOff, dstOff, ver, sport, dport);
  const h0 = siphash32(keys.k0, msg, 0, len);
  const diff = (cookie - h0 - isnClient) >>> 0;
  const cookieCount = diff >>> 24;
  const age = (countNow - cookieCount) & 0xff;
  if (age >= COOKIE_MAX_AGE) return -1;
  // The full count is now minus the age (the cookie only carries its low 8 bits).
  const h1 = siphash32(keys.k1, msg, 0, withCount(len, (countNow - age) >>> 0));
  const mssIdx = (diff - h1) & 0xffffff;
  return mssIdx < 4 ? mssIdx : -1;
}

/** TS option bits carried in the low 6 bits of the SYN-ACK's TSval (Linux's encoding). */
export const TsBits = { WSCALE_MASK: 0x0f, WSCALE_NONE: 0x0f, SACK: 0x10, ECN: 0x20, MASK: 0x3f } as const;

export function encodeTsOptions(nowTs: number, wscale: number, sack: boolean, ecn: boolean): number {
  const ws = wscale < 0 ? TsBits.WSCALE_NONE : Math.min(wscale, 14);
  return ((nowTs & ~TsBits.MASK) | ws | (sack ? TsBits.SACK : 0) | (ecn ? TsBits.ECN : 0)) >>> 0;
}

// The decoding of what encodeTsOptions hid, read from the TSecr of the client's third ACK.

/** The client's window scale: −1 when it offered none. */
export function tsWscale(tsEcr: number): number {
  const w = tsEcr & TsBits.WSCALE_MASK;
  return w === TsBits.WSCALE_NONE ? -1 : w;
}

/** Whether the client offered SACK. */
export function tsSack(tsEcr: number): boolean {
  return (tsEcr & TsBits.SACK) !== 0;
}

/** Whether the client asked for ECN. */
export function tsEcn(tsEcr: number): boolean {
  return (tsEcr & TsBits.ECN) !== 0;
}
