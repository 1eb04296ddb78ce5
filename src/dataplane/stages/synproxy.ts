// The SYN proxy stage: answers SYNs to protected LAN hosts with a SYN cookie, opens the connection
// to the host only after a valid third ACK, absorbs the host's SYN-ACK and from then on translates
// every segment. Split as in Linux: this file is the hook's state machine and timers
// (ipv4_synproxy_hook); the handshake's packets are synproxy-handshake.ts (nf_synproxy_core), the
// translation src/defense/seqadj.ts (nf_conntrack_seqadj), the connection store's side
// synproxy-persist.ts, and the SYN cache src/defense/syn-cache.ts.
// Names follow the packet and the peer, as in nf_synproxy_core.c.
// One file (about 810 lines): each transition reads and writes one connection's record across client
// packets, server packets and timers; spreading them over files would split a transition.

import { ConnFlag, ConnState, ConnTable } from '../../defense/conntable.js';
import { type CookieKeys, mssFromIndex, mssIndex, tsEcn, tsSack, tsWscale } from '../../defense/cookie.js';
import { adjustQuotedSeq, adjustToClient, adjustToServer, newSeqAdj } from '../../defense/seqadj.js';
import { SourceQuota } from '../../defense/source-quota.js';
import { SynCache, SynOpt } from '../../defense/syn-cache.js';
import { CsumStatus, type PacketInfo, TcpFlag, verifyL4Checksum } from '../../packet/index.js';
import type { ConnRecord, ConnSync } from '../../state/connstore.js';
import type { Batch } from '../../tun/packet-io.js';
import { type DataplaneCommand, PASS, type Stage, type StageContext } from '../stage.js';
import { cookieFor, cookieMss, type HandshakeOptions, HandshakeSender } from './synproxy-handshake.js';
import { exportConnections, restoreConnections } from './synproxy-persist.js';

const IPPROTO_TCP = 6;
const SYN = TcpFlag.SYN;
const ACK = TcpFlag.ACK;
const RST = TcpFlag.RST;
const FIN = TcpFlag.FIN;

/** Matches addresses read straight from a packet (the LAN prefixes). */
export interface AddrMatcher {
  matches(buf: Uint8Array, addrOff: number, ipVersion: number): boolean;
}

/** The gate's decision on a SYN to a protected host. */
export type SynVerdict =
  /** Answer with a cookie; `record`: the SYN cache may keep the client's options. */
  | { readonly kind: 'answer'; readonly record: boolean }
  /** Drop it, counted under this counter index. */
  | { readonly kind: 'drop'; readonly counter: number };

/** Answer, and the SYN cache may keep what the cookie cannot carry. */
export const ANSWER: SynVerdict = Object.freeze({ kind: 'answer', record: true });
/** Answer without recording anything (risky tier, cookie mode). */
export const ANSWER_UNRECORDED: SynVerdict = Object.freeze({ kind: 'answer', record: false });
/** A drop verdict: made once per reason when the gate is bound, so deciding allocates nothing. */
export function dropVerdict(counter: number): SynVerdict {
  return Object.freeze({ kind: 'drop', counter });
}

/** What the stage asks of the risk tiers and the per-source tracker. */
export interface SynGate {
  /** A first SYN (or its retransmission: `duplicate`) to a protected host. */
  onSyn(buf: Uint8Array, info: PacketInfo, now: number, duplicate: boolean): SynVerdict;
  /** A cookie SYN-ACK was sent for this source. */
  onAnswered(buf: Uint8Array, info: PacketInfo, now: number): void;
  /** A handshake from this source completed (valid cookie ACK). */
  onCompleted(buf: Uint8Array, info: PacketInfo, now: number): void;
  /** True when new per-SYN state (the SYN cache) may be kept: the normal and moderate tiers. */
  mayCache(): boolean;
  /** Counter indices of the gate's own names (`counterNames`, in order), the context. */
  bind?(indices: readonly number[], ctx: StageContext, counters: Float64Array): void;
  tick?(now: number): void;
  /** When its timer must run next (see Stage.nextTickAt); absent: never. */
  nextTickAt?(now: number): number;
  command?(cmd: DataplaneCommand): void;
}

