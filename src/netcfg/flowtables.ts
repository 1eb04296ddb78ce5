// Which nft flowtables offload to hardware (`flags offload`: fw4's flow_offloading_hw). A hardware-
// offloaded flow is forwarded by the switch chip, past the LAN device's tc programs, so a proxied
// IPv4 connection that fw4 offloads loses the proxy's translation and breaks; IPv6 ones are kept out
// of the flowtable (./offload-guard.ts). The daemon says so at start, when it appears later, and in
// its status.
//
// Read from nft's text listing: its JSON (`nft -j list flowtables`) leaves the flags out, so the
// long-lived JSON reader (./nft-reader.ts) cannot tell. One `nft list flowtables` when `nft monitor`
// says the ruleset changed (fw4 reloads it whole), and every interval without it (or rarely with it).
import { execFile } from 'node:child_process';
import { LineEvents } from './line-events.js';

/** While `nft monitor` runs, the listing is read this often regardless (a change it did not show). */
const LISTENING_POLL_MS = 600_000;
/** A reload prints a line per rule: the listing is read once this long after the last. */
const SETTLE_MS = 500;

export interface Flowtable {
  family: string;
  table: string;
  name: string;
  devices: string[];
  /** `flags offload`: flows are handed to the devices' hardware. */
  hardware: boolean;
}

/** A listing longer than this is not read (nft is then ended). */
const MAX_LISTING = 1 << 20;
/** Flowtables kept from one listing (fw4 makes one). */
const MAX_FLOWTABLES = 64;

/** "inet fw4 ft": how the log and the status name a flowtable. */
export function flowtableName(f: Flowtable): string {
  return `${f.family} ${f.table} ${f.name}`;
}

/** The flowtables of `nft list flowtables` (text). Lines it does not know are skipped. */
export function parseFlowtables(text: string): Flowtable[] {
  const out: Flowtable[] = [];
  let table: { family: string; name: string } | undefined;
  let ft: Flowtable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const tableHead = /^table (\S+) (\S+) \{$/.exec(line);
    const ftHead = /^flowtable (\S+) \{$/.exec(line);
    const devices = /^devices = \{ (.*) \}$/.exec(line);
    const flags = /^flags (.+)$/.exec(line);
    if (tableHead) table = { family: tableHead[1], name: unquote(tableHead[2]) };
    else if (table && ftHead)
      ft = {
        family: table.family,
        table: table.name,
        name: unquote(ftHead[1]),
        devices: [],
        hardware: false,
      };
    else if (ft && devices)
      ft.devices = devices[1]
        .split(',')
        .map((d) => unquote(d.trim()))
        .filter(Boolean);
    else if (ft && flags) ft.hardware ||= flags[1].split(/[\s,]+/).includes('offload');
    else if (line === '}') {
      if (ft) {
        if (out.length < MAX_FLOWTABLES) out.push(ft);
        ft = undefined;
      } else table = undefined;
    }
  }
  return out;
}

function unquote(s: string): string {
  return s.replace(/^"(.*)"$/, '$1');
}

/** `nft list flowtables`, or undefined when nft fails (missing, no permission, too long). */
export function listFlowtables(): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      'nft',
      ['list', 'flowtables'],
      { encoding: 'utf8', timeout: 5000, maxBuffer: MAX_LISTING },
      (err, stdout) => resolve(err ? undefined : stdout),
    );
  });
}

export interface FlowtableWatchOptions {
  /** How often the ruleset is read again (0: only once, at start). */
  intervalMs: number;
  /** The hardware-offloading flowtables changed (the first read always reports). */
  onChange(hardware: readonly Flowtable[]): void;
  /** Reads the listing (default: nft). */
  list?: () => Promise<string | undefined>;
  /** The command whose lines say the ruleset changed (default `nft monitor`); null: poll only. */
  events?: readonly string[] | null;
  /** Each read: the ruleset may have changed (another reader of it follows the same events). */
  onRead?: () => void;
}

/** Reads the flowtables at start and every interval; reports when the hardware-offloading ones change. */
export class FlowtableWatch {
  private timer: NodeJS.Timeout | undefined;
  private last: string | undefined;
  private current: Flowtable[] = [];
  private reading = false;
  private events: LineEvents | undefined;
  private settle: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: FlowtableWatchOptions) {}

  /** The first read (awaited, so the start-up log has it), then on each change (or the interval). */
  async start(): Promise<void> {
    await this.poll();
    if (this.o.intervalMs <= 0 || this.stopped) return;
    if (this.o.events !== null)
      this.events = new LineEvents({
        command: this.o.events ?? ['nft', 'monitor'],
        onLines: () => {
          clearTimeout(this.settle);
          this.settle = setTimeout(() => void this.poll(), SETTLE_MS);
          this.settle.unref();
        },
        onState: () => this.schedule(),
      });
    this.schedule();
  }

  /** Whether `nft monitor` tells of changes (else the ruleset is read every interval). */
  get listening(): boolean {
    return this.events?.listening ?? false;
  }

  private schedule(): void {
    clearInterval(this.timer);
    if (this.stopped) return;
    const ms = this.listening ? Math.max(this.o.intervalMs, LISTENING_POLL_MS) : this.o.intervalMs;
    this.timer = setInterval(() => void this.poll(), ms);
    this.timer.unref();
  }

  /** The hardware-offloading flowtables as last read. */
  hardware(): readonly Flowtable[] {
    return this.current;
  }

  async poll(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    this.o.onRead?.();
    try {
      const text = await (this.o.list ?? listFlowtables)();
      // nft failed: what was last read stands (a failed read is no news).
      if (text === undefined) return;
      const hw = parseFlowtables(text).filter((f) => f.hardware);
      const key = JSON.stringify(hw);
      if (key === this.last) return;
      this.last = key;
      this.current = hw;
      this.o.onChange(hw);
    } finally {
      this.reading = false;
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.settle);
    this.events?.stop();
    this.timer = undefined;
  }
}

/**
 * What the log and the status say while hardware flowtables can take proxied connections past the
 * proxy; undefined when every proxied family is kept out. `ipv6`: whether proxied IPv6 connections
 * are kept out ('guarded'), not ('unguarded'), or there are none (IPv6 not steered); `ipv4` likewise
 * (the conntrack helper, src/netcfg/ct-helper.ts).
 */
export function hardwareOffloadWarning(
  hardware: readonly Flowtable[],
  ipv6: 'guarded' | 'unguarded' | 'none',
  ipv4: 'guarded' | 'unguarded' = 'unguarded',
): string | undefined {
  const which = hardware
    .map((f) => `${flowtableName(f)} on ${f.devices.join(', ') || 'no device'}`)
    .join('; ');
  const families =
    ipv4 === 'guarded'
      ? ipv6 === 'unguarded'
        ? 'proxied IPv6 connections (proxied IPv4 ones are kept out)'
        : undefined
      : {
          guarded: 'proxied IPv4 connections (proxied IPv6 ones are kept out)',
          unguarded: 'proxied IPv4 and IPv6 connections',
          none: 'proxied IPv4 connections',
        }[ipv6];
  if (!families) return undefined;
  return `hardware flow offloading is on (${which}): fw4 can hand ${families} to the hardware, past the SYN proxy, and they break; turn off flow_offloading_hw in /etc/config/firewall (software offloading is fine)`;
}
