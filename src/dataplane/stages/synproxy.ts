// The SYN proxy stage: answers SYNs to protected LAN hosts with a
// SYN cookie, opens the connection to the host only after a valid third ACK, absorbs the host's
// SYN-ACK and from then on translates every segment (seq/ack, SACK, timestamps, window scale).
// Names follow the packet and the peer, as in nf_synproxy_core.c.
// One file for now (about 940 lines): handshake, sequence adjustment and persistence share the
// connection table's raw layout; splitting them the way the kernel does (nf_synproxy_core /
// nf_conntrack_seqadj) behind ConnTable methods is issue #12's, not done here.

import { ConnFlag, ConnState, ConnTable } from '../../defense/conntable.js';
import {
  type CookieKeys,
  checkCookie,
  encodeTsOptions,
  makeCookie,
  mssFromIndex,
  mssIndex,
  tsEcn,
  tsSack,
  tsWscale,
} from '../../defense/cookie.js';
import { SourceQuota } from '../../defense/source-quota.js';
import {
  buildTcp4,
  buildTcp6,
  buildTcpReply,
  CsumStatus,
  csumUpdate32,
  type PacketInfo,
  rd32,
  TcpFlag,
  TcpSegment,
  tcpAdd32Halves,
  tcpRewriteWindow,
  tcpShiftSackHalves,
  VnetFlags,
  verifyL4Checksum,
  wr32,
} from '../../packet/index.js';
import type { ConnRecord, ConnSync } from '../../state/connstore.js';
import type { Batch } from '../../tun/packet-io.js';
import { type DataplaneCommand, PASS, type Stage, type StageContext } from '../stage.js';

const IPPROTO_TCP = 6;
const SYN = TcpFlag.SYN;
const ACK = TcpFlag.ACK;
const RST = TcpFlag.RST;
const FIN = TcpFlag.FIN;

/** Matches addresses read straight from a packet (the LAN prefixes). */
export interface AddrMatcher {
  matches(buf: Uint8Array, addrOff: number, ipVersion: number): boolean;
}

/** What the stage asks of the risk tiers and the per-source tracker. */
export interface SynGate {
  /**
   * A first SYN to a protected host: returns 0 to answer it with a cookie, 1 to answer it without
   * recording anything (risky tier, cookie mode), or a drop counter index.
   */
  onSyn(buf: Uint8Array, info: PacketInfo, now: number, duplicate: boolean): number;
  /** A cookie SYN-ACK was sent for this source. */
  onAnswered(buf: Uint8Array, info: PacketInfo, now: number): void;
  /** A handshake from this source completed (valid cookie ACK). */
  onCompleted(buf: Uint8Array, info: PacketInfo, now: number): void;
  /** True when new per-SYN state (the SYN cache) may be kept: the normal and moderate tiers. */
  mayCache(): boolean;
  /** Counter indices of the gate's own names (`counterNames`, in order), the context. */
  bind?(indices: readonly number[], ctx: StageContext, counters: Float64Array): void;
  tick?(now: number): void;
  command?(cmd: DataplaneCommand): void;
}

/** A gate that answers every SYN (no tiers): used when the defense is not configured. */
export const OPEN_GATE: SynGate = {
  onSyn: () => 0,
  onAnswered: () => {},
  onCompleted: () => {},
  mayCache: () => true,
};

export interface SynProxyOptions {
  /** Destinations the proxy protects (inbound SYNs to them are proxied). */
  lan: AddrMatcher;
  keys: CookieKeys;
  maxConnections: number;
  synCacheSize: number;
  /** Window scale the proxy advertises to clients that offer scaling (the server's is unknown). */
  wscale: number;
  /** MSS advertised to clients, per family (from the LAN MTU). */
  mss4: number;
  mss6: number;
  /**
   * Largest MSS the WAN path takes, per family: the proxy's SYN offers the server no more (MSS
   * clamping). A frag-needed the router itself sends about a translated segment quotes the proxy's
   * sequence space and would be ignored by the server, so PMTU discovery cannot fix it later.
   */
  wanMss4?: number;
  wanMss6?: number;
  /**
   * Proxied connections one source (an IPv4 address, an IPv6 /64) may hold at once (default
   * DEFAULT_PER_SOURCE): one source cannot fill the table alone.
   */
  maxPerSource?: number;
  /** Idle timeout of established connections, ms (a reload changes it). */
  idleMs: number;
  gate?: SynGate;
  /** Milliseconds since the Unix epoch at ctx.now = 0 (cookie minutes and TS clock). */
  epochMs: number;
  /** Connections from the store, translated on as before the restart. */
  restored?: readonly ConnRecord[];
  /** Counter names the gate uses (bound after the proxy's own). */
  gateCounters?: readonly string[];
}

/** Connections per source by default: far above a browser's, far below the table. */
export const DEFAULT_PER_SOURCE = 512;
/** Occupied slots looked at to pick a victim when the table is full. */
const EVICT_SCAN = 64;

