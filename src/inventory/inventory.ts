// The inventory over the durable store: hosts (found by any address), threat knowledge, imports, CVE matching.
// One file (about 570 lines): one class over one store, whose imports, address lookups and CVE index
// share its write transactions and key layout; parsing (import/), the host model (model.ts) and CVE
// matching (vuln-match.ts) are modules of their own.

import { randomUUID } from 'node:crypto';
import type { Database } from 'lmdb';
import type { DurableStore } from '../state/durable.js';
import { emptyTally, type ImportTally } from './import/tally.js';
import {
  type Host,
  type HostThreat,
  hostKey,
  isPassiveOnly,
  isProvisional,
  mergeObservation,
  newHost,
  normalizeMac,
  type Observation,
  passiveAddressId,
} from './model.js';
import type { VulnRecord } from './nvd.js';
import { type MalwareKind, malwareKey, type ThreatType } from './threat.js';
import { hostCpes, matchVuln, productKeys, type VulnMatch } from './vuln-match.js';

/** A malicious program the router knows by name. */
export interface MalwareRecord {
  key: string;
  type: 'malware';
  kind: MalwareKind;
  name: string;
  source: string;
}

/** A scanner's own check (Nessus plugin, OpenVAS NVT) as the threats db knows it. */
export interface FindingRecord {
  key: string;
  type: 'finding';
  name?: string;
  cvss?: number;
  severity?: HostThreat['severity'];
  source: string;
}

export type ThreatRecord = VulnRecord | MalwareRecord | FindingRecord;

/** The threats-db record a host's threat names (a scan's stub; a feed's record is richer). */
function threatRecord(t: HostThreat): ThreatRecord | undefined {
  if (t.type === 'vulnerability' && t.scheme) {
    const rec: VulnRecord = {
      key: t.key,
      type: 'vulnerability',
      scheme: t.scheme,
      configurations: [],
      source: 'scan',
    };
    if (t.title) rec.summary = t.title;
    if (t.cvss !== undefined) rec.cvss = t.cvss;
    if (t.severity) rec.severity = t.severity;
    return rec;
  }
  if (t.type === 'malware' && t.kind && t.name)
    return { key: t.key, type: 'malware', kind: t.kind, name: t.name, source: t.source };
  if (t.type === 'finding')
    return {
      key: t.key,
      type: 'finding',
      ...(t.name ? { name: t.name } : {}),
      ...(t.cvss !== undefined ? { cvss: t.cvss } : {}),
      ...(t.severity ? { severity: t.severity } : {}),
      source: t.source,
    };
  return undefined;
}

export interface ImportSummary {
  observations: number;
  hostsCreated: number;
  hostsUpdated: number;
  skippedDown: number;
  threatsSeen: number;
  hostIds: string[];
  /** Findings in the report (Nessus ReportItems, OpenVAS results, nmap vulners/vulscan CVEs). */
  findings: number;
  /** …of which kept as threats… */
  findingsKept: number;
  /** …and left out, by reason (informational, false-positive, duplicate, over-limit, no-identity). */
  findingsNotKept: ImportTally['notKept'];
  /** Addresses refused as no IPv4/IPv6 address, with the first few of them. */
  addressesRefused: number;
  badAddresses: string[];
  /** Hosts left out because nothing identified them. */
  hostsRefused: number;
  /** New hosts left out because the import's `maxNew` was spent (a flood of new identities). */
  hostsNotCreated: number;
}

/** How an import's observations are taken. */
export interface ImportOptions {
  /**
   * Evidence from watching LAN traffic (the passive feed), which any LAN client can forge: it joins a
   * host only by that host's own MAC or DHCP client id, and traffic known only by its source address
   * is kept under that address (an IPv6 /64), never in a host known otherwise.
   */
  passive?: boolean;
  /** At most this many new hosts (the rest are counted in hostsNotCreated); absent: no limit. */
  maxNew?: number;
}

/** Index keys in the threats db: `@cpe/<vendor:product>/<CVE>` → 1 (sorted before the records). */
const IDX = '@cpe/';
/** Pending host writes kept in memory during an import before they go to the staging db. */
const FLUSH_HOSTS = 64;
/** …or fewer, when the pending hosts carry this many records between them (hosts vary a lot in size). */
const FLUSH_RECORDS = 20_000;

/** Hosts kept by default: a travel router's LAN has tens; LAN clients cannot make it millions. */
export const DEFAULT_MAX_HOSTS = 4096;

