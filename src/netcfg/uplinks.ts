// The router's uplinks as netifd sees them: a travel router changes uplink all day (hotel Wi-Fi as a
// client, USB tethering, LTE, cable), so the WAN device named at start goes stale. netifd's
// `ubus call network.interface dump` lists every logical interface with its state, its layer-3
// device and its routes; an uplink is an interface that is up and holds a default route (IPv4
// 0.0.0.0/0 or IPv6 ::/0). Several can be up at once; all are uplinks. netifd announces each ifup,
// ifdown and update as a ubus event (`ubus listen network.interface`): an event asks again at once,
// and the poll stays as the fallback for a lost event or a restarted ubusd. One watch serves every
// follower of the dump (the uplinks, the LAN devices: src/netcfg/lan.ts): one ubus call per poll.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';

/** What a device name may look like (Linux IFNAMSIZ, the characters netifd uses). */
const DEVICE_RE = /^[\w.@:-]{1,15}$/;
/** The dump is small (tens of interfaces); more is not netifd's answer. */
const MAX_DUMP_BYTES = 1 << 20;

interface DumpRoute {
  target?: unknown;
  mask?: unknown;
}
interface DumpInterface {
  interface?: unknown;
  up?: unknown;
  l3_device?: unknown;
  device?: unknown;
  route?: unknown;
}

/** The interfaces of a `network.interface dump` answer that are up, each with its device; throws on what is not a dump. */
export function upInterfaces(dump: unknown): { name: unknown; device: string; route: unknown }[] {
  const list = (dump as { interface?: unknown } | null)?.interface;
  if (!Array.isArray(list)) throw new Error('not a network.interface dump (no "interface" array)');
  const up = [];
  for (const i of list as DumpInterface[]) {
    if (i?.up !== true) continue;
    // A PPP or tunnel interface's packets are on its l3_device, not on the device under it.
    const dev = typeof i.l3_device === 'string' ? i.l3_device : i.device;
    if (typeof dev === 'string' && DEVICE_RE.test(dev))
      up.push({ name: i.interface, device: dev, route: i.route });
  }
  return up;
}

/** The uplink devices of a `network.interface dump` answer, sorted; throws on what is not one. */
export function uplinkDevices(dump: unknown): string[] {
  const found = new Set<string>();
  for (const i of upInterfaces(dump)) {
    if (!Array.isArray(i.route)) continue;
    const dev = i.device;
    const isDefault = (r: DumpRoute) => r?.mask === 0 && (r.target === '0.0.0.0' || r.target === '::');
    if ((i.route as DumpRoute[]).some(isDefault)) found.add(dev);
  }
  return [...found].sort();
}

const DUMP = ['ubus', 'call', 'network.interface', 'dump'] as const;

