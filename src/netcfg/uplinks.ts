// The router's uplinks as netifd sees them: a travel router changes uplink all day (hotel Wi-Fi as a
// client, USB tethering, LTE, cable), so the WAN device named at start goes stale. netifd's
// `ubus call network.interface dump` lists every logical interface with its state, its layer-3
// device and its routes; an uplink is an interface that is up and holds a default route (IPv4
// 0.0.0.0/0 or IPv6 ::/0). Several can be up at once; all are uplinks.
import { execFile } from 'node:child_process';

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

export interface UplinkWatchOptions {
  /** The command that prints the dump (default: ubus call network.interface dump). */
  command?: readonly string[];
  intervalMs: number;
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

  constructor(
    initial: readonly string[],
    private readonly o: UplinkWatchOptions,
  ) {
    this.current = [...initial].sort();
    this.timer = setInterval(() => void this.poll(), o.intervalMs);
    this.timer.unref();
  }

  get devices(): readonly string[] {
    return this.current;
  }

  /** One poll now (tests, and the first one at start). */
  poll(): Promise<void> {
    if (this.busy) return Promise.resolve();
    this.busy = true;
    const [cmd, ...args] = this.o.command ?? ['ubus', 'call', 'network.interface', 'dump'];
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
        resolve();
      });
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
