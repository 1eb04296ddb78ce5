// The passive inventory feed (main thread): drains the dataplane's packet samples and reads the DHCP
// lease file on a timer, turns them into observations, and writes to the durable store only what is
// new (the store lives on flash: the same fingerprint seen every second is written every 15 minutes).

import { readFileSync, statSync } from 'node:fs';
import type { Inventory } from '../inventory.js';
import { hostKey, normalizeMac, type Observation } from '../model.js';
import { dhcpObservation, parseDhcpPacket } from './dhcp.js';
import { leaseObservation, MAX_LEASE_FILE_BYTES, parseLeaseFile } from './dhcp-leases.js';
import { observeSample } from './sample.js';

/** Hands waiting packet samples to `visit` and returns how many (Dataplane.drainSamples). */
export type SampleDrain = (visit: (kind: number, bytes: Uint8Array) => void) => number;

export interface PassiveFeedOptions {
  /** The dataplane's samples; absent when the sampler stage does not run. */
  drain?: SampleDrain;
  /** The LAN hosts' DHCP requests (IPv4 packets; DhcpTap.drain); absent = none. */
  dhcpDrain?: (visit: (packet: Uint8Array) => void) => number;
  /** dnsmasq's lease file (OpenWrt: /tmp/dhcp.leases); absent or missing = no lease source. */
  leaseFile?: string;
  /** How often samples are drained and the lease file is checked while evidence comes (ms, default 1000). */
  tickMs?: number;
  /**
   * How often once nothing came for BUSY_MS (ms, default 5000): a DHCP request waits in its socket
   * up to this long; samples come sooner (poke(): the dataplane's packets wake the feed).
   */
  idleTickMs?: number;
  /** New evidence is written this long after it came (ms, default 5000). */
  flushMs?: number;
  /** Evidence already written is written again (to refresh its time) after this long (ms, default 15 min). */
  refreshMs?: number;
  /** New hosts passive evidence may make: `perMinute` on average, `burst` at once (default 60 and 256). */
  newHosts?: { perMinute: number; burst: number };
  log?: (msg: string) => void;
  now?: () => number;
}

export interface PassiveFeedStats {
  samples: number;
  /** Samples that said nothing usable (no User-Agent, unknown greeting, cut short). */
  unusable: number;
  observations: number;
  /** Observations written to the store (the rest repeated what it already had). */
  written: number;
  /** Observations dropped because too many hosts were pending between two flushes. */
  overflow: number;
  /** DHCP requests read from the LAN devices, and those that were not a DHCP client message. */
  dhcpPackets: number;
  dhcpUnusable: number;
  leaseReads: number;
  leases: number;
  leaseLinesRejected: number;
  /** Observations of a new host left out: over the new-host budget, or a MAC naming too many identities. */
  newHostsRefused: number;
  identitiesPerMacRefused: number;
  lastError?: string;
}

/** Hosts pending between two flushes (a LAN has hundreds; more is a flood of spoofed sources). */
const MAX_PENDING = 1024;
/** Remembered fingerprints; cleared when full (at worst some evidence is written again). */
const MAX_KNOWN = 20_000;
/**
 * Identities (client ids, names under a randomised MAC) one MAC may bring per hour: a phone has one or
 * two; a client cycling them to make hosts is cut off. MACs remembered, cleared when full.
 */
const IDS_PER_MAC = 4;
const MAC_WINDOW_MS = 3600_000;
const MAX_MACS = 4096;

/** One string per piece of evidence: what it says, without when. */
function fingerprints(o: Observation): string[] {
  const who = [o.mac ?? '', ...o.ipv4, ...o.ipv6].join(',');
  const out = [`id|${who}|${o.hostnames.join(',')}|${o.dhcpClientId ?? ''}`];
  for (const r of o.os)
    out.push(`os|${who}|${r.source}|${r.name ?? ''}|${r.version ?? ''}|${r.signature ?? ''}`);
  for (const s of o.software)
    out.push(`sw|${who}|${s.source}|${s.product}|${s.version ?? ''}|${s.port ?? ''}|${s.extra ?? ''}`);
  return out;
}

/** After evidence came, the feed ticks every tickMs for this long, then every idleTickMs. */
const BUSY_MS = 10_000;