export class Inventory {
  private readonly hosts: Database<Host, string>;
  private readonly threats: Database<ThreatRecord | 1, string>;
  /** `<run>/h/<id>` → Host, `<run>/t/<key>` → threat: an import under way. */
  private readonly staging: Database<Host | ThreatRecord | 1, string>;
  /** address / MAC / client id / name → host id; rebuilt at open (a LAN has hundreds of hosts, not millions). */
  private readonly index = new Map<string, string>();
  /** Imports run one at a time: each sees the hosts the one before it stored. */
  private importing: Promise<unknown> = Promise.resolve();
  /** Hosts stored (kept in step with the db, so the cap costs no count). */
  private hostCount = 0;
  /**
   * Threat records by type, counted once after a change (a CVE feed is ~200 000 records: a list's
   * `total` must not read them all on every call). Every write of the threats db clears it.
   */
  private threatTally: Map<ThreatType | 'all', number> | undefined;
  /** Hosts the eviction keeps to the last (the service pins hosts with a paired agent). */
  pinned: (hostId: string) => boolean = () => false;

  constructor(
    private readonly store: DurableStore,
    private readonly now: () => number = Date.now,
    /** At most this many hosts (plus 1/8 before a trim); see evictHosts. */
    readonly maxHosts = DEFAULT_MAX_HOSTS,
  ) {
    this.hosts = store.db<Host>('hosts');
    this.threats = store.db<ThreatRecord | 1>('threats');
    this.staging = store.db<Host | ThreatRecord | 1>('import-staging');
    // An import cut short by a crash left only staged records: none of it landed, so none of it counts.
    this.staging.clearSync();
    this.reindex();
  }

  private reindex(): void {
    this.index.clear();
    this.hostCount = 0;
    for (const { value } of this.hosts.getRange()) {
      this.indexHost(value);
      this.hostCount++;
    }
  }

  get size(): number {
    return this.hostCount;
  }

  private unindexHost(h: Host): void {
    const keys = [
      ...h.macs.map((m) => `mac:${m}`),
      ...h.ipv4.map((a) => `ip:${a}`),
      ...h.ipv6.map((a) => `ip:${a}`),
      ...h.hostnames.map((n) => `name:${n.toLowerCase()}`),
      ...(h.dhcpClientId ? [`dhcp:${h.dhcpClientId.toLowerCase()}`] : []),
      h.id,
    ];
    for (const k of keys) {
      if (this.index.get(k) !== h.id) continue;
      this.index.delete(k);
      // The address's own host (traffic from it) names it again.
      if (k !== h.id && k.startsWith('ip:') && this.hosts.get(k)) this.index.set(k, k);
    }
  }

  /**
   * Past the cap (by an eighth, so a flood costs one scan per many new hosts), deletes hosts down to
   * the cap: provisional passive-only hosts first, then passive-only ones, then the rest, each oldest
   * first. A host a scan, an agent or the admin told us about goes only when nothing else is left.
   */
  private async evictHosts(): Promise<number> {
    if (this.hostCount <= this.maxHosts + Math.ceil(this.maxHosts / 8)) return 0;
    const rank = (h: Host) => (this.pinned(h.id) ? 3 : isPassiveOnly(h) ? (isProvisional(h) ? 0 : 1) : 2);
    const all: { id: string; rank: number; lastSeen: number }[] = [];
    for (const { value } of this.hosts.getRange())
      all.push({ id: value.id, rank: rank(value), lastSeen: value.lastSeen });
    all.sort((a, b) => a.rank - b.rank || a.lastSeen - b.lastSeen);
    const victims = all.slice(0, all.length - this.maxHosts);
    await this.store.env.transaction(() => {
      for (const v of victims) {
        const h = this.hosts.get(v.id);
        if (h) this.unindexHost(h);
        this.hosts.remove(v.id);
      }
    });
    this.hostCount -= victims.length;
    return victims.length;
  }

  private indexHost(h: Host): void {
    const own = (k: string) => {
      // An address names the host known by a MAC, client id or agent that has it, not the host of
      // traffic seen from it (ids `ip:…`), whichever was indexed first.
      const cur = this.index.get(k);
      if (cur && cur !== h.id && h.id.startsWith('ip:') && !cur.startsWith('ip:')) return;
      this.index.set(k, h.id);
    };
    for (const m of h.macs) own(`mac:${m}`);
    for (const a of h.ipv4) own(`ip:${a}`);
    for (const a of h.ipv6) own(`ip:${a}`);
    for (const n of h.hostnames) own(`name:${n.toLowerCase()}`);
    if (h.dhcpClientId) own(`dhcp:${h.dhcpClientId.toLowerCase()}`);
    own(h.id);
  }

