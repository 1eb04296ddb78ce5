// An in-memory PacketIO for unit tests of the pipeline; the lab suites test the real TUN.
import type { Batch, PacketIO } from './packet-io.js';

export class MemoryPacketIO implements PacketIO {
  readonly name = 'mem0';
  readonly inbox: Uint8Array[] = [];
  readonly written: Uint8Array[] = [];

  constructor(readonly vnetHdr: boolean) {}

  readBatch(batch: Batch, _spinUs: number, _timeoutMs: number): number {
    let pos = 0;
    let n = 0;
    while (this.inbox.length > 0 && n < batch.offsets.length) {
      const p = this.inbox[0];
      if (pos + p.length > batch.buf.length) break;
      this.inbox.shift();
      batch.buf.set(p, pos);
      batch.offsets[n] = pos;
      batch.lengths[n] = p.length;
      n++;
      pos += (p.length + 7) & ~7;
    }
    batch.count = n;
    return n;
  }

  writeBatch(batch: Batch, count: number): number {
    for (let i = 0; i < count; i++) {
      const o = batch.offsets[i];
      this.written.push(batch.buf.slice(o, o + batch.lengths[i]));
    }
    return 0;
  }

  close(): void {}
}
