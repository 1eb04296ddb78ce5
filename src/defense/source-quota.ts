// How many proxied connections each WAN source holds, so one source (one IPv6 /64) cannot fill the
// SYN proxy's connection table alone. Counts live in an AddrTable: fixed memory, no allocation.
import { AddrTable } from './addr-table.js';

export class SourceQuota {
  private readonly sources: AddrTable;
  private readonly counts: Uint32Array;

  /** `capacity`: distinct sources tracked (one per connection at most); `perSource`: the cap. */
  constructor(
    capacity: number,
    readonly perSource: number,
    options: { seed?: number } = {},
  ) {
    if (!Number.isInteger(perSource) || perSource < 1) throw new Error('perSource must be an integer >= 1');
    this.sources = new AddrTable(capacity, { v6PrefixLen: 64, probeLimit: 16, ...options });
    this.counts = new Uint32Array(this.sources.capacity);
  }

  /** Counts one more connection of the source at buf[off]; false (nothing counted) at the cap. */
  take(buf: Uint8Array, off: number, ver: number, now: number): boolean {
    const s = this.sources.upsert(buf, off, ver, now);
    // A slot taken over from another source starts from zero (that source's count is lost, which
    // only ever lets it open more, never fewer: the table sizes make it rare).
    if (this.sources.created) this.counts[s] = 0;
    if (this.counts[s] >= this.perSource) return false;
    this.counts[s]++;
    return true;
  }

  /** One connection of the source at buf[off] is gone. */
  release(buf: Uint8Array, off: number, ver: number): void {
    const s = this.sources.find(buf, off, ver);
    if (s < 0) return;
    if (this.counts[s] <= 1) this.sources.remove(s);
    else this.counts[s]--;
  }

  /** Connections counted for the source at buf[off]. */
  count(buf: Uint8Array, off: number, ver: number): number {
    const s = this.sources.find(buf, off, ver);
    return s < 0 ? 0 : this.counts[s];
  }
}