/** A gate that answers every SYN (no tiers): used when the defense is not configured. */
export const OPEN_GATE: SynGate = {
  onSyn: () => ANSWER,
  onAnswered: () => {},
  onCompleted: () => {},
  mayCache: () => true,
};

export interface SynProxyOptions extends HandshakeOptions {
  /** Destinations the proxy protects (inbound SYNs to them are proxied). */
  lan: AddrMatcher;
  /**
   * What it protects once the router's own addresses are `router` (a 'router.set' command); none:
   * the command changes nothing.
   */
  protectedWith?: (router: readonly string[]) => AddrMatcher;
  /**
   * The router's own addresses, and the same after a 'router.set' command: connections to them are
   * never handed to the kernel translation (their segments reach the router through lo, never a
   * LAN device's hooks, so an entry would only hold a slot of the bounded map).
   */
  router?: AddrMatcher;
  routerWith?: (router: readonly string[]) => AddrMatcher;
  keys: CookieKeys;
  maxConnections: number;
  /** Client SYNs whose options the SYN cache keeps at once. */
  synCacheSize: number;
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

/** The proxy's counters (drop reasons and events): field → counter name, registered in this order. */
const COUNTERS = {
  absorbed: 'synproxy_absorbed',
  synReceived: 'synproxy_syn_received',
  synRetransmit: 'synproxy_syn_retransmit',
  cookieSent: 'synproxy_cookie_sent',
  cookieValid: 'synproxy_cookie_valid',
  cookieInvalid: 'synproxy_cookie_invalid',
  established: 'synproxy_conn_established',
  serverRefused: 'synproxy_server_refused',
  serverTimeout: 'synproxy_server_timeout',
  tableFull: 'synproxy_table_full',
  emitFull: 'synproxy_emit_full',
  untracked: 'synproxy_untracked_pass',
  closed: 'synproxy_closed',
  badChecksum: 'synproxy_bad_checksum',
  outboundSyn: 'synproxy_outbound_syn',
  sourceFull: 'synproxy_source_full',
  sourceFullRst: 'synproxy_source_full_rst',
  evicted: 'synproxy_evicted',
  serverAckResent: 'synproxy_server_ack_resent',
} as const;
type Counter = keyof typeof COUNTERS;
const COUNTER_FIELDS = Object.keys(COUNTERS) as Counter[];
/** Counter index of each field, once bound. */
type CounterIndex = Record<Counter, number>;

const SYN_RETRY_MS = [1000, 2000, 4000];
const CLOSED_LINGER_MS = 10_000;
/**
 * Client bytes after which a connection whose host has not spoken yet is handed to the kernel
 * anyway: an upload (the host answers, if at all, after the body). Services that greet (SSH, SMTP)
 * or answer a request have sent their first bytes, which the sampler reads, long before.
 */
const UPLOAD_HANDOVER_BYTES = 256 * 1024;
const FIN_LINGER_MS = 60_000;
const SYN_CACHE_MS = 10_000;
/**
 * The table is swept whole, when its earliest deadline has come, and at most once in this: a busy
 * table costs what sweeping a tenth of it every 100 ms did, and each timer is at most this late.
 */
const SWEEP_MS = 1000;
/** Changed connections reach the store within this. */
const SYNC_MS = 1000;

export class SynProxyStage implements Stage {
  readonly name = 'synproxy';
  readonly dropReasons: readonly string[];
  readonly table: ConnTable;
  /** Options of clients that sent no timestamps (cookies cannot carry them): normal/moderate tier only. */
  readonly synCache: SynCache;
  private readonly send: HandshakeSender;
  /** The translation record of the packet's connection (loaded per packet, never allocated). */
  private readonly adj = newSeqAdj();
  /** A connection's client address, for the per-source quota. */
  private readonly clientScratch = new Uint8Array(16);
  private readonly gate: SynGate;
  private ctx!: StageContext;
  private c!: Float64Array;
  /** Counter indices (until bound, the position in COUNTERS). */
  private r: CounterIndex;
  private evictCursor = 0;
  /**
   * No connection's timer (retransmission, linger, idle timeout) is due before this: every
   * deadline set is folded in, and a packet only moves a deadline later. Exact after a sweep.
   */
  private due = Number.POSITIVE_INFINITY;
  private sweptAt = Number.NEGATIVE_INFINITY;
  /** No SYN-cache entry ages out before this. */
  private synCacheDue = Number.POSITIVE_INFINITY;
  /** When the changes (dirty slots, removals) are next sent to the store; Infinity: none pending. */
  private syncDue = Number.POSITIVE_INFINITY;
  /** Connections per source (IPv6 per /64). */
  private readonly quota: SourceQuota;
  /** Store keys of persisted connections removed since the last sync. */
  private removed: string[] = [];
  /** Connections restored from the store at start. */
  readonly restoredCount: number;

