// SipHash-2-4 with 32-bit halves: the reference implementation's 64 test vectors, an independent
// BigInt implementation over random keys, lengths and offsets, and no allocation on the hot path.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { SipKey, siphash32, siphash64 } from '../../src/defense/siphash.js';
import { Prng } from '../packet/helpers.js';

// vectors_sip64 of the reference implementation (github.com/veorq/SipHash, vectors.h): key 00..0f,
// message i = the bytes 00, 01, …, i-1 (vector 0 is the empty message). Written as there, the
// output's 8 bytes little-endian: '310e0edd47db6f72' is 0x726fdb47dd0e0e31.
const VECTORS = [
  '310e0edd47db6f72',
  'fd67dc93c539f874',
  '5a4fa9d909806c0d',
  '2d7efbd796666785',
  'b7877127e09427cf',
  '8da699cd64557618',
  'cee3fe586e46c9cb',
  '37d1018bf50002ab',
  '6224939a79f5f593',
  'b0e4a90bdf82009e',
  'f3b9dd94c5bb5d7a',
  'a7ad6b22462fb3f4',
  'fbe50e86bc8f1e75',
  '903d84c02756ea14',
  'eef27a8e90ca23f7',
  'e545be4961ca29a1',
  'db9bc2577fcc2a3f',
  '9447be2cf5e99a69',
  '9cd38d96f0b3c14b',
  'bd6179a71dc96dbb',
  '98eea21af25cd6be',
  'c7673b2eb0cbf2d0',
  '883ea3e395675393',
  'c8ce5ccd8c030ca8',
  '94af49f6c650adb8',
  'eab8858ade92e1bc',
  'f315bb5bb835d817',
  'adcf6b0763612e2f',
  'a5c91da7acaa4dde',
  '716595876650a2a6',
  '28ef495c53a387ad',
  '42c341d8fa92d832',
  'ce7cf2722f512771',
  'e37859f94623f3a7',
  '381205bb1ab0e012',
  'ae97a10fd434e015',
  'b4a31508beff4d31',
  '81396229f0907902',
  '4d0cf49ee5d4dcca',
  '5c73336a76d8bf9a',
  'd0a704536ba93e0e',
  '925958fcd6420cad',
  'a915c29bc8067318',
  '952b79f3bc0aa6d4',
  'f21df2e41d4535f9',
  '87577519048f53a9',
  '10a56cf5dfcd9adb',
  'eb75095ccd986cd0',
  '51a9cb9ecba312e6',
  '96afadfc2ce666c7',
  '72fe52975a4364ee',
  '5a1645b276d592a1',
  'b274cb8ebf87870a',
  '6f9bb4203de7b381',
  'eaecb2a30b22a87f',
  '9924a43cc1315724',
  'bd838d3aafbf8db7',
  '0b1a2a3265d51aea',
  '135079a3231ce660',
  '932b2846e4d70666',
  'e1915f5cb1eca46c',
  'f325965ca16d629f',
  '575ff28e60381be5',
  '724506eb4c328a95',
];

/** The 64-bit value of a little-endian hex vector. */
function leHex(h: string): bigint {
  let v = 0n;
  for (let i = 14; i >= 0; i -= 2) v = (v << 8n) | BigInt(Number.parseInt(h.slice(i, i + 2), 16));
  return v;
}

function hashBig(key: SipKey, buf: Uint8Array, off: number, len: number): bigint {
  const out = new Uint32Array(2);
  siphash64(key, buf, off, len, out);
  return (BigInt(out[0]) << 32n) | BigInt(out[1]);
}