/** netifd's dump now, asked once (at start, before steering), or why it cannot be had. */
export function dumpNow(command: readonly string[] = DUMP): { dump?: unknown; error?: string } {
  const [cmd, ...args] = command;
  try {
    const out = execFileSync(cmd, args, {
      timeout: 5000,
      maxBuffer: MAX_DUMP_BYTES,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return { dump: JSON.parse(out) };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
}

/** Reads `what` from a dump; an empty list with the reason when there is no dump or nothing in it. */
export function readNow(
  now: { dump?: unknown; error?: string },
  what: (dump: unknown) => string[],
  none: string,
): { devices: string[]; error?: string } {
  if (now.error !== undefined) return { devices: [], error: now.error };
  try {
    const devices = what(now.dump);
    return devices.length > 0 ? { devices } : { devices, error: none };
  } catch (err) {
    return { devices: [], error: (err as Error).message };
  }
}

/**
 * netifd's uplinks now, asked once (at start, before steering: the WAN device named in the config may
 * not be today's uplink); an empty list with the reason when netifd cannot be asked or has none.
 */
export function uplinksNow(command: readonly string[] = DUMP): { devices: string[]; error?: string } {
  return readNow(dumpNow(command), uplinkDevices, 'no interface is up with a default route');
}

/** One thing the watch reads from each dump, and what is done when it changes. */
export interface NetifdFollower {
  /** Its keys in a dump, sorted (e.g. device names); throws on what is not a dump. */
  read: (dump: unknown) => string[];
  /** The keys at start. */
  initial: readonly string[];
  /**
   * Called with the new keys whenever they differ from the last ones (not for an empty answer). A
   * throw keeps the last ones, so the next poll tries again.
   */
  onChange: (now: string[], previous: string[]) => void;
}

export interface NetifdWatchOptions {
  /** The command that prints the dump (default: ubus call network.interface dump). */
  command?: readonly string[];
  intervalMs: number;
  /** A command that prints a line per netifd event (default: ubus listen network.interface); null: none. */
  events?: readonly string[] | null;
  log: (m: string) => void;
}

export interface UplinkWatchOptions extends NetifdWatchOptions {
  /** Called with the new uplinks whenever they differ from the last ones (not for an empty answer). */
  onChange: (devices: string[], previous: string[]) => void;
}

/** While netifd's events come through `ubus listen`, a dump is asked for only this often (a missed event). */
const LISTENING_POLL_MS = 30_000;

/**
 * Asks netifd on each of its events and, as a fallback, every `intervalMs` while no listener runs
 * (every LISTENING_POLL_MS while one does: each dump is a process), and hands each answer to its
 * followers. An answer without any key keeps the last ones: between two uplinks
 * the router has none, and while a bridge is re-created the LAN has none; acting on that moment would
 * gain nothing.
 */
export class NetifdWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly current: string[][];
  private lastError = '';
  /** Each follower's last failed change, said once. */
  private readonly failed: string[];
  private busy = false;
  /** An event came while a poll ran: ask again when it ends (the running answer may predate it). */
  private again = false;
  private listener: ChildProcess | undefined;
  private listenRestart: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly followers: readonly NetifdFollower[],
    private readonly o: NetifdWatchOptions,
  ) {
    this.current = followers.map((f) => [...f.initial].sort());
    this.failed = followers.map(() => '');
    if (o.events !== null) this.listen(o.events ?? ['ubus', 'listen', 'network.interface']);
    else this.schedule();
  }

  /** The next fallback poll: soon without a listener, rarely with one. */
  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    const ms = this.listener ? Math.max(this.o.intervalMs, LISTENING_POLL_MS) : this.o.intervalMs;
    this.timer = setTimeout(() => {
      this.schedule();
      void this.poll();
    }, ms);
    this.timer.unref();
  }

  /** Follows netifd's events: every line is one; the listener is started again if it ends. */
  private listen(command: readonly string[]): void {
    const [cmd, ...args] = command;
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.listener = p;
    this.schedule();
    let pending = '';
    p.stdout?.on('data', (d: Buffer) => {
      pending += d.toString();
      // An event is one short JSON line; a line this long is not one, and is not kept.
      if (pending.length > 65536) pending = '';
      if (!pending.includes('\n')) return;
      pending = pending.slice(pending.lastIndexOf('\n') + 1);
      void this.poll();
    });
    const ended = (why: string) => {
      if (this.listener !== p) return;
      this.listener = undefined;
      if (this.stopped) return;
      if (why !== this.lastError)
        this.o.log(`netifd: no events (${why}); asking every ${this.o.intervalMs} ms`);
      this.lastError = why;
      this.schedule();
      this.listenRestart = setTimeout(() => this.listen(command), 5000);
      this.listenRestart.unref();
    };
    p.once('error', (e) => ended((e as Error).message));
    p.once('exit', (code, signal) => ended(`${cmd} exited ${signal ?? code}`));
  }

  /** The keys follower `i` has now. */
  keys(i: number): readonly string[] {
    return this.current[i];
  }

  /** One poll now (tests, and the first one at start). */
  poll(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return Promise.resolve();
    }
    this.busy = true;
    const [cmd, ...args] = this.o.command ?? DUMP;
    return new Promise<void>((resolve) => {
      execFile(cmd, args, { timeout: 5000, maxBuffer: MAX_DUMP_BYTES }, (err, stdout) => {
        this.busy = false;
        try {
          if (err) throw new Error(err.message.split('\n')[0]);
          const dump: unknown = JSON.parse(stdout);
          this.lastError = '';
          this.followers.forEach((f, i) => {
            this.hand(f, i, dump);
          });
        } catch (e) {
          // Said once per different error, not every second.
          const msg = `netifd: cannot ask: ${(e as Error).message}`;
          if (msg !== this.lastError) this.o.log(msg);
          this.lastError = msg;
        }
        if (this.again && !this.stopped) {
          this.again = false;
          void this.poll().then(resolve);
        } else resolve();
      });
    });
  }

  private hand(f: NetifdFollower, i: number, dump: unknown): void {
    const now = f.read(dump);
    if (now.length === 0 || now.join(' ') === this.current[i].join(' ')) return;
    const previous = this.current[i];
    try {
      f.onChange(now, previous);
      this.current[i] = now;
      this.failed[i] = '';
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.failed[i]) this.o.log(msg);
      this.failed[i] = msg;
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.listenRestart) clearTimeout(this.listenRestart);
    this.listener?.kill();
    this.listener = undefined;
  }
}

/** The watch with the uplinks as its one follower. */
export class UplinkWatch extends NetifdWatch {
  constructor(initial: readonly string[], o: UplinkWatchOptions) {
    super([{ read: uplinkDevices, initial, onChange: o.onChange }], o);
  }

  get devices(): readonly string[] {
    return this.keys(0);
  }
}
