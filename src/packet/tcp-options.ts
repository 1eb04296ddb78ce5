// TCP options parser into a reusable TcpOptions object; malformed input gives an error code.
import { rd16, rd32 } from './bytes.js';

export const TcpOpt = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WSCALE: 3,
  SACK_PERM: 4,
  SACK: 5,
  TS: 8,
  MD5: 19,
  AO: 29,
} as const;

export const TcpOptError = {
  OK: 0,
  /** Length byte below 2 (0 or 1 would loop forever or overlap the next option). */
  BAD_LENGTH: 1,
  /** Option (or its length byte) runs past the header end. */
  TRUNCATED: 2,
  BAD_MSS: 3,
  BAD_WSCALE: 4,
  BAD_SACK_PERM: 5,
  /** SACK length not 2 + 8n with n >= 1. */
  BAD_SACK: 6,
  BAD_TS: 7,
  /** Data offset below 5 or past the segment. */
  BAD_DOFF: 8,
} as const;

export const TCP_OPT_ERROR_NAMES: readonly string[] = [
  'ok',
  'bad_length',
  'truncated',
  'bad_mss',
  'bad_wscale',
  'bad_sack_perm',
  'bad_sack',
  'bad_ts',
  'bad_doff',
];

/**
 * Parsed options. Offsets are absolute into the packet buffer and point at the option VALUE
 * (after kind and length), 0 when the option is absent. Also the input of writeTcpOptions.
 */
export class TcpOptions {
  /** -1 when absent. */
  mss = -1;
  mssOff = 0;
  /** Shift count, -1 when absent (values above 14 are kept as sent; RFC 7323 says use 14). */
  wscale = -1;
  wscaleOff = 0;
  sackPermitted = false;
  tsPresent = false;
  tsVal = 0;
  tsEcr = 0;
  /** Offset of TSval; TSecr follows at tsOff + 4. */
  tsOff = 0;
  /** 0..4 blocks of (left, right) edges, 8 bytes each, starting at sackOff. */
  sackBlockCount = 0;
  sackOff = 0;
  /** TCP-MD5 or TCP-AO present: rewriting seq/ack/options breaks the signature. */
  hasAuth = false;
  unknownCount = 0;

  reset(): void {
    this.mss = -1;
    this.mssOff = 0;
    this.wscale = -1;
    this.wscaleOff = 0;
    this.sackPermitted = false;
    this.tsPresent = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.tsOff = 0;
    this.sackBlockCount = 0;
    this.sackOff = 0;
    this.hasAuth = false;
    this.unknownCount = 0;
  }
}

/**
 * Parses the options of the TCP header at l4Off; `l4Len` bytes of segment are available there.
 * Reads only [l4Off+20, l4Off+doff*4). Returns a TcpOptError code; never throws. On error `out`
 * holds what was parsed before the bad option.
 */
export function tcpParseOptions(buf: Uint8Array, l4Off: number, l4Len: number, out: TcpOptions): number {
  out.reset();
  if (l4Off < 0 || l4Len < 20 || l4Off + l4Len > buf.length) return TcpOptError.TRUNCATED;
  const hl = (buf[l4Off + 12] >>> 4) << 2;
  if (hl < 20 || hl > l4Len) return TcpOptError.BAD_DOFF;
  const end = l4Off + hl;
  let p = l4Off + 20;
  while (p < end) {
    const kind = buf[p];
    if (kind === TcpOpt.EOL) break; // the rest is padding
    if (kind === TcpOpt.NOP) {
      p++;
      continue;
    }
    if (p + 1 >= end) return TcpOptError.TRUNCATED;
    const len = buf[p + 1];
    if (len < 2) return TcpOptError.BAD_LENGTH;
    if (p + len > end) return TcpOptError.TRUNCATED;
    // Known options with a wrong length are rejected, not skipped: an endpoint that reads them
    // differently from us would see different values than the ones we translate.
    switch (kind) {
      case TcpOpt.MSS:
        if (len !== 4) return TcpOptError.BAD_MSS;
        out.mss = rd16(buf, p + 2);
        out.mssOff = p + 2;
        break;
      case TcpOpt.WSCALE:
        if (len !== 3) return TcpOptError.BAD_WSCALE;
        out.wscale = buf[p + 2];
        out.wscaleOff = p + 2;
        break;
      case TcpOpt.SACK_PERM:
        if (len !== 2) return TcpOptError.BAD_SACK_PERM;
        out.sackPermitted = true;
        break;
      case TcpOpt.SACK:
        if (len < 10 || ((len - 2) & 7) !== 0) return TcpOptError.BAD_SACK;
        out.sackBlockCount = (len - 2) >>> 3;
        out.sackOff = p + 2;
        break;
      case TcpOpt.TS:
        if (len !== 10) return TcpOptError.BAD_TS;
        out.tsPresent = true;
        out.tsVal = rd32(buf, p + 2);
        out.tsEcr = rd32(buf, p + 6);
        out.tsOff = p + 2;
        break;
      case TcpOpt.MD5:
      case TcpOpt.AO:
        out.hasAuth = true;
        break;
      default:
        out.unknownCount++;
    }
    p += len;
  }
  return TcpOptError.OK;
}