  constructor(readonly opts: SynProxyOptions) {
    this.table = new ConnTable(opts.maxConnections);
    this.quota = new SourceQuota(opts.maxConnections * 2, opts.maxPerSource ?? DEFAULT_PER_SOURCE);
    this.synCache = new SynCache(opts.synCacheSize);
    this.send = new HandshakeSender(opts);
    this.gate = opts.gate ?? OPEN_GATE;
    this.dropReasons = [...Object.values(COUNTERS), ...(opts.gateCounters ?? [])];
    this.r = counterIndex(COUNTER_FIELDS.map((_, i) => i));
    this.restoredCount = restoreConnections(
      this.table,
      opts.restored ?? [],
      (slot) => {
        // A closed connection holds no place of its source (see close()).
        if (this.table.state[slot] === ConnState.CLOSED) return true;
        const ver = this.table.clientAddr(slot, this.clientScratch);
        return this.quota.take(this.clientScratch, 0, ver, 0);
      },
      CLOSED_LINGER_MS,
    );
    // Their deadlines are known after the first sweep.
    if (this.restoredCount > 0) this.due = 0;
  }

  /** A connection's timer is set for `at`. */
  private dueAt(at: number): void {
    if (at < this.due) this.due = at;
  }

  /** A slot changed (its dirty mark) or was removed: the store hears of it within SYNC_MS. */
  private changed(): void {
    if (this.syncDue === Number.POSITIVE_INFINITY) this.syncDue = this.ctx.now + SYNC_MS;
  }

  /** Frees a slot, remembering a persisted connection's key so the store forgets it too. */
  private forget(slot: number): void {
    const t = this.table;
    this.takeBack(slot);
    if ((t.flags[slot] & ConnFlag.PERSISTED) !== 0) {
      this.removed.push(t.keyString(slot));
      this.changed();
    }
    if (t.state[slot] !== ConnState.CLOSED) this.releaseQuota(slot);
    t.remove(slot);
  }

  /**
   * Hands an established connection to the kernel (bpf/seqadj.c) once the sampler has had what it
   * needs (the host's first bytes, as the LAN bypass: handle()); a write the kernel refuses is
   * counted by the worker, and the connection's segments keep reaching us.
   */
  private handOver(slot: number, buf: Uint8Array, hostOff: number, ver: number): void {
    const t = this.table;
    if (t.handed[slot] !== 0 || t.state[slot] !== ConnState.ESTABLISHED) return;
    if (this.opts.router?.matches(buf, hostOff, ver)) return;
    if (this.ctx.xlate.add(t, slot, t.seqAdj(slot, this.adj), this.ctx.now)) t.handed[slot] = 1;
  }

  /** Takes the kernel's entry of a connection back: its segments reach us again. */
  private takeBack(slot: number): void {
    if (this.table.handed[slot] === 0) return;
    this.table.handed[slot] = 0;
    this.ctx.xlate.remove(this.table, slot);
  }

  /**
   * Whether the kernel translated a segment of a handed-over connection since `lastSeen` (its
   * segments no longer reach us): then lastSeen moves up to the kernel's time.
   */
  private seenByKernel(slot: number): boolean {
    const t = this.table;
    if (t.handed[slot] === 0) return false;
    const at = this.ctx.xlate.lastSeenNs(t, slot);
    if (at <= 0n) return false;
    const ageMs = Number(process.hrtime.bigint() - at) / 1e6;
    const seen = this.ctx.now - Math.max(0, ageMs);
    if (seen <= t.lastSeen[slot]) return false;
    t.lastSeen[slot] = seen;
    return true;
  }

