// Fuzz: a million random and mutated packets through classify() and the TCP options parser.
import { describe, expect, it } from 'vitest';
import {
  CsumStatus,
  classify,
  computeL4Checksum,
  MALFORMED_NAMES,
  PacketInfo,
  TcpOptions,
  tcpParseOptions,
  VnetFlags,
  verifyL4Checksum,
} from '../../src/packet/index.js';
import { icmp, Prng, tcp, u32, udp, v4, v6, vnet } from './helpers.js';

const ITERATIONS = 1_000_000;

const synOpts = [2, 4, 5, 180, 4, 2, 8, 10, ...u32(1), ...u32(2), 1, 3, 3, 7];
const ackOpts = [
  1,
  1,
  8,
  10,
  ...u32(3),
  ...u32(4),
  1,
  1,
  5,
  18,
  ...u32(10),
  ...u32(20),
  ...u32(30),
  ...u32(40),
];
const pay = (n: number) => Array.from({ length: n }, (_x, i) => (i * 7) & 0xff);
const quote4 = v4({ proto: 6 }, tcp()).subarray(0, 28);
const quote6 = v6({ proto: 6 }, tcp()).subarray(0, 48);

interface Template {
  bytes: Uint8Array;
  vnet: boolean;
}
const plain = (bytes: Uint8Array): Template => ({ bytes, vnet: false });
const templates: Template[] = [
  plain(v4({ proto: 6 }, tcp({ flags: 2, opts: synOpts }))),
  plain(v4({ proto: 6, options: [1, 1, 1, 0] }, tcp({ flags: 0x18, opts: ackOpts, payload: pay(40) }))),
  plain(v4({ proto: 17 }, udp(pay(30)))),
  plain(v4({ proto: 1 }, icmp(8, 0, [0, 1, 0, 1], pay(16)))),
  plain(v4({ proto: 1 }, icmp(3, 4, [0, 0, 5, 0], quote4))),
  plain(v4({ proto: 6, frag: 0x2000 }, tcp({ payload: pay(24) }))),
  plain(v4({ proto: 6, frag: 0x0003 }, pay(24))),
  plain(v6({ proto: 6 }, tcp({ flags: 2, opts: synOpts }))),
  plain(
    v6(
      { proto: 6, ext: [{ type: 0 }, { type: 60, len: 16 }, { type: 43, segLeft: 1 }] },
      tcp({ opts: ackOpts }),
    ),
  ),
  plain(v6({ proto: 17, ext: [{ type: 51, len: 16 }] }, udp(pay(20)))),
  plain(v6({ proto: 58 }, icmp(2, 0, u32(1280), quote6))),
  plain(v6({ proto: 6, ext: [{ type: 44, more: true }] }, tcp({ payload: pay(16) }))),
  plain(v6({ proto: 17, ext: [{ type: 0 }, { type: 44, fragOff: 1232 }] }, pay(30))),
  plain(v6({ proto: 50 }, pay(24))),
  // Eight headers, the limit: one bit flip of the final 59 gives 43 (routing), a ninth header.
  plain(v6({ proto: 59, ext: new Array(8).fill({ type: 60 }) }, pay(12))),
  {
    bytes: vnet(
      v4({ proto: 6 }, tcp({ flags: 0x10, opts: ackOpts, payload: pay(300) })),
      1,
      1,
      0,
      100,
      20,
      16,
    ),
    vnet: true,
  },
  { bytes: vnet(v6({ proto: 17 }, udp(pay(200))), 1, 5, 0, 64, 40, 6), vnet: true },
  {
    bytes: vnet(
      v6({ proto: 6, ext: [{ type: 60 }] }, tcp({ flags: 2, opts: synOpts })),
      1,
      0x84,
      0,
      1200,
      48,
      16,
    ),
    vnet: true,
  },
  { bytes: vnet(v4({ proto: 17 }, udp(pay(10))), 2), vnet: true },
];

