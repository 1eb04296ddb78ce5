// The DHCP requests of LAN hosts, for the passive inventory. They are addressed to the router itself,
// so they never cross the TUN: a packet socket per LAN device (native/tun.c dhcpSocket, a kernel filter
// that passes only UDP to port 67) holds them until the feed drains it once a second.
import { loadAddon, type TunAddon } from '../tun/addon.js';

/** Datagrams read per readBatch call (DHCP is a few packets a minute on a travel router's LAN). */
const BATCH = 64;

export class DhcpTap {
  private readonly addon: TunAddon;
  private readonly sockets: { dev: string; fd: number }[] = [];
  /** Devices whose socket could not be opened, with why. */
  readonly errors: string[] = [];
  // One buffer for every read: readBatch keeps room for a 64 KiB packet per slot it fills.
  private readonly buf = new Uint8Array(192 * 1024);
  private readonly offsets = new Uint32Array(BATCH);
  private readonly lengths = new Uint32Array(BATCH);

  constructor(devices: readonly string[]) {
    this.addon = loadAddon();
    for (const dev of devices) {
      try {
        this.sockets.push({ dev, fd: this.addon.dhcpSocket(dev) });
      } catch (err) {
        this.errors.push(`${dev}: ${(err as Error).message}`);
      }
    }
  }

  /** The devices listened on. */
  get devices(): string[] {
    return this.sockets.map((s) => s.dev);
  }

  /** Hands each waiting DHCP request (an IPv4 packet, from its header on) to `visit`; at most `max`. */
  drain(visit: (packet: Uint8Array) => void, max = 256): number {
    let n = 0;
    for (const { fd } of this.sockets) {
      while (n < max) {
        const got = this.addon.readBatch(fd, this.buf, this.offsets, this.lengths, 0, 0, -1);
        for (let i = 0; i < got; i++)
          visit(this.buf.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]));
        n += got;
        if (got < BATCH) break;
      }
    }
    return n;
  }

  close(): void {
    for (const s of this.sockets.splice(0)) this.addon.close(s.fd);
  }
}