// An independent SipHash-2-4 over BigInt, straight from the paper (slow, obvious).
const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M64;
function refSipHash(key: Uint8Array, msg: Uint8Array): bigint {
  const le64 = (b: Uint8Array, o: number, n = 8) => {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[o + i]);
    return v;
  };
  const k0 = le64(key, 0);
  const k1 = le64(key, 8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & M64;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & M64;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & M64;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const end = msg.length - (msg.length % 8);
  for (let i = 0; i < end; i += 8) {
    const m = le64(msg, i);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  const b = (BigInt(msg.length & 0xff) << 56n) | le64(msg, end, msg.length - end);
  v3 ^= b;
  round();
  round();
  v0 ^= b;
  v2 ^= 0xffn;
  for (let i = 0; i < 4; i++) round();
  return (v0 ^ v1 ^ v2 ^ v3) & M64;
}

const KEY = new SipKey(Uint8Array.from({ length: 16 }, (_, i) => i));
const MSG = Uint8Array.from({ length: 64 }, (_, i) => i);

describe('siphash64', () => {
  it('matches all 64 reference vectors (key 00..0f, messages of 0..63 bytes)', () => {
    for (let n = 0; n < 64; n++) {
      expect(hashBig(KEY, MSG, 0, n).toString(16).padStart(16, '0'), `vector ${n}`).toBe(
        leHex(VECTORS[n]).toString(16).padStart(16, '0'),
      );
    }
  });

  it('gives the paper’s example: 15 bytes 00..0e → 0xa129ca6149be45e5, as [hi, lo]', () => {
    const out = new Uint32Array(2);
    siphash64(KEY, MSG, 0, 15, out);
    expect([out[0], out[1]]).toEqual([0xa129ca61, 0x49be45e5]);
    expect(hashBig(KEY, MSG, 0, 0)).toBe(0x726fdb47dd0e0e31n);
    expect(hashBig(KEY, MSG, 0, 8)).toBe(0x93f5f5799a932462n);
  });

  it('reads only buf[off, off+len): the same digest at any offset, whatever surrounds it', () => {
    const rng = new Prng(7);
    for (let n = 0; n < 64; n++) {
      for (const off of [1, 3, 8, 13]) {
        const big = rng.bytes(off + n + 11);
        big.set(MSG.subarray(0, n), off);
        expect(hashBig(KEY, big, off, n), `len ${n} at ${off}`).toBe(leHex(VECTORS[n]));
      }
    }
  });

  it('agrees with an independent BigInt SipHash-2-4 on random keys, lengths 0..300 and offsets', () => {
    const rng = new Prng(0x5eed);
    for (let t = 0; t < 1500; t++) {
      const kb = rng.bytes(16);
      // Keys with all-ones and high-bit words stress the carries and sign handling of the halves.
      if (t % 10 === 0) kb.fill(0xff);
      if (t % 10 === 1) for (let i = 3; i < 16; i += 4) kb[i] = 0x80;
      const len = t < 600 ? t % 80 : rng.int(301);
      const off = rng.int(9);
      const buf = rng.bytes(off + len + rng.int(5));
      if (t % 7 === 0) buf.fill(0xff);
      const msg = buf.slice(off, off + len);
      const key = new SipKey(kb);
      expect(hashBig(key, buf, off, len), `case ${t}`).toBe(refSipHash(kb, msg));
    }
  });

  it('the length byte wraps at 256 (length mod 256 goes into the last block)', () => {
    const rng = new Prng(3);
    const kb = rng.bytes(16);
    const key = new SipKey(kb);
    for (const len of [255, 256, 257, 511, 512, 1000]) {
      const msg = rng.bytes(len);
      expect(hashBig(key, msg, 0, len)).toBe(refSipHash(kb, msg));
    }
  });
});

describe('siphash32', () => {
  it('is the low 32 bits of siphash64, as an unsigned number', () => {
    const out = new Uint32Array(2);
    for (let n = 0; n < 64; n++) {
      siphash64(KEY, MSG, 0, n, out);
      const lo = siphash32(KEY, MSG, 0, n);
      expect(lo).toBe(out[1]);
      expect(lo).toBe(Number(leHex(VECTORS[n]) & 0xffffffffn));
    }
  });

  it('does not depend on state left by an earlier call (module scratch is reset)', () => {
    const a = siphash32(KEY, MSG, 0, 37);
    const other = new SipKey(new Uint8Array(16).fill(0xaa));
    siphash32(other, MSG, 5, 59);
    siphash64(other, MSG, 0, 3, new Uint32Array(2));
    expect(siphash32(KEY, MSG, 0, 37)).toBe(a);
  });
});

describe('SipKey', () => {
  it('takes exactly 16 bytes, read as little-endian words', () => {
    expect(() => new SipKey(new Uint8Array(15))).toThrow(/16 bytes/);
    expect(() => new SipKey(new Uint8Array(17))).toThrow(/16 bytes/);
    expect(KEY.k0l).toBe(0x03020100);
    expect(KEY.k0h).toBe(0x07060504);
    expect(KEY.k1l).toBe(0x0b0a0908);
    expect(KEY.k1h).toBe(0x0f0e0d0c);
    const hi = new SipKey(new Uint8Array(16).fill(0xff));
    expect(hi.k0l).toBe(0xffffffff); // unsigned, not −1
    expect(hi.k1h).toBe(0xffffffff);
  });

  it('every key bit matters', () => {
    const base = siphash32(KEY, MSG, 0, 20);
    for (let bit = 0; bit < 128; bit++) {
      const kb = Uint8Array.from({ length: 16 }, (_, i) => i);
      kb[bit >>> 3] ^= 1 << (bit & 7);
      expect(siphash32(new SipKey(kb), MSG, 0, 20), `key bit ${bit}`).not.toBe(base);
    }
  });
});

describe('allocation', () => {
  it('runs 1 M hashes without allocating (no scavenge) and without heap growth', async () => {
    const rng = new Prng(11);
    const buf = rng.bytes(64);
    const out = new Uint32Array(2);
    let acc = 0;
    const work = (n: number) => {
      for (let i = 0; i < n; i++) {
        siphash64(KEY, buf, i & 7, 36, out);
        acc = (acc + out[1] + siphash32(KEY, buf, 0, 40 + (i & 15))) % 0x40000000;
      }
    };
    work(50_000); // optimized before measuring
    // Scavenges (minor GCs) that start while the loop runs: allocation is what triggers them.
    const starts: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
          starts.push(e.startTime);
        }
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    work(500_000);
    const t1 = performance.now();
    const heap1 = process.memoryUsage().heapUsed;
    await new Promise((r) => setTimeout(r, 20)); // GC entries are delivered asynchronously
    obs.disconnect();
    // An allocating implementation (e.g. 64-bit halves held in module `let`s, boxed as heap
    // numbers on every store) triggers hundreds of scavenges here.
    expect(starts.filter((t) => t >= t0 && t <= t1).length).toBeLessThanOrEqual(2);
    expect(heap1 - heap0).toBeLessThan(4 << 20);
  });
});