export class PassiveFeed {
  readonly stats: PassiveFeedStats = {
    samples: 0,
    unusable: 0,
    observations: 0,
    written: 0,
    overflow: 0,
    dhcpPackets: 0,
    dhcpUnusable: 0,
    leaseReads: 0,
    leases: 0,
    leaseLinesRejected: 0,
    newHostsRefused: 0,
    identitiesPerMacRefused: 0,
  };
  /** MAC → the identities it brought this window, and when the window began. */
  private readonly idsOfMac = new Map<string, { since: number; ids: Set<string> }>();
  /** New-host tokens left (refilled at newHosts.perMinute up to newHosts.burst), and when last refilled. */
  private newHostTokens: number;
  private tokensAt: number;
  private readonly pending = new Map<string, Observation[]>();
  private readonly known = new Map<string, number>();
  private readonly now: () => number;
  private tickTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private started = false;
  private tickedAt = Number.NEGATIVE_INFINITY;
  private foundAt = Number.NEGATIVE_INFINITY;
  private leaseStamp = '';
  private flushing: Promise<number> | undefined;

  constructor(
    private readonly inventory: Inventory,
    private readonly o: PassiveFeedOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.newHostTokens = this.budget.burst;
    this.tokensAt = this.now();
  }

  private get budget(): { perMinute: number; burst: number } {
    return this.o.newHosts ?? { perMinute: 60, burst: 256 };
  }

  /** Whether a MAC may bring this identity (at most IDS_PER_MAC a window). */
  private identityAllowed(ob: Observation): boolean {
    const mac = ob.mac ? normalizeMac(ob.mac) : undefined;
    if (!mac) return true;
    let id: string;
    try {
      id = hostKey(ob);
    } catch {
      return true; // refused later as having no identity
    }
    const now = this.now();
    let e = this.idsOfMac.get(mac);
    if (!e || now - e.since >= MAC_WINDOW_MS) {
      if (!e && this.idsOfMac.size >= MAX_MACS) this.idsOfMac.clear();
      e = { since: now, ids: new Set() };
      this.idsOfMac.set(mac, e);
    }
    if (e.ids.has(id)) return true;
    if (e.ids.size >= IDS_PER_MAC) return false;
    e.ids.add(id);
    return true;
  }

  /** Starts the timers (unref'd: they never keep the process alive). */
  start(): void {
    this.stop();
    this.started = true;
    this.schedule();
  }

  stop(): void {
    this.started = false;
    clearTimeout(this.tickTimer);
    clearTimeout(this.flushTimer);
    this.tickTimer = this.flushTimer = undefined;
  }

  /** The next tick: soon while evidence comes, rarely once it stopped coming. */
  private schedule(): void {
    clearTimeout(this.tickTimer);
    if (!this.started) return;
    const busy = Date.now() - this.foundAt < BUSY_MS;
    this.tickTimer = setTimeout(
      () => {
        this.tick();
        this.schedule();
      },
      busy ? (this.o.tickMs ?? 1000) : (this.o.idleTickMs ?? 5000),
    );
    this.tickTimer.unref();
  }

  /** Packets crossed the dataplane (samples may wait): a tick now, unless one ran within tickMs. */
  poke(): void {
    if (!this.started || Date.now() - this.tickedAt < (this.o.tickMs ?? 1000)) return;
    this.tick();
    this.schedule();
  }

  /** The interval the feed ticks at now (tests). */
  get tickInterval(): number {
    return Date.now() - this.foundAt < BUSY_MS ? (this.o.tickMs ?? 1000) : (this.o.idleTickMs ?? 5000);
  }

  /** Drains the samples and re-reads the lease file when it changed. */
  tick(): void {
    const now = this.now();
    this.tickedAt = Date.now();
    const seen = this.stats.samples + this.stats.dhcpPackets + this.stats.leaseReads;
    this.drainAll(now);
    if (this.stats.samples + this.stats.dhcpPackets + this.stats.leaseReads !== seen)
      this.foundAt = Date.now();
  }

