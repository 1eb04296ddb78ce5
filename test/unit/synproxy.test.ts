// The SYN proxy stage in a real Pipeline over hand-built packets (no kernel): the cookie handshake,
// the proxy's own SYN/ACK/RST/window update, translation both ways (seq/ack, SACK, timestamps,
// window scaling) with full and partial (NEEDS_CSUM) checksums, timers driven through tick(now),
// the SYN cache, the tiered gate, ICMP quotes, and the connection store's export/restore.
// Times are passed explicitly (ms of the worker clock); epochMs pins the wall clock to a minute.
// One file (about 1,900 lines): the cases share the packet builders and the pipeline harness; the
// split modules' own tests (seqadj, syn-cache, conntable) live beside them in test/defense.
import { describe, expect, it } from 'vitest';
import { markOf, parseAttackerBatch } from '../../src/dataplane/attacker-batch.js';
import { Pipeline, pipelineLayout } from '../../src/dataplane/pipeline.js';
import { buildStages, type StageEnv, testStageEnv } from '../../src/dataplane/stages/index.js';
import type { SynGateSettings } from '../../src/dataplane/stages/syn-gate.js';
import type { SynProxyStage } from '../../src/dataplane/stages/synproxy.js';
import { XlateQueue } from '../../src/dataplane/xlate-queue.js';
import { ConnFlag, ConnState } from '../../src/defense/conntable.js';
import { CookieKeys, checkCookie, mssFromIndex, mssIndex } from '../../src/defense/cookie.js';
import { classify, PacketInfo } from '../../src/packet/index.js';
import type { ConnRecord } from '../../src/state/connstore.js';
import { Batch } from '../../src/tun/packet-io.js';
import {
  cat,
  icmp,
  pseudo4,
  pseudo6,
  refChecksum,
  refL4Ok,
  type TcpSpec,
  tcp,
  u16,
  u32,
  v4,
  v6,
  vnet,
} from '../packet/helpers.js';

// ---- constants ----

/** Wall clock at ctx.now = 0: a minute boundary, so cookie minutes are predictable. */
const MINUTE0 = 28_333_333;
const EPOCH = MINUTE0 * 60_000;
const F = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, ECE: 0x40, CWR: 0x80 } as const;
const LAN = ['10.0.0.0/24', '2001:db8:0:1::/64'];
const CPORT = 40000;
const SPORT = 80;
const WSCALE = 7; // testStageEnv's advertised window scale
const MSS4 = 1460; // testStageEnv's mss4 / mss6
const MSS6 = 1440;

interface Fam {
  name: string;
  ver: 4 | 6;
  client: number[];
  server: number[];
  wan: number[];
  /** Offsets of the source and destination addresses in a packet without vnet header. */
  srcOff: number;
  dstOff: number;
  mss: number;
}

const V4: Fam = {
  name: 'IPv4',
  ver: 4,
  client: [203, 0, 113, 5],
  server: [10, 0, 0, 7],
  wan: [198, 51, 100, 1],
  srcOff: 12,
  dstOff: 16,
  mss: MSS4,
};
const V6: Fam = {
  name: 'IPv6',
  ver: 6,
  client: [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5],
  server: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7],
  wan: [0x20, 0x01, 0x0d, 0xb8, 0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  srcOff: 8,
  dstOff: 24,
  mss: MSS6,
};

// ---- packet bytes ----

const O = {
  mss: (v: number) => [2, 4, ...u16(v)],
  ws: (s: number) => [1, 3, 3, s],
  ts: (val: number, ecr: number) => [8, 10, ...u32(val), ...u32(ecr)],
  sack: (edges: number[]) => [5, 2 + 4 * edges.length, ...edges.flatMap((e) => u32(e))],
};

function ip(f: Fam, src: number[], dst: number[], l4: Uint8Array, proto = 6): Uint8Array {
  return f.ver === 4 ? v4({ src, dst, proto }, l4) : v6({ src, dst, proto }, l4);
}
function fromClient(f: Fam, spec: TcpSpec, cport = CPORT): Uint8Array {
  return ip(f, f.client, f.server, tcp({ sport: cport, dport: SPORT, ...spec }));
}
function fromServer(f: Fam, spec: TcpSpec, cport = CPORT): Uint8Array {
  return ip(f, f.server, f.client, tcp({ sport: SPORT, dport: cport, ...spec }));
}

/** Options in Linux's layout (tcp_options_write), as the proxy writes them. */
function linuxOpts(mss: number, ts: [number, number] | null, sack: boolean, ws: number | null): number[] {
  const o = mss >= 0 ? O.mss(mss) : [];
  if (ts) o.push(...(sack ? [4, 2] : [1, 1]), ...O.ts(ts[0], ts[1]));
  else if (sack) o.push(1, 1, 4, 2);
  if (ws !== null) o.push(...O.ws(ws));
  return o;
}

const be16 = (p: Uint8Array, o: number) => (p[o] << 8) | p[o + 1];
const be32 = (p: Uint8Array, o: number) =>
  ((p[o] << 24) | (p[o + 1] << 16) | (p[o + 2] << 8) | p[o + 3]) >>> 0;

interface Seg {
  ver: number;
  src: number[];
  dst: number[];
  ttl: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  /** Raw option bytes. */
  opts: number[];
  mss: number;
  ws: number;
  sackOk: boolean;
  ts: boolean;
  tsVal: number;
  tsEcr: number;
  /** SACK edges, left/right alternating. */
  sack: number[];
  payload: number[];
  csum: number;
}

function parse(p: Uint8Array, vn = false): Seg {
  const info = new PacketInfo();
  const bad = classify(p, 0, p.length, vn, info);
  if (bad !== 0) throw new Error(`malformed packet (${bad})`);
  const n = info.ipVersion === 4 ? 4 : 16;
  const l4 = info.l4Off;
  const o = info.tcp;
  const sack: number[] = [];
  for (let i = 0; i < 2 * o.sackBlockCount; i++) sack.push(be32(p, o.sackOff + 4 * i));
  return {
    ver: info.ipVersion,
    src: [...p.subarray(info.srcAddrOff, info.srcAddrOff + n)],
    dst: [...p.subarray(info.dstAddrOff, info.dstAddrOff + n)],
    ttl: info.ttl,
    sport: info.srcPort,
    dport: info.dstPort,
    seq: info.tcpSeq,
    ack: info.tcpAck,
    flags: info.tcpFlags,
    win: info.tcpWindow,
    opts: [...p.subarray(l4 + 20, l4 + info.tcpHdrLen)],
    mss: o.mss,
    ws: o.wscale,
    sackOk: o.sackPermitted,
    ts: o.tsPresent,
    tsVal: o.tsVal,
    tsEcr: o.tsEcr,
    sack,
    payload: [...p.subarray(info.payloadOff, info.payloadOff + info.payloadLen)],
    csum: be16(p, l4 + 16),
  };
}

/** IPv4 header and TCP checksums verified with the independent reference implementation. */
function expectSums(p: Uint8Array, vn = false): void {
  const l3 = vn ? 10 : 0;
  if (vn)
    expect([...p.subarray(0, 10)], 'originated packets carry an empty vnet header').toEqual(
      new Array(10).fill(0),
    );
  if (p[l3] >>> 4 === 4)
    expect(refChecksum(p.subarray(l3, l3 + (p[l3] & 15) * 4)), 'IPv4 header checksum').toBe(0);
  expect(refL4Ok(p, l3), 'TCP checksum').toBe(true);
}

const add = (a: number, b: number) => (a + b) >>> 0;

/** The SYN-ACK's TSval: the wall clock in ms with the option bits in the low 6 bits. */
function synAckTsVal(now: number, ws: number | null, sack: boolean, ecn: boolean): number {
  const bits = (ws === null ? 0x0f : Math.min(ws, 14)) | (sack ? 0x10 : 0) | (ecn ? 0x20 : 0);
  return ((((EPOCH + now) % 2 ** 32) & ~0x3f) | bits) >>> 0;
}

// ---- the pipeline ----

type Harness = ReturnType<typeof harness>;

function harness(over: Partial<StageEnv> = {}, vn = false) {
  const env = testStageEnv({ lanPrefixes: LAN, epochMs: EPOCH, ...over });
  const stages = buildStages(['synproxy'], env);
  const proxy = stages[0] as SynProxyStage;
  const layout = pipelineLayout(stages);
  const counters = new Float64Array(layout.names.length);
  const pipeline = new Pipeline(stages, layout, counters, vn);
  const batch = new Batch(1 << 20, 1024);
  const posted: unknown[] = [];
  pipeline.ctx.post = (m) => posted.push(m);
  const drain = () => {
    const e = pipeline.emitted;
    const out: Uint8Array[] = [];
    for (let i = 0; i < e.count; i++) out.push(e.buf.slice(e.offsets[i], e.offsets[i] + e.lengths[i]));
    pipeline.ctx.emitter.reset();
    return out;
  };
  /** One batch at time `now`: what the pipeline forwards, and what the stage originated. */
  const run = (now: number, ...pkts: Uint8Array[]) => {
    let pos = 0;
    pkts.forEach((p, i) => {
      const q = vn && p[0] >>> 4 !== 0 ? vnet(p) : p;
      batch.buf.set(q, pos);
      batch.offsets[i] = pos;
      batch.lengths[i] = q.length;
      pos += (q.length + 7) & ~7;
    });
    batch.count = pkts.length;
    const keep = pipeline.process(batch, now);
    const passed: Uint8Array[] = [];
    for (let i = 0; i < keep; i++)
      passed.push(batch.buf.slice(batch.offsets[i], batch.offsets[i] + batch.lengths[i]));
    return { passed, emitted: drain() };
  };
  const tick = (now: number) => {
    pipeline.tick(now);
    return drain();
  };
  const c = (name: string) => counters[layout.of(name)];
  const keys = new CookieKeys(env.cookieKeys);
  return { env, proxy, pipeline, run, tick, c, keys, vn, posted };
}

interface ClientOpts {
  ts?: boolean;
  sack?: boolean;
  /** Client window scale (undefined: no WS option). */
  ws?: number;
  ecn?: boolean;
  /** MSS option (null: none). */
  mss?: number | null;
  /** Window of the third ACK (scaled by the client's ws). */
  win?: number;
  /** Server side: its ISN, MSS, window scale, TS and SACK answers, SYN-ACK window. */
  sWs?: number | null;
  sTs?: boolean;
  sSack?: boolean;
  sWin?: number;
  /** Stop after the third ACK (no server answer). */
  noServer?: boolean;
}

interface Conn {
  f: Fam;
  cport: number;
  isnC: number;
  cookie: number;
  isnS: number;
  tsC: number;
  tsS: number;
  /** The TSval the client was given (the SYN-ACK's). */
  tsProxy: number;
  synPkt: Uint8Array;
  synAck: Seg;
  synAckPkt: Uint8Array;
  proxySyn: Seg;
  proxySynPkt: Uint8Array;
  serverAck?: Seg;
  winUpdate?: Seg;
  emitted: Uint8Array[];
  /** Time of the last step. */
  now: number;
}

function clientSyn(f: Fam, o: ClientOpts, isnC: number, tsC: number, cport = CPORT): Uint8Array {
  const opts: number[] = o.mss === null ? [] : O.mss(o.mss ?? 1460);
  if (o.ts && o.sack) opts.push(4, 2, ...O.ts(tsC, 0));
  else if (o.ts) opts.push(1, 1, ...O.ts(tsC, 0));
  else if (o.sack) opts.push(1, 1, 4, 2);
  if (o.ws !== undefined) opts.push(...O.ws(o.ws));
  const flags = F.SYN | (o.ecn ? F.ECE | F.CWR : 0);
  return fromClient(f, { seq: isnC, flags, win: 64240, opts }, cport);
}

