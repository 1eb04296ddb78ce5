// A TCP 4-tuple as the connection table and the SYN cache keep it: nine 32-bit words per entry
// (client address in words 0–3, server address in 4–7, IPv4 in the first word with the rest 0;
// client port << 16 | server port in word 8), hashed straight from the packet's bytes.
// The family is kept by each table beside the words.

/** Words of one key. */
export const TUPLE_WORDS = 9;
/** Word of the two ports. */
const PORTS = 8;

/** Both ports in one word, as stored. */
export function packPorts(cPort: number, sPort: number): number {
  return ((cPort << 16) | sPort) >>> 0;
}

function word(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** A seeded 32-bit hash of the tuple (addresses at cOff/sOff of buf, 4 or 16 bytes each). */
export function hashTuple(
  seed: number,
  buf: Uint8Array,
  cOff: number,
  sOff: number,
  ver: number,
  ports: number,
): number {
  let h = seed ^ ver;
  const n = ver === 4 ? 4 : 16;
  for (let i = 0; i < n; i += 4) {
    h = Math.imul(h ^ word(buf, cOff + i), 0x9e3779b1);
    h = Math.imul(h ^ word(buf, sOff + i), 0x85ebca77);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ ports, 0xc2b2ae3d);
  h ^= h >>> 13;
  h = Math.imul(h, 0x27d4eb2f);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Whether the key at keys[base..] is this tuple (the family is the caller's to compare). */
export function tupleEquals(
  keys: Uint32Array,
  base: number,
  buf: Uint8Array,
  cOff: number,
  sOff: number,
  ver: number,
  ports: number,
): boolean {
  if (keys[base + PORTS] !== ports) return false;
  const n = ver === 4 ? 1 : 4;
  for (let w = 0; w < n; w++) {
    if (keys[base + w] !== word(buf, cOff + (w << 2)) || keys[base + 4 + w] !== word(buf, sOff + (w << 2)))
      return false;
  }
  return true;
}

/** Stores the tuple at keys[base..]. */
export function writeTuple(
  keys: Uint32Array,
  base: number,
  buf: Uint8Array,
  cOff: number,
  sOff: number,
  ver: number,
  ports: number,
): void {
  const n = ver === 4 ? 1 : 4;
  for (let w = 0; w < 4; w++) {
    keys[base + w] = w < n ? word(buf, cOff + (w << 2)) : 0;
    keys[base + 4 + w] = w < n ? word(buf, sOff + (w << 2)) : 0;
  }
  keys[base + PORTS] = ports;
}

/** Writes the key's addresses as bytes: client at out[0..16), server at out[16..32). */
export function tupleAddresses(keys: Uint32Array, base: number, out: Uint8Array): void {
  for (let i = 0; i < 32; i++) out[i] = (keys[base + (i >>> 2)] >>> (24 - 8 * (i & 3))) & 0xff;
}

/** The stored client port. */
export function tupleClientPort(keys: Uint32Array, base: number): number {
  return keys[base + PORTS] >>> 16;
}

/** The stored server port. */
export function tupleServerPort(keys: Uint32Array, base: number): number {
  return keys[base + PORTS] & 0xffff;
}

/** The stored ports word (for rehashing). */
export function tuplePorts(keys: Uint32Array, base: number): number {
  return keys[base + PORTS];
}
