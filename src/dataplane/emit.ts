// Packets the stages originate (SYN-ACKs, proxy SYNs, ACKs, RSTs), built straight into one buffer
// per worker and written after the batch's forwarded packets.
import { Batch } from '../tun/packet-io.js';

/** Room kept for one originated packet: a vnet header, IPv6 + TCP with options, and one MSS of data. */
const SLOT = 10 + 60 + 60 + 1500 + 6;

export class Emitter {
  readonly batch: Batch;
  private pos = 0;
  private pending = -1;

  constructor(
    readonly vnetHdr: boolean,
    maxPackets = 512,
  ) {
    this.batch = new Batch(maxPackets * SLOT, maxPackets);
  }

  /**
   * Starts a packet; returns the offset where its IP header goes (after a zeroed vnet header:
   * no offload, the builders fill full checksums), or -1 when the batch is full this round.
   */
  begin(): number {
    if (this.batch.count >= this.batch.offsets.length || this.pos + SLOT > this.batch.buf.length) return -1;
    const start = this.pos;
    this.pending = start;
    if (this.vnetHdr) {
      this.batch.buf.fill(0, start, start + 10);
      return start + 10;
    }
    return start;
  }

  /** Commits the packet begun last, `ipLen` bytes of IP packet (0 = abandon it). */
  end(ipLen: number): void {
    if (this.pending < 0 || ipLen <= 0) {
      this.pending = -1;
      return;
    }
    const len = ipLen + (this.vnetHdr ? 10 : 0);
    const b = this.batch;
    b.offsets[b.count] = this.pending;
    b.lengths[b.count] = len;
    b.count++;
    this.pos = (this.pending + len + 7) & ~7;
    this.pending = -1;
  }

  reset(): void {
    this.batch.count = 0;
    this.pos = 0;
    this.pending = -1;
  }
}