let isnSeed = 0x1000;
/** The three-way handshake through the proxy, and the server's answer, with generic checks. */
function establish(h: Harness, f: Fam, o: ClientOpts = {}, now = 10_000, cport = CPORT): Conn {
  isnSeed = (Math.imul(isnSeed, 0x41c64e6d) + 12345) >>> 0;
  const isnC = (isnSeed | 0x80000000) >>> 0; // high bit set: exercise unsigned handling
  const isnS = (isnSeed ^ 0x5a5a5a5a) >>> 0;
  const tsC = 3_000_000_000 + (isnSeed & 0xffff);
  const tsS = 123_456_789;
  const synPkt = clientSyn(f, o, isnC, tsC, cport);
  let r = h.run(now, synPkt);
  expect(r.passed, 'the client SYN is absorbed').toHaveLength(0);
  expect(r.emitted, 'one SYN-ACK').toHaveLength(1);
  const synAckPkt = r.emitted[0];
  const synAck = parse(synAckPkt, h.vn);
  const cookie = synAck.seq;
  const ackOpts = o.ts ? [1, 1, ...O.ts(tsC + 1, synAck.tsVal)] : [];
  r = h.run(
    now + 30,
    fromClient(f, { seq: isnC + 1, ack: cookie + 1, flags: F.ACK, win: o.win ?? 502, opts: ackOpts }, cport),
  );
  expect(r.passed, 'the third ACK is absorbed').toHaveLength(0);
  expect(r.emitted, 'one SYN to the server').toHaveLength(1);
  const proxySynPkt = r.emitted[0];
  const proxySyn = parse(proxySynPkt, h.vn);
  const conn: Conn = {
    f,
    cport,
    isnC,
    cookie,
    isnS,
    tsC,
    tsS,
    tsProxy: synAck.tsVal,
    synPkt,
    synAck,
    synAckPkt,
    proxySyn,
    proxySynPkt,
    emitted: [],
    now: now + 30,
  };
  if (o.noServer) return conn;
  const sWs = o.sWs === undefined ? (proxySyn.ws >= 0 ? 2 : null) : o.sWs;
  const sTs = o.sTs ?? proxySyn.ts;
  const sSack = o.sSack ?? proxySyn.sackOk;
  const sFlags = F.SYN | F.ACK | (proxySyn.flags & F.ECE ? F.ECE : 0);
  const sOpts = linuxOpts(1400, sTs ? [tsS, proxySyn.tsVal] : null, sSack, sWs);
  r = h.run(
    now + 60,
    fromServer(f, { seq: isnS, ack: isnC + 1, flags: sFlags, win: o.sWin ?? 65160, opts: sOpts }, cport),
  );
  expect(r.passed, "the server's SYN-ACK is absorbed").toHaveLength(0);
  expect(r.emitted, 'an ACK to the server and a window update to the client').toHaveLength(2);
  conn.serverAck = parse(r.emitted[0], h.vn);
  conn.winUpdate = parse(r.emitted[1], h.vn);
  conn.emitted = r.emitted;
  conn.now = now + 60;
  return conn;
}

/** The connection's slot in the stage's table. */
function slotOf(h: Harness, c: Conn): number {
  const b =
    c.f.ver === 4
      ? v4({ src: c.f.client, dst: c.f.server }, tcp())
      : v6({ src: c.f.client, dst: c.f.server }, tcp());
  return h.proxy.table.find(b, c.f.srcOff, c.f.dstOff, c.f.ver, c.cport, SPORT);
}

/**
 * Ticks as the worker does (src/dataplane/worker.ts): at the pipeline's next deadline, at least
 * 100 ms after the last tick, over (from, to]. Returns the tick times and what was emitted.
 */
function tickOnDeadlines(
  h: Harness,
  from: number,
  to: number,
): { ticks: number[]; out: [number, Uint8Array][] } {
  const ticks: number[] = [];
  const out: [number, Uint8Array][] = [];
  for (let last = from; ; ) {
    const at = Math.max(h.pipeline.nextTickAt(last), last + 100);
    if (at > to) break;
    ticks.push(at);
    for (const p of h.tick(at)) out.push([at, p]);
    last = at;
  }
  return { ticks, out };
}

/** Ticks every 100 ms over (from, to]; returns [time, packet] for everything emitted. */
function tickThrough(h: Harness, from: number, to: number): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  for (let t = from + 100; t <= to; t += 100) for (const p of h.tick(t)) out.push([t, p]);
  return out;
}

// ---- the handshake ----

describe.each([V4, V6])('handshake over $name', (f) => {
  it('answers a Linux-like SYN (MSS, SACK, TS, WS, ECN) with one cookie SYN-ACK, byte for byte', () => {
    const h = harness();
    const isnC = 0xfedcba98;
    const tsC = 0x01020304;
    const syn = clientSyn(f, { ts: true, sack: true, ws: 8, ecn: true }, isnC, tsC);
    const now = 12_345;
    const { passed, emitted } = h.run(now, syn);
    expect(passed).toHaveLength(0);
    expect(emitted).toHaveLength(1);
    const p = emitted[0];
    expectSums(p);
    const s = parse(p);
    expect(s.ver).toBe(f.ver);
    expect(s.src).toEqual(f.server);
    expect(s.dst).toEqual(f.client);
    expect([s.sport, s.dport]).toEqual([SPORT, CPORT]);
    expect(s.ttl).toBe(64);
    expect(s.flags).toBe(F.SYN | F.ACK | F.ECE);
    expect(s.ack).toBe(add(isnC, 1));
    expect(s.win, 'window 0: no data before the server answers').toBe(0);
    expect(s.payload).toHaveLength(0);
    // The cookie: valid for the SYN's tuple and ISN, carrying the client's MSS index.
    expect(checkCookie(h.keys, syn, f.srcOff, f.dstOff, f.ver, CPORT, SPORT, isnC, s.seq, MINUTE0)).toBe(
      mssIndex(1460, f.ver),
    );
    // Options per the reference: MSS; SACK_PERM+TS; NOP WS — TSval carrying wscale 8, SACK, ECN.
    const tsVal = synAckTsVal(now, 8, true, true);
    expect(s.opts).toEqual(linuxOpts(f.mss, [tsVal, tsC], true, WSCALE));
    expect(h.c('synproxy_syn_received')).toBe(1);
    expect(h.c('synproxy_cookie_sent')).toBe(1);
    expect(h.c('synproxy_absorbed')).toBe(1);
    expect(h.proxy.table.count, 'no state for a SYN').toBe(0);
    // Charted by its 4-tuple (a retransmission is no new SYN), though its options ride in the cookie.
    expect(h.proxy.synCache.count).toBe(1);
    if (f.ver === 4) {
      // Total length, DF, protocol.
      expect(be16(p, 2)).toBe(p.length);
      expect(be16(p, 6)).toBe(0x4000);
      expect(p[9]).toBe(6);
    } else {
      expect(be16(p, 4)).toBe(p.length - 40);
      expect(p[6]).toBe(6);
      expect(p[7]).toBe(64);
    }
  });

  it.each([
    { ts: true, sack: true, ws: 7 },
    { ts: true, sack: false, ws: 0 },
    { ts: true, sack: true },
    { ts: true, sack: false },
    { ts: false, sack: true, ws: 14 },
    { ts: false, sack: false, ws: 3 },
    { ts: false, sack: true },
    { ts: false, sack: false },
  ])('options ts=$ts sack=$sack ws=$ws: SYN-ACK and proxy SYN carry what the reference says', (o) => {
    for (const ecn of [false, true]) {
      const h = harness();
      const now = 20_000;
      const c = establish(h, f, { ...o, ecn, noServer: true }, now);
      const ws = o.ws ?? null;
      // SYN-ACK: our MSS; TS (with the option bits) if the client sent TS; SACK_PERM if it did; our WS if it sent WS.
      const tsVal = synAckTsVal(now, ws, o.sack, ecn);
      expect(c.synAck.opts, 'SYN-ACK options').toEqual(
        linuxOpts(f.mss, o.ts ? [tsVal, c.tsC] : null, o.sack, ws === null ? null : WSCALE),
      );
      expect(c.synAck.flags & F.ECE ? 'ECE' : '', 'ECN echoed in the SYN-ACK').toBe(ecn ? 'ECE' : '');
      expect(h.proxy.synCache.count, 'SYN cache used only without TS').toBe(0); // consumed by the third ACK
      // Proxy SYN to the server: the client's ISN, the decoded MSS, the client's WS/SACK/TS.
      const s = c.proxySyn;
      expectSums(c.proxySynPkt);
      expect(s.src).toEqual(f.client);
      expect(s.dst).toEqual(f.server);
      expect([s.sport, s.dport]).toEqual([CPORT, SPORT]);
      expect(s.seq).toBe(c.isnC);
      expect(s.ack).toBe(0);
      expect(s.flags).toBe(F.SYN | (ecn ? F.ECE | F.CWR : 0));
      const mss = mssFromIndex(mssIndex(1460, f.ver), f.ver);
      expect(s.opts, 'proxy SYN options').toEqual(linuxOpts(mss, o.ts ? [c.tsC + 1, 0] : null, o.sack, ws));
      // A SYN's window is unscaled: the third ACK's 502 in bytes (× 2^ws), capped.
      expect(s.win).toBe(Math.min(65535, 502 * 2 ** (ws ?? 0)));
      const slot = slotOf(h, c);
      expect(h.proxy.table.state[slot]).toBe(ConnState.SYN_SENT);
      expect(h.proxy.table.isnP[slot]).toBe(c.cookie);
    }
  });

  it('third ACK → proxy SYN; server SYN-ACK → ACK to the server and window update to the client', () => {
    const h = harness();
    const c = establish(h, f, { ts: true, sack: true, ws: 7, ecn: true });
    expect(h.c('synproxy_cookie_valid')).toBe(1);
    expect(h.c('synproxy_conn_established')).toBe(1);
    expect(h.c('synproxy_absorbed'), 'SYN, third ACK, server SYN-ACK').toBe(3);
    for (const p of c.emitted) expectSums(p);
    const a = c.serverAck!;
    expect(a.src).toEqual(f.client);
    expect(a.dst).toEqual(f.server);
    expect([a.sport, a.dport]).toEqual([CPORT, SPORT]);
    expect(a.seq).toBe(add(c.isnC, 1));
    expect(a.ack).toBe(add(c.isnS, 1));
    expect(a.flags).toBe(F.ACK);
    expect(a.win, 'the server agreed to WS: the client ACK window as is').toBe(502);
    expect(a.opts).toEqual([1, 1, ...O.ts(c.tsC + 1, c.tsS)]);
    const w = c.winUpdate!;
    expect(w.src).toEqual(f.server);
    expect(w.dst).toEqual(f.client);
    expect([w.sport, w.dport]).toEqual([SPORT, CPORT]);
    expect(w.seq).toBe(add(c.cookie, 1));
    expect(w.ack).toBe(add(c.isnC, 1));
    expect(w.flags).toBe(F.ACK);
    expect(w.win, 'the SYN-ACK window in units of our advertised scale').toBe(
      Math.floor(65160 / 2 ** WSCALE),
    );
    // Its TSval is the server's minus τ: exactly the TSval the client saw in the SYN-ACK.
    expect(w.opts).toEqual([1, 1, ...O.ts(c.tsProxy, c.tsC + 1)]);
    const t = h.proxy.table;
    const slot = slotOf(h, c);
    expect(t.state[slot]).toBe(ConnState.ESTABLISHED);
    expect(t.delta[slot]).toBe((c.cookie - c.isnS) >>> 0);
    expect(t.tsOff[slot]).toBe((c.tsS - c.tsProxy) >>> 0);
    expect(t.flags[slot] & (ConnFlag.TS | ConnFlag.SACK | ConnFlag.ECN)).toBe(
      ConnFlag.TS | ConnFlag.SACK | ConnFlag.ECN,
    );
    expect([t.wsClient[slot], t.wsAdv[slot], t.wsServer[slot]]).toEqual([7, WSCALE, 2]);
  });

  it('translates data both ways: seq/ack by δ, SACK by δ, TS by τ, windows across scales; checksums stay right', () => {
    const h = harness();
    const c = establish(h, f, { ts: true, sack: true, ws: 7 });
    const delta = (c.cookie - c.isnS) >>> 0;
    const tau = (c.tsS - c.tsProxy) >>> 0;
    // Client → server: ack in proxy space, SACK edges in proxy space, TSecr in proxy TS space.
    const payload = Uint8Array.from({ length: 100 }, (_, i) => i * 3);
    const sackEdges = [add(c.cookie, 1001), add(c.cookie, 2001), add(c.cookie, 3001), add(c.cookie, 4001)];
    const up = fromClient(f, {
      seq: c.isnC + 1,
      ack: add(c.cookie, 501),
      flags: F.ACK | F.PSH,
      win: 502,
      opts: [1, 1, ...O.sack(sackEdges), 1, 1, ...O.ts(c.tsC + 50, add(c.tsProxy, 9))],
      payload,
    });
    let r = h.run(c.now + 100, up);
    expect(r.emitted).toHaveLength(0);
    expect(r.passed).toHaveLength(1);
    expectSums(r.passed[0]);
    let s = parse(r.passed[0]);
    expect(s.seq, 'client seq untouched').toBe(add(c.isnC, 1));
    expect(s.ack).toBe(add(c.isnS, 501));
    expect(s.sack).toEqual(sackEdges.map((e) => (e - delta) >>> 0));
    expect(s.tsVal).toBe(c.tsC + 50);
    expect(s.tsEcr).toBe(add(add(c.tsProxy, 9), tau));
    expect(s.tsEcr).toBe(add(c.tsS, 9));
    expect(s.win, 'same scale both sides (7 ↔ server agreed): untouched').toBe(502);
    expect(s.payload).toEqual([...payload]);
    // Server → client: seq into proxy space, TSval into proxy TS space, window from ws 2 to ws 7.
    const down = fromServer(f, {
      seq: add(c.isnS, 1),
      ack: add(c.isnC, 101),
      flags: F.ACK,
      win: 16000,
      opts: [1, 1, ...O.ts(c.tsS + 20, c.tsC + 50)],
      payload: new Uint8Array(50).fill(0xab),
    });
    r = h.run(c.now + 200, down);
    expect(r.passed).toHaveLength(1);
    expectSums(r.passed[0]);
    s = parse(r.passed[0]);
    expect(s.seq).toBe(add(c.cookie, 1));
    expect(s.ack, 'the client’s own sequence space: untouched').toBe(add(c.isnC, 101));
    expect(s.tsVal).toBe(add(c.tsProxy, 20));
    expect(s.tsEcr).toBe(c.tsC + 50);
    expect(s.win).toBe(Math.floor((16000 * 4) / 2 ** WSCALE));
    expect(s.payload).toEqual(new Array(50).fill(0xab));
    // Server SACK blocks are in the client's space: untouched.
    const sdown = fromServer(f, {
      seq: add(c.isnS, 51),
      ack: add(c.isnC, 101),
      flags: F.ACK,
      win: 100,
      opts: [1, 1, ...O.sack([c.isnC + 201, c.isnC + 301])],
    });
    s = parse(h.run(c.now + 250, sdown).passed[0]);
    expect(s.sack).toEqual([add(c.isnC, 201), add(c.isnC, 301)]);
    expect(s.win).toBe(Math.max(1, Math.floor((100 * 4) / 2 ** WSCALE)));
    expect(h.c('synproxy_untracked_pass')).toBe(0);
  });

  it('keeps checksums right with options at odd offsets (a lone NOP before SACK and TS)', () => {
    const h = harness();
    const c = establish(h, f, { ts: true, sack: true, ws: 7 });
    const delta = (c.cookie - c.isnS) >>> 0;
    const up = fromClient(f, {
      seq: c.isnC + 1,
      ack: add(c.cookie, 1),
      flags: F.ACK,
      win: 502,
      // NOP SACK(1 block) TS EOL…: the SACK edges at header offset 23, TSval at 33 (both odd).
      opts: [1, ...O.sack([add(c.cookie, 100), add(c.cookie, 200)]), ...O.ts(7, add(c.tsProxy, 1))],
      payload: [1, 2, 3],
    });
    const r = h.run(c.now + 10, up);
    expectSums(r.passed[0]);
    const s = parse(r.passed[0]);
    expect(s.sack).toEqual([(c.cookie + 100 - delta) >>> 0, (c.cookie + 200 - delta) >>> 0]);
    expect(s.tsEcr).toBe(add(c.tsS, 1));
  });

  it('with NEEDS_CSUM leaves the checksum field alone (the kernel sums later) and gets every field right', () => {
    const h = harness({}, true);
    const c = establish(h, f, { ts: true, sack: true, ws: 7 });
    for (const p of c.emitted) expectSums(p, true);
    const hl = f.ver === 4 ? 20 : 40;
    /** The packet with NEEDS_CSUM: the field holds the folded pseudo-header sum (uncomplemented). */
    const partial = (p: Uint8Array, src: number[], dst: number[]) => {
      const len = p.length - hl;
      const ph = f.ver === 4 ? pseudo4(src, dst, 6, len) : pseudo6(src, dst, 6, len);
      const q = p.slice();
      const sum = ~refChecksum(ph) & 0xffff;
      q[hl + 16] = sum >>> 8;
      q[hl + 17] = sum & 0xff;
      return vnet(q, 1, 0, 0, 0, hl, 16);
    };
    /** What the kernel does with it: sum from csum_start, store the complement. Then verify. */
    const finish = (p: Uint8Array) => {
      const q = p.slice(10);
      const cs = refChecksum(q.subarray(hl));
      q[hl + 16] = cs >>> 8;
      q[hl + 17] = cs & 0xff;
      return q;
    };
    const up = partial(
      fromClient(f, {
        seq: c.isnC + 1,
        ack: add(c.cookie, 1),
        flags: F.ACK,
        win: 502,
        opts: [1, 1, ...O.sack([add(c.cookie, 10), add(c.cookie, 20)]), 1, 1, ...O.ts(5, c.tsProxy)],
        payload: new Uint8Array(1000).fill(7),
      }),
      f.client,
      f.server,
    );
    let r = h.run(c.now + 10, up);
    expect(r.passed).toHaveLength(1);
    let out = r.passed[0];
    expect(be16(out, 10 + hl + 16), 'checksum field untouched').toBe(be16(up, 10 + hl + 16));
    expect([...out.subarray(0, 10)], 'vnet header untouched').toEqual([...up.subarray(0, 10)]);
    let s = parse(out, true);
    expect(s.ack).toBe(add(c.isnS, 1));
    expect(s.sack).toEqual([add(c.isnS, 10), add(c.isnS, 20)]);
    expect(s.tsEcr).toBe(c.tsS);
    expectSums(finish(out));
    const down = partial(
      fromServer(f, {
        seq: add(c.isnS, 1),
        ack: add(c.isnC, 1001),
        flags: F.ACK,
        win: 30000,
        opts: [1, 1, ...O.ts(c.tsS + 1, 5)],
        payload: new Uint8Array(1448).fill(9),
      }),
      f.server,
      f.client,
    );
    r = h.run(c.now + 20, down);
    out = r.passed[0];
    expect(be16(out, 10 + hl + 16), 'checksum field untouched').toBe(be16(down, 10 + hl + 16));
    s = parse(out, true);
    expect(s.seq).toBe(add(c.cookie, 1));
    expect(s.tsVal).toBe(add(c.tsProxy, 1));
    expect(s.win).toBe(Math.floor((30000 * 4) / 2 ** WSCALE));
    expectSums(finish(out));
  });
});

