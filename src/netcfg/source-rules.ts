// Whether fw4 decides forwarded WAN traffic by its source (e.g. port 22 accepted only from one
// address). The SYN fast path's uplink program (bpf/synproxy.c) answers a (destination, port) pair
// once fw4 has accepted one SYN to it, from whichever source: with a source-dependent rule, a refused
// source would get a SYN-ACK (its connection still fails at the third ACK, which crosses fw4). So
// while such a rule is there, the daemon keeps the uplink program passing (src/netcfg/fast-path.ts).
//
// The same holds for the router's own services, whose pairs the uplinks answer too (fw4's input
// chain judges them). Read from `nft list table inet fw4` (text): the chains fw4's `forward` and
// `input` chains jump to for packets from an uplink (`iifname "wan" jump forward_wan`), one level
// deep, as fw4 writes its zones' rules. Rules in other tables, or behind a further jump, are not seen: a hand-made ruleset with source
// rules elsewhere is the caveat the program's header describes.
import { execFile } from 'node:child_process';
import type { Log } from '../config/logfmt.js';

/** A listing longer than this is not read (nft is then ended). */
const MAX_LISTING = 4 << 20;

/** `nft list table inet fw4`, or undefined (no fw4, no nft, no permission, too long). */
export function listFw4(): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      'nft',
      ['list', 'table', 'inet', 'fw4'],
      { encoding: 'utf8', timeout: 5000, maxBuffer: MAX_LISTING },
      (err, stdout) => resolve(err ? undefined : stdout),
    );
  });
}

/** Each chain's rule lines by chain name. */
function chains(listing: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const head = /^chain (\S+) \{$/.exec(line);
    if (head) {
      current = [];
      out.set(head[1], current);
    } else if (line === '}') current = undefined;
    else if (current && line) current.push(line);
  }
  return out;
}

/**
 * The rules of fw4's forward and input chains for traffic from `wans` that match a source address
 * (ICMP-, UDP- and IGMP-only rules aside, such as stock fw4's Allow-MLD: the program answers TCP only). Empty: fw4's decision on a forwarded TCP SYN from an
 * uplink depends on its destination and port alone.
 */
export function sourceRulesFromUplinks(listing: string, wans: readonly string[]): string[] {
  const all = chains(listing);
  const targets = new Set<string>();
  // The input chain too: the uplinks answer pairs of the router's own services as well.
  for (const rule of [...(all.get('forward') ?? []), ...(all.get('input') ?? [])]) {
    const iif = /\biifname (?:"([^"]+)"|\{([^}]*)\})/.exec(rule);
    const jump = /\b(?:jump|goto) (\S+)/.exec(rule);
    if (!iif || !jump) continue;
    const names = iif[1] !== undefined ? [iif[1]] : [...iif[2].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    if (names.some((n) => wans.includes(n))) targets.add(jump[1]);
  }
  const found: string[] = [];
  for (const chain of targets)
    for (const rule of all.get(chain) ?? [])
      if (/\bsaddr\b/.test(rule) && !/\b(icmp|icmpv6|udp|igmp)\b/.test(rule)) {
        const comment = /comment "([^"]*)"/.exec(rule)?.[1];
        found.push(comment ? comment.replace(/^!fw4: /, '') : rule);
      }
  return found;
}

/** What the watch turns on and off: the fast path's answering at the uplinks (src/netcfg/fast-path.ts). */
export interface UplinkAnswering {
  uplinkAnswering: boolean;
  setUplinkAnswering(on: boolean): void;
}

/**
 * Keeps the uplink program answering only while fw4 judges forwarded WAN traffic by destination and
 * port alone. `check()` is called at start and whenever the ruleset or the uplinks change; a check
 * asked for while one runs makes one more after it (never two nft at once, never a change missed).
 */
export class SourceRuleWatch {
  private reading?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly target: UplinkAnswering,
    private readonly uplinks: () => readonly string[],
    private readonly log: Log,
    private readonly list: () => Promise<string | undefined> = listFw4,
  ) {}

  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.read().finally(() => {
      this.reading = undefined;
      if (this.again) {
        this.again = false;
        void this.check();
      }
    });
    return this.reading;
  }

  stop(): void {
    this.stopped = true;
  }

  private async read(): Promise<void> {
    const listing = await this.list();
    if (listing === undefined || this.stopped) return; // no fw4 (or nft failed): as it was
    const rules = sourceRulesFromUplinks(listing, this.uplinks());
    const on = rules.length === 0;
    if (on === this.target.uplinkAnswering) return;
    this.target.setUplinkAnswering(on);
    if (on)
      this.log(
        "fast path: fw4's forward rules from the uplinks no longer depend on the source: SYNs answered at the uplinks' ingress again",
        'info',
        { event: 'fastpath' },
      );
    else
      this.log(
        `fast path: fw4 judges forwarded WAN traffic by its source (${rules.slice(0, 3).join('; ')}${rules.length > 3 ? '; …' : ''}): SYN floods are answered after fw4 only, not at the uplinks' ingress`,
        'info',
        { event: 'fastpath' },
      );
  }
}