/** Drop reasons (counter names) and other proxy counters. */
const REASONS = [
  'synproxy_absorbed',
  'synproxy_syn_received',
  'synproxy_syn_retransmit',
  'synproxy_cookie_sent',
  'synproxy_cookie_valid',
  'synproxy_cookie_invalid',
  'synproxy_conn_established',
  'synproxy_server_refused',
  'synproxy_server_timeout',
  'synproxy_table_full',
  'synproxy_emit_full',
  'synproxy_untracked_pass',
  'synproxy_closed',
  'synproxy_bad_checksum',
  'synproxy_outbound_syn',
  'synproxy_source_full',
  'synproxy_evicted',
] as const;

const SYN_RETRY_MS = [1000, 2000, 4000];
const CLOSED_LINGER_MS = 10_000;
const FIN_LINGER_MS = 60_000;
const SYN_CACHE_MS = 10_000;
/** Slots swept per tick: the whole table once a second at 10 ticks/s. */
const SWEEP_FRACTION = 10;

export class SynProxyStage implements Stage {
  readonly name = 'synproxy';
  readonly dropReasons: readonly string[];
  readonly table: ConnTable;
  /** Options of clients that sent no timestamps (cookies cannot carry them): normal/moderate tier only. */
  readonly synCache: ConnTable;
  private readonly seg = new TcpSegment();
  private readonly addr = new Uint8Array(32);
  /** A connection's client address, for the per-source quota. */
  private readonly clientScratch = new Uint8Array(16);
  private readonly gate: SynGate;
  private ctx!: StageContext;
  private c!: Float64Array;
  private r = {
    absorbed: 0,
    synReceived: 0,
    synRetransmit: 0,
    cookieSent: 0,
    cookieValid: 0,
    cookieInvalid: 0,
    established: 0,
    serverRefused: 0,
    serverTimeout: 0,
    tableFull: 0,
    emitFull: 0,
    untracked: 0,
    closed: 0,
    badChecksum: 0,
    outboundSyn: 0,
    sourceFull: 0,
    evicted: 0,
  };
  private sweepCursor = 0;
  private evictCursor = 0;
  private cacheCursor = 0;
  /** Connections per source (IPv6 per /64). */
  private readonly quota: SourceQuota;
  private ticks = 0;
  /** Store keys of persisted connections removed since the last sync. */
  private removed: string[] = [];
  /** Connections restored from the store at start. */
  readonly restoredCount: number;

  constructor(readonly opts: SynProxyOptions) {
    this.table = new ConnTable(opts.maxConnections);
    this.quota = new SourceQuota(opts.maxConnections * 2, opts.maxPerSource ?? DEFAULT_PER_SOURCE);
    this.synCache = new ConnTable(opts.synCacheSize);
    this.gate = opts.gate ?? OPEN_GATE;
    this.dropReasons = [...REASONS, ...(opts.gateCounters ?? [])];
    this.restoredCount = this.restore(opts.restored ?? []);
  }

  /** Loads stored connections; a handshake in progress is not resumable and is dropped. */
  private restore(records: readonly ConnRecord[]): number {
    const t = this.table;
    let n = 0;
    for (const r of records) {
      if (r.state === ConnState.SYN_SENT || r.state === ConnState.FREE) continue;
      const s = t.insertKey(r.key);
      if (s < 0) continue;
      const ver = t.clientAddr(s, this.clientScratch);
      if (!this.quota.take(this.clientScratch, 0, ver, 0)) {
        t.remove(s);
        continue;
      }
      t.state[s] = r.state;
      t.flags[s] = r.flags | ConnFlag.RESTORED | ConnFlag.PERSISTED;
      t.isnC[s] = r.isnC;
      t.isnP[s] = r.isnP;
      t.isnS[s] = r.isnS;
      t.delta[s] = r.delta;
      t.tsOff[s] = r.tsOff;
      t.tsProxy[s] = r.tsProxy;
      t.tsClient[s] = r.tsClient;
      t.wsClient[s] = r.wsClient;
      t.wsAdv[s] = r.wsAdv;
      t.wsServer[s] = r.wsServer;
      t.mss[s] = r.mss;
      t.lastSeen[s] = 0; // idle time starts again now
      t.timerAt[s] = r.state === ConnState.CLOSED ? CLOSED_LINGER_MS : 0;
      n++;
    }
    return n;
  }

  /** Frees a slot, remembering a persisted connection's key so the store forgets it too. */
  private forget(slot: number): void {
    const t = this.table;
    if ((t.flags[slot] & ConnFlag.PERSISTED) !== 0) this.removed.push(t.keyString(slot));
    const ver = t.clientAddr(slot, this.clientScratch);
    this.quota.release(this.clientScratch, 0, ver);
    t.remove(slot);
  }