describe('window scaling across the proxy', () => {
  it('server refusing WS: client windows grow by the client scale, server windows shrink by ours', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, sack: true, ws: 6, sWs: null });
    expect(c.serverAck!.win, "the client's 502 << 6, as the unscaled server reads it").toBe(502 * 64);
    const up = h.run(
      c.now + 10,
      fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.ACK, win: 2000 }),
    ).passed[0];
    expectSums(up);
    expect(parse(up).win).toBe(65535); // 2000 << 6 capped
    const up2 = h.run(
      c.now + 11,
      fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.ACK, win: 10 }),
    ).passed[0];
    expect(parse(up2).win).toBe(640);
    const down = h.run(
      c.now + 20,
      fromServer(V4, { seq: c.isnS + 1, ack: c.isnC + 1, flags: F.ACK, win: 60000 }),
    ).passed[0];
    expectSums(down);
    expect(parse(down).win).toBe(Math.floor(60000 / 2 ** WSCALE));
    const tiny = h.run(c.now + 30, fromServer(V4, { seq: c.isnS + 1, ack: c.isnC + 1, flags: F.ACK, win: 3 }))
      .passed[0];
    expect(parse(tiny).win, 'a non-zero window never rounds down to 0').toBe(1);
    const zero = h.run(c.now + 31, fromServer(V4, { seq: c.isnS + 1, ack: c.isnC + 1, flags: F.ACK, win: 0 }))
      .passed[0];
    expect(parse(zero).win).toBe(0);
  });

  it('server scale equal to ours: windows untouched both ways', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, ws: 5, sWs: WSCALE });
    const up = h.run(
      c.now + 10,
      fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.ACK, win: 1234 }),
    ).passed[0];
    expect(parse(up).win).toBe(1234);
    const down = h.run(
      c.now + 20,
      fromServer(V4, { seq: c.isnS + 1, ack: c.isnC + 1, flags: F.ACK, win: 4321 }),
    ).passed[0];
    expect(parse(down).win).toBe(4321);
  });

  it('client without WS: nothing is scaled anywhere', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, sack: true });
    expect(c.synAck.ws).toBe(-1);
    expect(c.proxySyn.ws).toBe(-1);
    expect(c.winUpdate!.win).toBe(65160);
    const down = h.run(
      c.now + 20,
      fromServer(V4, { seq: c.isnS + 1, ack: c.isnC + 1, flags: F.ACK, win: 4321 }),
    ).passed[0];
    expect(parse(down).win).toBe(4321);
  });

  it('server refusing TS: nothing translated in TS, the window update carries none', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, sack: true, ws: 7, sTs: false });
    expect(c.serverAck!.ts).toBe(false);
    expect(c.winUpdate!.ts).toBe(false);
    const slot = slotOf(h, c);
    expect(h.proxy.table.flags[slot] & ConnFlag.TS).toBe(0);
    const up = h.run(
      c.now + 10,
      fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.ACK, opts: [1, 1, ...O.ts(1, 2)] }),
    );
    expect(parse(up.passed[0]).tsEcr).toBe(2);
  });
});

// ---- teardown and timers ----