  private releaseQuota(slot: number): void {
    const ver = this.table.clientAddr(slot, this.clientScratch);
    this.quota.release(this.clientScratch, 0, ver);
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
    const upserts = exportConnections(this.table, this.wallMs());
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
      cmd.type === 'settings'
        ? (cmd.syn as { connectionIdleSeconds?: number; wanMss4?: number; wanMss6?: number } | undefined)
        : undefined;
    if (syn?.connectionIdleSeconds !== undefined) {
      this.opts.idleMs = syn.connectionIdleSeconds * 1000;
      this.due = 0; // a shorter timeout may have passed already
    }
    // The uplink changed (a travel router's hotel Wi-Fi, tethering, LTE): new handshakes clamp to it.
    if (syn?.wanMss4 !== undefined) this.opts.wanMss4 = syn.wanMss4;
    if (syn?.wanMss6 !== undefined) this.opts.wanMss6 = syn.wanMss6;
    // The router's addresses changed: a connection to one that stays keeps matching (its table
    // entry is untouched); one to an address gone is passed on untranslated from now on.
    if (cmd.type === 'router.set' && this.opts.protectedWith)
      this.opts.lan = this.opts.protectedWith(cmd.prefixes);
    if (cmd.type === 'router.set' && this.opts.routerWith)
      this.opts.router = this.opts.routerWith(cmd.prefixes);
    this.gate.command?.(cmd);
  }