  /**
   * Frees one slot of a full table: of the next EVICT_SCAN connections, a closing one, else the one
   * idle longest (a flood of completed handshakes then displaces idle connections, not live ones).
   * Returns whether one was freed.
   */
  private evictOne(): boolean {
    const t = this.table;
    const n = t.slots;
    let victim = -1;
    let oldest = Number.POSITIVE_INFINITY;
    let s = this.evictCursor;
    for (let seen = 0, i = 0; seen < EVICT_SCAN && i < n; i++, s = (s + 1) % n) {
      const st = t.state[s];
      if (st === ConnState.FREE || st === ConnState.SYN_SENT) continue;
      seen++;
      const score = st === ConnState.CLOSED || st === ConnState.FIN_WAIT ? -1 : t.lastSeen[s];
      if (score < oldest) {
        oldest = score;
        victim = s;
      }
    }
    this.evictCursor = s;
    if (victim < 0) return false;
    // No RST: its sequence numbers are the proxy's, and the connection simply stops being translated.
    this.forget(victim);
    this.c[this.r.evicted]++;
    return true;
  }

  /** Changed connections and removals since the last call (for the write-behind store). */
  exportChanges(): ConnSync {
    const t = this.table;
    const upserts: ConnRecord[] = [];
    const wall = this.wallMs();
    for (let s = 0; s < t.slots; s++) {
      if (t.dirty[s] === 0 || t.state[s] === ConnState.FREE) continue;
      t.dirty[s] = 0;
      if (t.state[s] === ConnState.SYN_SENT) continue;
      t.flags[s] |= ConnFlag.PERSISTED;
      const k = t.keyOf(s);
      upserts.push({
        key: t.keyString(s),
        ver: k.ver,
        client: Buffer.from(k.client).toString('hex'),
        server: Buffer.from(k.server).toString('hex'),
        cPort: k.cPort,
        sPort: k.sPort,
        state: t.state[s],
        flags: t.flags[s] & ~(ConnFlag.RESTORED | ConnFlag.PERSISTED),
        isnC: t.isnC[s],
        isnP: t.isnP[s],
        isnS: t.isnS[s],
        delta: t.delta[s],
        tsOff: t.tsOff[s],
        tsProxy: t.tsProxy[s],
        tsClient: t.tsClient[s],
        wsClient: t.wsClient[s],
        wsAdv: t.wsAdv[s],
        wsServer: t.wsServer[s],
        mss: t.mss[s],
        updated: wall,
      });
    }
    const removes = this.removed;
    this.removed = [];
    return { upserts, removes };
  }

  private sync(): void {
    const c = this.exportChanges();
    if (c.upserts.length > 0 || c.removes.length > 0) this.ctx.post({ type: 'conn-sync', ...c });
  }

  flush(): void {
    this.sync();
  }

  command(cmd: DataplaneCommand): void {
    const syn =
      cmd.type === 'settings' ? (cmd.syn as { connectionIdleSeconds?: number } | undefined) : undefined;
    if (syn?.connectionIdleSeconds !== undefined) this.opts.idleMs = syn.connectionIdleSeconds * 1000;
    this.gate.command?.(cmd);
  }

  bind(idx: readonly number[], ctx: StageContext, counters: Float64Array): void {
    const [z, a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q] = idx;
    this.r = {
      absorbed: z,
      synReceived: a,
      synRetransmit: b,
      cookieSent: c,
      cookieValid: d,
      cookieInvalid: e,
      established: f,
      serverRefused: g,
      serverTimeout: h,
      tableFull: i,
      emitFull: j,
      untracked: k,
      closed: l,
      badChecksum: m,
      outboundSyn: o,
      sourceFull: p,
      evicted: q,
    };
    this.ctx = ctx;
    this.c = counters;
    this.gate.bind?.(idx.slice(REASONS.length), ctx, counters);
  }

  private wallMs(): number {
    return this.opts.epochMs + this.ctx.now;
  }

  handle(batch: Batch, _i: number, info: PacketInfo): number {
    if (info.icmpInnerOff !== 0) {
      this.translateIcmpError(batch.buf, info);
      return PASS;
    }
    if (info.proto !== IPPROTO_TCP || info.tcpHdrLen === 0) return PASS;
    const buf = batch.buf;
    const ver = info.ipVersion;
    const lan = this.opts.lan;
    // Inbound: toward a protected host (client = source). Outbound: from one (client = destination).
    const dstLan = lan.matches(buf, info.dstAddrOff, ver);
    const srcLan = lan.matches(buf, info.srcAddrOff, ver);
    if (dstLan && !srcLan) {
      const slot = this.table.find(buf, info.srcAddrOff, info.dstAddrOff, ver, info.srcPort, info.dstPort);
      return slot >= 0 ? this.fromClient(buf, info, slot) : this.fromNewClient(buf, info);
    }
    if (srcLan && !dstLan) {
      const slot = this.table.find(buf, info.dstAddrOff, info.srcAddrOff, ver, info.dstPort, info.srcPort);
      if (slot >= 0) return this.fromServer(buf, info, slot);
      // Connections the LAN opens are its own traffic: not proxied, but counted.
      const f = info.tcpFlags;
      if ((f & (SYN | ACK)) === SYN) this.c[this.r.outboundSyn]++;
      // Established, and the host has sent its first bytes (the sampler had its look): from now on
      // the kernel forwards the flow directly, both ways.
      else if ((f & SYN) === 0 && (info.payloadLen > 0 || (f & FIN) !== 0))
        this.ctx.bypass.add(
          buf,
          ver,
          IPPROTO_TCP,
          info.srcAddrOff,
          info.srcPort,
          info.dstAddrOff,
          info.dstPort,
        );
    }
    return PASS; // outbound connections of the LAN's own, and LAN↔LAN: not proxied
  }