describe('teardown and timers', () => {
  it('server RST in SYN_SENT → RST to the client at seq cookie+1; the entry is gone', () => {
    for (const f of [V4, V6]) {
      const h = harness();
      const c = establish(h, f, { ts: true, ws: 7, noServer: true });
      const r = h.run(c.now + 5, fromServer(f, { seq: 0, ack: c.isnC + 1, flags: F.RST | F.ACK, win: 0 }));
      expect(r.passed).toHaveLength(0);
      expect(r.emitted).toHaveLength(1);
      expectSums(r.emitted[0]);
      const s = parse(r.emitted[0]);
      expect(s.src).toEqual(f.server);
      expect(s.dst).toEqual(f.client);
      expect([s.sport, s.dport]).toEqual([SPORT, CPORT]);
      expect(s.flags).toBe(F.RST | F.ACK);
      expect(s.seq).toBe(add(c.cookie, 1));
      expect(s.ack).toBe(add(c.isnC, 1));
      expect(h.c('synproxy_server_refused')).toBe(1);
      expect(h.proxy.table.count).toBe(0);
    }
  });

  it('absorbs other server segments and client retransmissions while the server SYN is outstanding', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, noServer: true });
    // A SYN-ACK acknowledging something else, a retransmitted third ACK, a retransmitted SYN.
    let r = h.run(c.now + 1, fromServer(V4, { seq: 5, ack: c.isnC + 7, flags: F.SYN | F.ACK }));
    expect(r.passed.length + r.emitted.length).toBe(0);
    r = h.run(c.now + 2, fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.ACK }));
    expect(r.passed.length + r.emitted.length).toBe(0);
    r = h.run(c.now + 3, c.synPkt);
    expect(r.passed.length + r.emitted.length).toBe(0);
    expect(h.proxy.table.count).toBe(1);
  });

  it('server silent: proxy SYN resent after 1 s and 2 s more, then after 4 s a RST to the client', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, sack: true, ws: 7, noServer: true });
    const out = tickThrough(h, c.now, c.now + 12_000);
    expect(out.map(([, p]) => parse(p).flags)).toEqual([F.SYN, F.SYN, F.RST | F.ACK]);
    const [t1, t2, t3] = out.map(([t]) => t);
    // The sweep visits each slot once a second (10 ticks): up to 1 s late.
    expect(t1 - c.now).toBeGreaterThanOrEqual(1000);
    expect(t1 - c.now).toBeLessThan(2000);
    expect(t2 - t1).toBeGreaterThanOrEqual(2000);
    expect(t2 - t1).toBeLessThan(3000);
    expect(t3 - t2).toBeGreaterThanOrEqual(4000);
    expect(t3 - t2).toBeLessThan(5000);
    // The retransmissions are the original SYN, byte for byte.
    expect([...out[0][1]]).toEqual([...c.proxySynPkt]);
    expect([...out[1][1]]).toEqual([...c.proxySynPkt]);
    const rst = parse(out[2][1]);
    expectSums(out[2][1]);
    expect(rst.seq).toBe(add(c.cookie, 1));
    expect(rst.ack).toBe(add(c.isnC, 1));
    expect(rst.dst).toEqual(V4.client);
    expect(h.c('synproxy_server_timeout')).toBe(1);
    expect(h.proxy.table.count).toBe(0);
  });

  it('FIN both ways → closed; kept for the linger, then removed by tick()', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, sack: true, ws: 7 });
    const slot = slotOf(h, c);
    let r = h.run(c.now + 10, fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.FIN | F.ACK }));
    expect(r.passed).toHaveLength(1);
    expect(parse(r.passed[0]).ack).toBe(add(c.isnS, 1));
    expect(h.proxy.table.state[slot]).toBe(ConnState.FIN_WAIT);
    const tFin = c.now + 20;
    r = h.run(tFin, fromServer(V4, { seq: c.isnS + 1, ack: c.isnC + 2, flags: F.FIN | F.ACK }));
    expect(r.passed).toHaveLength(1);
    expect(parse(r.passed[0]).seq).toBe(add(c.cookie, 1));
    expect(h.proxy.table.state[slot]).toBe(ConnState.CLOSED);
    expect(h.c('synproxy_closed')).toBe(1);
    // The last ACK is still translated.
    r = h.run(tFin + 5, fromClient(V4, { seq: c.isnC + 2, ack: c.cookie + 2, flags: F.ACK }));
    expect(parse(r.passed[0]).ack).toBe(add(c.isnS, 2));
    expect(tickThrough(h, tFin, tFin + 59_900)).toHaveLength(0);
    expect(h.proxy.table.count).toBe(1);
    tickThrough(h, tFin + 59_900, tFin + 61_100);
    expect(h.proxy.table.count).toBe(0);
    expect(h.c('synproxy_closed')).toBe(1);
  });

  it('RST from either side closes for the short linger (10 s)', () => {
    for (const side of ['client', 'server'] as const) {
      const h = harness();
      const c = establish(h, V6, { ts: true, ws: 7 });
      const pkt =
        side === 'client'
          ? fromClient(V6, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.RST | F.ACK })
          : fromServer(V6, { seq: c.isnS + 1, ack: c.isnC + 1, flags: F.RST });
      const r = h.run(c.now + 10, pkt);
      expect(r.passed).toHaveLength(1);
      const s = parse(r.passed[0]);
      if (side === 'client') expect(s.ack).toBe(add(c.isnS, 1));
      else expect(s.seq).toBe(add(c.cookie, 1));
      tickThrough(h, c.now + 10, c.now + 9_900);
      expect(h.proxy.table.count).toBe(1);
      tickThrough(h, c.now + 9_900, c.now + 11_100);
      expect(h.proxy.table.count).toBe(0);
    }
  });

  it('asks for a tick only at its next deadline: an idle connection costs a few wake-ups, not ten a second', () => {
    const h = harness({ idleSeconds: 30 });
    expect(h.pipeline.nextTickAt(0), 'nothing yet: no timer runs').toBe(Number.POSITIVE_INFINITY);
    const c = establish(h, V4, { ts: true, ws: 7 });
    // The handshake set a retransmission for a second after the third ACK (c.now - 30): that bound
    // stays until a sweep finds the connection established. The store hears of it within a second.
    expect(h.pipeline.nextTickAt(c.now)).toBe(c.now + 970);
    const early = tickOnDeadlines(h, c.now, c.now + 29_900);
    // Ticks are 100 ms apart at least.
    expect(early.ticks, 'the sweep, the sync, then nothing until the idle timeout').toEqual([
      c.now + 970,
      c.now + 1070,
    ]);
    expect(h.posted).toHaveLength(1);
    expect(h.proxy.table.count, 'idle 29.9 s').toBe(1);
    expect(h.pipeline.nextTickAt(c.now + 29_900), 'its idle timeout').toBe(c.now + 30_001);
    const late = tickOnDeadlines(h, c.now + 29_900, c.now + 60_000);
    expect(h.proxy.table.count, 'gone at its idle timeout').toBe(0);
    expect(late.ticks, 'the timeout, then the removal synced').toEqual([c.now + 30_001, c.now + 31_001]);
    expect(h.pipeline.nextTickAt(c.now + 60_000)).toBe(Number.POSITIVE_INFINITY);
    // The control: ticking every 100 ms gives the same outcome at 300 times the wake-ups.
    const ref = harness({ idleSeconds: 30 });
    const rc = establish(ref, V4, { ts: true, ws: 7 });
    expect(tickThrough(ref, rc.now, rc.now + 29_900)).toEqual([]);
    expect(ref.proxy.table.count).toBe(1);
    tickThrough(ref, rc.now + 29_900, rc.now + 31_100);
    expect(ref.proxy.table.count).toBe(0);
  });

  it('a packet moves the idle deadline later; a RST brings it to the linger', () => {
    const h = harness({ idleSeconds: 30 });
    const c = establish(h, V4, { ts: true, ws: 7 });
    tickOnDeadlines(h, c.now, c.now + 10_000);
    h.run(c.now + 10_000, fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.ACK }));
    // The bound kept is the older one: the sweep then finds the later deadline.
    const t = tickOnDeadlines(h, c.now + 10_000, c.now + 35_000);
    expect(t.ticks).toEqual([c.now + 30_001]);
    expect(h.proxy.table.count, 'the packet restarted its idle time').toBe(1);
    expect(h.pipeline.nextTickAt(c.now + 35_000)).toBe(c.now + 40_001);
    h.run(c.now + 35_000, fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.RST | F.ACK }));
    expect(h.pipeline.nextTickAt(c.now + 35_000), 'the sync of the close').toBe(c.now + 36_000);
    const r = tickOnDeadlines(h, c.now + 35_000, c.now + 50_000);
    // The sync; the old idle bound (a sweep, which finds the linger); the linger's end; its sync.
    expect(r.ticks).toEqual([c.now + 36_000, c.now + 40_001, c.now + 45_000, c.now + 46_000]);
    expect(h.proxy.table.count, 'gone after the 10 s linger').toBe(0);
  });

  it('retransmits the SYN to a silent server at its deadlines (1, 2, 4 s), then gives up', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, noServer: true });
    const r = tickOnDeadlines(h, c.now, c.now + 20_000);
    const syns = r.out.filter(([, p]) => parse(p).flags === F.SYN).map(([t]) => t - c.now);
    expect(syns).toEqual([1000, 3000]);
    const rst = r.out.filter(([, p]) => (parse(p).flags & F.RST) !== 0).map(([t]) => t - c.now);
    expect(rst, 'the client is told at 7 s').toEqual([7000]);
    expect(h.proxy.table.count).toBe(0);
    expect(r.ticks.map((t) => t - c.now)).toEqual([1000, 3000, 7000]);
  });

  it('a SYN-cache entry is forgotten at its deadline (10 s)', () => {
    const h = harness();
    const t = 20_000;
    h.run(t, clientSyn(V4, { ts: true }, 77, 88, CPORT + 1));
    expect(h.proxy.table.count).toBe(0);
    expect(h.proxy.synCache.count).toBe(1);
    expect(h.pipeline.nextTickAt(t)).toBe(t + 10_001);
    const r = tickOnDeadlines(h, t, t + 30_000);
    expect(r.ticks).toEqual([t + 10_001]);
    expect(h.proxy.synCache.count).toBe(0);
    expect(h.pipeline.nextTickAt(t + 30_000)).toBe(Number.POSITIVE_INFINITY);
  });

  it('an idle connection is removed after idleSeconds (its removal reported if it was persisted)', () => {
    const h = harness({ idleSeconds: 30 });
    const c = establish(h, V4, { ts: true });
    const key = h.proxy.exportChanges().upserts[0].key;
    h.run(c.now + 10_000, fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.ACK }));
    tickThrough(h, c.now + 10_000, c.now + 39_900);
    expect(h.proxy.table.count, 'idle only 29.9 s since the last segment').toBe(1);
    tickThrough(h, c.now + 39_900, c.now + 41_200);
    expect(h.proxy.table.count).toBe(0);
    const removes = h.posted.flatMap((m) => (m as { removes?: string[] }).removes ?? []);
    expect([...removes, ...h.proxy.exportChanges().removes]).toEqual([key]);
  });

  it('a retransmitted server SYN-ACK gets our ACK again and is absorbed', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, ws: 7 });
    const again = fromServer(V4, {
      seq: c.isnS,
      ack: c.isnC + 1,
      flags: F.SYN | F.ACK,
      win: 65160,
      opts: linuxOpts(1400, [c.tsS + 100, c.tsC + 1], false, 2),
    });
    const r = h.run(c.now + 500, again);
    expect(r.passed).toHaveLength(0);
    expect(r.emitted).toHaveLength(1);
    const a = parse(r.emitted[0]);
    expect([a.seq, a.ack, a.flags]).toEqual([add(c.isnC, 1), add(c.isnS, 1), F.ACK]);
    // The first SYN-ACK's timestamp: within what the host sent in SYN-ACKs, whichever it checks.
    expect(a.tsEcr).toBe(c.tsS);
  });

  it('a bare ACK from a host that has taken no client byte gets the handshake ACK again (its TS echo the SYN-ACK’s)', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, ws: 7 });
    // As a Linux listener still in SYN-RECEIVED (our ACK lost) answers a client's probe: a bare ACK
    // with a newer timestamp. The client's next segments will echo that one, which such a listener
    // refuses, so the handshake ACK must reach it, echoing the SYN-ACK's timestamp.
    const bare = fromServer(V4, {
      seq: c.isnS + 1,
      ack: c.isnC + 1,
      flags: F.ACK,
      win: 63,
      opts: [1, 1, ...O.ts(c.tsS + 230, c.tsC + 5)],
    });
    const r = h.run(c.now + 230, bare);
    expect(r.emitted).toHaveLength(1);
    const a = parse(r.emitted[0]);
    expect([a.seq, a.ack, a.flags]).toEqual([add(c.isnC, 1), add(c.isnS, 1), F.ACK]);
    expect(a.tsEcr).toBe(c.tsS);
    expect(r.passed, 'the ACK still goes on to the client').toHaveLength(1);
    expect(h.c('synproxy_server_ack_resent')).toBe(1);
    // Once the host has taken client bytes its bare ACKs are ordinary: nothing is re-sent.
    const later = fromServer(V4, {
      seq: c.isnS + 1,
      ack: c.isnC + 101,
      flags: F.ACK,
      win: 63,
      opts: [1, 1, ...O.ts(c.tsS + 300, c.tsC + 9)],
    });
    expect(h.run(c.now + 300, later).emitted).toHaveLength(0);
    expect(h.c('synproxy_server_ack_resent')).toBe(1);
  });

  it('a new SYN on a closed tuple starts over with a new cookie', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true });
    h.run(c.now + 1, fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.RST }));
    const r = h.run(c.now + 2, clientSyn(V4, { ts: true }, 777, 5));
    expect(r.emitted).toHaveLength(1);
    expect(parse(r.emitted[0]).ack).toBe(778);
    expect(h.proxy.table.count).toBe(0);
  });
});

// ---- SYNs, cookies and the SYN cache ----