  /**
   * Finds the host a scan's, an agent's or an admin's observation is about: by stable key first, then
   * by any address it shares, except a host that only traffic from that address told us about.
   */
  private resolve(o: Observation, lookup: (id: string) => Host | undefined): string | undefined {
    const key = hostKey(o);
    if (this.index.has(key)) return this.index.get(key);
    const mac = o.mac ? normalizeMac(o.mac) : undefined;
    const probes = [
      mac ? `mac:${mac}` : '',
      o.dhcpClientId ? `dhcp:${o.dhcpClientId.toLowerCase()}` : '',
      ...o.ipv4.map((a) => `ip:${a}`),
      ...o.ipv6.map((a) => `ip:${a.toLowerCase()}`),
      ...o.hostnames.map((n) => `name:${n.toLowerCase()}`),
    ];
    for (const p of probes) {
      const id = p ? this.index.get(p) : undefined;
      if (!id) continue;
      const h = lookup(id);
      if (p.startsWith('ip:') && h && isProvisional(h) && isPassiveOnly(h)) continue;
      // A host with other MACs is another device (the address was handed on).
      if (mac && h && h.macs.length > 0 && !h.macs.includes(mac)) continue;
      return id;
    }
    return undefined;
  }

  /**
   * The host passive evidence is about, and the id a new one gets: with a MAC or client id, only the
   * host that has it (never one found by an address or a name it claims); with only a source address,
   * the host of that address (IPv6: its /64).
   */
  private resolvePassive(
    o: Observation,
    lookup: (id: string) => Host | undefined,
  ): { id: string | undefined; newId: string } {
    const mac = o.mac ? normalizeMac(o.mac) : undefined;
    if (mac || o.dhcpClientId || o.hostnames.length > 0) {
      const key = hostKey(o);
      const probes = [mac ? `mac:${mac}` : '', o.dhcpClientId ? `dhcp:${o.dhcpClientId.toLowerCase()}` : ''];
      for (const p of probes) {
        const id = p ? this.index.get(p) : undefined;
        if (id) return { id, newId: key };
      }
      return { id: lookup(key) ? key : undefined, newId: key };
    }
    const address = o.ipv4[0] ?? o.ipv6[0];
    if (!address) throw new Error('observation has no identity');
    const id = passiveAddressId(address);
    return { id: lookup(id) ? id : undefined, newId: id };
  }

  /**
   * Folds a stream of observations into the store, all or nothing: hosts are staged as they come (memory
   * stays bounded whatever the source size) and move into `hosts` in one transaction once the stream has
   * ended; a stream that fails (a truncated file) leaves the store as it was. `tally` is the importer's
   * count of findings kept and not kept, read once the stream has ended.
   */
  importObservations(
    source: AsyncIterable<Observation> | Iterable<Observation>,
    tally: ImportTally = emptyTally(),
    opts: ImportOptions = {},
  ): Promise<ImportSummary> {
    const run = this.importing.then(() => this.importAll(source, tally, opts));
    this.importing = run.catch(() => undefined);
    return run;
  }

