// AddrRing: a first-in first-out ring of fixed capacity holding 16-byte addresses, each with a time.
// The SYN gate keeps in it what a spoofed flood makes by the thousand a second (the sources it told
// the kernel fast path to drop, until when; the sources the fast path reported, judged when): no
// allocation per entry, memory fixed at construction, and a full ring refuses (and counts) instead of
// growing. Entries come out in the order they went in, which is the order of their times when every
// entry gets the same delay (a hold time, a grace period).

/** Bytes of an address slot: IPv6, or IPv4 mapped (::ffff:a.b.c.d), as the fast path's maps key them. */
export const ADDR_BYTES = 16;

export class AddrRing {
  readonly capacity: number;
  /** The addresses, ADDR_BYTES a slot, slot i at i * ADDR_BYTES. */
  readonly addrs: Uint8Array;
  /** Each slot's time (ms, the owner's clock). */
  readonly times: Float64Array;
  /** Slot of the oldest entry. */
  private head = 0;
  /** Entries held. */
  size = 0;
  /** Pushes refused because the ring was full, since construction. */
  refused = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 22)
      throw new Error(`AddrRing capacity must be an integer 1..${1 << 22}, not ${capacity}`);
    this.capacity = capacity;
    this.addrs = new Uint8Array(capacity * ADDR_BYTES);
    this.times = new Float64Array(capacity);
  }

  /** Room for this many more entries. */
  get free(): number {
    return this.capacity - this.size;
  }

  /** The oldest entry's time; +Infinity when empty. */
  get headTime(): number {
    return this.size === 0 ? Number.POSITIVE_INFINITY : this.times[this.head];
  }

  /**
   * Appends the 16 bytes at src[off] with `time`. False (and counted in `refused`) when full: the
   * caller decides what a refusal means, the ring never drops an entry it holds.
   */
  push(src: Uint8Array, off: number, time: number): boolean {
    if (this.size === this.capacity) {
      this.refused++;
      return false;
    }
    let slot = this.head + this.size;
    if (slot >= this.capacity) slot -= this.capacity;
    const at = slot * ADDR_BYTES;
    for (let i = 0; i < ADDR_BYTES; i++) this.addrs[at + i] = src[off + i];
    this.times[slot] = time;
    this.size++;
    return true;
  }

  /** Takes the oldest entry: its address into out[off..off+16], its time returned (NaN when empty). */
  shift(out: Uint8Array, off = 0): number {
    if (this.size === 0) return Number.NaN;
    const at = this.head * ADDR_BYTES;
    for (let i = 0; i < ADDR_BYTES; i++) out[off + i] = this.addrs[at + i];
    const time = this.times[this.head];
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.size--;
    return time;
  }

  /** The k-th oldest entry's slot (0 ≤ k < size): its address is at slot * ADDR_BYTES in `addrs`. */
  slot(k: number): number {
    const s = this.head + k;
    return s >= this.capacity ? s - this.capacity : s;
  }

  clear(): void {
    this.head = 0;
    this.size = 0;
  }
}