describe('SYNs and cookies', () => {
  it('answers a retransmitted SYN with the same cookie, counted as a retransmission (TS or not)', () => {
    for (const ts of [true, false]) {
      const h = harness();
      const syn = clientSyn(V4, { ts, sack: true, ws: 7 }, 4242, 99);
      const a = parse(h.run(1000, syn).emitted[0]);
      const b = parse(h.run(4000, syn).emitted[0]);
      expect(b.seq).toBe(a.seq);
      expect(b.ack).toBe(4243);
      expect(h.c('synproxy_cookie_sent')).toBe(2);
      expect(h.c('synproxy_syn_retransmit')).toBe(1);
      expect(h.c('synproxy_syn_received')).toBe(1);
    }
  });

  it('a SYN of a charted 4-tuple with another ISN: answered for that ISN, still not a new SYN', () => {
    for (const ts of [true, false]) {
      const h = harness();
      h.run(1000, clientSyn(V4, { ts, sack: true, ws: 7 }, 4242, 99));
      const b = parse(h.run(2000, clientSyn(V4, { ts, sack: true, ws: 7 }, 9000, 99)).emitted[0]);
      expect(b.ack).toBe(9001);
      expect(h.c('synproxy_syn_retransmit')).toBe(1);
      expect(h.c('synproxy_syn_received')).toBe(1);
      // Its third ACK gets the options the second SYN offered (the entry follows the new ISN).
      const s = parse(
        h.run(
          2100,
          fromClient(V4, {
            seq: 9001,
            ack: b.seq + 1,
            flags: F.ACK,
            ...(ts ? { opts: [1, 1, ...O.ts(1, b.tsVal)] } : {}),
          }),
        ).emitted[0],
      );
      expect(s.ws).toBe(7);
      expect(s.sackOk).toBe(true);
      expect(h.proxy.synCache.count, 'the completed handshake leaves the chart').toBe(0);
    }
  });

  it('accepts a cookie in the next minute, refuses it after two (it passes, untracked)', () => {
    const h = harness();
    const syn = clientSyn(V4, { ts: true }, 1000, 5);
    const t0 = 30_000;
    const cookie = parse(h.run(t0, syn).emitted[0]).seq;
    const ack = fromClient(V4, { seq: 1001, ack: cookie + 1, flags: F.ACK });
    const late = h.run(120_000 + 1, ack);
    expect(late.passed, 'minute + 2: not ours, passed to the host').toHaveLength(1);
    expect(late.emitted).toHaveLength(0);
    const ok = h.run(60_000 + 59_000, ack);
    expect(ok.passed).toHaveLength(0);
    expect(ok.emitted).toHaveLength(1);
    expect(h.c('synproxy_cookie_invalid')).toBe(1);
    expect(h.c('synproxy_cookie_valid')).toBe(1);
  });

  it('passes an ACK with an invalid cookie untouched (counted synproxy_untracked_pass)', () => {
    const h = harness();
    const syn = clientSyn(V4, { ts: true }, 1000, 5);
    const cookie = parse(h.run(100, syn).emitted[0]).seq;
    for (const [seq, ack] of [
      [1001, cookie + 1 + 64],
      [1001 + 8, cookie + 1],
      [123, 456],
    ]) {
      const p = fromClient(V4, { seq, ack, flags: F.ACK, payload: [1, 2, 3] });
      const r = h.run(200, p);
      expect(r.emitted).toHaveLength(0);
      expect(r.passed).toHaveLength(1);
      expect([...r.passed[0]]).toEqual([...p]);
    }
    expect(h.c('synproxy_untracked_pass')).toBe(3);
    expect(h.c('synproxy_cookie_invalid')).toBe(3);
    expect(h.proxy.table.count).toBe(0);
    // Other stray segments to a protected host pass too; the LAN's own connections are not touched.
    const rst = fromClient(V4, { seq: 5, flags: F.RST });
    expect([...h.run(300, rst).passed[0]]).toEqual([...rst]);
    expect(h.c('synproxy_untracked_pass')).toBe(4);
    const outbound = fromServer(V4, { seq: 9, flags: F.SYN, opts: O.mss(1460) });
    const r = h.run(400, outbound);
    expect(r.emitted).toHaveLength(0);
    expect([...r.passed[0]]).toEqual([...outbound]);
    // Neither end protected (WAN ↔ WAN), or both (LAN ↔ LAN): not proxied.
    for (const [src, dst] of [
      [V4.wan, V4.client],
      [[10, 0, 0, 9], V4.server],
    ]) {
      const p = ip(V4, src, dst, tcp({ sport: 1000, dport: 80, flags: F.SYN }));
      const q = h.run(500, p);
      expect(q.emitted).toHaveLength(0);
      expect([...q.passed[0]]).toEqual([...p]);
    }
    expect(h.c('synproxy_untracked_pass')).toBe(4);
  });

  it('accepts a zero-window probe after a lost third ACK (seq = ISN, not ISN + 1)', () => {
    const h = harness();
    const syn = clientSyn(V4, { ts: false, ws: 7 }, 5000, 0);
    const cookie = parse(h.run(100, syn).emitted[0]).seq;
    const r = h.run(200, fromClient(V4, { seq: 5000, ack: cookie + 1, flags: F.ACK }));
    expect(r.emitted).toHaveLength(1);
    expect(parse(r.emitted[0]).seq).toBe(5000);
  });

  it('drops a valid third ACK when the table is full (the client retransmits it)', () => {
    const h = harness({ maxConnections: 1 });
    establish(h, V4, { ts: true, noServer: true });
    const syn = clientSyn(V4, { ts: true }, 500, 1, 41_000);
    const cookie = parse(h.run(100, syn).emitted[0]).seq;
    const r = h.run(200, fromClient(V4, { seq: 501, ack: cookie + 1, flags: F.ACK }, 41_000));
    expect(r.passed.length + r.emitted.length).toBe(0);
    expect(h.c('synproxy_table_full')).toBe(1);
    expect(h.c('synproxy_cookie_valid')).toBe(2);
  });

  describe('one source cannot fill the table', () => {
    const from = (f: Fam, last: number): Fam => ({ ...f, client: [...f.client.slice(0, -1), last] });

    it('caps the connections of one IPv4 source; others still get in; a closed one frees its place at once', () => {
      const h = harness({ maxPerSource: 3 });
      const first = establish(h, V4, { ts: true }, 10_000, 41_000);
      for (let i = 1; i < 3; i++) establish(h, V4, { ts: true }, 10_000, 41_000 + i);
      const syn = clientSyn(V4, { ts: true }, 900, 1, 42_000);
      const cookie = parse(h.run(20_000, syn).emitted[0]).seq;
      const r = h.run(20_030, fromClient(V4, { seq: 901, ack: cookie + 1, flags: F.ACK }, 42_000));
      expect(r.emitted, 'no SYN to the server for a 4th connection, a RST to the client').toHaveLength(1);
      expect(parse(r.emitted[0]).flags).toBe(F.RST);
      expect(h.c('synproxy_source_full')).toBe(1);
      establish(h, from(V4, 6), { ts: true }, 20_100, 42_000); // another source
      // The first connection is reset by the client: it still lingers for stray packets, but its
      // place is free at once (the cap is about connections held open).
      h.run(21_000, fromClient(V4, { seq: first.isnC + 1, flags: F.RST }, 41_000));
      expect(h.proxy.table.count).toBe(4);
      establish(h, V4, { ts: true }, 21_100, 42_001);
      expect(h.c('synproxy_source_full')).toBe(1);
      // Three open again: the next one is refused; the lingering one leaving frees nothing twice.
      const syn2 = clientSyn(V4, { ts: true }, 950, 1, 42_002);
      const cookie2 = parse(h.run(21_200, syn2).emitted[0]).seq;
      h.run(21_230, fromClient(V4, { seq: 951, ack: cookie2 + 1, flags: F.ACK }, 42_002));
      expect(h.c('synproxy_source_full')).toBe(2);
      for (let t = 32_000; t < 34_000; t += 100) h.tick(t);
      expect(h.proxy.table.count).toBe(4);
      const syn3 = clientSyn(V4, { ts: true }, 980, 1, 42_003);
      const cookie3 = parse(h.run(34_100, syn3).emitted[0]).seq;
      h.run(34_130, fromClient(V4, { seq: 981, ack: cookie3 + 1, flags: F.ACK }, 42_003));
      expect(h.c('synproxy_source_full')).toBe(3);
    });

    it('answers the third ACK of a source at its cap with a RST (RFC 793: seq = its ack, no ACK), one per ACK', () => {
      for (const f of [V4, V6]) {
        const h = harness({ maxPerSource: 1 });
        establish(h, f, { ts: true }, 10_000, 41_000);
        const syn = clientSyn(f, { ts: true }, 900, 1, 42_000);
        const cookie = parse(h.run(20_000, syn).emitted[0]).seq;
        const ack = fromClient(f, { seq: 901, ack: cookie + 1, flags: F.ACK, opts: O.ts(2, 0) }, 42_000);
        const r = h.run(20_030, ack);
        expect(r.passed).toHaveLength(0);
        expect(r.emitted, f.name).toHaveLength(1);
        const rst = parse(r.emitted[0]);
        expect(rst).toMatchObject({
          src: f.server,
          dst: f.client,
          sport: SPORT,
          dport: 42_000,
          seq: (cookie + 1) >>> 0,
          ack: 0,
          flags: F.RST,
          win: 0,
          opts: [],
          payload: [],
        });
        expect(r.emitted[0].length, 'no larger than the ACK').toBeLessThanOrEqual(ack.length);
        expect(h.c('synproxy_source_full_rst')).toBe(1);
        // The same ACK again (a retransmission, or a replay): one RST each time, never more.
        expect(h.run(21_030, ack).emitted).toHaveLength(1);
        expect(h.c('synproxy_source_full_rst')).toBe(2);
        expect(h.c('synproxy_source_full')).toBe(2);
        // The controls: an ACK whose cookie does not validate (as a spoofed source sends it: it never
        // saw our SYN-ACK) gets no RST from the proxy, whatever the source's count; nor does an ACK
        // from a source under its cap, which opens its connection.
        const guess = (cookie ^ 0x5a5a5a5a) >>> 0;
        const forged = h.run(21_100, fromClient(f, { seq: 901, ack: guess, flags: F.ACK }, 42_000));
        expect(forged.emitted).toHaveLength(0);
        expect(h.c('synproxy_cookie_invalid')).toBe(1);
        expect(h.c('synproxy_source_full_rst')).toBe(2);
        // Another source: another IPv4 address, another IPv6 /64.
        const at = f.ver === 4 ? 3 : 7;
        const other: Fam = { ...f, client: f.client.map((b, i) => (i === at ? b ^ 1 : b)) };
        const syn2 = clientSyn(other, { ts: true }, 700, 1, 42_000);
        const cookie2 = parse(h.run(21_200, syn2).emitted[0]).seq;
        const open = h.run(21_230, fromClient(other, { seq: 701, ack: cookie2 + 1, flags: F.ACK }, 42_000));
        expect(open.emitted).toHaveLength(1);
        expect(parse(open.emitted[0]).flags).toBe(F.SYN);
        expect(h.c('synproxy_source_full_rst')).toBe(2);
      }
    });

    it('counts an IPv6 /64 as one source', () => {
      const h = harness({ maxPerSource: 2 });
      establish(h, from(V6, 1), { ts: true }, 10_000, 41_000);
      establish(h, from(V6, 2), { ts: true }, 10_000, 41_001);
      const other = from(V6, 3);
      const syn = clientSyn(other, { ts: true }, 900, 1, 42_000);
      const cookie = parse(h.run(20_000, syn).emitted[0]).seq;
      h.run(20_030, fromClient(other, { seq: 901, ack: cookie + 1, flags: F.ACK }, 42_000));
      expect(h.c('synproxy_source_full')).toBe(1);
      // Another /64 is another source.
      const next64: Fam = { ...V6, client: [...V6.client.slice(0, 7), 1, ...V6.client.slice(8)] };
      establish(h, next64, { ts: true }, 20_100, 42_000);
    });

    it('evicts the connection idle longest when the table is full, not the newcomer', () => {
      const h = harness({ maxConnections: 2 });
      establish(h, from(V4, 1), { ts: true }, 10_000, 41_000);
      establish(h, from(V4, 2), { ts: true }, 50_000, 41_000);
      establish(h, from(V4, 3), { ts: true }, 90_000, 41_000);
      expect(h.c('synproxy_evicted')).toBe(1);
      expect(h.c('synproxy_table_full')).toBe(0);
      const holds = (last: number) =>
        h.proxy.table.find(new Uint8Array([203, 0, 113, last, 10, 0, 0, 7]), 0, 4, 4, 41_000, SPORT) >= 0;
      expect([holds(1), holds(2), holds(3)]).toEqual([false, true, true]);
    });
  });

  it('counts SYNs it has no room to answer this batch (synproxy_emit_full)', () => {
    const h = harness();
    const syns = Array.from({ length: 600 }, (_, i) => clientSyn(V4, { ts: true }, i, 0, 10_000 + i));
    const r = h.run(100, ...syns);
    expect(r.emitted).toHaveLength(512); // the emitter's room per batch
    expect(r.passed).toHaveLength(0);
    expect(h.c('synproxy_emit_full')).toBe(88);
    expect(h.c('synproxy_cookie_sent')).toBe(512);
  });

  it('a SYN with a bad TCP checksum is not answered (reference §3)', () => {
    const h = harness();
    const syn = clientSyn(V4, { ts: true, ws: 7 }, 1, 2);
    syn[20 + 16] ^= 0x5a; // the TCP checksum field: the segment is corrupt
    expect(h.run(100, syn).emitted).toHaveLength(0);
  });

  it('a corrupt third ACK does not open a connection (reference §3)', () => {
    const h = harness();
    const cookie = parse(h.run(100, clientSyn(V4, { ts: true }, 1, 2)).emitted[0]).seq;
    const ack = fromClient(V4, { seq: 2, ack: cookie + 1, flags: F.ACK, win: 1000 });
    ack[20 + 14] ^= 0x40; // the window, corrupted in transit (the checksum no longer matches)
    // Today it is taken: a proxy SYN goes to the server with the corrupt window.
    expect(h.run(200, ack).emitted).toHaveLength(0);
  });

  it('uses the client MSS to pick the cookie index (no MSS option → 536)', () => {
    for (const [mss, want] of [
      [null, 536],
      [1300, 1300],
      [1452, 1440],
      [9000, 1460],
    ] as const) {
      const h = harness();
      const c = establish(h, V4, { ts: true, mss, noServer: true });
      expect(c.synAck.mss, 'we always advertise our own MSS').toBe(MSS4);
      expect(c.proxySyn.mss).toBe(want);
    }
  });

  it('clamps the proxy SYN’s MSS to the WAN MSS when configured', () => {
    const h = harness({ wanMss4: 1400, wanMss6: 1300 });
    expect(establish(h, V4, { ts: true, noServer: true }).proxySyn.mss).toBe(1400);
    expect(establish(h, V6, { ts: true, noServer: true }).proxySyn.mss).toBe(1300);
  });

  it('follows a new uplink’s MSS from a settings command (new handshakes only); without one it keeps the old', () => {
    const h = harness({ wanMss4: 1400, wanMss6: 1300 });
    expect(establish(h, V4, { ts: true, noServer: true }, 10_000, 41001).proxySyn.mss).toBe(1400);
    h.proxy.command({ type: 'settings', syn: { connectionIdleSeconds: 7440 } }); // the control: no MSS
    expect(establish(h, V4, { ts: true, noServer: true }, 10_000, 41002).proxySyn.mss).toBe(1400);
    h.proxy.command({ type: 'settings', syn: { wanMss4: 1220, wanMss6: 1200 } });
    expect(establish(h, V4, { ts: true, noServer: true }, 10_000, 41003).proxySyn.mss).toBe(1220);
    expect(establish(h, V6, { ts: true, noServer: true }, 10_000, 41004).proxySyn.mss).toBe(1200);
  });

  it('follows the router’s addresses from a router.set command: a new one is proxied, a removed one passed; a connection to one that stays keeps translating', () => {
    // The router's own addresses (not in LAN): .8 from the start, .9 added, then .8 removed.
    const at = (last: number): Fam => ({ ...V4, server: [198, 51, 100, last] });
    const h = harness({ routerPrefixes: ['198.51.100.8/32'] });
    const syn = (f: Fam, cport: number) => clientSyn(f, { ts: true }, 0x1234, 777, cport);
    // The control: before the command the new address is not the proxy's.
    let r = h.run(10_000, syn(at(9), 42001));
    expect(r.passed).toHaveLength(1);
    expect(r.emitted).toHaveLength(0);
    const kept = establish(h, at(8), { ts: true }, 10_000, 42002);
    h.proxy.command({ type: 'router.set', prefixes: ['198.51.100.8/32', '198.51.100.9/32'] });
    r = h.run(10_200, syn(at(9), 42003));
    expect(r.passed).toHaveLength(0);
    expect(r.emitted, 'a cookie SYN-ACK from the new address').toHaveLength(1);
    // The LAN stays protected.
    expect(h.run(10_200, syn(V4, 42004)).emitted).toHaveLength(1);
    // The connection to .8 is translated as before (its ack into the host's sequence space).
    const data = (ack: number) =>
      fromClient(
        at(8),
        { seq: kept.isnC + 1, ack, flags: F.ACK | F.PSH, win: 502, payload: new Uint8Array(10) },
        42002,
      );
    r = h.run(10_300, data(add(kept.cookie, 1)));
    expect(r.passed).toHaveLength(1);
    expect(parse(r.passed[0]).ack).toBe(add(kept.isnS, 1));
    // .8 removed: its SYNs are passed on, and so is what its old connection sends (untranslated).
    h.proxy.command({ type: 'router.set', prefixes: ['198.51.100.9/32'] });
    r = h.run(10_400, syn(at(8), 42005));
    expect(r.passed).toHaveLength(1);
    expect(r.emitted).toHaveLength(0);
    r = h.run(10_400, data(add(kept.cookie, 1)));
    expect(parse(r.passed[0]).ack).toBe(add(kept.cookie, 1));
    expect(h.run(10_500, syn(at(9), 42006)).emitted).toHaveLength(1);
  });

  it('the SYN cache carries WS/SACK (and ECN) for a client without timestamps', () => {
    const h = harness();
    const syn = clientSyn(V4, { ts: false, sack: true, ws: 6, ecn: true }, 0x1234, 0);
    const sa = parse(h.run(100, syn).emitted[0]);
    expect(sa.opts).toEqual(linuxOpts(MSS4, null, true, WSCALE));
    expect(sa.flags).toBe(F.SYN | F.ACK | F.ECE);
    expect(h.proxy.synCache.count).toBe(1);
    const r = h.run(150, fromClient(V4, { seq: 0x1235, ack: sa.seq + 1, flags: F.ACK, win: 1000 }));
    const s = parse(r.emitted[0]);
    expect(s.opts).toEqual(linuxOpts(1460, null, true, 6));
    expect(s.flags).toBe(F.SYN | F.ECE | F.CWR);
    expect(s.win).toBe(Math.min(65535, 1000 * 64));
    expect(h.proxy.synCache.count, 'consumed by the third ACK').toBe(0);
  });

  it('the SYN cache entry expires after 10 s', () => {
    const h = harness();
    h.run(100, clientSyn(V4, { ts: false, sack: true, ws: 6 }, 0x1234, 0));
    expect(h.proxy.synCache.count).toBe(1);
    tickThrough(h, 100, 9_000);
    expect(h.proxy.synCache.count).toBe(1);
    tickThrough(h, 9_000, 11_200);
    expect(h.proxy.synCache.count).toBe(0);
  });

  it('without room to remember them, a client without TS is offered no WS/SACK/ECN it cannot keep', () => {
    // synCacheSize 0: the options of a TS-less client cannot be kept. Advertising WS in the SYN-ACK
    // would make the client scale its windows while the server (told nothing) does not.
    const h = harness({ synCacheSize: 0 });
    const c = establish(h, V4, { ts: false, sack: true, ws: 6, ecn: true });
    expect(h.proxy.synCache.count).toBe(0);
    expect(c.synAck.ws, 'no WS offered').toBe(-1);
    expect(c.synAck.sackOk, 'no SACK offered').toBe(false);
    expect(c.synAck.flags & F.ECE, 'no ECN').toBe(0);
    expect(c.synAck.opts).toEqual(O.mss(MSS4));
    expect(c.proxySyn.ws).toBe(-1);
    expect(c.proxySyn.sackOk).toBe(false);
    expect(c.proxySyn.flags).toBe(F.SYN);
  });
});

