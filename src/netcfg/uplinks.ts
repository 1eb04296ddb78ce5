// The router's uplinks as netifd sees them: a travel router changes uplink all day (hotel Wi-Fi as a
// client, USB tethering, LTE, cable), so the WAN device named at start goes stale. netifd's
// `ubus call network.interface dump` lists every logical interface with its state, its layer-3
// device and its routes; an uplink is an interface that is up and holds a default route (IPv4
// 0.0.0.0/0 or IPv6 ::/0). Several can be up at once; all are uplinks. netifd announces each ifup,
// ifdown and update as a ubus event (`ubus listen network.interface`): an event asks again at once,
// and the poll stays as the fallback for a lost event or a restarted ubusd.
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

/** The uplink devices of a `network.interface dump` answer, sorted; throws on what is not one. */
export function uplinkDevices(dump: unknown): string[] {
  const list = (dump as { interface?: unknown } | null)?.interface;
  if (!Array.isArray(list)) throw new Error('not a network.interface dump (no "interface" array)');
  const found = new Set<string>();
  for (const i of list as DumpInterface[]) {
    if (i?.up !== true || !Array.isArray(i.route)) continue;
    const dev = typeof i.l3_device === 'string' ? i.l3_device : i.device;
    if (typeof dev !== 'string' || !DEVICE_RE.test(dev)) continue;
    const isDefault = (r: DumpRoute) => r?.mask === 0 && (r.target === '0.0.0.0' || r.target === '::');
    if ((i.route as DumpRoute[]).some(isDefault)) found.add(dev);
  }
  return [...found].sort();
}

const DUMP = ['ubus', 'call', 'network.interface', 'dump'] as const;

/**
 * netifd's uplinks now, asked once (at start, before steering: the WAN device named in the config may
 * not be today's uplink); an empty list with the reason when netifd cannot be asked or has none.
 */
export function uplinksNow(command: readonly string[] = DUMP): { devices: string[]; error?: string } {
  const [cmd, ...args] = command;
  try {
    const out = execFileSync(cmd, args, {
      timeout: 5000,
      maxBuffer: MAX_DUMP_BYTES,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const devices = uplinkDevices(JSON.parse(out));
    return devices.length > 0 ? { devices } : { devices, error: 'no interface is up with a default route' };
  } catch (err) {
    return { devices: [], error: (err as Error).message.split('\n')[0] };
  }
}

export interface UplinkWatchOptions {
  /** The command that prints the dump (default: ubus call network.interface dump). */
  command?: readonly string[];
  intervalMs: number;
  /** A command that prints a line per netifd event (default: ubus listen network.interface); null: none. */
  events?: readonly string[] | null;
  /** Called with the new uplinks whenever they differ from the last ones (not for an empty answer). */
  onChange: (devices: string[], previous: string[]) => void;
  log: (m: string) => void;
}

/**
 * Asks netifd every `intervalMs` (a dump is one small ubus call) and reports changes. An answer
 * without any uplink keeps the last ones: between two uplinks the router has none, and dropping the
 * police for that moment would gain nothing.
 */
export class UplinkWatch {
  private timer: NodeJS.Timeout | undefined;
  private current: string[];
  private lastError = '';
  private busy = false;
  /** An event came while a poll ran: ask again when it ends (the running answer may predate it). */
  private again = false;
  private listener: ChildProcess | undefined;
  private listenRestart: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    initial: readonly string[],
    private readonly o: UplinkWatchOptions,
  ) {
    this.current = [...initial].sort();
    this.timer = setInterval(() => void this.poll(), o.intervalMs);
    this.timer.unref();
    if (o.events !== null) this.listen(o.events ?? ['ubus', 'listen', 'network.interface']);
  }

  /** Follows netifd's events: every line is one; the listener is started again if it ends. */
  private listen(command: readonly string[]): void {
    const [cmd, ...args] = command;
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.listener = p;
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
        this.o.log(`wan: no netifd events (${why}); asking every ${this.o.intervalMs} ms`);
      this.lastError = why;
      this.listenRestart = setTimeout(() => this.listen(command), 5000);
      this.listenRestart.unref();
    };
    p.once('error', (e) => ended((e as Error).message));
    p.once('exit', (code, signal) => ended(`${cmd} exited ${signal ?? code}`));
  }

  get devices(): readonly string[] {
    return this.current;
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
          const devices = uplinkDevices(JSON.parse(stdout));
          this.lastError = '';
          if (devices.length > 0 && devices.join(' ') !== this.current.join(' ')) {
            const previous = this.current;
            this.current = devices;
            this.o.onChange(devices, previous);
          }
        } catch (e) {
          // Said once per different error, not every second.
          const msg = (e as Error).message;
          if (msg !== this.lastError) this.o.log(`wan: cannot ask netifd: ${msg}`);
          this.lastError = msg;
        }
        if (this.again && !this.stopped) {
          this.again = false;
          void this.poll().then(resolve);
        } else resolve();
      });
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.listenRestart) clearTimeout(this.listenRestart);
    this.listener?.kill();
    this.listener = undefined;
  }
}
