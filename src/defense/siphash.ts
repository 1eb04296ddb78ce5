// SipHash-2-4 over a byte range, with 64-bit lanes kept as 32-bit halves (no BigInt, no allocation).
// Keyed by 16 random bytes; used for SYN cookies, where a guessable hash would let anyone forge them.

// State as hi/lo halves of v0..v3; module scratch because nothing here awaits or re-enters.
let v0h = 0;
let v0l = 0;
let v1h = 0;
let v1l = 0;
let v2h = 0;
let v2l = 0;
let v3h = 0;
let v3l = 0;

function sipRound(): void {
  // v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
  let lo = (v0l + v1l) >>> 0;
  v0h = (v0h + v1h + (lo < v0l ? 1 : 0)) >>> 0;
  v0l = lo;
  let h = ((v1h << 13) | (v1l >>> 19)) >>> 0;
  let l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
  v1h = (h ^ v0h) >>> 0;
  v1l = (l ^ v0l) >>> 0;
  h = v0h;
  v0h = v0l;
  v0l = h;
  // v2 += v3; v3 = rotl(v3, 16) ^ v2
  lo = (v2l + v3l) >>> 0;
  v2h = (v2h + v3h + (lo < v2l ? 1 : 0)) >>> 0;
  v2l = lo;
  h = ((v3h << 16) | (v3l >>> 16)) >>> 0;
  l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
  v3h = (h ^ v2h) >>> 0;
  v3l = (l ^ v2l) >>> 0;
  // v0 += v3; v3 = rotl(v3, 21) ^ v0
  lo = (v0l + v3l) >>> 0;
  v0h = (v0h + v3h + (lo < v0l ? 1 : 0)) >>> 0;
  v0l = lo;
  h = ((v3h << 21) | (v3l >>> 11)) >>> 0;
  l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
  v3h = (h ^ v0h) >>> 0;
  v3l = (l ^ v0l) >>> 0;
  // v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
  lo = (v2l + v1l) >>> 0;
  v2h = (v2h + v1h + (lo < v2l ? 1 : 0)) >>> 0;
  v2l = lo;
  h = ((v1h << 17) | (v1l >>> 15)) >>> 0;
  l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
  v1h = (h ^ v2h) >>> 0;
  v1l = (l ^ v2l) >>> 0;
  h = v2h;
  v2h = v2l;
  v2l = h;
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
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/** Full 64-bit SipHash-2-4 as [hi, lo] written to out (for the test vectors). */
export function siphash64(key: SipKey, buf: Uint8Array, off: number, len: number, out: Uint32Array): void {
  sipHash(key, buf, off, len);
  out[0] = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
  out[1] = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

function sipHash(key: SipKey, buf: Uint8Array, off: number, len: number): void {
  v0l = (key.k0l ^ 0x70736575) >>> 0;
  v0h = (key.k0h ^ 0x736f6d65) >>> 0;
  v1l = (key.k1l ^ 0x6e646f6d) >>> 0;
  v1h = (key.k1h ^ 0x646f7261) >>> 0;
  v2l = (key.k0l ^ 0x6e657261) >>> 0;
  v2h = (key.k0h ^ 0x6c796765) >>> 0;
  v3l = (key.k1l ^ 0x79746573) >>> 0;
  v3h = (key.k1h ^ 0x74656462) >>> 0;
  const end = off + len - (len & 7);
  let p = off;
  for (; p < end; p += 8) {
    const ml = le32(buf, p);
    const mh = le32(buf, p + 4);
    v3l = (v3l ^ ml) >>> 0;
    v3h = (v3h ^ mh) >>> 0;
    sipRound();
    sipRound();
    v0l = (v0l ^ ml) >>> 0;
    v0h = (v0h ^ mh) >>> 0;
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
  v3l = (v3l ^ bl) >>> 0;
  v3h = (v3h ^ bh) >>> 0;
  sipRound();
  sipRound();
  v0l = (v0l ^ bl) >>> 0;
  v0h = (v0h ^ bh) >>> 0;
  v2l = (v2l ^ 0xff) >>> 0;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
}