// ---- the gate ----

function gate(over: Partial<SynGateSettings>): SynGateSettings {
  return {
    windowSeconds: 3,
    moderateThreshold: 1000,
    riskyThreshold: 2000,
    riskyAction: 'cookie',
    maxUnfinishedPerSource: 200,
    aggressiveHoldSeconds: 60,
    allow: [],
    ...over,
  };
}

describe('the tiered gate', () => {
  it('registers its counters after the proxy’s', () => {
    const h = harness({ syn: gate({}) });
    expect(h.proxy.dropReasons.slice(-15)).toEqual([
      'drop_syn_aggressive',
      'drop_syn_duplicate',
      'drop_syn_risky',
      'gauge_tier',
      'gauge_syn_window',
      'gauge_half_open',
      'gauge_aggressive_sources',
      'fast_syn_answered',
      'drop_fast_syn_risky',
      'drop_fast_syn_aggressive',
      'drop_fast_bad_checksum',
      'drop_fast_syn_duplicate',
      'fast_syn_answered_uplink',
      'fast_marks_refused',
      'fast_suspects_deferred',
    ]);
  });

  it('keeps the leading worker ticking while another worker’s window counts (it decides the shared tier)', () => {
    const sab = new SharedArrayBuffer(2 * 2 * 4);
    const lead = harness({ syn: gate({}), tierShare: { sab, index: 0, workers: 2 } });
    const peer = harness({ syn: gate({}), tierShare: { sab, index: 1, workers: 2 } });
    expect(lead.pipeline.nextTickAt(0)).toBe(Number.POSITIVE_INFINITY);
    expect(peer.run(100, clientSyn(V4, { ts: true }, 1000, 0, 50_001)).emitted).toHaveLength(1);
    expect(lead.pipeline.nextTickAt(100), 'the peer counts a SYN: every tick').toBe(100);
    expect(peer.pipeline.nextTickAt(100), 'its own window counts').toBe(100);
    const p = tickOnDeadlines(peer, 100, 3_300);
    expect(p.ticks.length, 'the peer ticks until its window is empty').toBeGreaterThanOrEqual(29);
    expect(lead.pipeline.nextTickAt(3_300), 'the peer’s window is empty again').toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(peer.pipeline.nextTickAt(3_300), 'the peer still remembers the SYN (its cache)').toBe(10_101);
  });

  it('moderate tier: answers new SYNs (still cached), drops duplicates', () => {
    const h = harness({ syn: gate({ moderateThreshold: 2 }) });
    const syns = [1, 2, 3].map((i) => clientSyn(V4, { ws: 7, sack: true }, 1000 * i, 0, 50_000 + i));
    for (const s of syns) expect(h.run(100, s).emitted).toHaveLength(1);
    h.tick(150);
    expect(h.c('gauge_tier')).toBe(1);
    expect(h.proxy.synCache.count).toBe(3);
    const r = h.run(200, syns[0]);
    expect(r.emitted).toHaveLength(0);
    expect(r.passed).toHaveLength(0);
    expect(h.c('drop_syn_duplicate')).toBe(1);
    expect(h.run(210, clientSyn(V4, {}, 4000, 0, 50_004)).emitted).toHaveLength(1);
  });

  it('moderate tier: a retransmitted SYN (same 4-tuple, any ISN, TS or not) is neither taken nor counted; a new 4-tuple is', () => {
    for (const ts of [true, false]) {
      const h = harness({ syn: gate({ moderateThreshold: 2, maxUnfinishedPerSource: 100 }) });
      for (const i of [1, 2, 3]) h.run(100, clientSyn(V4, { ts }, 1000 * i, 0, 50_000 + i));
      h.tick(150);
      expect(h.c('gauge_tier')).toBe(1);
      const seen = h.c('gauge_syn_window');
      const received = h.c('synproxy_syn_received');
      // The same 4-tuple again, its first ISN and another one: dropped as duplicates, not counted.
      for (const isn of [1000, 7777]) {
        const r = h.run(200, clientSyn(V4, { ts }, isn, 0, 50_001));
        expect(r.emitted, `ts ${ts}, isn ${isn}`).toHaveLength(0);
        expect(r.passed).toHaveLength(0);
      }
      expect(h.c('drop_syn_duplicate')).toBe(2);
      h.tick(250);
      expect(h.c('gauge_syn_window'), 'the tier counted no new SYN').toBe(seen);
      expect(h.c('synproxy_syn_received')).toBe(received);
      // The control in the same run: a new 4-tuple is answered and counted.
      expect(h.run(300, clientSyn(V4, { ts }, 4000, 0, 50_004)).emitted).toHaveLength(1);
      h.tick(350);
      expect(h.c('gauge_syn_window')).toBe(seen + 1);
      expect(h.c('synproxy_syn_received')).toBe(received + 1);
    }
  });

  it('risky tier with riskyAction drop: SYNs dropped', () => {
    const h = harness({ syn: gate({ moderateThreshold: 1, riskyThreshold: 2, riskyAction: 'drop' }) });
    const out = [1, 2, 3, 4].map(
      (i) => h.run(100 + i, clientSyn(V4, { ts: true }, i, 0, 50_000 + i)).emitted.length,
    );
    expect(out).toEqual([1, 1, 0, 0]);
    expect(h.c('drop_syn_risky')).toBe(2);
    expect(h.c('synproxy_cookie_sent')).toBe(2);
  });

  it('risky tier with riskyAction cookie: answered without caching; the cookie still completes', () => {
    const h = harness({ syn: gate({ moderateThreshold: 1, riskyThreshold: 2 }) });
    h.run(100, clientSyn(V4, {}, 1, 0, 50_001));
    h.run(101, clientSyn(V4, {}, 2, 0, 50_002));
    const cached = h.proxy.synCache.count;
    expect(cached).toBe(2);
    const c = establish(h, V4, { ts: false, sack: true, ws: 7 }, 102);
    expect(h.proxy.synCache.count, 'nothing cached in the risky tier').toBe(cached);
    // Not remembered, so not offered: WS and SACK would otherwise be on for the client only.
    expect(c.synAck.ws).toBe(-1);
    expect(c.synAck.sackOk).toBe(false);
    expect(c.proxySyn.ws).toBe(-1);
    expect(c.serverAck!.ack).toBe(add(c.isnS, 1));
    expect(h.proxy.table.state[slotOf(h, c)]).toBe(ConnState.ESTABLISHED);
    // A client with TS keeps its options through the risky tier (they ride in the cookie's TS).
    const d = establish(h, V4, { ts: true, sack: true, ws: 7 }, 110, 50_010);
    expect(d.synAck.ws).toBe(WSCALE);
    expect(d.proxySyn.ws).toBe(7);
    expect(d.proxySyn.sackOk).toBe(true);
  });

  it('risky tier: a retransmission of a SYN cached before keeps the options it was offered', () => {
    const h = harness({ syn: gate({ moderateThreshold: 1, riskyThreshold: 2 }) });
    const syn = clientSyn(V4, { sack: true, ws: 5 }, 7000, 0);
    const first = parse(h.run(100, syn).emitted[0]);
    expect(first.ws).toBe(WSCALE);
    h.run(101, clientSyn(V4, {}, 1, 0, 50_001));
    h.run(102, clientSyn(V4, {}, 2, 0, 50_002));
    h.tick(103);
    expect(h.c('gauge_tier')).toBe(2);
    const again = parse(h.run(104, syn).emitted[0]);
    expect(again.opts, 'the same options as the first answer').toEqual(first.opts);
    expect(again.seq).toBe(first.seq);
    const s = parse(h.run(105, fromClient(V4, { seq: 7001, ack: first.seq + 1, flags: F.ACK })).emitted[0]);
    expect(s.ws).toBe(5);
    expect(s.sackOk).toBe(true);
  });

  it('drops SYNs of a source with too many unfinished handshakes', () => {
    const h = harness({ syn: gate({ maxUnfinishedPerSource: 2 }) });
    for (let i = 0; i < 3; i++)
      expect(h.run(100 + i, clientSyn(V4, { ts: true }, i, 0, 50_000 + i)).emitted).toHaveLength(1);
    // Counted once past the grace period (1 s, in 1.25 s slots).
    const r = h.run(3000, clientSyn(V4, { ts: true }, 99, 0, 50_099));
    expect(r.emitted).toHaveLength(0);
    expect(r.passed).toHaveLength(0);
    expect(h.c('drop_syn_aggressive')).toBe(1);
    // The main thread hears of it at the tick, with the tick's other marks in one message.
    expect(h.posted.some((m) => (m as { type?: string }).type === 'attackers')).toBe(false);
    h.tick(3002);
    const batches = h.posted.map((m) => parseAttackerBatch(m)).filter((b) => b !== undefined);
    expect(batches).toHaveLength(1);
    expect(markOf(batches[0], 0)).toMatchObject({ address: '203.0.113.5', unfinished: 3, action: 'mark' });
    // Another source is still answered.
    const other = ip(
      V4,
      [198, 51, 100, 77],
      V4.server,
      tcp({ sport: 1234, dport: 80, flags: F.SYN, seq: 1 }),
    );
    expect(h.run(3001, other).emitted).toHaveLength(1);
  });

  it('counts a handshake once however often its SYN is retransmitted', () => {
    const h = harness({ syn: gate({ maxUnfinishedPerSource: 2 }) });
    const syn = clientSyn(V4, { ws: 7 }, 31337, 0); // no TS: retransmissions are recognised
    for (const t of [100, 1100, 2100]) expect(h.run(t, syn).emitted).toHaveLength(1);
    expect(h.c('synproxy_syn_retransmit')).toBe(2);
    h.tick(2200);
    expect(h.c('gauge_half_open'), 'one handshake answered, none completed').toBe(1);
    // One unfinished handshake, not three: the source is not aggressive once they all count.
    expect(h.run(4000, clientSyn(V4, { ts: true }, 99, 0, 50_099)).emitted).toHaveLength(1);
    expect(h.c('drop_syn_aggressive')).toBe(0);
  });

  it('completed handshakes do not count against a source', () => {
    const h = harness({ syn: gate({ maxUnfinishedPerSource: 2 }) });
    for (let i = 0; i < 4; i++) establish(h, V4, { ts: true }, 100 + i * 100, 50_000 + i);
    expect(h.run(3000, clientSyn(V4, { ts: true }, 99, 0, 50_099)).emitted).toHaveLength(1);
    expect(h.c('drop_syn_aggressive')).toBe(0);
  });
});