  // ---- client → proxy, no connection yet ----

  private fromNewClient(buf: Uint8Array, info: PacketInfo): number {
    const f = info.tcpFlags;
    // What we answer ourselves must be intact (the kernel vouches with DATA_VALID/NEEDS_CSUM):
    // a corrupt SYN gets no SYN-ACK, a corrupt third ACK opens nothing (reference §3).
    if ((f & (SYN | ACK)) !== 0 && (f & RST) === 0 && verifyL4Checksum(buf, info) === CsumStatus.BAD)
      return this.r.badChecksum;
    if ((f & (SYN | ACK | RST)) === SYN) return this.recvClientSyn(buf, info);
    if ((f & (SYN | ACK | RST)) === ACK) {
      const v = this.recvClientAck(buf, info);
      if (v !== -1) return v;
    }
    // Not ours: a connection that predates us (or a stray segment). The host judges it. Proxied
    // connections are all in the table (a restart restores them), so one carrying data is not one:
    // the kernel may forward the rest of it directly.
    this.c[this.r.untracked]++;
    if ((f & (SYN | RST)) === 0 && info.payloadLen > 0)
      this.ctx.bypass.add(
        buf,
        info.ipVersion,
        IPPROTO_TCP,
        info.dstAddrOff,
        info.dstPort,
        info.srcAddrOff,
        info.srcPort,
      );
    return PASS;
  }

