// The kernel translation of proxied connections (bpf/seqadj.c) loaded into the running kernel and run
// on segments with BPF_PROG_TEST_RUN: each segment it translates must come out byte for byte as
// src/defense/seqadj.ts translates it (seq/ack, SACK blocks, timestamps, windows when the scales
// differ, the checksum), for both families and directions; what it must leave to the TUN it passes
// on (TCX_NEXT) untouched. The test run gives the program a full checksum (not CHECKSUM_PARTIAL): that
// state is the lab's (test/lab/xlate.test.ts, veth segments are PARTIAL).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSeqAdj } from '../../src/dataplane/xlate-queue.js';
import { adjustToClient, adjustToServer, newSeqAdj, type SeqAdj } from '../../src/defense/seqadj.js';
import { REINJECT_MARK } from '../../src/netcfg/steering-programs.js';
import { KernelXlate } from '../../src/netcfg/xlate.js';
import { classify, PacketInfo } from '../../src/packet/index.js';
import { loadAddon } from '../../src/tun/addon.js';
import { writeKey } from '../../src/tun/flow-bypass.js';
import { decodeXlateSeen, XLATE_KEY_SIZE, XLATE_VALUE_SIZE } from '../../src/tun/xlate-map.js';
import { Prng, refVerify, tcp, u32, v4, v6 } from '../packet/helpers.js';
import { type Fam, V4, V6 } from './families.js';

const addon = loadAddon();
const TUN_IFINDEX = 99;
const TCX_PASS = 0;
const TCX_NEXT = -1;
const ACK = 0x10;
const PSH = 0x08;

const CPORT = 40001;
const SPORT = 8080;

let x: KernelXlate;
beforeAll(() => {
  x = KernelXlate.load(addon, 64);
  x.configure(TUN_IFINDEX, REINJECT_MARK);
  x.setHeld(true); // as a worker does with its first hand-over
});
afterAll(() => x?.close());

function frame(ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + ip.length);
  f.set([2, 0, 0, 0, 0, 7, 2, 0, 0, 0, 0, 1], 0);
  f.set(ip[0] >> 4 === 4 ? [0x08, 0x00] : [0x86, 0xdd], 12);
  f.set(ip, 14);
  return f;
}

function key(f: Fam): Uint8Array {
  const addrs = new Uint8Array([...f.server, ...f.client]);
  const k = new Uint8Array(XLATE_KEY_SIZE);
  writeKey(k, 0, addrs, f.ver, 6, 0, SPORT, f.server.length, CPORT);
  return k;
}

function put(f: Fam, a: SeqAdj): void {
  const v = new Uint8Array(XLATE_VALUE_SIZE);
  encodeSeqAdj(a, v, 0);
  expect(addon.bpfMapWrite(x.connsFd, key(f), XLATE_KEY_SIZE, 1, v, false)).toBe(0);
}

function drop(f: Fam): void {
  addon.bpfMapWrite(x.connsFd, key(f), XLATE_KEY_SIZE, 1, new Uint8Array(0), true);
}

/** Runs one direction's program on an IP packet; ingress_ifindex and mark as given. */
function run(toServer: boolean, ip: Uint8Array, ingressIfindex = 3, mark = 0) {
  const f = frame(ip);
  const out = new Uint8Array(f.length + 64);
  const ctx = new Uint8Array(192);
  const dv = new DataView(ctx.buffer);
  dv.setUint32(8, mark, true);
  dv.setUint32(36, ingressIfindex, true);
  dv.setUint32(40, 1, true);
  const prog = toServer ? x.programs.toServer : x.programs.toClient;
  const [ret, len] = addon.bpfTestRun(prog, f, out, ctx, 1);
  return { ret, ip: out.slice(14, len) };
}

/** What seqadj.ts makes of the same packet. */
function expected(toServer: boolean, ip: Uint8Array, a: SeqAdj): Uint8Array {
  const buf = ip.slice();
  const info = new PacketInfo();
  expect(classify(buf, 0, buf.length, false, info)).toBe(0);
  if (toServer) adjustToServer(buf, info, a);
  else adjustToClient(buf, info, a);
  return buf;
}

interface Seg {
  flags: number;
  ts?: [number, number];
  sack?: number[];
  /** NOPs in front of the options (an odd number puts them at odd offsets). */
  nops?: number;
  payload?: number;
  win?: number;
}