// ---- ICMP ----

describe('ICMP errors', () => {
  it('gives the server its own seq in the quote of a frag-needed about a translated segment', () => {
    const h = harness();
    const c = establish(h, V4, { ts: true, ws: 7 });
    const translatedSeq = add(c.cookie, 1 + 1448);
    const quoted = v4(
      { src: V4.server, dst: V4.client },
      tcp({ sport: SPORT, dport: CPORT, seq: translatedSeq, flags: F.ACK, payload: new Uint8Array(1448) }),
    ).subarray(0, 28);
    const err = v4({ src: V4.wan, dst: V4.server, proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], quoted));
    const r = h.run(c.now + 10, err);
    expect(r.passed).toHaveLength(1);
    const p = r.passed[0];
    expect(be32(p, 20 + 8 + 20 + 4)).toBe(add(c.isnS, 1 + 1448));
    expect(refChecksum(p.subarray(20)), 'ICMP checksum').toBe(0);
    expect(refChecksum(p.subarray(0, 20))).toBe(0);
    // An error to the client (about its own segments) is left alone.
    const q2 = v4(
      { src: V4.client, dst: V4.server },
      tcp({ sport: CPORT, dport: SPORT, seq: c.isnC + 1, flags: F.ACK }),
    ).subarray(0, 28);
    const err2 = v4({ src: V4.wan, dst: V4.client, proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], q2));
    expect([...h.run(c.now + 20, err2).passed[0]]).toEqual([...err2]);
  });

  it('IPv6 packet-too-big: the quoted seq is translated, the ICMPv6 checksum stays right', () => {
    const h = harness();
    const c = establish(h, V6, { ts: true, ws: 7 });
    const seq = add(c.cookie, 1);
    const quoted = v6(
      { src: V6.server, dst: V6.client },
      tcp({ sport: SPORT, dport: CPORT, seq, flags: F.ACK, payload: new Uint8Array(16) }),
    ).subarray(0, 48);
    const err = v6({ src: V6.wan, dst: V6.server, proto: 58 }, icmp(2, 0, [0, 0, ...u16(1280)], quoted));
    const p = h.run(c.now + 10, err).passed[0];
    expect(be32(p, 40 + 8 + 40 + 4)).toBe(add(c.isnS, 1));
    expect(refChecksum(cat(pseudo6(V6.wan, V6.server, 58, p.length - 40), p.subarray(40)))).toBe(0);
  });
});

// ---- the connection store ----

describe('exportChanges / restore', () => {
  /** A fixed exchange of data both ways; returns the translated bytes. */
  function exchange(h: Harness, c: Conn, now: number): number[][] {
    const pkts = [
      fromClient(c.f, {
        seq: c.isnC + 1,
        ack: add(c.cookie, 1),
        flags: F.ACK | F.PSH,
        win: 502,
        opts: [
          1,
          1,
          ...O.sack([add(c.cookie, 100), add(c.cookie, 200)]),
          1,
          1,
          ...O.ts(c.tsC + 7, add(c.tsProxy, 3)),
        ],
        payload: [1, 2, 3, 4],
      }),
      fromServer(c.f, {
        seq: add(c.isnS, 1),
        ack: add(c.isnC, 5),
        flags: F.ACK,
        win: 20000,
        opts: [1, 1, ...O.ts(c.tsS + 9, c.tsC + 7)],
        payload: [9, 8, 7],
      }),
    ];
    const r = h.run(now, ...pkts);
    expect(r.passed).toHaveLength(2);
    for (const p of r.passed) expectSums(p);
    return r.passed.map((p) => [...p]);
  }

  it('exports established connections once, and a stage built from them keeps translating', () => {
    for (const f of [V4, V6]) {
      const h1 = harness();
      const c = establish(h1, f, { ts: true, sack: true, ws: 7, ecn: true });
      establish(h1, f, { ts: true, noServer: true }, c.now, CPORT + 1); // left in SYN_SENT
      const sync = h1.proxy.exportChanges();
      expect(sync.removes).toEqual([]);
      expect(sync.upserts, 'the SYN_SENT connection is not exported').toHaveLength(1);
      const rec = sync.upserts[0];
      const hex = (a: number[]) => Buffer.from(a).toString('hex');
      expect(rec).toMatchObject({
        key: `${f.ver}|${hex(f.client)}|${CPORT}|${hex(f.server)}|${SPORT}`,
        ver: f.ver,
        client: hex(f.client),
        server: hex(f.server),
        cPort: CPORT,
        sPort: SPORT,
        state: ConnState.ESTABLISHED,
        flags: ConnFlag.TS | ConnFlag.SACK | ConnFlag.ECN | (f.ver === 6 ? ConnFlag.IPV6 : 0),
        isnC: c.isnC,
        isnP: c.cookie,
        isnS: c.isnS,
        delta: (c.cookie - c.isnS) >>> 0,
        tsOff: (c.tsS - c.tsProxy) >>> 0,
        tsProxy: c.tsProxy,
        tsClient: c.tsC + 1,
        wsClient: 7,
        wsAdv: WSCALE,
        wsServer: 2,
        mss: mssFromIndex(mssIndex(1460, f.ver), f.ver),
      });
      expect(rec.updated - EPOCH).toBeGreaterThanOrEqual(c.now);
      expect(rec.updated - EPOCH).toBeLessThanOrEqual(c.now + 30);
      expect(h1.proxy.exportChanges().upserts, 'nothing changed since').toHaveLength(0);
      const want = exchange(h1, c, c.now + 100);
      // A restart: the store's records go into a new stage.
      const h2 = harness({ restored: sync.upserts });
      expect(h2.proxy.restoredCount).toBe(1);
      const slot = slotOf(h2, c);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(h2.proxy.table.flags[slot] & (ConnFlag.RESTORED | ConnFlag.PERSISTED)).toBe(
        ConnFlag.RESTORED | ConnFlag.PERSISTED,
      );
      expect(exchange(h2, c, 50)).toEqual(want);
      expect(h2.c('synproxy_untracked_pass')).toBe(0);
      // Its end is reported as a removal, with the same key.
      h2.run(60, fromClient(f, { seq: c.isnC + 5, ack: c.cookie + 1, flags: F.RST }));
      tickThrough(h2, 60, 11_200);
      expect(h2.proxy.table.count).toBe(0);
      const posted = h2.posted.filter((m) => (m as { type?: string }).type === 'conn-sync') as {
        removes: string[];
      }[];
      const all = [...posted.flatMap((m) => m.removes), ...h2.proxy.exportChanges().removes];
      expect(all).toEqual([rec.key]);
    }
  });

  it('a restored connection wakes its worker once, for a sweep, then at its idle timeout', () => {
    const h1 = harness({ idleSeconds: 30 });
    const c = establish(h1, V4, { ts: true, ws: 7 });
    const sync = h1.proxy.exportChanges();
    const h2 = harness({ idleSeconds: 30, restored: sync.upserts });
    expect(h2.proxy.restoredCount).toBe(1);
    expect(h2.pipeline.nextTickAt(0), 'its deadline is not known before a sweep').toBe(0);
    const r = tickOnDeadlines(h2, 0, 29_000);
    // Its idle time starts again at the restart (worker clock 0).
    expect(r.ticks).toEqual([100]);
    expect(h2.pipeline.nextTickAt(29_000)).toBe(30_001);
    expect(slotOf(h2, c)).toBeGreaterThanOrEqual(0);
  });

  it('restore skips handshakes in progress and unusable records', () => {
    const good: ConnRecord = {
      key: '4|cb007105|40000|0a000007|80',
      ver: 4,
      client: 'cb007105',
      server: '0a000007',
      cPort: 40000,
      sPort: 80,
      state: ConnState.ESTABLISHED,
      flags: 0,
      isnC: 1,
      isnP: 2,
      isnS: 3,
      delta: 0xffffffff,
      tsOff: 0,
      tsProxy: 0,
      tsClient: 0,
      wsClient: -1,
      wsAdv: -1,
      wsServer: -1,
      mss: 1460,
      updated: 0,
    };
    const h = harness({
      restored: [
        good,
        { ...good, key: '4|cb007105|40001|0a000007|80', state: ConnState.SYN_SENT },
        { ...good, key: '4|cb007105|40002|0a000007|80', state: ConnState.FREE },
        { ...good, key: '4|cb007105' },
        { ...good, key: 'not a key' },
        { ...good, key: '4|cb007105|40003|0a000007|80', state: ConnState.CLOSED },
      ],
    });
    expect(h.proxy.restoredCount).toBe(2);
    // A closed one lingers its 10 s from the start, then goes (and is reported gone).
    tickThrough(h, 0, 9_000);
    expect(h.proxy.table.count).toBe(2);
    tickThrough(h, 9_000, 11_200);
    expect(h.proxy.table.count).toBe(1);
    const removes = h.posted.flatMap((m) => (m as { removes?: string[] }).removes ?? []);
    expect([...removes, ...h.proxy.exportChanges().removes]).toEqual(['4|cb007105|40003|0a000007|80']);
    // Translated with δ = −1: the server's seq + (−1)… i.e. seq − 1.
    const p = h.run(10, fromServer(V4, { seq: 1000, ack: 5, flags: F.ACK }, 40000)).passed[0];
    expect(parse(p).seq).toBe(999);
  });
});