  private async importAll(
    source: AsyncIterable<Observation> | Iterable<Observation>,
    tally: ImportTally,
    opts: ImportOptions,
  ): Promise<ImportSummary> {
    const sum: ImportSummary = {
      observations: 0,
      hostsCreated: 0,
      hostsUpdated: 0,
      skippedDown: 0,
      threatsSeen: 0,
      hostIds: [],
      findings: 0,
      findingsKept: 0,
      findingsNotKept: {},
      addressesRefused: 0,
      badAddresses: [],
      hostsRefused: 0,
      hostsNotCreated: 0,
    };
    const runId = randomUUID();
    const key = (kind: 'h' | 't', id: string) => `${runId}/${kind}/${id}`;
    const touched = new Set<string>();
    const pending = new Map<string, Host>();
    const threatSeen = new Map<string, ThreatRecord>();
    /**
     * The keys this import wrote to the staging db. Kept here, not read back with a range: a cursor
     * walked inside a write transaction never ended on the arm64 guest's LMDB (a daemon at 100 % CPU).
     */
    const stagedKeys = new Set<string>();
    let pendingRecords = 0;
    /** This import's view of a host: in memory, staged, or stored before it began. */
    const lookup = (id: string): Host | undefined => {
      const p = pending.get(id);
      if (p) return p;
      const staged = touched.has(id) ? this.staging.get(key('h', id)) : undefined;
      return (staged as Host | undefined) ?? this.hosts.get(id);
    };
    const flush = async () => {
      if (!pending.size && !threatSeen.size) return;
      const hosts = [...pending.values()];
      const threats = [...threatSeen.values()];
      pending.clear();
      threatSeen.clear();
      pendingRecords = 0;
      await this.store.env.transaction(() => {
        for (const h of hosts) {
          this.staging.put(key('h', h.id), h);
          stagedKeys.add(key('h', h.id));
        }
        for (const t of threats) {
          this.staging.put(key('t', t.key), t);
          stagedKeys.add(key('t', t.key));
        }
      });
    };
    const discard = async () => {
      await this.store.env.transaction(() => {
        for (const k of stagedKeys) this.staging.remove(k);
      });
      this.reindex();
    };
    try {
      for await (const o of source) {
        sum.observations++;
        let id: string | undefined;
        let newId: string | undefined;
        try {
          if (opts.passive) ({ id, newId } = this.resolvePassive(o, lookup));
          else id = this.resolve(o, lookup);
        } catch {
          sum.hostsRefused++; // an observation with no identity at all
          continue;
        }
        if (!o.up && !id) {
          sum.skippedDown++;
          continue;
        }
        if (!o.up) continue;
        const old = id ? lookup(id) : undefined;
        if (!old && opts.maxNew !== undefined && sum.hostsCreated >= opts.maxNew) {
          sum.hostsNotCreated++;
          continue;
        }
        const now = this.now();
        const h = mergeObservation(
          old ?? (newId ? newHost(newId, now) : undefined),
          o,
          now,
          id ? touched.has(id) : false,
        );
        if (old) {
          if (!touched.has(h.id)) sum.hostsUpdated++;
        } else sum.hostsCreated++;
        if (!touched.has(h.id)) sum.hostIds.push(h.id);
        touched.add(h.id);
        this.indexHost(h);
        pendingRecords += h.threats.length + h.software.length;
        pending.set(h.id, h);
        for (const t of o.threats) {
          sum.threatsSeen++;
          const rec = threatRecord(t);
          if (rec) threatSeen.set(t.key, rec);
        }
        if (
          pending.size >= FLUSH_HOSTS ||
          pendingRecords >= FLUSH_RECORDS ||
          threatSeen.size >= FLUSH_RECORDS
        )
          await flush();
      }
      await flush();
    } catch (e) {
      await discard();
      throw e;
    }
    // The whole report has been read: it lands in one transaction.
    await this.store.env.transaction(() => {
      // In key order, as the staging db holds them (hosts, then threats).
      for (const k of [...stagedKeys].sort()) {
        const value = this.staging.get(k);
        const kind = k.slice(runId.length + 1, runId.length + 2);
        const id = k.slice(runId.length + 3);
        if (kind === 'h') {
          if (!this.hosts.get(id)) this.hostCount++;
          this.hosts.put(id, value as Host);
        }
        // Scans name threats; keep the richer feed record when there is one.
        else if (kind === 't' && !this.threats.get(id)) this.threats.put(id, value as ThreatRecord);
        this.staging.remove(k);
      }
    });
    this.threatTally = undefined;
    await this.evictHosts();
    sum.findings = tally.findings;
    sum.findingsKept = tally.findingsKept;
    sum.findingsNotKept = { ...tally.notKept };
    sum.addressesRefused = tally.addressesRefused;
    sum.badAddresses = [...tally.badAddresses];
    sum.hostsRefused += tally.hostsRefused;
    return sum;
  }

  getHost(id: string): Host | undefined {
    return this.hosts.get(id);
  }

  /** Finds a host by its id, an IP address, a MAC, a DHCP client id or a hostname (user-entered). */
  findHost(ident: string): Host | undefined {
    const t = ident.trim();
    const mac = normalizeMac(t);
    for (const k of [
      t,
      `ip:${t.toLowerCase()}`,
      mac ? `mac:${mac}` : '',
      `name:${t.toLowerCase()}`,
      `dhcp:${t.toLowerCase()}`,
    ]) {
      const id = k ? this.index.get(k) : undefined;
      if (id) return this.hosts.get(id);
    }
    // An IPv6 address seen only in passive traffic: the host of its /64.
    return t.includes(':') && !mac ? this.hosts.get(passiveAddressId(t)) : undefined;
  }

  /** Hosts in id order; a page of them with `offset`/`limit`. */
  listHosts(page: { offset?: number; limit?: number } = {}): Host[] {
    return [...this.hosts.getRange({ offset: page.offset ?? 0, limit: page.limit })].map((e) => e.value);
  }

