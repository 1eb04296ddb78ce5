// The router's own addresses on its uplinks: what WAN clients reach it by, so what the proxy, the
// fast path and the SYN police protect when the router's services are proxied
// (src/netcfg/router-local.ts). A travel router changes uplink all day, and a DHCP renew or SLAAC
// changes the address on the same device, so the list is watched, not read once.
//
// The source is getifaddrs (os.networkInterfaces: one netlink dump inside the process, ~50 µs): a
// poll every second costs nothing measurable and spawns no process. Addresses of a device without
// carrier are left out by it, as the kernel delivers nothing there either.
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';

/** What os.networkInterfaces() answers (the shape the list is read from). */
export type InterfaceAddresses = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** Link-local and loopback addresses: not what a WAN client reaches the router by. */
function isGlobal(a: NetworkInterfaceInfo): boolean {
  if (a.internal) return false;
  if (a.family === 'IPv4') return !a.address.startsWith('127.') && !a.address.startsWith('169.254.');
  const first = Number.parseInt(a.address.split(':')[0] || '0', 16);
  // fe80::/10 link-local, ff00::/8 multicast, ::1 and :: (first group 0 covers both here).
  return (first & 0xffc0) !== 0xfe80 && (first & 0xff00) !== 0xff00 && first !== 0;
}

/**
 * The router's addresses on these devices, as host prefixes (198.51.100.1/32, 2001:db8::1/128),
 * sorted: the one place the list is computed, at start and on every change.
 */
export function routerAddresses(
  devs: readonly string[],
  ipv6: boolean,
  ifaces: InterfaceAddresses = networkInterfaces(),
): string[] {
  const out = new Set<string>();
  for (const dev of devs)
    for (const a of ifaces[dev] ?? []) {
      if (!isGlobal(a)) continue;
      if (a.family === 'IPv4') out.add(`${a.address}/32`);
      else if (ipv6) out.add(`${a.address}/128`);
    }
  return [...out].sort();
}

/** What changed between two lists. */
export function addressDiff(
  previous: readonly string[],
  now: readonly string[],
): { added: string[]; removed: string[] } {
  return {
    added: now.filter((a) => !previous.includes(a)),
    removed: previous.filter((a) => !now.includes(a)),
  };
}

/**
 * The next list in force, from the one in force and the one seen now: a new address counts at once
 * (protected from its first connection); a vanished one only once it has been missing for
 * `grace` polls in a row (`missing` counts them, per address), so an address that blinks out for one
 * poll (a carrier flap, `ip addr flush` followed by `add` on a renew) keeps its proxied connections.
 */
export function nextAddresses(
  inForce: readonly string[],
  seen: readonly string[],
  missing: Map<string, number>,
  grace: number,
): string[] {
  const next = new Set(seen);
  for (const a of inForce) {
    if (seen.includes(a)) {
      missing.delete(a);
      continue;
    }
    const n = (missing.get(a) ?? 0) + 1;
    if (n < grace) {
      missing.set(a, n);
      next.add(a);
    } else missing.delete(a);
  }
  for (const a of missing.keys()) if (!next.has(a)) missing.delete(a);
  return [...next].sort();
}

export interface RouterAddressWatchOptions {
  /** The uplink devices at start (setDevices changes them). */
  devices: readonly string[];
  ipv6: boolean;
  /** The list in force at start (read with routerAddresses before the watch began). */
  initial: readonly string[];
  intervalMs: number;
  /** Polls an address must be missing in a row before it is no longer protected (≥ 1). */
  grace: number;
  /**
   * Makes `now` the list in force everywhere; the watch waits for it before the next change. A throw
   * (or rejection) keeps the old list, so the next poll tries again.
   */
  apply: (now: string[], previous: string[]) => Promise<void> | void;
  log: (m: string) => void;
  /** Where addresses are read (default: os.networkInterfaces). */
  read?: () => InterfaceAddresses;
}

/** Polls the router's addresses on its uplinks and applies every change, one at a time. */
export class RouterAddressWatch {
  private inForce: string[];
  private devices: readonly string[];
  private readonly missing = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastError = '';

  constructor(private readonly o: RouterAddressWatchOptions) {
    this.inForce = [...o.initial].sort();
    this.devices = [...o.devices];
    this.timer = setInterval(() => void this.check(), o.intervalMs);
    this.timer.unref();
  }

  /** The addresses protected now. */
  get addresses(): readonly string[] {
    return this.inForce;
  }

  /** The uplinks changed (netifd): their addresses are read at once. */
  setDevices(devices: readonly string[]): Promise<void> {
    this.devices = [...devices];
    return this.check();
  }

  /** Reads the addresses now and applies a change; a check asked for while one runs runs after it. */
  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.once().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.check();
      }
    });
    return this.running;
  }

  private async once(): Promise<void> {
    const seen = routerAddresses(this.devices, this.o.ipv6, (this.o.read ?? networkInterfaces)());
    const now = nextAddresses(this.inForce, seen, this.missing, this.o.grace);
    if (now.join(' ') === this.inForce.join(' ')) return;
    const previous = this.inForce;
    try {
      await this.o.apply(now, previous);
      this.inForce = now;
      this.lastError = '';
    } catch (err) {
      // Said once per different error, not every second.
      const msg = `router addresses: cannot change to ${now.join(', ') || 'none'}: ${(err as Error).message}`;
      if (msg !== this.lastError) this.o.log(msg);
      this.lastError = msg;
    }
  }

  /** No more polls; a change being applied runs to its end (awaited). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