  bind(idx: readonly number[], ctx: StageContext, counters: Float64Array): void {
    this.r = counterIndex(idx);
    this.ctx = ctx;
    this.c = counters;
    this.send.bind(ctx.emitter, counters, this.r.emitFull);
    this.gate.bind?.(idx.slice(COUNTER_FIELDS.length), ctx, counters);
    // A hand-over the kernel's map refused (full): the connection asks again with a later segment.
    ctx.xlate.onRefused = (slot) => {
      this.table.handed[slot] = 0;
    };
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
    const sc = this.synCache;
    const cached = sc.find(buf, info.srcAddrOff, info.dstAddrOff, ver, info.srcPort, info.dstPort);
    // The chart: a SYN of a 4-tuple it holds is the same client trying again, whatever its ISN (as
    // the kernel fast path's chart, bpf/synproxy.c): neither taken nor counted as a new SYN.
    const duplicate = cached >= 0;
    const verdict = this.gate.onSyn(buf, info, now, duplicate);
    if (verdict.kind === 'drop') return verdict.counter;
    this.c[duplicate ? this.r.synRetransmit : this.r.synReceived]++;
    const o = info.tcp;
    const ecn = (info.tcpFlags & (TcpFlag.ECE | TcpFlag.CWR)) === (TcpFlag.ECE | TcpFlag.CWR);
    const wall = this.wallMs();
    const mssIdx = mssIndex(o.mss < 0 ? 536 : o.mss, ver);
    const cookie = cookieFor(this.opts.keys, buf, info, mssIdx, Math.floor(wall / 60_000));
    // Without timestamps the cookie cannot carry WS/SACK: the entry keeps them, for this ISN only
    // (its third ACK is matched by ISN).
    let kept = o.tsPresent || (duplicate && sc.isn(cached) === info.tcpSeq);
    // Every SYN's 4-tuple is charted while the tier lets the proxy keep state (not in the risky
    // tier); the options matter only without timestamps.
    if (verdict.record && this.gate.mayCache()) {
      let s = cached;
      if (s < 0) s = sc.insert(buf, info.srcAddrOff, info.dstAddrOff, ver, info.srcPort, info.dstPort);
      if (s >= 0) {
        sc.set(s, info.tcpSeq, o.wscale, (o.sackPermitted ? SynOpt.SACK : 0) | (ecn ? SynOpt.ECN : 0), now);
        if (this.synCacheDue === Number.POSITIVE_INFINITY) this.synCacheDue = now + SYN_CACHE_MS + 1;
        kept ||= !o.tsPresent;
      }
    }
    if (!this.send.synAck(buf, info, cookie, kept, ecn, wall)) return this.r.emitFull; // counted by the pipeline
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
    const keys = this.opts.keys;
    let isnC = (info.tcpSeq - 1) >>> 0;
    const cookie = (info.tcpAck - 1) >>> 0;
    const minute = Math.floor(this.wallMs() / 60_000);
    let mssIdx = cookieMss(keys, buf, info, isnC, cookie, minute);
    if (mssIdx < 0 && info.payloadLen === 0) {
      // A zero-window probe after a lost third ACK carries seq = ISN_c (snd_una − 1).
      isnC = info.tcpSeq;
      mssIdx = cookieMss(keys, buf, info, isnC, cookie, minute);
    }
    if (mssIdx < 0) {
      this.c[this.r.cookieInvalid]++;
      return -1;
    }
    this.c[this.r.cookieValid]++;
    const t = this.table;
    if (!this.quota.take(buf, info.srcAddrOff, ver, this.ctx.now)) {
      // Its cookie proved the source real (it received our SYN-ACK), so the RST cannot be reflected
      // at a spoofed address; one RST per such ACK, no larger than it: no amplifier.
      if (this.send.ackRst(buf, info)) this.c[this.r.sourceFullRst]++;
      return this.r.sourceFull;
    }
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
    }
    // The handshake is done: its chart entry goes (and gives up its options, without timestamps).
    const sc = this.synCache;
    const c = sc.find(buf, info.srcAddrOff, info.dstAddrOff, ver, info.srcPort, info.dstPort);
    if (c >= 0) {
      if (!o.tsPresent && sc.isn(c) === isnC) {
        ws = sc.wscale(c);
        const opts = sc.opts(c);
        if ((opts & SynOpt.SACK) !== 0) flags |= ConnFlag.SACK;
        if ((opts & SynOpt.ECN) !== 0) flags |= ConnFlag.ECN;
      }
      sc.remove(c);
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
    this.dueAt(t.timerAt[slot]);
    this.gate.onCompleted(buf, info, this.ctx.now);
    // Data on the third ACK: the SYN-ACK's zero window forbids it, so a client that sends it anyway
    // retransmits it once the window opens. Nothing is buffered.
    this.send.serverSyn(t, slot);
    return this.dropAbsorbed();
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
    adjustToServer(buf, info, t.seqAdj(slot, this.adj));
    // The teardown is ours again (the kernel passes FIN and RST on to us): so are the segments after.
    if ((f & (RST | FIN)) !== 0) this.takeBack(slot);
    else if (info.payloadLen > 0 && t.handed[slot] === 0) {
      const sent = Math.min(t.clientBytes[slot] + info.payloadLen, 0xffffffff);
      t.clientBytes[slot] = sent;
      if (sent >= UPLOAD_HANDOVER_BYTES) this.handOver(slot, buf, info.dstAddrOff, info.ipVersion);
    }
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
        this.send.clientRst(t, slot);
        this.forget(slot);
        return this.dropAbsorbed();
      }
      return this.dropAbsorbed();
    }
    if ((f & (SYN | ACK)) === (SYN | ACK) && info.tcpSeq === t.isnS[slot]) {
      // Retransmitted server SYN-ACK: our ACK was lost. Send it again, absorb the SYN-ACK.
      this.c[this.r.serverAckResent]++;
      this.send.serverAck(buf, info, t, slot);
      return this.dropAbsorbed();
    }
    if (
      f === ACK &&
      info.payloadLen === 0 &&
      info.tcpSeq === (t.isnS[slot] + 1) >>> 0 &&
      info.tcpAck === (t.isnC[slot] + 1) >>> 0 &&
      (t.flags[slot] & ConnFlag.RESTORED) === 0
    ) {
      // The host has taken no byte of the client yet and answers a client segment with a bare ACK:
      // if our handshake ACK was lost it is still in SYN-RECEIVED, and (unlike a client's own
      // handshake) the client's next segments echo timestamps that host never sent in a SYN-ACK,
      // which Linux refuses there. Send the handshake ACK again (a duplicate is harmless to an
      // established host) and pass the ACK on: it may be the client's window update.
      this.c[this.r.serverAckResent]++;
      this.send.serverAck(buf, info, t, slot);
    }
    t.lastSeen[slot] = this.ctx.now;
    adjustToClient(buf, info, t.seqAdj(slot, this.adj));
    if ((f & (RST | FIN)) !== 0) this.takeBack(slot);
    else if (info.payloadLen > 0) this.handOver(slot, buf, info.srcAddrOff, info.ipVersion);
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
      this.changed();
    }
  }

  private close(slot: number, lingerMs: number): void {
    const t = this.table;
    this.takeBack(slot);
    if (t.state[slot] !== ConnState.CLOSED) {
      this.c[this.r.closed]++;
      // A closed connection only lingers for stray packets: it no longer counts against its
      // source's cap, or a client opening many short connections is refused for a minute after
      // every few hundred (the cap is about connections held open).
      this.releaseQuota(slot);
    }
    t.state[slot] = ConnState.CLOSED;
    t.dirty[slot] = 1;
    t.timerAt[slot] = this.ctx.now + lingerMs;
    this.dueAt(t.timerAt[slot]);
    this.changed();
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
    this.dueAt(this.ctx.now + this.opts.idleMs + 1);
    this.changed();
    this.c[this.r.established]++;
    this.send.serverAck(buf, info, t, slot);
    this.send.clientWindowUpdate(info, t, slot);
  }

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
    adjustQuotedSeq(buf, innerL4 + 4, info.l4Off + 2, this.table.delta[slot]);
  }

  // ---- timers ----

  /**
   * The earliest of: a connection's timer (the table is swept then, at most once per SWEEP_MS), a
   * SYN-cache entry ageing out, changes to send to the store, the gate's own timer. An idle
   * connection thus costs one wake-up per deadline, not ten a second.
   */
  nextTickAt(now: number): number {
    return Math.min(
      Math.max(this.due, this.sweptAt + SWEEP_MS),
      this.synCache.count > 0 ? this.synCacheDue : Number.POSITIVE_INFINITY,
      this.syncDue,
      this.gate.nextTickAt?.(now) ?? Number.POSITIVE_INFINITY,
    );
  }

  tick(): void {
    const now = this.ctx.now;
    this.gate.tick?.(now);
    if (now >= this.due && now >= this.sweptAt + SWEEP_MS) this.sweep(now);
    // The SYN cache only needs to bridge a handshake.
    if (now >= this.synCacheDue) this.synCacheDue = this.synCache.sweepAll(now, SYN_CACHE_MS);
    if (now >= this.syncDue) {
      this.syncDue = Number.POSITIVE_INFINITY;
      this.sync();
    }
  }

  /** Runs the timers that are due and learns the next deadline. */
  private sweep(now: number): void {
    this.sweptAt = now;
    let due = Number.POSITIVE_INFINITY;
    const t = this.table;
    const n = t.slots;
    const idleMs = this.opts.idleMs;
    for (let s = 0; s < n; s++) {
      const st = t.state[s];
      if (st === ConnState.FREE) continue;
      if (st === ConnState.SYN_SENT) {
        if (now >= t.timerAt[s]) {
          const r = t.retries[s];
          if (r < SYN_RETRY_MS.length - 1) {
            t.retries[s] = r + 1;
            t.timerAt[s] = now + SYN_RETRY_MS[r + 1];
            this.send.serverSyn(t, s);
          } else {
            // The host never answered: give up, and tell the client.
            this.c[this.r.serverTimeout]++;
            this.send.clientRst(t, s);
            this.forget(s);
            s--; // the removal may have shifted a later entry into this slot
            continue;
          }
        }
        if (t.timerAt[s] < due) due = t.timerAt[s];
      } else if (
        (st === ConnState.CLOSED && now >= t.timerAt[s]) ||
        (now - t.lastSeen[s] > idleMs && !this.seenByKernel(s))
      ) {
        this.forget(s);
        s--;
      } else {
        let at = t.lastSeen[s] + idleMs + 1;
        if (st === ConnState.CLOSED && t.timerAt[s] < at) at = t.timerAt[s];
        if (at < due) due = at;
      }
    }
    this.due = due;
  }
}

/** The counter indices by field, from the indices bound in COUNTERS order. */
function counterIndex(idx: readonly number[]): CounterIndex {
  const r = {} as CounterIndex;
  COUNTER_FIELDS.forEach((field, i) => {
    r[field] = idx[i];
  });
  return r;
}