  private drainAll(now: number): void {
    try {
      this.o.drain?.((kind, bytes) => {
        this.stats.samples++;
        const ob = observeSample(kind, bytes, now);
        if (ob) this.add(ob);
        else this.stats.unusable++;
      });
    } catch (err) {
      this.fail(`samples: ${(err as Error).message}`);
    }
    try {
      this.o.dhcpDrain?.((packet) => {
        this.stats.dhcpPackets++;
        const fp = parseDhcpPacket(packet);
        if (fp) this.add(dhcpObservation(fp, now));
        else this.stats.dhcpUnusable++;
      });
    } catch (err) {
      this.fail(`dhcp: ${(err as Error).message}`);
    }
    if (this.o.leaseFile) this.readLeases(this.o.leaseFile, now);
  }

  private readLeases(file: string, now: number): void {
    let stamp: string;
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) return;
      size = st.size;
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return; // no lease file (no DHCP server here): not an error
    }
    if (stamp === this.leaseStamp) return;
    this.leaseStamp = stamp;
    if (size > MAX_LEASE_FILE_BYTES) {
      this.fail(`${file}: ${size} bytes is too big for a lease file; ignored`);
      return;
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      this.fail(`${file}: ${(err as Error).message}`);
      return;
    }
    const r = parseLeaseFile(text, now);
    this.stats.leaseReads++;
    this.stats.leases = r.leases.length;
    this.stats.leaseLinesRejected += r.rejected;
    if (r.rejected > 0)
      this.o.log?.(
        `passive: ${file}: ${r.rejected} line(s) are not dnsmasq leases (line ${r.rejectedLines.join(', ')}); skipped`,
      );
    for (const l of r.leases) this.add(leaseObservation(l));
  }

  private fail(msg: string): void {
    if (this.stats.lastError !== msg) this.o.log?.(`passive: ${msg}`);
    this.stats.lastError = msg;
  }

  /** Queues an observation for the next flush (grouped by the address it came from). */
  add(ob: Observation): void {
    this.stats.observations++;
    if (!this.identityAllowed(ob)) {
      this.stats.identitiesPerMacRefused++;
      return;
    }
    const key = ob.mac ?? ob.ipv4[0] ?? ob.ipv6[0] ?? ob.dhcpClientId ?? '';
    const list = this.pending.get(key);
    if (list) list.push(ob);
    else if (this.pending.size < MAX_PENDING) this.pending.set(key, [ob]);
    else this.stats.overflow++;
    // Written flushMs after the first evidence of a batch: no timer while nothing is pending.
    if (this.started && !this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.flush().catch(() => {});
      }, this.o.flushMs ?? 5000);
      this.flushTimer.unref();
    }
  }

  /** Writes the pending observations that say something new; resolves to how many were written. */
  flush(): Promise<number> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async write(): Promise<number> {
    const now = this.now();
    const refresh = this.o.refreshMs ?? 15 * 60_000;
    const fresh: Observation[] = [];
    const marks: string[] = [];
    for (const list of this.pending.values())
      for (const ob of list) {
        const fps = fingerprints(ob).filter((f) => {
          const at = this.known.get(f);
          return at === undefined || now - at >= refresh;
        });
        if (fps.length === 0) continue;
        fresh.push(ob);
        marks.push(...fps);
      }
    this.pending.clear();
    if (fresh.length === 0) return 0;
    const b = this.budget;
    this.newHostTokens = Math.min(
      b.burst,
      this.newHostTokens + ((now - this.tokensAt) / 60_000) * b.perMinute,
    );
    this.tokensAt = now;
    try {
      const sum = await this.inventory.importObservations(fresh, undefined, {
        passive: true,
        maxNew: Math.floor(this.newHostTokens),
      });
      this.newHostTokens -= sum.hostsCreated;
      this.stats.newHostsRefused += sum.hostsNotCreated;
    } catch (err) {
      this.fail(`writing to the inventory: ${(err as Error).message}`);
      return 0;
    }
    if (this.known.size + marks.length > MAX_KNOWN) this.known.clear();
    for (const f of marks) this.known.set(f, now);
    this.stats.written += fresh.length;
    return fresh.length;
  }

  /** Stops the timers and writes what is pending. */
  async close(): Promise<void> {
    this.stop();
    this.tick();
    await this.flush();
  }
}
