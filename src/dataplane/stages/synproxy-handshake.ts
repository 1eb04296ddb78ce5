// The SYN proxy's handshake packets (cf. nf_synproxy_core.c's synproxy_send_*): the cookie SYN-ACK
// to the client, then, once its third ACK proved the cookie, the SYN and ACK the host expects from
// the client, the window update that lets the client send, and the RSTs when the host refuses or
// the proxy does (a source at its connection cap).
// Builds and emits only: which packet to send when is the stage's (synproxy.ts).
import type { ConnTable } from '../../defense/conntable.js';
import { ConnFlag } from '../../defense/conntable.js';
import { type CookieKeys, checkCookie, encodeTsOptions, makeCookie } from '../../defense/cookie.js';
import { clientWindowToServer, newSeqAdj } from '../../defense/seqadj.js';
import {
  buildTcp4,
  buildTcp6,
  buildTcpReply,
  type PacketInfo,
  rd32,
  TcpFlag,
  TcpSegment,
} from '../../packet/index.js';
import type { Emitter } from '../emit.js';

const SYN = TcpFlag.SYN;
const ACK = TcpFlag.ACK;
const RST = TcpFlag.RST;

/** The proxy's own TCP options toward clients. */
export interface HandshakeOptions {
  /** Window scale the proxy advertises to clients that offer scaling (the server's is unknown). */
  wscale: number;
  /** MSS advertised to clients, per family (from the LAN MTU). */
  mss4: number;
  mss6: number;
}

/** The cookie (the proxy's ISN) answering this SYN (its tuple and ISN in buf/info). */
export function cookieFor(
  keys: CookieKeys,
  buf: Uint8Array,
  info: PacketInfo,
  mssIdx: number,
  minute: number,
): number {
  const { srcAddrOff: s, dstAddrOff: d, ipVersion: v, srcPort: sp, dstPort: dp } = info;
  return makeCookie(keys, buf, s, d, v, sp, dp, info.tcpSeq, mssIdx, minute);
}

/** The MSS index a third ACK's cookie carries for ISN_c, or −1 (its tuple is the SYN's). */
export function cookieMss(
  keys: CookieKeys,
  buf: Uint8Array,
  info: PacketInfo,
  isnC: number,
  cookie: number,
  minute: number,
): number {
  const { srcAddrOff: s, dstAddrOff: d, ipVersion: v, srcPort: sp, dstPort: dp } = info;
  return checkCookie(keys, buf, s, d, v, sp, dp, isnC, cookie, minute);
}

/** Emits the handshake's segments into the batch's emitter; reusable scratch, nothing allocated. */
export class HandshakeSender {
  private readonly seg = new TcpSegment();
  private readonly addr = new Uint8Array(32);
  private readonly adj = newSeqAdj();
  private emitter!: Emitter;
  private counters!: Float64Array;
  private emitFull = 0;

  constructor(private readonly opts: HandshakeOptions) {}

  /** The emitter and where to count a full one. */
  bind(emitter: Emitter, counters: Float64Array, emitFullCounter: number): void {
    this.emitter = emitter;
    this.counters = counters;
    this.emitFull = emitFullCounter;
  }

  /**
   * The cookie SYN-ACK to a client SYN. `kept`: the client's WS/SACK/ECN can be recovered at the
   * third ACK (timestamps or the SYN cache), so they may be offered. False when the emitter is full.
   */
  synAck(
    buf: Uint8Array,
    info: PacketInfo,
    cookie: number,
    kept: boolean,
    ecn: boolean,
    wallMs: number,
  ): boolean {
    const ver = info.ipVersion;
    const o = info.tcp;
    const seg = this.seg;
    seg.reset();
    // Window 0: the client sends no data until the server has answered (then a window update).
    seg.window = 0;
    seg.ttl = 64;
    const opts = seg.opts;
    opts.mss = ver === 4 ? this.opts.mss4 : this.opts.mss6;
    // Offer only what the third ACK can recover (TS bits or the SYN cache), as Linux clears the
    // options of a cookie SYN-ACK without timestamps: else the client alone would scale windows.
    if (o.wscale >= 0 && kept) opts.wscale = this.opts.wscale;
    opts.sackPermitted = o.sackPermitted && kept;
    if (o.tsPresent) {
      opts.tsPresent = true;
      opts.tsVal = encodeTsOptions(wallMs >>> 0, o.wscale, o.sackPermitted, ecn);
      opts.tsEcr = o.tsVal;
    }
    if (ecn && kept) seg.flags = TcpFlag.ECE;
    const em = this.emitter;
    const off = em.begin();
    if (off < 0) return false; // counted by the pipeline
    seg.seq = cookie;
    seg.ack = (info.tcpSeq + 1) >>> 0;
    seg.flags |= SYN | ACK;
    em.end(buildTcpReply(em.batch.buf, off, buf, info, seg));
    return true;
  }