describe('hand-over to the kernel translation (bpf/seqadj.c, src/tun/xlate-map.ts)', () => {
  /** A harness whose xlate queue is on; `seen`: the kernel's last-seen time (ns), or −1n: not in the map. */
  function xharness(over: Partial<StageEnv> = {}) {
    const h = harness({ idleSeconds: 60, ...over });
    const q = h.pipeline.ctx.xlate;
    q.enabled = true;
    const state = { seen: -1n, reads: 0 };
    q.read = (_key, value) => {
      state.reads++;
      if (state.seen < 0n) return false;
      new DataView(value.buffer, value.byteOffset).setBigUint64(16, state.seen, true);
      return true;
    };
    return { h, q, state };
  }
  const data = (c: Conn, flags = F.ACK | F.PSH, payload: number[] = [1, 2, 3]) =>
    fromServer(c.f, { seq: c.isnS + 1, ack: c.isnC + 1, flags, payload }, c.cport);

  for (const f of [V4, V6])
    it(`${f.name}: handed over with the host's first bytes (not before), once; FIN takes it back`, () => {
      const { h, q } = xharness();
      const c = establish(h, f, { ts: true, sack: true, ws: 7 });
      expect(q.addCount, 'nothing before the host has sent data').toBe(0);
      // The client's request: not yet.
      h.run(
        c.now + 10,
        fromClient(f, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.ACK | F.PSH, payload: [9] }, c.cport),
      );
      expect(q.addCount).toBe(0);
      h.run(c.now + 20, data(c));
      expect(q.addCount).toBe(1);
      const slot = slotOf(h, c);
      expect(h.proxy.table.handed[slot]).toBe(1);
      // The key is the LAN host's view: family, TCP, server port, client port, server, client.
      const k = q.addKeys.subarray(0, 40);
      expect([k[0], k[1], (k[4] << 8) | k[5], (k[6] << 8) | k[7]]).toEqual([f.ver, 6, SPORT, c.cport]);
      expect([...k.subarray(8, 8 + f.server.length)]).toEqual(f.server);
      expect([...k.subarray(24, 24 + f.client.length)]).toEqual(f.client);
      // The value: the connection's delta and timestamp offset.
      const v = new DataView(q.addValues.buffer, 0, 56);
      expect(v.getUint32(0, true)).toBe((c.cookie - c.isnS) >>> 0);
      expect(q.addValues[8] & 4).toBe(4); // timestamps translated
      q.reset();
      h.run(c.now + 30, data(c));
      expect(q.addCount, 'once').toBe(0);
      // A FIN reaches the daemon (the programs pass it on): the entry is taken back.
      h.run(c.now + 40, data(c, F.ACK | F.FIN, []));
      expect(q.removeCount).toBe(1);
      expect(Buffer.from(q.removeKeys.subarray(0, 40))).toEqual(Buffer.from(k));
      expect(h.proxy.table.handed[slot]).toBe(0);
    });

  it('a connection to the router’s own address is never handed over (its segments pass no LAN device), from the start or after router.set; a LAN host’s is', () => {
    const at = (last: number): Fam => ({ ...V4, server: [198, 51, 100, last] });
    const { h, q } = xharness({ routerPrefixes: ['198.51.100.8/32'] });
    const local = establish(h, at(8), { ts: true }, 10_000, 42010);
    h.run(local.now + 20, data(local));
    expect(q.addCount, 'the router’s own service').toBe(0);
    // The control: a LAN host's connection in the same harness is handed over.
    const lan = establish(h, V4, { ts: true }, 10_100, 42011);
    h.run(lan.now + 20, data(lan));
    expect(q.addCount).toBe(1);
    q.reset();
    // An address the router gets at run time is its own from then on.
    h.proxy.command({ type: 'router.set', prefixes: ['198.51.100.8/32', '198.51.100.9/32'] });
    const added = establish(h, at(9), { ts: true }, 10_200, 42012);
    h.run(added.now + 20, data(added));
    expect(q.addCount, 'an address added by router.set').toBe(0);
  });

  it('a RST from the client takes it back; a connection never handed over is not "taken back"', () => {
    const { h, q } = xharness();
    const c = establish(h, V4);
    h.run(c.now + 10, data(c));
    expect(q.addCount).toBe(1);
    q.reset();
    h.run(c.now + 20, fromClient(V4, { seq: c.isnC + 1, ack: c.cookie + 1, flags: F.RST }, c.cport));
    expect(q.removeCount).toBe(1);
    q.reset();
    const d = establish(h, V4, {}, c.now + 100, CPORT + 1);
    h.run(d.now + 10, fromClient(V4, { seq: d.isnC + 1, ack: d.cookie + 1, flags: F.RST }, d.cport));
    expect(q.removeCount).toBe(0);
  });

  it("idle expiry reads the kernel's last-seen time: kept while the kernel translates, expired (and taken back) when it stops", () => {
    const { h, q, state } = xharness();
    const c = establish(h, V4);
    h.run(c.now + 10, data(c));
    q.reset();
    const slot = slotOf(h, c);
    const idleMs = 60_000;
    // The kernel translated a segment just now: the connection is not idle.
    state.seen = process.hrtime.bigint();
    tickOnDeadlines(h, c.now + 10, c.now + idleMs + 5_000);
    expect(state.reads).toBeGreaterThan(0);
    expect(h.proxy.table.state[slot]).toBe(ConnState.ESTABLISHED);
    expect(q.removeCount).toBe(0);
    // Control: the kernel has seen nothing for longer than the timeout: it goes, and so does its entry.
    state.seen = process.hrtime.bigint() - BigInt(idleMs + 10_000) * 1_000_000n;
    tickOnDeadlines(h, c.now + idleMs + 5_000, c.now + 3 * idleMs);
    expect(h.proxy.table.count).toBe(0);
    expect(q.removeCount).toBe(1);
  });

  it('an upload the host does not answer is handed over after 256 KiB of client data, not before', () => {
    const { h, q } = xharness();
    const c = establish(h, V4);
    const chunk = new Array(1000).fill(7);
    let seq = c.isnC + 1;
    for (let i = 0; i < 262; i++) {
      h.run(
        c.now + 10 + i,
        fromClient(V4, { seq, ack: c.cookie + 1, flags: F.ACK, payload: chunk }, c.cport),
      );
      seq = (seq + chunk.length) >>> 0;
    }
    expect(q.addCount, '262 000 bytes: not yet').toBe(0);
    h.run(c.now + 300, fromClient(V4, { seq, ack: c.cookie + 1, flags: F.ACK, payload: chunk }, c.cport));
    expect(q.addCount).toBe(1);
  });

  it('handed over and closed in one batch: neither written (a take-back written first would leave the entry behind)', () => {
    const { h, q } = xharness();
    const c = establish(h, V4);
    const other = establish(h, V4, {}, c.now + 5, CPORT + 1);
    // c's first bytes and its FIN in one read; another connection's first bytes between them.
    h.run(
      c.now + 10,
      data(c),
      data(other),
      fromServer(V4, { seq: c.isnS + 4, ack: c.isnC + 1, flags: F.ACK | F.FIN }, c.cport),
    );
    expect(h.proxy.table.handed[slotOf(h, c)]).toBe(0);
    expect(q.removeCount).toBe(0);
    expect(q.addCount).toBe(1);
    // What is left is the other connection's hand-over, whole (the dropped one's place was taken).
    expect([...q.addSlots.subarray(0, 1)]).toEqual([slotOf(h, other)]);
    expect((q.addKeys[6] << 8) | q.addKeys[7]).toBe(other.cport);
  });

  it('a hand-over the full map refused goes back to the connection, asked again after RETRY_MS, not before', () => {
    const { h, q, state } = xharness();
    const c = establish(h, V4);
    const slot = slotOf(h, c);
    h.run(c.now + 10, data(c));
    expect(q.addCount).toBe(1);
    // The worker's write was refused: the map does not hold it.
    q.refused(c.now + 10);
    expect(h.proxy.table.handed[slot]).toBe(0);
    q.reset();
    h.run(c.now + 10 + XlateQueue.RETRY_MS - 1, data(c));
    expect(q.addCount, 'within RETRY_MS').toBe(0);
    h.run(c.now + 10 + XlateQueue.RETRY_MS, data(c));
    expect(q.addCount, 'asked again').toBe(1);
    expect(h.proxy.table.handed[slot]).toBe(1);
    // A write refused in part: the one the map holds stays handed over.
    state.seen = 1n;
    q.refused(c.now + 20 + XlateQueue.RETRY_MS);
    expect(h.proxy.table.handed[slot]).toBe(1);
  });

  it('a queue that is off asks for nothing (--no-bypass)', () => {
    const h = harness();
    const c = establish(h, V4);
    h.run(c.now + 10, data(c));
    expect(h.pipeline.ctx.xlate.addCount).toBe(0);
    expect(h.proxy.table.handed[slotOf(h, c)]).toBe(0);
  });
});
