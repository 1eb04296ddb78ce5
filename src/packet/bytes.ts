// Network-order (big-endian) byte access; tiny functions that V8 inlines on the hot path.

/** Reads the 16-bit big-endian value at `o`. */
export function rd16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

/** Reads the 32-bit big-endian value at `o` as an unsigned number. */
export function rd32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

/** Writes the low 16 bits of `v` big-endian at `o` (Uint8Array stores truncate each byte). */
export function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

/** Writes the low 32 bits of `v` big-endian at `o`. */
export function wr32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}