  /** The proxy's SYN to the server, transparent: the client's addresses, ISN and options. */
  serverSyn(t: ConnTable, slot: number): void {
    const f = t.flags[slot];
    const seg = this.seg;
    seg.reset();
    seg.seq = t.isnC[slot];
    seg.ack = 0;
    seg.flags = SYN | ((f & ConnFlag.ECN) !== 0 ? TcpFlag.ECE | TcpFlag.CWR : 0);
    // A SYN's window is never scaled: the client's ACK window in bytes, capped.
    const ws = Math.max(t.wsClient[slot], 0);
    seg.window = Math.min(65535, t.winClient[slot] * 2 ** ws);
    const o = seg.opts;
    o.mss = t.mss[slot];
    o.wscale = t.wsClient[slot];
    o.sackPermitted = (f & ConnFlag.SACK) !== 0;
    if ((f & ConnFlag.TS) !== 0) {
      o.tsPresent = true;
      o.tsVal = t.tsClient[slot];
      o.tsEcr = 0;
    }
    this.emitSegment(t, slot, true);
  }

  /**
   * ACK to the server's SYN-ACK, as the client would send it; `buf`/`info` is a segment from the
   * server (its SYN-ACK, or a later ACK asking for the handshake again) that the ACK answers.
   */
  serverAck(buf: Uint8Array, info: PacketInfo, t: ConnTable, slot: number): void {
    const em = this.emitter;
    const off = em.begin();
    if (off < 0) {
      this.counters[this.emitFull]++;
      return;
    }
    const seg = this.seg;
    seg.reset();
    seg.seq = (t.isnC[slot] + 1) >>> 0;
    seg.ack = (t.isnS[slot] + 1) >>> 0;
    seg.flags = ACK;
    const w = clientWindowToServer(t.winClient[slot], t.seqAdj(slot, this.adj));
    seg.window = w >= 0 ? w : t.winClient[slot];
    if ((t.flags[slot] & ConnFlag.TS) !== 0 && info.tcp.tsPresent) {
      seg.opts.tsPresent = true;
      seg.opts.tsVal = t.tsClient[slot];
      // Always the SYN-ACK's own timestamp: a listener still in SYN-RECEIVED refuses an echo it
      // did not send in a SYN-ACK (Linux since 6.x), and later ACKs carry newer ones.
      seg.opts.tsEcr = (t.tsProxy[slot] + t.tsOff[slot]) >>> 0;
    }
    em.end(buildTcpReply(em.batch.buf, off, buf, info, seg));
  }

  /** Opens the client's window (the SYN-ACK had 0), as if from the server, translated. */
  clientWindowUpdate(info: PacketInfo, t: ConnTable, slot: number): void {
    const seg = this.seg;
    seg.reset();
    seg.seq = (t.isnP[slot] + 1) >>> 0;
    seg.ack = (t.isnC[slot] + 1) >>> 0;
    seg.flags = ACK;
    // The SYN-ACK's window is unscaled bytes; the client applies our advertised scale.
    const wsA = Math.max(t.wsAdv[slot], 0);
    seg.window = Math.max(1, Math.min(65535, Math.floor(info.tcpWindow / 2 ** wsA)));
    if ((t.flags[slot] & ConnFlag.TS) !== 0 && info.tcp.tsPresent) {
      seg.opts.tsPresent = true;
      seg.opts.tsVal = (info.tcp.tsVal - t.tsOff[slot]) >>> 0;
      seg.opts.tsEcr = t.tsClient[slot];
    }
    this.emitSegment(t, slot, false);
  }

  /** RST to the client in its view of our sequence space (ISN_p + 1). */
  clientRst(t: ConnTable, slot: number): void {
    const seg = this.seg;
    seg.reset();
    seg.seq = (t.isnP[slot] + 1) >>> 0;
    seg.ack = (t.isnC[slot] + 1) >>> 0;
    seg.flags = RST | ACK;
    seg.window = 0;
    this.emitSegment(t, slot, false);
  }

  /**
   * RST answering a client's ACK the proxy will not take (RFC 793, reset generation: seq = the ACK's
   * acknowledgment number, RST alone, no ACK): the client's connection ends at once instead of
   * retransmitting into silence. No options, so never larger than the ACK it answers. False when
   * the emitter is full (counted).
   */
  ackRst(buf: Uint8Array, info: PacketInfo): boolean {
    const em = this.emitter;
    const off = em.begin();
    if (off < 0) {
      this.counters[this.emitFull]++;
      return false;
    }
    const seg = this.seg;
    seg.reset();
    seg.seq = info.tcpAck;
    seg.ack = 0;
    seg.flags = RST;
    seg.window = 0;
    seg.ttl = 64;
    em.end(buildTcpReply(em.batch.buf, off, buf, info, seg));
    return true;
  }

  /** Builds the prepared segment client→server (toServer) or server→client from the table's tuple. */
  private emitSegment(t: ConnTable, slot: number, toServer: boolean): boolean {
    const em = this.emitter;
    const off = em.begin();
    if (off < 0) {
      this.counters[this.emitFull]++;
      return false;
    }
    const ver = t.addresses(slot, this.addr);
    const seg = this.seg;
    const cPort = t.clientPort(slot);
    const sPort = t.serverPort(slot);
    seg.srcPort = toServer ? cPort : sPort;
    seg.dstPort = toServer ? sPort : cPort;
    const src = toServer ? 0 : 16;
    const dst = toServer ? 16 : 0;
    const len =
      ver === 4
        ? buildTcp4(em.batch.buf, off, rd32(this.addr, src), rd32(this.addr, dst), seg)
        : buildTcp6(em.batch.buf, off, this.addr, src, dst, seg);
    em.end(len);
    return true;
  }
}