  /** Client SYN: answer with a cookie SYN-ACK, keep no state (the SYN cache aside). */
  private recvClientSyn(buf: Uint8Array, info: PacketInfo): number {
    const now = this.ctx.now;
    const ver = info.ipVersion;
    const t = this.synCache;
    const cached = t.find(buf, info.srcAddrOff, info.dstAddrOff, ver, info.srcPort, info.dstPort);
    const duplicate = cached >= 0 && t.isnC[cached] === info.tcpSeq;
    const verdict = this.gate.onSyn(buf, info, now, duplicate);
    if (verdict > 1) return verdict;
    this.c[duplicate ? this.r.synRetransmit : this.r.synReceived]++;
    const o = info.tcp;
    const ecn = (info.tcpFlags & (TcpFlag.ECE | TcpFlag.CWR)) === (TcpFlag.ECE | TcpFlag.CWR);
    const wall = this.wallMs();
    const mssIdx = mssIndex(o.mss < 0 ? 536 : o.mss, ver);
    const cookie = makeCookie(
      this.opts.keys,
      buf,
      info.srcAddrOff,
      info.dstAddrOff,
      ver,
      info.srcPort,
      info.dstPort,
      info.tcpSeq,
      mssIdx,
      Math.floor(wall / 60_000),
    );
    // Without timestamps the cookie cannot carry WS/SACK: remember them while that is affordable.
    let kept = o.tsPresent || duplicate;
    if (!o.tsPresent && verdict === 0 && this.gate.mayCache()) {
      let s = cached;
      if (s < 0) s = t.insert(buf, info.srcAddrOff, info.dstAddrOff, ver, info.srcPort, info.dstPort);
      if (s >= 0) {
        t.isnC[s] = info.tcpSeq;
        t.wsClient[s] = o.wscale;
        t.flags[s] = (o.sackPermitted ? ConnFlag.SACK : 0) | (ecn ? ConnFlag.ECN : 0);
        t.lastSeen[s] = now;
        kept = true;
      }
    }
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
      opts.tsVal = encodeTsOptions(wall >>> 0, o.wscale, o.sackPermitted, ecn);
      opts.tsEcr = o.tsVal;
    }
    if (ecn && kept) seg.flags = TcpFlag.ECE;
    const em = this.ctx.emitter;
    const off = em.begin();
    if (off < 0) return this.r.emitFull; // counted by the pipeline
    seg.seq = cookie;
    seg.ack = (info.tcpSeq + 1) >>> 0;
    seg.flags |= SYN | ACK;
    em.end(buildTcpReply(em.batch.buf, off, buf, info, seg));
    this.c[this.r.cookieSent]++;
    // Once per handshake (the trackers' contract): a retransmitted SYN is not a new one.
    if (!duplicate) this.gate.onAnswered(buf, info, now);
    return this.r.absorbed;
  }

  /** Packets the proxy consumes (SYNs, third ACKs, server SYN-ACKs): not forwarded, not attacks. */
  private dropAbsorbed(): number {
    return this.r.absorbed;
  }

  /** Client's third ACK: −1 when it carries no valid cookie (not ours), else the verdict. */
  private recvClientAck(buf: Uint8Array, info: PacketInfo): number {
    const ver = info.ipVersion;
    let isnC = (info.tcpSeq - 1) >>> 0;
    const cookie = (info.tcpAck - 1) >>> 0;
    const minute = Math.floor(this.wallMs() / 60_000);
    let mssIdx = this.cookieMss(buf, info, isnC, cookie, minute);
    if (mssIdx < 0 && info.payloadLen === 0) {
      // A zero-window probe after a lost third ACK carries seq = ISN_c (snd_una − 1).
      isnC = info.tcpSeq;
      mssIdx = this.cookieMss(buf, info, isnC, cookie, minute);
    }
    if (mssIdx < 0) {
      this.c[this.r.cookieInvalid]++;
      return -1;
    }
    this.c[this.r.cookieValid]++;
    const t = this.table;
    if (!this.quota.take(buf, info.srcAddrOff, ver, this.ctx.now)) return this.r.sourceFull;
    if (t.count >= t.capacity) this.evictOne();
    const slot = t.insert(buf, info.srcAddrOff, info.dstAddrOff, ver, info.srcPort, info.dstPort);
    if (slot < 0) {
      this.quota.release(buf, info.srcAddrOff, ver);
      return this.r.tableFull; // counted by the pipeline
    }
    // A LAN-opened flow of the same addresses and ports may still bypass us: not this connection.
    this.ctx.bypass.remove(
      buf,
      ver,
      IPPROTO_TCP,
      info.dstAddrOff,
      info.dstPort,
      info.srcAddrOff,
      info.srcPort,
    );
    const o = info.tcp;
    let flags = t.flags[slot];
    let ws = -1;
    if (o.tsPresent) {
      // The option bits come back in TSecr, as we encoded them in the SYN-ACK's TSval.
      ws = tsWscale(o.tsEcr);
      flags |= ConnFlag.TS;
      if (tsSack(o.tsEcr)) flags |= ConnFlag.SACK;
      if (tsEcn(o.tsEcr)) flags |= ConnFlag.ECN;
      t.tsProxy[slot] = o.tsEcr;
      t.tsClient[slot] = o.tsVal;
    } else {
      const c = this.synCache.find(buf, info.srcAddrOff, info.dstAddrOff, ver, info.srcPort, info.dstPort);
      if (c >= 0 && this.synCache.isnC[c] === isnC) {
        ws = this.synCache.wsClient[c];
        flags |= this.synCache.flags[c] & (ConnFlag.SACK | ConnFlag.ECN);
        this.synCache.remove(c);
      }
    }
    t.flags[slot] = flags;
    t.isnC[slot] = isnC;
    t.isnP[slot] = cookie;
    t.wsClient[slot] = ws;
    t.wsAdv[slot] = ws >= 0 ? this.opts.wscale : -1;
    t.wsServer[slot] = -1;
    const clamp = (ver === 4 ? this.opts.wanMss4 : this.opts.wanMss6) ?? 65535;
    t.mss[slot] = Math.min(mssFromIndex(mssIdx, ver), clamp);
    t.winClient[slot] = info.tcpWindow;
    t.lastSeen[slot] = this.ctx.now;
    t.timerAt[slot] = this.ctx.now + SYN_RETRY_MS[0];
    t.retries[slot] = 0;
    this.gate.onCompleted(buf, info, this.ctx.now);
    // Data on the third ACK: the SYN-ACK's zero window forbids it, so a client that sends it anyway
    // retransmits it once the window opens. Nothing is buffered.
    this.sendServerSyn(slot);
    return this.dropAbsorbed();
  }

  /** The MSS index a third ACK's cookie carries for ISN_c, or −1 (its tuple is the SYN's). */
  private cookieMss(buf: Uint8Array, info: PacketInfo, isnC: number, cookie: number, minute: number): number {
    const { srcAddrOff: s, dstAddrOff: d, ipVersion: v, srcPort: sp, dstPort: dp } = info;
    return checkCookie(this.opts.keys, buf, s, d, v, sp, dp, isnC, cookie, minute);
  }

  // ---- packets of a known connection ----

  private fromClient(buf: Uint8Array, info: PacketInfo, slot: number): number {
    const t = this.table;
    const st = t.state[slot];
    const f = info.tcpFlags;
    if ((f & SYN) !== 0 && (f & ACK) === 0) {
      // A SYN on a tuple we hold: the same ISN is a retransmission (answered again, statelessly);
      // a new ISN after the old connection ended starts a new one.
      if (st === ConnState.CLOSED || (info.tcpSeq !== t.isnC[slot] && st !== ConnState.SYN_SENT)) {
        this.forget(slot);
        return this.recvClientSyn(buf, info);
      }
      return this.dropAbsorbed();
    }
    if (st === ConnState.SYN_SENT) {
      // Retransmitted third ACKs and zero-window probes while the server SYN is outstanding.
      return this.dropAbsorbed();
    }
    t.lastSeen[slot] = this.ctx.now;
    this.translateClientToServer(buf, info, slot);
    if ((f & RST) !== 0) this.close(slot, CLOSED_LINGER_MS);
    else if ((f & FIN) !== 0) this.fin(slot, ConnFlag.FIN_CLIENT);
    return PASS;
  }

  private fromServer(buf: Uint8Array, info: PacketInfo, slot: number): number {
    const t = this.table;
    const f = info.tcpFlags;
    if (t.state[slot] === ConnState.SYN_SENT) {
      if ((f & (SYN | ACK)) === (SYN | ACK) && info.tcpAck === (t.isnC[slot] + 1) >>> 0) {
        this.recvServerSynAck(buf, info, slot);
        return this.dropAbsorbed();
      }
      if ((f & RST) !== 0) {
        // The host refused: tell the client with a RST it will accept (its view of our ISN).
        this.c[this.r.serverRefused]++;
        this.sendClientRst(slot);
        this.forget(slot);
        return this.dropAbsorbed();
      }
      return this.dropAbsorbed();
    }
    if ((f & (SYN | ACK)) === (SYN | ACK) && info.tcpSeq === t.isnS[slot]) {
      // Retransmitted server SYN-ACK: our ACK was lost. Send it again, absorb the SYN-ACK.
      this.sendServerAck(buf, info, slot);
      return this.dropAbsorbed();
    }
    t.lastSeen[slot] = this.ctx.now;
    this.translateServerToClient(buf, info, slot);
    if ((f & RST) !== 0) this.close(slot, CLOSED_LINGER_MS);
    else if ((f & FIN) !== 0) this.fin(slot, ConnFlag.FIN_SERVER);
    return PASS;
  }

  private fin(slot: number, which: number): void {
    const t = this.table;
    t.flags[slot] |= which;
    if (
      (t.flags[slot] & (ConnFlag.FIN_CLIENT | ConnFlag.FIN_SERVER)) ===
      (ConnFlag.FIN_CLIENT | ConnFlag.FIN_SERVER)
    )
      this.close(slot, FIN_LINGER_MS);
    else if (t.state[slot] !== ConnState.FIN_WAIT) {
      t.state[slot] = ConnState.FIN_WAIT;
      t.dirty[slot] = 1;
    }
  }

  private close(slot: number, lingerMs: number): void {
    const t = this.table;
    if (t.state[slot] !== ConnState.CLOSED) this.c[this.r.closed]++;
    t.state[slot] = ConnState.CLOSED;
    t.dirty[slot] = 1;
    t.timerAt[slot] = this.ctx.now + lingerMs;
  }

  /** Server SYN-ACK to the proxy's SYN: the offsets are now known. */
  private recvServerSynAck(buf: Uint8Array, info: PacketInfo, slot: number): void {
    const t = this.table;
    const o = info.tcp;
    t.isnS[slot] = info.tcpSeq;
    t.delta[slot] = (t.isnP[slot] - info.tcpSeq) >>> 0;
    t.wsServer[slot] = o.wscale;
    if ((t.flags[slot] & ConnFlag.TS) !== 0) {
      if (o.tsPresent) t.tsOff[slot] = (o.tsVal - t.tsProxy[slot]) >>> 0;
      else t.flags[slot] &= ~ConnFlag.TS; // the host refused timestamps: nothing to translate
    }
    if (!o.sackPermitted) t.flags[slot] &= ~ConnFlag.SACK;
    t.state[slot] = ConnState.ESTABLISHED;
    t.dirty[slot] = 1;
    t.lastSeen[slot] = this.ctx.now;
    this.c[this.r.established]++;
    this.sendServerAck(buf, info, slot);
    this.sendClientWindowUpdate(buf, info, slot);
  }

  // ---- translation (seqadj) ----

  /**
   * ICMP errors quote the offending TCP header with the sequence numbers of the side it was sent
   * on. An error about a server→client segment that travels to the server (e.g. frag-needed from
   * a WAN router) quotes a translated seq: give the server its own, or it ignores the error and
   * PMTU discovery breaks. Errors to the client quote the client's own seq, which we never change.
   */
  private translateIcmpError(buf: Uint8Array, info: PacketInfo): void {
    const inner = info.icmpInnerOff;
    const end = info.l3Off + info.ipLen;
    let innerL4: number;
    let srcOff: number;
    let dstOff: number;
    let ver: number;
    if (info.ipVersion === 4) {
      if (inner + 20 > end || buf[inner] >>> 4 !== 4 || buf[inner + 9] !== IPPROTO_TCP) return;
      innerL4 = inner + ((buf[inner] & 15) << 2);
      srcOff = inner + 12;
      dstOff = inner + 16;
      ver = 4;
    } else {
      if (inner + 40 > end || buf[inner] >>> 4 !== 6 || buf[inner + 6] !== IPPROTO_TCP) return;
      innerL4 = inner + 40;
      srcOff = inner + 8;
      dstOff = inner + 24;
      ver = 6;
    }
    if (innerL4 + 8 > end) return;
    // Only errors heading to a protected host about its own (server→client) segments.
    if (!this.opts.lan.matches(buf, info.dstAddrOff, info.ipVersion)) return;
    const sPort = (buf[innerL4] << 8) | buf[innerL4 + 1];
    const cPort = (buf[innerL4 + 2] << 8) | buf[innerL4 + 3];
    const slot = this.table.find(buf, dstOff, srcOff, ver, cPort, sPort);
    if (slot < 0 || this.table.state[slot] === ConnState.SYN_SENT) return;
    const seq = rd32(buf, innerL4 + 4);
    const fixed = (seq - this.table.delta[slot]) >>> 0;
    wr32(buf, innerL4 + 4, fixed);
    // The ICMP checksum covers the quote (the quoted TCP checksum is nobody's business).
    const c = info.l4Off + 2;
    const sum = csumUpdate32((buf[c] << 8) | buf[c + 1], seq, fixed);
    buf[c] = sum >>> 8;
    buf[c + 1] = sum & 0xff;
  }

  /** Server's scale as the client applies it, and the client's as the server applies it. */
  private serverWindowToClient(win: number, slot: number): number {
    const t = this.table;
    const wsS = t.wsClient[slot] >= 0 && t.wsServer[slot] >= 0 ? t.wsServer[slot] : 0;
    const wsA = Math.max(t.wsAdv[slot], 0);
    if (wsS === wsA) return -1;
    const bytes = win * 2 ** wsS;
    return Math.min(65535, Math.max(bytes > 0 ? 1 : 0, Math.floor(bytes / 2 ** wsA)));
  }

  private clientWindowToServer(win: number, slot: number): number {
    const t = this.table;
    const wsC = Math.max(t.wsClient[slot], 0);
    // The server applies the client's scale only if it agreed to scaling.
    const seen = t.wsServer[slot] >= 0 ? wsC : 0;
    if (wsC === seen) return -1;
    return Math.min(65535, win * 2 ** wsC);
  }

  private translateClientToServer(buf: Uint8Array, info: PacketInfo, slot: number): void {
    const t = this.table;
    const l4 = info.l4Off;
    // With NEEDS_CSUM the kernel sums the segment later: edits need no checksum update.
    const partial = (info.vnetFlags & VnetFlags.NEEDS_CSUM) !== 0;
    const neg = (0 - t.delta[slot]) >>> 0;
    const hi = neg >>> 16;
    const lo = neg & 0xffff;
    if ((info.tcpFlags & ACK) !== 0) tcpAdd32Halves(buf, l4, l4 + 8, hi, lo, partial);
    const o = info.tcp;
    if (o.sackBlockCount > 0) tcpShiftSackHalves(buf, l4, o, hi, lo, partial);
    if (o.tsPresent && (t.flags[slot] & ConnFlag.TS) !== 0) {
      const d = t.tsOff[slot];
      tcpAdd32Halves(buf, l4, o.tsOff + 4, d >>> 16, d & 0xffff, partial);
    }
    const w = this.clientWindowToServer(info.tcpWindow, slot);
    if (w >= 0) tcpRewriteWindow(buf, l4, w, partial);
  }

  private translateServerToClient(buf: Uint8Array, info: PacketInfo, slot: number): void {
    const t = this.table;
    const l4 = info.l4Off;
    const partial = (info.vnetFlags & VnetFlags.NEEDS_CSUM) !== 0;
    const d = t.delta[slot];
    tcpAdd32Halves(buf, l4, l4 + 4, d >>> 16, d & 0xffff, partial);
    const o = info.tcp;
    if (o.tsPresent && (t.flags[slot] & ConnFlag.TS) !== 0) {
      const neg = (0 - t.tsOff[slot]) >>> 0;
      tcpAdd32Halves(buf, l4, o.tsOff, neg >>> 16, neg & 0xffff, partial);
    }
    const w = this.serverWindowToClient(info.tcpWindow, slot);
    if (w >= 0) tcpRewriteWindow(buf, l4, w, partial);
  }

  // ---- packets the proxy originates ----

  /** Loads the connection's addresses into the scratch: client at 0, server at 16. */
  private loadAddrs(slot: number): number {
    const k = slot * 10;
    const keys = this.table.keys;
    for (let w = 0; w < 4; w++) {
      wr32(this.addr, w * 4, keys[k + w]);
      wr32(this.addr, 16 + w * 4, keys[k + 4 + w]);
    }
    return keys[k + 9];
  }

  /** Builds a segment client→server (toServer) or server→client from the table's addresses. */
  private emitSegment(slot: number, toServer: boolean): boolean {
    const em = this.ctx.emitter;
    const off = em.begin();
    if (off < 0) {
      this.c[this.r.emitFull]++;
      return false;
    }
    const ver = this.loadAddrs(slot);
    const k = slot * 10;
    const ports = this.table.keys[k + 8];
    const seg = this.seg;
    seg.srcPort = toServer ? ports >>> 16 : ports & 0xffff;
    seg.dstPort = toServer ? ports & 0xffff : ports >>> 16;
    const src = toServer ? 0 : 16;
    const dst = toServer ? 16 : 0;
    const len =
      ver === 4
        ? buildTcp4(em.batch.buf, off, rd32(this.addr, src), rd32(this.addr, dst), seg)
        : buildTcp6(em.batch.buf, off, this.addr, src, dst, seg);
    em.end(len);
    return true;
  }

  /** The proxy's SYN to the server, transparent: the client's addresses, ISN and options. */
  private sendServerSyn(slot: number): void {
    const t = this.table;
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
    this.emitSegment(slot, true);
  }

  /** ACK to the server's SYN-ACK (as the client would send it), from the server's SYN-ACK. */
  private sendServerAck(buf: Uint8Array, info: PacketInfo, slot: number): void {
    const t = this.table;
    const em = this.ctx.emitter;
    const off = em.begin();
    if (off < 0) {
      this.c[this.r.emitFull]++;
      return;
    }
    const seg = this.seg;
    seg.reset();
    seg.seq = (t.isnC[slot] + 1) >>> 0;
    seg.ack = (info.tcpSeq + 1) >>> 0;
    seg.flags = ACK;
    const w = this.clientWindowToServer(t.winClient[slot], slot);
    seg.window = w >= 0 ? w : t.winClient[slot];
    if ((t.flags[slot] & ConnFlag.TS) !== 0 && info.tcp.tsPresent) {
      seg.opts.tsPresent = true;
      seg.opts.tsVal = t.tsClient[slot];
      seg.opts.tsEcr = info.tcp.tsVal;
    }
    em.end(buildTcpReply(em.batch.buf, off, buf, info, seg));
  }

  /** Opens the client's window (the SYN-ACK had 0), as if from the server, translated. */
  private sendClientWindowUpdate(buf: Uint8Array, info: PacketInfo, slot: number): void {
    const t = this.table;
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
    this.emitSegment(slot, false);
    void buf;
  }

  /** RST to the client in its view of our sequence space (ISN_p + 1). */
  private sendClientRst(slot: number): void {
    const t = this.table;
    const seg = this.seg;
    seg.reset();
    seg.seq = (t.isnP[slot] + 1) >>> 0;
    seg.ack = (t.isnC[slot] + 1) >>> 0;
    seg.flags = RST | ACK;
    seg.window = 0;
    this.emitSegment(slot, false);
  }

  // ---- timers ----

  tick(): void {
    const now = this.ctx.now;
    this.gate.tick?.(now);
    const t = this.table;
    const n = t.slots;
    const step = Math.ceil(n / SWEEP_FRACTION);
    let s = this.sweepCursor;
    for (let i = 0; i < step; i++, s = (s + 1) % n) {
      const st = t.state[s];
      if (st === ConnState.FREE) continue;
      if (st === ConnState.SYN_SENT && now >= t.timerAt[s]) {
        const r = t.retries[s];
        if (r < SYN_RETRY_MS.length - 1) {
          t.retries[s] = r + 1;
          t.timerAt[s] = now + SYN_RETRY_MS[r + 1];
          this.sendServerSyn(s);
        } else {
          // The host never answered: give up, and tell the client.
          this.c[this.r.serverTimeout]++;
          this.sendClientRst(s);
          this.forget(s);
          s = (s + n - 1) % n; // the removal may have shifted a later entry into this slot
        }
      } else if (
        (st === ConnState.CLOSED && now >= t.timerAt[s]) ||
        (st !== ConnState.SYN_SENT && now - t.lastSeen[s] > this.opts.idleMs)
      ) {
        this.forget(s);
        s = (s + n - 1) % n;
      }
    }
    this.sweepCursor = s;
    // The SYN cache only needs to bridge a handshake.
    const sc = this.synCache;
    const cn = sc.slots;
    const cstep = Math.ceil(cn / SWEEP_FRACTION);
    let c = this.cacheCursor;
    for (let i = 0; i < cstep; i++, c = (c + 1) % cn) {
      if (sc.state[c] !== ConnState.FREE && now - sc.lastSeen[c] > SYN_CACHE_MS) {
        sc.remove(c);
        c = (c + cn - 1) % cn;
      }
    }
    this.cacheCursor = c;
    if (++this.ticks % SWEEP_FRACTION === 0) this.sync();
  }
}
