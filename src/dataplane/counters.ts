// Dataplane counters: one Float64Array slice per worker in a SharedArrayBuffer the main thread reads.
// Single writer per slice (its worker), so plain stores suffice; readers tolerate a torn snapshot.

/** Counters every pipeline keeps, in layout order. Drop reasons of stages are appended by name. */
export const BASE_COUNTERS = [
  'rx_packets',
  'rx_bytes',
  'tx_packets',
  'tx_bytes',
  'tx_errors',
  'batches',
  'sleeps',
  'ipv4',
  'ipv6',
  'tcp',
  'udp',
  'icmp',
  'other_proto',
  'fragments',
  'gso_packets',
  // Flows handed to the kernel to forward directly (src/tun/flow-bypass.ts), and writes it refused.
  'bypass_flows',
  'bypass_refused',
  // Proxied connections handed to the kernel to translate (src/tun/xlate-map.ts), writes it refused
  // (its map full: the connection stays on the TUN path), and entries taken back (FIN/RST, expiry).
  'xlate_handed',
  'xlate_refused',
  'xlate_removed',
] as const;

export class CounterLayout {
  readonly names: string[];
  private readonly index = new Map<string, number>();

  constructor(extra: readonly string[]) {
    this.names = [...BASE_COUNTERS, ...extra];
    this.names.forEach((n, i) => {
      if (this.index.has(n)) throw new Error(`duplicate counter ${n}`);
      this.index.set(n, i);
    });
  }

  /** Index of a counter; unknown names are a programming error, caught at start-up. */
  of(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`unknown counter ${name}`);
    return i;
  }

  /** Bytes for `workers` slices. */
  bytesFor(workers: number): number {
    return this.names.length * workers * Float64Array.BYTES_PER_ELEMENT;
  }

  slice(sab: SharedArrayBuffer, worker: number): Float64Array {
    return new Float64Array(sab, worker * this.names.length * 8, this.names.length);
  }

  /** One worker's slice as name → value. */
  workerSnapshot(sab: SharedArrayBuffer, worker: number): Record<string, number> {
    const s = this.slice(sab, worker);
    return Object.fromEntries(this.names.map((n, i) => [n, s[i]]));
  }

  /** Sum of all worker slices as name → value (main thread; allocation is fine here). */
  snapshot(sab: SharedArrayBuffer, workers: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const n of this.names) out[n] = 0;
    for (let w = 0; w < workers; w++) {
      const s = this.slice(sab, w);
      for (let i = 0; i < s.length; i++) out[this.names[i]] += s[i];
    }
    return out;
  }
}
