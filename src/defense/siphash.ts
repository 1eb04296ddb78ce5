// SipHash-2-4 over a byte range, with 64-bit lanes kept as 32-bit halves (no BigInt, no allocation).
// Keyed by 16 random bytes; used for SYN cookies, where a guessable hash would let anyone forge them.

// State as hi/lo halves of v0..v3; module scratch because nothing here awaits or re-enters.
// A typed array, not module `let`s: a `let` holding a value above 2^30 is a heap number in V8, so
// every store to one allocated (hundreds of scavenges per million hashes).
const S = new Uint32Array(8);
const V0H = 0;
const V0L = 1;
const V1H = 2;
const V1L = 3;
const V2H = 4;
const V2L = 5;
const V3H = 6;
const V3L = 7;

function sipRound(): void {
  // v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
  let lo = (S[V0L] + S[V1L]) >>> 0;
  S[V0H] = (S[V0H] + S[V1H] + (lo < S[V0L] ? 1 : 0)) >>> 0;
  S[V0L] = lo;
  let h = ((S[V1H] << 13) | (S[V1L] >>> 19)) >>> 0;
  let l = ((S[V1L] << 13) | (S[V1H] >>> 19)) >>> 0;
  S[V1H] = (h ^ S[V0H]) >>> 0;
  S[V1L] = (l ^ S[V0L]) >>> 0;
  h = S[V0H];
  S[V0H] = S[V0L];
  S[V0L] = h;
  // v2 += v3; v3 = rotl(v3, 16) ^ v2
  lo = (S[V2L] + S[V3L]) >>> 0;
  S[V2H] = (S[V2H] + S[V3H] + (lo < S[V2L] ? 1 : 0)) >>> 0;
  S[V2L] = lo;
  h = ((S[V3H] << 16) | (S[V3L] >>> 16)) >>> 0;
  l = ((S[V3L] << 16) | (S[V3H] >>> 16)) >>> 0;
  S[V3H] = (h ^ S[V2H]) >>> 0;
  S[V3L] = (l ^ S[V2L]) >>> 0;
  // v0 += v3; v3 = rotl(v3, 21) ^ v0
  lo = (S[V0L] + S[V3L]) >>> 0;
  S[V0H] = (S[V0H] + S[V3H] + (lo < S[V0L] ? 1 : 0)) >>> 0;
  S[V0L] = lo;
  h = ((S[V3H] << 21) | (S[V3L] >>> 11)) >>> 0;
  l = ((S[V3L] << 21) | (S[V3H] >>> 11)) >>> 0;
  S[V3H] = (h ^ S[V0H]) >>> 0;
  S[V3L] = (l ^ S[V0L]) >>> 0;
  // v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
  lo = (S[V2L] + S[V1L]) >>> 0;
  S[V2H] = (S[V2H] + S[V1H] + (lo < S[V2L] ? 1 : 0)) >>> 0;
  S[V2L] = lo;
  h = ((S[V1H] << 17) | (S[V1L] >>> 15)) >>> 0;
  l = ((S[V1L] << 17) | (S[V1H] >>> 15)) >>> 0;
  S[V1H] = (h ^ S[V2H]) >>> 0;
  S[V1L] = (l ^ S[V2L]) >>> 0;
  h = S[V2H];
  S[V2H] = S[V2L];
  S[V2L] = h;
}

function le32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** A SipHash-2-4 key: 16 bytes as four little-endian words. */
export class SipKey {
  readonly k0l: number;
  readonly k0h: number;
  readonly k1l: number;
  readonly k1h: number;

  constructor(readonly bytes: Uint8Array) {
    if (bytes.length !== 16) throw new Error('SipHash key must be 16 bytes');
    this.k0l = le32(bytes, 0);
    this.k0h = le32(bytes, 4);
    this.k1l = le32(bytes, 8);
    this.k1h = le32(bytes, 12);
  }
}

/** Low 32 bits of SipHash-2-4(key, buf[off, off+len)). */
export function siphash32(key: SipKey, buf: Uint8Array, off: number, len: number): number {
  sipHash(key, buf, off, len);
  return (S[V0L] ^ S[V1L] ^ S[V2L] ^ S[V3L]) >>> 0;
}

/** Full 64-bit SipHash-2-4 as [hi, lo] written to out (for the test vectors). */
export function siphash64(key: SipKey, buf: Uint8Array, off: number, len: number, out: Uint32Array): void {
  sipHash(key, buf, off, len);
  out[0] = (S[V0H] ^ S[V1H] ^ S[V2H] ^ S[V3H]) >>> 0;
  out[1] = (S[V0L] ^ S[V1L] ^ S[V2L] ^ S[V3L]) >>> 0;
}

function sipHash(key: SipKey, buf: Uint8Array, off: number, len: number): void {
  S[V0L] = (key.k0l ^ 0x70736575) >>> 0;
  S[V0H] = (key.k0h ^ 0x736f6d65) >>> 0;
  S[V1L] = (key.k1l ^ 0x6e646f6d) >>> 0;
  S[V1H] = (key.k1h ^ 0x646f7261) >>> 0;
  S[V2L] = (key.k0l ^ 0x6e657261) >>> 0;
  S[V2H] = (key.k0h ^ 0x6c796765) >>> 0;
  S[V3L] = (key.k1l ^ 0x79746573) >>> 0;
  S[V3H] = (key.k1h ^ 0x74656462) >>> 0;
  const end = off + len - (len & 7);
  let p = off;
  for (; p < end; p += 8) {
    const ml = le32(buf, p);
    const mh = le32(buf, p + 4);
    S[V3L] = (S[V3L] ^ ml) >>> 0;
    S[V3H] = (S[V3H] ^ mh) >>> 0;
    sipRound();
    sipRound();
    S[V0L] = (S[V0L] ^ ml) >>> 0;
    S[V0H] = (S[V0H] ^ mh) >>> 0;
  }
  // Last block: the remaining bytes, and the length in the top byte.
  let bl = 0;
  let bh = ((len & 0xff) << 24) >>> 0;
  const rest = len & 7;
  for (let i = 0; i < rest; i++) {
    const b = buf[p + i];
    if (i < 4) bl |= b << (8 * i);
    else bh |= b << (8 * (i - 4));
  }
  bl >>>= 0;
  bh >>>= 0;
  S[V3L] = (S[V3L] ^ bl) >>> 0;
  S[V3H] = (S[V3H] ^ bh) >>> 0;
  sipRound();
  sipRound();
  S[V0L] = (S[V0L] ^ bl) >>> 0;
  S[V0H] = (S[V0H] ^ bh) >>> 0;
  S[V2L] = (S[V2L] ^ 0xff) >>> 0;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
}
