// A single-producer, single-consumer ring of packet samples in a SharedArrayBuffer. A dataplane worker
// copies the head of an interesting packet into a fixed slot (no allocation, no message, no promise);
// the main thread drains the ring on its own tick. A full ring refuses the sample: the worker counts it
// and moves on, it never waits for the reader.

/** What a sample is; the sampler decides it from a few header bytes. */
export const SampleKind = {
  /** A LAN host's TCP SYN (OS signature: TTL, window, MSS, options order, window scale). */
  SYN: 1,
  /** A LAN host's cleartext HTTP request to port 80 (User-Agent). */
  HTTP_REQUEST: 2,
  /** The first data a LAN host's service sends (SSH identification, HTTP Server header, FTP/SMTP 220). */
  BANNER: 3,
} as const;
export type SampleKindValue = (typeof SampleKind)[keyof typeof SampleKind];

/** Int32 words before the slots: write index, read index, slot count, snap length. */
const HEAD = 0;
const TAIL = 1;
const SLOTS = 2;
const SNAP = 3;
const HEADER_WORDS = 8;
/** Per slot: Int32 length, Int32 kind, then the bytes (rounded up to 8). */
const SLOT_META = 8;

export const SAMPLE_RING_DEFAULTS = { slots: 256, snap: 1024 } as const;

export class SampleRing {
  readonly sab: SharedArrayBuffer;
  readonly slots: number;
  readonly snap: number;
  private readonly ctl: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly meta: Int32Array;
  private readonly stride: number;

  /** A new ring: `slots` samples of at most `snap` bytes each. */
  static create(
    slots: number = SAMPLE_RING_DEFAULTS.slots,
    snap: number = SAMPLE_RING_DEFAULTS.snap,
  ): SampleRing {
    if (!Number.isInteger(slots) || slots < 1 || slots > 65536)
      throw new Error(`sample ring: bad slot count ${slots}`);
    if (!Number.isInteger(snap) || snap < 64 || snap > 65536)
      throw new Error(`sample ring: bad snap length ${snap}`);
    const stride = SLOT_META + ((snap + 7) & ~7);
    const sab = new SharedArrayBuffer(HEADER_WORDS * 4 + slots * stride);
    const ctl = new Int32Array(sab, 0, HEADER_WORDS);
    ctl[SLOTS] = slots;
    ctl[SNAP] = snap;
    return new SampleRing(sab);
  }

  /** Views an existing ring (the other side of the SharedArrayBuffer). */
  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.ctl = new Int32Array(sab, 0, HEADER_WORDS);
    this.slots = this.ctl[SLOTS];
    this.snap = this.ctl[SNAP];
    this.stride = SLOT_META + ((this.snap + 7) & ~7);
    if (!(this.slots > 0 && this.snap > 0) || sab.byteLength !== HEADER_WORDS * 4 + this.slots * this.stride)
      throw new Error('sample ring: the buffer is not a sample ring');
    this.bytes = new Uint8Array(sab, HEADER_WORDS * 4);
    this.meta = new Int32Array(sab, HEADER_WORDS * 4);
  }

  /**
   * Producer: copies buf[off, off + min(len, snap)) as one sample. False when the ring is full (the
   * reader is behind); the sample is then lost, which the caller counts.
   */
  push(kind: number, buf: Uint8Array, off: number, len: number): boolean {
    const head = this.ctl[HEAD]; // only this side writes HEAD
    if ((head - Atomics.load(this.ctl, TAIL)) >>> 0 >= this.slots) return false;
    const slot = (head >>> 0) % this.slots;
    const n = Math.min(len, this.snap);
    const at = slot * this.stride;
    this.meta[at >> 2] = n;
    this.meta[(at >> 2) + 1] = kind;
    // A plain loop: no subarray view to allocate (at most `snap` bytes, a few hundred times a second).
    const bytes = this.bytes;
    const to = at + SLOT_META;
    for (let i = 0; i < n; i++) bytes[to + i] = buf[off + i];
    // The store publishes the slot: the reader sees the bytes before it sees the new head.
    Atomics.store(this.ctl, HEAD, (head + 1) | 0);
    return true;
  }

  /** Samples waiting to be read. */
  get pending(): number {
    return (Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) >>> 0;
  }

  /**
   * Consumer: hands every waiting sample to `visit` (the bytes are a view into the ring, valid only
   * during the call), up to `max`, then frees their slots. Returns how many were read.
   */
  drain(visit: (kind: number, bytes: Uint8Array) => void, max = this.slots): number {
    const head = Atomics.load(this.ctl, HEAD);
    let tail = this.ctl[TAIL]; // only this side writes TAIL
    let n = 0;
    try {
      while (tail !== head && n < max) {
        const at = ((tail >>> 0) % this.slots) * this.stride;
        const len = Math.min(Math.max(this.meta[at >> 2], 0), this.snap);
        const kind = this.meta[(at >> 2) + 1];
        // Freed even when the visitor throws: one bad sample must not wedge the ring.
        tail = (tail + 1) | 0;
        n++;
        visit(kind, this.bytes.subarray(at + SLOT_META, at + SLOT_META + len));
      }
    } finally {
      Atomics.store(this.ctl, TAIL, tail);
    }
    return n;
  }
}
