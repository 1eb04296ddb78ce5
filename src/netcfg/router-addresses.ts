// The router's own addresses on its uplinks: what WAN clients reach it by, so what the proxy, the
// fast path and the SYN police protect when the router's services are proxied
// (src/netcfg/router-local.ts). A travel router changes uplink all day, and a DHCP renew or SLAAC
// changes the address on the same device, so the list is watched, not read once.
//
// The source is getifaddrs (os.networkInterfaces: one netlink dump inside the process, ~50 µs).
// It is read when the kernel says an address changed: `ip -o monitor address` (ip-full, which the
// package depends on) prints a line per change and otherwise sleeps in read(), so an idle router's
// main thread has no timer here. Without it, and every 30 s with it (a missed event), it is polled.
// Addresses of a device without carrier are left out, as the kernel delivers nothing there either.
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { LineEvents } from './line-events.js';

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
  /** The poll without address events, and how soon a missing address is looked at again. */
  intervalMs: number;
  /**
   * The command whose every output line is an address change (default `ip -o monitor address`);
   * null: none, poll every intervalMs.
   */
  events?: readonly string[] | null;
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

/** While the kernel's address events come, the addresses are polled only this often (a missed event). */
const LISTENING_POLL_MS = 30_000;

/** Reads the router's addresses on its uplinks on every change and applies it, one at a time. */
export class RouterAddressWatch {
  private inForce: string[];
  private devices: readonly string[];
  private readonly missing = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastError = '';
  /** The last change could not be applied: tried again at the next poll, intervalMs away. */
  private failing = false;
  private events: LineEvents | undefined;
  private listenError = '';

  constructor(private readonly o: RouterAddressWatchOptions) {
    this.inForce = [...o.initial].sort();
    this.devices = [...o.devices];
    if (o.events !== null)
      this.events = new LineEvents({
        command: o.events ?? ['ip', '-o', 'monitor', 'address'],
        onLines: () => void this.check(),
        onState: (listening, why) => {
          if (!listening && why !== undefined && why !== this.listenError)
            o.log(`router addresses: no address events (${why}); reading them every ${o.intervalMs} ms`);
          if (why !== undefined) this.listenError = why;
          this.schedule();
        },
      });
    this.schedule();
  }

  /** Whether the kernel's address events come through (else every intervalMs is a poll). */
  get listening(): boolean {
    return this.events?.listening ?? false;
  }

  /**
   * The next poll: every intervalMs without events, while an address is missing (it counts `grace`
   * polls before it goes) and after a change failed to apply; else every LISTENING_POLL_MS.
   */
  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    const ms =
      this.listening && this.missing.size === 0 && !this.failing ? LISTENING_POLL_MS : this.o.intervalMs;
    this.timer = setTimeout(() => void this.check(), ms);
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
      this.schedule();
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
      this.failing = true;
      await this.o.apply(now, previous);
      this.inForce = now;
      this.lastError = '';
      this.failing = false;
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
    clearTimeout(this.timer);
    this.events?.stop();
    await this.running;
  }
}