  async putHost(h: Host): Promise<void> {
    this.indexHost(h);
    if (!this.hosts.get(h.id)) this.hostCount++;
    await this.hosts.put(h.id, h);
  }

  /** Stores a threat record (a full feed record replaces a scan's stub) and its product index. */
  async putThreat(t: ThreatRecord): Promise<void> {
    await this.store.env.transaction(() => {
      this.threats.put(t.key, t);
      if (t.type === 'vulnerability')
        for (const p of productKeys(t.configurations)) this.threats.put(`${IDX}${p}/${t.key}`, 1);
    });
    this.threatTally = undefined;
  }

  /** Loads a stream of vulnerability records (e.g. parseNvdFeed) in batched transactions. */
  async loadVulns(records: AsyncIterable<VulnRecord> | Iterable<VulnRecord>): Promise<number> {
    let n = 0;
    let batch: VulnRecord[] = [];
    const write = async () => {
      const b = batch;
      batch = [];
      await this.store.env.transaction(() => {
        for (const t of b) {
          this.threats.put(t.key, t);
          for (const p of productKeys(t.configurations)) this.threats.put(`${IDX}${p}/${t.key}`, 1);
        }
      });
      this.threatTally = undefined;
    };
    for await (const r of records) {
      batch.push(r);
      n++;
      if (batch.length >= 500) await write();
    }
    await write();
    return n;
  }

  /** A malware record for a program an agent or an admin reports by name. */
  async putMalware(kind: MalwareKind, name: string, source: string): Promise<MalwareRecord> {
    const rec: MalwareRecord = { key: malwareKey(kind, name), type: 'malware', kind, name, source };
    await this.threats.put(rec.key, rec);
    this.threatTally = undefined; // after the commit: a count taken meanwhile saw the old records
    return rec;
  }

  getThreat(key: string): ThreatRecord | undefined {
    const t = this.threats.get(key);
    return t === 1 ? undefined : t;
  }

  /** Whether a CVE feed with product data is loaded (without one, no CVE can match a host's software). */
  hasVulnFeed(): boolean {
    for (const { key } of this.threats.getRange({ start: IDX, limit: 1 })) return String(key).startsWith(IDX);
    return false;
  }

  /** Threat records in key order: `offset` of them (of the type asked) skipped, at most `limit`. */
  listThreats(filter: { type?: ThreatType; offset?: number; limit?: number } = {}): ThreatRecord[] {
    const out: ThreatRecord[] = [];
    let skip = filter.offset ?? 0;
    for (const { key, value } of this.threats.getRange({ start: '@cpe0' })) {
      if (key.startsWith('@') || value === 1) continue;
      if (filter.type && value.type !== filter.type) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(value);
      if (filter.limit && out.length >= filter.limit) break;
    }
    return out;
  }

  /** How many threat records there are (of one type). */
  countThreats(type?: ThreatType): number {
    if (!this.threatTally) {
      const tally = new Map<ThreatType | 'all', number>([['all', 0]]);
      for (const { key, value } of this.threats.getRange({ start: '@cpe0' })) {
        if (key.startsWith('@') || value === 1) continue;
        tally.set(value.type, (tally.get(value.type) ?? 0) + 1);
        tally.set('all', (tally.get('all') ?? 0) + 1);
      }
      this.threatTally = tally;
    }
    return this.threatTally.get(type ?? 'all') ?? 0;
  }

  /** The known vulnerabilities whose configurations match the host's software and OS. */
  matchHost(h: Host): VulnMatch[] {
    const cpes = hostCpes(h);
    const candidates = new Set<string>();
    for (const c of cpes) {
      const vendor = typeof c.wfn.vendor === 'string' ? c.wfn.vendor.replace(/\\(.)/g, '$1') : '';
      const product = typeof c.wfn.product === 'string' ? c.wfn.product.replace(/\\(.)/g, '$1') : '';
      const prefix = `${IDX}${vendor}:${product}/`;
      for (const key of this.threats.getKeys({ start: prefix, end: `${prefix}\uffff` }))
        candidates.add(key.slice(prefix.length));
    }
    const out: VulnMatch[] = [];
    for (const k of candidates) {
      const t = this.threats.get(k);
      if (!t || t === 1 || t.type !== 'vulnerability') continue;
      const m = matchVuln(t, cpes);
      if (m) out.push(m);
    }
    return out.sort((a, b) => (b.cvss ?? 0) - (a.cvss ?? 0));
  }
}
