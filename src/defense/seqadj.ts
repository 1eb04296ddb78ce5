// Sequence adjustment of a proxied connection (cf. Linux nf_conntrack_seqadj.c): the client knows
// the proxy's ISN (the cookie), the server its own, so every segment after the handshake has its
// seq/ack, SACK blocks, timestamps and window translated. Pure functions over one small record
// per connection; the connection table loads it (ConnTable.seqAdj), nothing here keeps state.
import {
  csumUpdate32,
  type PacketInfo,
  rd32,
  TcpFlag,
  tcpAdd32Halves,
  tcpRewriteWindow,
  tcpShiftSackHalves,
  VnetFlags,
  wr32,
} from '../packet/index.js';

/** What translating one connection's segments needs. */
export interface SeqAdj {
  /** Sequence offset: server→client seq += delta, client→server ack −= delta (= ISN_proxy − ISN_server). */
  delta: number;
  /** Both ends use timestamps: server→client TSval −= tsOff, client→server TSecr += tsOff. */
  ts: boolean;
  tsOff: number;
  /** Window scale of the client, the one the proxy advertised to it, and the server's; −1 = none. */
  wsClient: number;
  wsAdv: number;
  wsServer: number;
}

/** A record to load into (one per stage: the hot path allocates nothing). */
export function newSeqAdj(): SeqAdj {
  return { delta: 0, ts: false, tsOff: 0, wsClient: -1, wsAdv: -1, wsServer: -1 };
}

/**
 * The scales a server window is read with: (left << 8 | right) = (the server's, the one the proxy
 * advertised to the client), or −1 when they agree and windows pass unchanged.
 */
export function serverWindowShifts(a: SeqAdj): number {
  const wsS = a.wsClient >= 0 && a.wsServer >= 0 ? a.wsServer : 0;
  const wsA = Math.max(a.wsAdv, 0);
  return wsS === wsA ? -1 : (wsS << 8) | wsA;
}

/** The scale a client window is multiplied by for the server, or −1 when nothing changes. */
export function clientWindowShift(a: SeqAdj): number {
  const wsC = Math.max(a.wsClient, 0);
  // The server applies the client's scale only if it agreed to scaling.
  const seen = a.wsServer >= 0 ? wsC : 0;
  return wsC === seen ? -1 : wsC;
}

/**
 * A server window as the client must read it (it applies the scale the proxy advertised, the
 * server meant its own), or −1 when the scales agree and nothing changes.
 */
export function serverWindowToClient(win: number, a: SeqAdj): number {
  const shifts = serverWindowShifts(a);
  if (shifts < 0) return -1;
  const bytes = win * 2 ** (shifts >>> 8);
  return Math.min(65535, Math.max(bytes > 0 ? 1 : 0, Math.floor(bytes / 2 ** (shifts & 0xff))));
}

/** A client window as the server must read it, or −1 when nothing changes. */
export function clientWindowToServer(win: number, a: SeqAdj): number {
  const shift = clientWindowShift(a);
  return shift < 0 ? -1 : Math.min(65535, win * 2 ** shift);
}

/** Translates a client→server segment in place (checksum kept, or left to the kernel). */
export function adjustToServer(buf: Uint8Array, info: PacketInfo, a: SeqAdj): void {
  const l4 = info.l4Off;
  // With NEEDS_CSUM the kernel sums the segment later: edits need no checksum update.
  const partial = (info.vnetFlags & VnetFlags.NEEDS_CSUM) !== 0;
  const neg = (0 - a.delta) >>> 0;
  const hi = neg >>> 16;
  const lo = neg & 0xffff;
  if ((info.tcpFlags & TcpFlag.ACK) !== 0) tcpAdd32Halves(buf, l4, l4 + 8, hi, lo, partial);
  const o = info.tcp;
  if (o.sackBlockCount > 0) tcpShiftSackHalves(buf, l4, o, hi, lo, partial);
  if (o.tsPresent && a.ts) tcpAdd32Halves(buf, l4, o.tsOff + 4, a.tsOff >>> 16, a.tsOff & 0xffff, partial);
  const w = clientWindowToServer(info.tcpWindow, a);
  if (w >= 0) tcpRewriteWindow(buf, l4, w, partial);
}

/** Translates a server→client segment in place. */
export function adjustToClient(buf: Uint8Array, info: PacketInfo, a: SeqAdj): void {
  const l4 = info.l4Off;
  const partial = (info.vnetFlags & VnetFlags.NEEDS_CSUM) !== 0;
  const d = a.delta;
  tcpAdd32Halves(buf, l4, l4 + 4, d >>> 16, d & 0xffff, partial);
  const o = info.tcp;
  if (o.tsPresent && a.ts) {
    const neg = (0 - a.tsOff) >>> 0;
    tcpAdd32Halves(buf, l4, o.tsOff, neg >>> 16, neg & 0xffff, partial);
  }
  const w = serverWindowToClient(info.tcpWindow, a);
  if (w >= 0) tcpRewriteWindow(buf, l4, w, partial);
}

/**
 * Gives back the server's own sequence number in the TCP header an ICMP error quotes (at
 * quotedSeqOff) about a server→client segment, fixing the ICMP checksum at icmpCsumOff (it covers
 * the quote; the quoted TCP checksum is nobody's business).
 */
export function adjustQuotedSeq(
  buf: Uint8Array,
  quotedSeqOff: number,
  icmpCsumOff: number,
  delta: number,
): void {
  const seq = rd32(buf, quotedSeqOff);
  const fixed = (seq - delta) >>> 0;
  wr32(buf, quotedSeqOff, fixed);
  const c = icmpCsumOff;
  const sum = csumUpdate32((buf[c] << 8) | buf[c + 1], seq, fixed);
  buf[c] = sum >>> 8;
  buf[c + 1] = sum & 0xff;
}