function segment(f: Fam, toServer: boolean, s: Seg, seq: number, ack: number): Uint8Array {
  const opts: number[] = [];
  for (let i = 0; i < (s.nops ?? 0); i++) opts.push(1);
  if (s.ts) opts.push(8, 10, ...u32(s.ts[0]), ...u32(s.ts[1]));
  if (s.sack && s.sack.length > 0) opts.push(5, 2 + s.sack.length * 4, ...s.sack.flatMap((e) => u32(e)));
  const l4 = tcp({
    sport: toServer ? CPORT : SPORT,
    dport: toServer ? SPORT : CPORT,
    seq,
    ack,
    flags: s.flags,
    win: s.win ?? 501,
    opts,
    payload: new Uint8Array(s.payload ?? 0).map((_, i) => (i * 7) & 0xff),
  });
  const [src, dst] = toServer ? [f.client, f.server] : [f.server, f.client];
  return f.ver === 4 ? v4({ src, dst }, l4) : v6({ src, dst }, l4);
}

function randomAdj(r: Prng): SeqAdj {
  const a = newSeqAdj();
  a.delta = r.next();
  a.ts = r.int(2) === 0;
  a.tsOff = r.next();
  const ws = [-1, 0, 2, 7, 14];
  a.wsClient = ws[r.int(ws.length)];
  a.wsAdv = a.wsClient >= 0 ? [7, a.wsClient][r.int(2)] : -1;
  a.wsServer = ws[r.int(ws.length)];
  return a;
}

function randomSeg(r: Prng, toServer: boolean): Seg {
  const sackBlocks = toServer ? r.int(5) : 0;
  const hasTs = r.int(3) !== 0;
  // 40 bytes of options at most: 4 SACK blocks leave no room for timestamps.
  const room = 40 - (sackBlocks > 0 ? 2 + sackBlocks * 8 : 0) - (hasTs ? 10 : 0);
  return {
    flags: r.int(4) === 0 ? ACK : ACK | PSH,
    ts: hasTs && room >= 0 ? [r.next(), r.next()] : undefined,
    sack: Array.from({ length: room >= 0 ? sackBlocks * 2 : 0 }, () => r.next()),
    nops: Math.min(Math.max(room, 0), r.int(4)),
    payload: [0, 1, 100, 1400][r.int(4)],
    win: r.int(4) === 0 ? 0 : r.int(65536),
  };
}

describe('bpf/seqadj.c against seqadj.ts', () => {
  for (const f of [V4, V6])
    for (const toServer of [true, false])
      it(`IPv${f.ver} ${toServer ? 'client → server (LAN egress)' : 'server → client (LAN ingress)'}: byte for byte`, () => {
        const r = new Prng(f.ver * 10 + (toServer ? 1 : 2));
        let windowsChanged = 0;
        let tsChanged = 0;
        let sackSeen = 0;
        for (let n = 0; n < 400; n++) {
          const a = randomAdj(r);
          put(f, a);
          const s = randomSeg(r, toServer);
          const ip = segment(f, toServer, s, r.next(), r.next());
          const got = run(toServer, ip);
          const want = expected(toServer, ip, a);
          expect(got.ret, `case ${n}`).toBe(TCX_PASS);
          expect(Buffer.from(got.ip).toString('hex'), `case ${n}`).toBe(Buffer.from(want).toString('hex'));
          expect(refVerifyIp(got.ip), `case ${n}: checksum`).toBe(true);
          if (got.ip[(f.ver === 4 ? 20 : 40) + 14] !== ip[(f.ver === 4 ? 20 : 40) + 14]) windowsChanged++;
          if (s.ts && a.ts) tsChanged++;
          if ((s.sack?.length ?? 0) > 0) sackSeen++;
        }
        // The cases must cover what they claim to.
        expect(windowsChanged).toBeGreaterThan(20);
        expect(tsChanged).toBeGreaterThan(20);
        if (toServer) expect(sackSeen).toBeGreaterThan(20);
        drop(f);
      });

  it('counts each direction and stamps the last-seen time', () => {
    const a = randomAdj(new Prng(7));
    put(V4, a);
    const before = process.hrtime.bigint();
    for (let i = 0; i < 3; i++)
      expect(run(true, segment(V4, true, { flags: ACK, payload: 100 }, 1, 2)).ret).toBe(TCX_PASS);
    expect(run(false, segment(V4, false, { flags: ACK, payload: 10 }, 1, 2)).ret).toBe(TCX_PASS);
    const v = new Uint8Array(XLATE_VALUE_SIZE);
    expect(addon.bpfMapRead(x.connsFd, key(V4), v)).toBe(true);
    const seen = decodeXlateSeen(v);
    expect(seen.packets).toEqual([3n, 1n]);
    expect(seen.bytes[0]).toBe(3n * BigInt(14 + 20 + 20 + 100));
    expect(seen.lastNs >= before && seen.lastNs <= process.hrtime.bigint()).toBe(true);
    drop(V4);
  });
});

function refVerifyIp(ip: Uint8Array): boolean {
  const info = new PacketInfo();
  classify(ip, 0, ip.length, false, info);
  return refVerify(pseudoAndSegment(ip, info));
}