// Offsets of length-like fields worth lying about, relative to the IP header.
function lie(b: Uint8Array, l3: number, rng: Prng): void {
  const v = b[l3] >>> 4;
  const r = rng.next();
  const val = r & 3 ? r >>> 24 : (r >>> 8) & 0xff;
  const pick = rng.int(8);
  let at: number;
  if (v === 4) {
    const hl = (b[l3] & 15) * 4;
    at = [l3 + 2, l3 + 3, l3, l3 + 6, l3 + 7, l3 + hl + 12, l3 + hl + 4, l3 + hl + 21][pick];
  } else {
    at = [l3 + 4, l3 + 5, l3 + 41, l3 + 40, l3 + 6, l3 + 52, l3 + 60 + 1, l3 + 49][pick];
  }
  if (l3 > 0 && rng.int(4) === 0) at = rng.int(10); // the vnet header fields
  if (at < b.length) b[at] = val;
}

// Makes the IPv4 header checksum right again so mutations reach the deeper layers.
function fixIp4(b: Uint8Array, l3: number, end: number): void {
  if (l3 + 20 > end || b[l3] >>> 4 !== 4) return;
  const hl = (b[l3] & 15) * 4;
  if (hl < 20 || l3 + hl > end) return;
  b[l3 + 10] = 0;
  b[l3 + 11] = 0;
  let s = 0;
  for (let i = l3; i < l3 + hl; i += 2) s += (b[i] << 8) | b[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  s = ~s & 0xffff;
  b[l3 + 10] = s >>> 8;
  b[l3 + 11] = s & 0xff;
}

const FIELDS: (keyof PacketInfo)[] = [
  'vnetFlags',
  'gsoType',
  'gsoSize',
  'csumStart',
  'csumOffset',
  'ipVersion',
  'l3HdrLen',
  'ipLen',
  'frameLen',
  'proto',
  'ttl',
  'fragment',
  'fragOffset',
  'fragMore',
  'extCount',
  'routingSegLeft',
  'l4Len',
  'srcPort',
  'dstPort',
  'tcpFlags',
  'tcpHdrLen',
  'tcpSeq',
  'tcpAck',
  'tcpWindow',
  'icmpType',
  'icmpCode',
  'payloadLen',
];
const OFFSET_FIELDS: (keyof PacketInfo)[] = [
  'l3Off',
  'srcAddrOff',
  'dstAddrOff',
  'l4Off',
  'icmpInnerOff',
  'payloadOff',
];
const OPT_FIELDS: (keyof TcpOptions)[] = [
  'mss',
  'wscale',
  'sackPermitted',
  'tsPresent',
  'tsVal',
  'tsEcr',
  'sackBlockCount',
];

// Returns a description of the first bound a result breaks, or '' when all hold.
function checkBounds(info: PacketInfo, off: number, len: number, rc: number): string {
  const end = off + len;
  const inside = (o: number, n: number) => o === 0 || (o >= off && n >= 0 && o + n <= end);
  if (!inside(info.l3Off, 0)) return 'l3Off';
  if (info.l3Off !== 0 && info.l3Off + info.frameLen !== end) return 'frameLen';
  if (info.ipLen > info.frameLen) return 'ipLen';
  const alen = info.ipVersion === 6 ? 16 : 4;
  if (!inside(info.srcAddrOff, alen) || !inside(info.dstAddrOff, alen)) return 'addr';
  const ipEnd = info.l3Off + info.ipLen;
  if (info.l4Off !== 0 && (info.l4Off < info.l3Off || info.l4Off + info.l4Len > ipEnd)) return 'l4';
  if (info.l4Off === 0 && info.l4Len !== 0) return 'l4Len without l4Off';
  if (
    !inside(info.payloadOff, info.payloadLen) ||
    (info.payloadOff !== 0 && info.payloadOff + info.payloadLen > ipEnd)
  )
    return 'payload';
  if (info.payloadOff !== 0 && info.payloadOff < info.l4Off) return 'payload before l4';
  if (info.tcpHdrLen !== 0 && info.l4Off + info.tcpHdrLen > ipEnd) return 'tcpHdrLen';
  if (info.icmpInnerOff !== 0 && (info.icmpInnerOff < info.l4Off + 8 || info.icmpInnerOff >= ipEnd))
    return 'icmpInner';
  if (info.fragment === 2 && (info.l4Off | info.l4Len | info.srcPort | info.tcpHdrLen) !== 0)
    return 'fragment L4';
  const o = info.tcp;
  const hdrEnd = info.l4Off + info.tcpHdrLen;
  if (o.mssOff && o.mssOff + 2 > hdrEnd) return 'mssOff';
  if (o.wscaleOff && o.wscaleOff + 1 > hdrEnd) return 'wscaleOff';
  if (o.tsOff && o.tsOff + 8 > hdrEnd) return 'tsOff';
  if (o.sackOff && o.sackOff + 8 * o.sackBlockCount > hdrEnd) return 'sackOff';
  if (
    rc === 0 &&
    (info.vnetFlags & VnetFlags.NEEDS_CSUM) !== 0 &&
    info.csumStart + info.csumOffset + 2 > info.ipLen
  )
    return 'csum';
  if (rc === 0 && (info.ipVersion === 4 || info.ipVersion === 6) === false) return 'version';
  return '';
}

function hex(b: Uint8Array, off: number, len: number): string {
  return Buffer.from(b.subarray(off, off + len)).toString('hex');
}

describe('fuzz', () => {
  it(`classify + tcpParseOptions survive ${ITERATIONS} random and mutated packets`, () => {
    const rng = new Prng(0x7e57);
    const a = new Uint8Array(4096);
    const b = new Uint8Array(4096);
    const infoA = new PacketInfo();
    const infoB = new PacketInfo();
    const opts = new TcpOptions();
    const optsB = new TcpOptions();
    const byCode = new Array<number>(MALFORMED_NAMES.length).fill(0);
    let optsOk = 0;
    for (let it = 0; it < ITERATIONS; it++) {
      const mode = rng.int(16);
      const off = 1 + rng.int(8); // never 0, so an offset field of 0 always means "absent"
      let len: number;
      let hasVnet: boolean;
      if (mode === 0) {
        // Pure random bytes, version nibble steered half the time.
        len = rng.int(140);
        for (let i = 0; i < len; i++) a[off + i] = rng.next() & 0xff;
        hasVnet = rng.int(4) === 0;
        const l3 = off + (hasVnet ? 10 : 0);
        if (len > l3 - off && rng.int(2) === 0) a[l3] = (a[l3] & 15) | (rng.int(2) ? 0x40 : 0x60);
      } else {
        const t = templates[rng.int(templates.length)];
        hasVnet = t.vnet;
        len = t.bytes.length;
        a.set(t.bytes, off);
        const l3 = off + (hasVnet ? 10 : 0);
        if (mode & 1) {
          const flips = 1 + rng.int(6);
          for (let f = 0; f < flips; f++) {
            // Bias flips toward the headers, where they matter.
            const at = rng.int(4) === 0 ? rng.int(len) : rng.int(Math.min(len, 100));
            a[off + at] ^= 1 << rng.int(8);
          }
        }
        if (mode & 2) {
          const lies = 1 + rng.int(3);
          for (let l = 0; l < lies; l++) lie(a.subarray(off, off + len), l3 - off, rng);
        }
        if (mode & 4) len = rng.int(len + 1);
        if (mode & 8 || rng.int(2) === 0) fixIp4(a, l3, off + len);
      }
      // Junk after the packet: must never influence the result.
      for (let i = 0; i < 24; i++) a[off + len + i] = rng.next() & 0xff;

      const rc = classify(a, off, len, hasVnet, infoA);
      byCode[rc]++;
      const bad = checkBounds(infoA, off, len, rc);
      if (bad) throw new Error(`bound ${bad} broken (rc ${rc}) at iteration ${it}: ${hex(a, off, len)}`);

      if ((it & 3) === 0) {
        // Same bytes elsewhere with different junk around them: identical result.
        const off2 = 16 + rng.int(8);
        b.fill(0xff, 0, off2);
        b.set(a.subarray(off, off + len), off2);
        b.fill(~rng.next() & 0xff, off2 + len, off2 + len + 64);
        const rc2 = classify(b, off2, len, hasVnet, infoB);
        if (rc2 !== rc)
          throw new Error(`result depends on bytes outside the packet at ${it}: ${hex(a, off, len)}`);
        for (const f of FIELDS) {
          if (infoA[f] !== infoB[f]) throw new Error(`field ${f} differs at ${it}: ${hex(a, off, len)}`);
        }
        for (const f of OFFSET_FIELDS) {
          const x = infoA[f] as number;
          const y = infoB[f] as number;
          if ((x === 0) !== (y === 0) || (x !== 0 && x - off !== y - off2))
            throw new Error(`offset ${f} differs at ${it}: ${hex(a, off, len)}`);
        }
        for (const f of OPT_FIELDS) {
          if (infoA.tcp[f] !== infoB.tcp[f])
            throw new Error(`option ${f} differs at ${it}: ${hex(a, off, len)}`);
        }
      }

      if (rc === 0 && (it & 7) === 0) {
        const s = verifyL4Checksum(a, infoA);
        if (s < CsumStatus.OK || s > CsumStatus.NOT_APPLICABLE) throw new Error('bad status');
        const c = computeL4Checksum(a, infoA);
        if (c < -1 || c > 0xffff) throw new Error('bad checksum value');
      }

      // The options parser on its own, at arbitrary header positions and lengths.
      if ((it & 1) === 0 && len > 0) {
        const l4Off = off + rng.int(len);
        const l4Len = rng.int(off + len - l4Off + 1);
        const r = tcpParseOptions(a, l4Off, l4Len, opts);
        if (r === 0) optsOk++;
        if ((it & 6) === 0) {
          // Same header elsewhere with other bytes after l4Len: the parse must not look past it.
          b.set(a.subarray(l4Off, l4Off + l4Len), 32);
          b.fill(~a[l4Off + l4Len] & 0xff, 32 + l4Len, 32 + l4Len + 64);
          if (tcpParseOptions(b, 32, l4Len, optsB) !== r) throw new Error(`options read past l4Len at ${it}`);
          for (const f of OPT_FIELDS) {
            if (opts[f] !== optsB[f])
              throw new Error(`option ${f} read past l4Len at ${it}: ${hex(a, l4Off, l4Len)}`);
          }
        }
        const hdrEnd = l4Off + Math.min(((a[l4Off + 12] ?? 0) >>> 4) * 4, l4Len);
        if (
          (opts.mssOff && (opts.mssOff < l4Off + 22 || opts.mssOff + 2 > hdrEnd)) ||
          (opts.wscaleOff && opts.wscaleOff + 1 > hdrEnd) ||
          (opts.tsOff && opts.tsOff + 8 > hdrEnd) ||
          (opts.sackOff && opts.sackOff + 8 * opts.sackBlockCount > hdrEnd) ||
          opts.sackBlockCount > 4
        )
          throw new Error(`option offset outside the header at ${it}: ${hex(a, l4Off, l4Len)}`);
      }
    }
    // Every reason, and plenty of fully parsed packets, were reached.
    const missing = MALFORMED_NAMES.filter((_n, i) => byCode[i] === 0);
    if (process.env.FUZZ_STATS) console.log(MALFORMED_NAMES.map((n, i) => `${n}=${byCode[i]}`).join(' '));
    expect(missing).toEqual([]);
    expect(byCode[0]).toBeGreaterThan(ITERATIONS / 10);
    expect(optsOk).toBeGreaterThan(1000);
  });

  it('handles a template set that is entirely valid', () => {
    const info = new PacketInfo();
    for (const t of templates) expect(classify(t.bytes, 0, t.bytes.length, t.vnet, info)).toBe(0);
  });
});
