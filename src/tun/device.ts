// The TUN device: opening (with offloads), configuring, and the batch PacketIO over one queue fd.
import { loadAddon, type TunAddon } from './addon.js';
import type { Batch, PacketIO } from './packet-io.js';

/** TUNSETOFFLOAD bits (include/uapi/linux/if_tun.h), as reported back by open(). */
export const Offload = { CSUM: 0x01, TSO4: 0x02, TSO6: 0x04, TSO_ECN: 0x08, USO4: 0x20, USO6: 0x40 } as const;

export function offloadNames(bits: number): string[] {
  return Object.entries(Offload)
    .filter(([, v]) => (bits & v) !== 0)
    .map(([k]) => k.toLowerCase());
}

export interface TunOpenOptions {
  name: string;
  queues: number;
  /** Ask for IFF_VNET_HDR and CSUM/TSO offloads (the throughput: 64 KB super-packets). */
  offloads: boolean;
  mtu: number;
  txqueuelen: number;
}

export interface OpenedTun {
  name: string;
  fds: number[];
  offloads: number;
  vnetHdr: boolean;
}

/** Opens every queue of the device; errors name the step and say what to do about the usual ones. */
export function openTun(opts: TunOpenOptions, addon: TunAddon = loadAddon()): OpenedTun {
  const fds: number[] = [];
  const flags = (opts.queues > 1 ? 1 : 0) | (opts.offloads ? 2 : 0);
  let name = opts.name;
  let offloads = 0;
  try {
    for (let q = 0; q < opts.queues; q++) {
      const [fd, actual, off] = addon.open(name, flags);
      fds.push(fd);
      name = actual;
      offloads = off;
    }
    addon.configure(name, opts.mtu, opts.txqueuelen);
  } catch (err) {
    for (const fd of fds) addon.close(fd);
    throw explainTunError(err);
  }
  return { name, fds, offloads, vnetHdr: opts.offloads };
}

function explainTunError(err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EPERM' || e.code === 'EACCES')
    return new Error(`cannot create the TUN device: ${e.message}; run as root (CAP_NET_ADMIN)`);
  if (e.code === 'ENOENT' || e.code === 'ENODEV' || e.code === 'ENXIO')
    return new Error(`cannot create the TUN device: ${e.message}; is /dev/net/tun there (kmod-tun loaded)?`);
  if (e.code === 'EBUSY')
    return new Error(`cannot create the TUN device: ${e.message}; is another tunguard running on it?`);
  return e instanceof Error ? e : new Error(String(e));
}

/** One queue of an opened TUN as a PacketIO. Owns nothing but the fd number it was given. */
export class TunQueue implements PacketIO {
  private readonly status = new Uint32Array(2);
  /** errno of the last refused write, for the counters. */
  lastWriteErrno = 0;

  constructor(
    readonly name: string,
    private readonly fd: number,
    readonly vnetHdr: boolean,
    private readonly wakeFd: number,
    private readonly addon: TunAddon = loadAddon(),
  ) {}

  readBatch(batch: Batch, spinUs: number, timeoutMs: number): number {
    batch.count = this.addon.readBatch(
      this.fd,
      batch.buf,
      batch.offsets,
      batch.lengths,
      spinUs,
      timeoutMs,
      this.wakeFd,
    );
    return batch.count;
  }

  writeBatch(batch: Batch, count: number): number {
    if (count === 0) return 0;
    this.addon.writeBatch(this.fd, batch.buf, batch.offsets, batch.lengths, count, this.status);
    if (this.status[0] !== 0) this.lastWriteErrno = this.status[1];
    return this.status[0];
  }

  close(): void {
    this.addon.close(this.fd);
  }
}