/** The pseudo-header followed by the segment, for the reference checksum. */
function pseudoAndSegment(ip: Uint8Array, info: PacketInfo): Uint8Array {
  const seg = ip.slice(info.l4Off);
  const v4h = ip[0] >> 4 === 4;
  const ph = v4h
    ? [...ip.slice(12, 20), 0, 6, seg.length >> 8, seg.length & 0xff]
    : [...ip.slice(8, 40), ...u32(seg.length), 0, 0, 0, 6];
  return new Uint8Array([...ph, ...seg]);
}

describe('what stays on the TUN path', () => {
  const a = newSeqAdj();
  a.delta = 12345;
  a.ts = true;
  a.tsOff = 777;
  for (const f of [V4, V6]) {
    it(`IPv${f.ver}: SYN, FIN, RST, the daemon's own packets, unknown connections`, () => {
      put(f, a);
      for (const flags of [0x02, 0x12, 0x11, 0x01 | ACK | PSH, 0x04, 0x14]) {
        for (const toServer of [true, false]) {
          const ip = segment(f, toServer, { flags, payload: 10 }, 5, 6);
          const got = run(toServer, ip);
          expect(got.ret).toBe(TCX_NEXT);
          expect(got.ip).toEqual(ip);
        }
      }
      const data = (toServer: boolean) => segment(f, toServer, { flags: ACK, payload: 10 }, 5, 6);
      // Control: the same data segment is translated.
      expect(run(true, data(true)).ret).toBe(TCX_PASS);
      expect(run(false, data(false)).ret).toBe(TCX_PASS);
      // Out of the TUN (the proxy's), or the router's own: not again.
      expect(run(true, data(true), TUN_IFINDEX).ret).toBe(TCX_NEXT);
      expect(run(true, data(true), 0).ret).toBe(TCX_NEXT);
      // Re-injected by the proxy at the LAN ingress: translated already.
      expect(run(false, data(false), 3, REINJECT_MARK).ret).toBe(TCX_NEXT);
      drop(f);
      expect(run(true, data(true)).ret).toBe(TCX_NEXT);
      expect(run(false, data(false)).ret).toBe(TCX_NEXT);
    });
  }

  it('nothing is looked up while the daemon says the map holds no connection (tg_xl_held 0)', () => {
    put(V4, a);
    const data = (toServer: boolean) => segment(V4, toServer, { flags: ACK, payload: 10 }, 5, 6);
    try {
      x.setHeld(false);
      for (const toServer of [true, false]) {
        const got = run(toServer, data(toServer));
        expect(got.ret).toBe(TCX_NEXT);
        expect(got.ip).toEqual(data(toServer)); // to the proxy, which translates it
      }
    } finally {
      x.setHeld(true);
    }
    // Control: the same segments, the word set again.
    expect(run(true, data(true)).ret).toBe(TCX_PASS);
    expect(run(false, data(false)).ret).toBe(TCX_PASS);
    // The main thread's part: from the counters, off once every connection handed over is taken back.
    try {
      x.heldFromCounters({ xlate_handed: 5, xlate_removed: 5, xlate_refused: 3 });
      expect(run(true, data(true)).ret).toBe(TCX_NEXT);
      x.heldFromCounters({ xlate_handed: 6, xlate_removed: 5 });
      expect(run(true, data(true)).ret).toBe(TCX_PASS);
      x.heldFromCounters({});
      expect(run(false, data(false)).ret).toBe(TCX_NEXT);
    } finally {
      x.setHeld(true);
    }
    drop(V4);
  });

  it('IPv4 options and fragments, malformed or repeated options', () => {
    put(V4, a);
    const l4 = tcp({ sport: CPORT, dport: SPORT, seq: 1, ack: 2, flags: ACK, payload: [1, 2, 3] });
    expect(run(true, v4({ src: V4.client, dst: V4.server }, l4)).ret).toBe(TCX_PASS);
    expect(run(true, v4({ src: V4.client, dst: V4.server, options: [1, 1, 1, 0] }, l4)).ret).toBe(TCX_NEXT);
    expect(run(true, v4({ src: V4.client, dst: V4.server, frag: 0x2000 }, l4)).ret).toBe(TCX_NEXT);
    const bad = (opts: number[]) =>
      run(true, v4({ src: V4.client, dst: V4.server }, tcp({ sport: CPORT, dport: SPORT, flags: ACK, opts })))
        .ret;
    expect(bad([8, 9, 0, 0, 0, 0, 0, 0, 0])).toBe(TCX_NEXT); // TS of the wrong length
    expect(bad([8, 10, ...u32(1), ...u32(2), 8, 10, ...u32(1), ...u32(2)])).toBe(TCX_NEXT); // two TS
    expect(bad([5, 9, 0, 0, 0, 0, 0, 0, 0])).toBe(TCX_NEXT); // SACK of a bad length
    expect(bad([30, 1])).toBe(TCX_NEXT); // a length below 2
    drop(V4);
  });
});
