// The batch interface between the dataplane and a packet source (the TUN, or memory in unit tests).

/**
 * One batch: packets back to back in `buf`, packet i at offsets[i] with lengths[i] bytes.
 * Allocated once per worker and reused for every read; never grown on the hot path.
 */
export class Batch {
  readonly buf: Uint8Array;
  readonly view: DataView;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  count = 0;

  constructor(bytes: number, maxPackets: number) {
    this.buf = new Uint8Array(bytes);
    this.view = new DataView(this.buf.buffer);
    this.offsets = new Uint32Array(maxPackets);
    this.lengths = new Uint32Array(maxPackets);
  }
}

/** A batch packet device in the shape of wireguard-go's tun.Device: every call moves a batch. */
export interface PacketIO {
  readonly name: string;
  /** True when every packet starts with a 10-byte virtio-net header (offloads on). */
  readonly vnetHdr: boolean;
  /** Reads up to a batch; spins `spinUs`, then sleeps up to `timeoutMs`. Returns batch.count. */
  readBatch(batch: Batch, spinUs: number, timeoutMs: number): number;
  /** Writes packets 0..count-1 of the batch; returns how many the device refused. */
  writeBatch(batch: Batch, count: number): number;
  close(): void;
}
