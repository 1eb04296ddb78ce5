// RemediationService: the plain async facade the API and CLI call (hosts, threats, rules, dispatch, pairing, imports).
// One file (about 900 lines): one facade over the inventory, rules, queue and agents, so that the API
// and the CLI see one object; the work itself lives in those modules.

import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { isIP } from 'node:net';
import type { Action } from '../agent/protocol.js';
import { emptyTally, parseScan, type ScanFormat } from '../inventory/import/index.js';
import { type ImportSummary, Inventory, type ThreatRecord } from '../inventory/inventory.js';
import {
  bestOs,
  type EvidenceClass,
  type EvidenceSource,
  evidenceClass,
  type Host,
  isPassiveOnly,
  isProvisional,
  newHost,
} from '../inventory/model.js';
import { parseNvdFeed } from '../inventory/nvd.js';
import { PassiveFeed, type PassiveFeedOptions, type PassiveFeedStats } from '../inventory/passive/feed.js';
import { runScan, type ScanOptions } from '../inventory/scan-runner.js';
import { type ThreatType, threatScore } from '../inventory/threat.js';
import type { VulnMatch } from '../inventory/vuln-match.js';
import type { XmlSource } from '../inventory/xml-stream.js';
import { type DurableOptions, type DurableStore, openDurable } from '../state/durable.js';
import { type AuditEntry, AuditLog } from '../state/durable-audit.js';
import { AgentClient, AgentError } from './agent-client.js';
import { type AgentRecord, AgentRegistry } from './agents.js';
import { type DetectionOptions, type DetectionReport, type DetectionRun, Detector } from './detector.js';

export interface DetectionState {
  scheduled: boolean;
  intervalSeconds?: number;
  protectedHosts?: string[];
  scan?: boolean;
  scanLan?: boolean;
  running: boolean;
  nextRunAt?: number;
  last?: DetectionRun;
}

import { loadOrCreateRouterIdentity, type RouterIdentity } from './identity.js';
import { findRemedies, hostFacts, type LookupMode, remedyView } from './match.js';
import type { RemedyEvidence } from './names.js';
import { PAIRING_TTL_MS, PairingStore, type PendingPairing } from './pairings.js';
import { type ProgramInfo, ProgramStore } from './programs.js';
import { type Dispatch, DispatchQueue, type DispatchStatus, type QueueOptions } from './queue.js';
import { AgentReach, type ReachSummary } from './reach.js';
import { planRemedy, platformOf, type RemedyMode } from './remedy.js';
import { parseRule, type Rule, RuleError } from './rules.js';
import { RulesStore } from './rules-store.js';

export interface RiskScore {
  /** 0–10: the worst threat, a malicious program counting as 10, "possibly affected" CVEs at half weight. */
  score: number;
  level: 'none' | 'low' | 'medium' | 'high' | 'critical';
}

export interface HostSummary {
  id: string;
  ipv4: string[];
  ipv6: string[];
  macs: string[];
  hostnames: string[];
  // A name has one type in the list and in the detail (GET /hosts/{id}): `os`, `software` and
  // `threats` are arrays of records there, so the summary's best guess and counts have names of their own.
  /** The best named OS guess, where it comes from, and how sure it is (0–100). */
  osName?: string;
  osSource?: EvidenceSource;
  osConfidence?: number;
  softwareCount: number;
  /** The first software records (at most 8; the detail's records, fewer fields). */
  software: Array<{
    product: string;
    version?: string;
    port?: number;
    source: EvidenceSource;
    confidence: number;
  }>;
  threatCount: number;
  /** Reported threats and matched CVEs, worst first (at most 10 keys). */
  threatKeys: string[];
  risk: RiskScore;
  /** How the host's facts were learned: passive (traffic), scan, agent, manual. */
  evidence: EvidenceClass[];
  /** Rules that match now, in lookup order. */
  matchingRules: string[];
  agent: boolean;
  /** The newest dispatch for the host. */
  lastDispatch?: { id: string; status: DispatchStatus; ruleId?: string; updatedAt: number };
  lastSeen: number;
}

/** What confirming a pairing came to. `pending`: the host has not accepted yet (ask again later). */
export type PairingOutcome =
  | { paired: true; agent: AgentRecord }
  | { paired: false; reason: string; pending?: true };

/** What remediating a host queued, and what it left out and why. */
export interface RemediateResult {
  hostId: string;
  queued: Array<{ id: string; ruleId?: string; set: string; remedyType: Dispatch['remedyType'] }>;
  skipped: Array<{ ruleId: string; why: string }>;
}

export interface HostDetail {
  host: Host;
  matchedCves: Array<VulnMatch & { summary?: string }>;
  risk: RiskScore;
  agent?: Omit<AgentRecord, 'agentKey'> & { agentKey: string };
  /** Rules that match now, in lookup order. */
  matchingRules: Array<{ ruleId: string; set: string; threats: string[] }>;
  /** Whether a CVE feed is loaded: without one `matchedCves` is empty for want of data, not of CVEs. */
  cveFeedLoaded: boolean;
}

export interface ServiceOptions {
  dataDir: string;
  /** How the durable store is kept (tmpfs + snapshots to flash on a router). */
  durable?: DurableOptions;
  agentTimeoutMs?: number;
  queue?: QueueOptions;
  /** Process the dispatch queue in the background every this many ms (0 = only on demand). */
  queueIntervalMs?: number;
  /** Learn hosts passively (dataplane samples, the DHCP lease file); absent = no passive feed. */
  passive?: Omit<PassiveFeedOptions, 'now'>;
  /** How long a started pairing waits for confirmation (default 10 min). */
  pairingTtlMs?: number;
  /** Told when an agent's reachability changes (reached after not, or not after reached or never). */
  onReach?: (hostId: string, reached: boolean, reason?: string) => void;
}

/** A reachability ping waits this long for its answer (a ping does nothing on the host). */
const PING_TIMEOUT_MS = 10_000;

export interface DispatchRequest {
  /** Use this rule's remedy … */
  ruleId?: string;
  /** … or send these actions directly (an admin's manual remedy from the UI). */
  actions?: Action[];
  mode?: RemedyMode;
  ttlMs?: number;
}

function risk(h: Host, matched: VulnMatch[]): RiskScore {
  let score = 0;
  for (const t of h.threats) score = Math.max(score, threatScore(t));
  for (const m of matched) score = Math.max(score, (m.cvss ?? 0) * (m.certainty === 'affected' ? 1 : 0.5));
  score = Math.round(score * 10) / 10;
  const level =
    score >= 9 ? 'critical' : score >= 7 ? 'high' : score >= 4 ? 'medium' : score > 0 ? 'low' : 'none';
  return { score, level };
}

/** The open conversation of a pairing started by this process (gone after a restart). */
interface LivePairing {
  finish: () => Promise<boolean>;
  cancel: () => void;
}

export class RemediationService {
  readonly inventory: Inventory;
  readonly rules: RulesStore;
  readonly programs: ProgramStore;
  readonly agents: AgentRegistry;
  readonly audit: AuditLog;
  readonly queue: DispatchQueue;
  readonly detector: Detector;
  readonly pairings: PairingStore;
  readonly passive: PassiveFeed | undefined;
  private readonly live = new Map<string, LivePairing>();
  private readonly pairingTtlMs: number;
  /** The last contact with each paired agent (./reach.ts). */
  readonly reach = new AgentReach();
  private reachTimer: NodeJS.Timeout | undefined;
  private reachBusy = false;
  private closed = false;
  /** Which facts may trigger a remedy (config detect: remedy_evidence). */
  remedyEvidence: RemedyEvidence = 'confirm';

  /** A host's rule matches as remedies see them (see remedyView), and the view they came from. */
  private remedyMatches(h: Host, lookup?: LookupMode) {
    const view = remedyView(h, this.remedyEvidence);
    return {
      view,
      matches: findRemedies(hostFacts(view, this.inventory.matchHost(view)), this.rules.list(), lookup),
    };
  }

  private constructor(
    private readonly store: DurableStore,
    private readonly identity: RouterIdentity,
    opts: ServiceOptions,
  ) {
    this.inventory = new Inventory(store);
    // A host with a paired agent is the last the store gives up when full.
    this.inventory.pinned = (id) => this.agents.servingHost(id) !== undefined;
    this.rules = new RulesStore(store);
    this.programs = new ProgramStore(store);
    this.agents = new AgentRegistry(store);
    this.audit = new AuditLog(store);
    const client = new AgentClient(identity, {
      timeoutMs: opts.agentTimeoutMs ?? 120_000,
      onContact: (hostId, reached, reason) => {
        if (this.closed) return; // a ping's answer after close: the store is gone
        const before = this.reach.record(hostId, reached, reason);
        // A change, or a first contact that failed (a first one that worked is no news).
        const news = before ? before.reached !== reached : !reached;
        if (news && this.agents.get(hostId)) opts.onReach?.(hostId, reached, reason);
      },
    });
    this.queue = new DispatchQueue(store, this.audit, client, (id) => this.endpointFor(id), opts.queue);
    this.detector = new Detector(this.inventory, this.rules, this.programs, this.queue, this.audit);
    this.client = client;
    this.pairings = new PairingStore(store);
    this.pairingTtlMs = opts.pairingTtlMs ?? PAIRING_TTL_MS;
    const p = opts.passive;
    this.passive =
      p && (p.drain || p.leaseFile || p.dhcpDrain) ? new PassiveFeed(this.inventory, p) : undefined;
  }
  private readonly client: AgentClient;

  /**
   * The agent serving an inventory host: the one bound to it when it was paired. An id no inventory host
   * has may name an agent directly (its own name); an address a host claims never picks one.
   */
  private endpointFor(hostId: string): AgentRecord | undefined {
    const bound = this.agents.servingHost(hostId);
    if (bound) return bound;
    return this.inventory.getHost(hostId) ? undefined : this.agents.get(hostId);
  }

  /**
   * The inventory host a newly paired agent serves: the one the admin named; else the host known at its
   * address by a MAC, a client id, a scan or the admin (what passive traffic from the address showed
   * does not count: any LAN client can send it); else a host of the agent's own (`agent:<id>`) that
   * scans of the address then join.
   */
  private async bindHost(agentId: string, address: string, named?: string): Promise<string> {
    if (named) {
      const h = this.inventory.getHost(named) ?? this.inventory.findHost(named);
      if (!h) throw new RuleError(`no host ${named} to bind the agent to`);
      return h.id;
    }
    const family = isIP(address);
    const owner = family ? this.inventory.findHost(address) : undefined;
    if (owner && !(isProvisional(owner) && isPassiveOnly(owner))) return owner.id;
    const id = `agent:${agentId}`;
    const h = this.inventory.getHost(id) ?? newHost(id, Date.now());
    if (family === 4 && !h.ipv4.includes(address)) h.ipv4 = [...h.ipv4, address];
    if (family === 6 && !h.ipv6.includes(address.toLowerCase())) h.ipv6 = [...h.ipv6, address.toLowerCase()];
    await this.inventory.putHost(h);
    return id;
  }

  /** Opens (or creates) the durable store under `dataDir` and recovers interrupted dispatches. */
  static async open(opts: ServiceOptions): Promise<RemediationService> {
    const store = openDurable(opts.dataDir, opts.durable);
    const svc = new RemediationService(store, await loadOrCreateRouterIdentity(store), opts);
    await svc.queue.recover();
    await svc.expirePairings();
    if (opts.queueIntervalMs) svc.queue.start(opts.queueIntervalMs);
    svc.passive?.start();
    return svc;
  }

  /** Stops the background work; pairings waiting for confirmation stay in the store. */
  async close(): Promise<void> {
    this.checkAgents(0);
    this.closed = true;
    this.queue.stop();
    this.detector.stop();
    await this.passive?.close();
    for (const p of this.live.values()) p.cancel();
    this.live.clear();
    await this.store.close();
  }

  /** What the passive feed has seen (undefined when it does not run). */
  passiveStats(): PassiveFeedStats | undefined {
    return this.passive ? { ...this.passive.stats } : undefined;
  }

  // ---- hosts and threats ----

  /** A page of host summaries (id order), with the total. */
  async listHosts(
    page: { offset?: number; limit?: number } = {},
  ): Promise<{ items: HostSummary[]; total: number; offset: number; limit: number }> {
    const offset = page.offset ?? 0;
    const limit = page.limit ?? 200;
    const items = await this.hostSummaries(this.inventory.listHosts({ offset, limit }));
    return { items, total: this.inventory.size, offset, limit };
  }

  private async hostSummaries(hosts: Host[]): Promise<HostSummary[]> {
    const newest = new Map<string, Dispatch>();
    for (const d of this.queue.list()) {
      const seen = newest.get(d.hostId);
      if (!seen || d.createdAt >= seen.createdAt) newest.set(d.hostId, d);
    }
    return hosts.map((h) => {
      const m = this.inventory.matchHost(h);
      const os = h.os.find((o) => o.name);
      const last = newest.get(h.id);
      const threatKeys = [
        ...[...h.threats].sort((a, b) => threatScore(b) - threatScore(a)).map((t) => t.key),
        ...m.map((x) => x.key),
      ];
      const sources = [
        ...h.os.map((o) => o.source),
        ...h.software.map((x) => x.source),
        ...h.threats.map((t) => t.source),
      ];
      return {
        id: h.id,
        ipv4: h.ipv4,
        ipv6: h.ipv6,
        macs: h.macs,
        hostnames: h.hostnames,
        ...(os?.name ? { osName: os.name, osSource: os.source, osConfidence: os.confidence } : {}),
        softwareCount: h.software.length,
        software: h.software.slice(0, 8).map((x) => ({
          product: x.product,
          ...(x.version ? { version: x.version } : {}),
          ...(x.port !== undefined ? { port: x.port } : {}),
          source: x.source,
          confidence: x.confidence,
        })),
        threatCount: new Set(threatKeys).size,
        threatKeys: [...new Set(threatKeys)].slice(0, 10),
        risk: risk(h, m),
        evidence: [...new Set(sources.map(evidenceClass))].sort(),
        matchingRules: this.remedyMatches(h).matches.map((r) => r.rule.id),
        agent: Boolean(this.endpointFor(h.id)),
        ...(last
          ? {
              lastDispatch: {
                id: last.id,
                status: last.status,
                ...(last.ruleId ? { ruleId: last.ruleId } : {}),
                updatedAt: last.updatedAt,
              },
            }
          : {}),
        lastSeen: h.lastSeen,
      };
    });
  }

  /** A host by id, address, MAC or name, with its matched CVEs, risk and currently matching rules. */
  async getHost(ident: string): Promise<HostDetail | undefined> {
    const h = this.inventory.getHost(ident) ?? this.inventory.findHost(ident);
    if (!h) return undefined;
    const matched = this.inventory.matchHost(h).map((m) => {
      const t = this.inventory.getThreat(m.key);
      return t?.type === 'vulnerability' && t.summary ? { ...m, summary: t.summary } : m;
    });
    const agent = this.endpointFor(h.id);
    return {
      host: h,
      matchedCves: matched,
      risk: risk(h, matched),
      ...(agent ? { agent } : {}),
      matchingRules: this.remedyMatches(h).matches.map((r) => ({
        ruleId: r.rule.id,
        set: r.set,
        threats: r.threats,
      })),
      cveFeedLoaded: this.inventory.hasVulnFeed(),
    };
  }

  async listThreats(
    filter: { type?: ThreatType; offset?: number; limit?: number } = {},
  ): Promise<ThreatRecord[]> {
    return this.inventory.listThreats(filter);
  }

  /** How many threat records there are (of one type): a list's `total`. */
  countThreats(type?: ThreatType): number {
    return this.inventory.countThreats(type);
  }

  /** Loads an NVD 2.0 JSON feed file (streamed). */
  async loadNvdFeed(source: string | XmlSource): Promise<number> {
    const src = typeof source === 'string' ? createReadStream(source) : source;
    const n = await this.inventory.loadVulns(parseNvdFeed(src));
    await this.audit.append({ step: 'threats.feed-loaded', detail: { entries: n } });
    return n;
  }

  /** Records a malicious program found on a host (e.g. reported by an agent or an admin). */
  async reportMalware(
    hostIdent: string,
    kind: Parameters<Inventory['putMalware']>[0],
    name: string,
  ): Promise<void> {
    const h = this.inventory.getHost(hostIdent) ?? this.inventory.findHost(hostIdent);
    if (!h) throw new Error(`no host ${hostIdent}`);
    const rec = await this.inventory.putMalware(kind, name, 'manual');
    if (!h.threats.some((t) => t.key === rec.key))
      await this.inventory.putHost({
        ...h,
        threats: [
          ...h.threats,
          { key: rec.key, type: 'malware', kind, name, source: 'manual', seenAt: Date.now() },
        ],
      });
    await this.audit.append({ step: 'threat.reported', hostId: h.id, detail: { key: rec.key } });
  }

  // ---- imports and scans ----

  /** Imports a scanner report from a path or a byte stream (never loaded whole). */
  async importScan(source: string | XmlSource, format: ScanFormat | 'auto' = 'auto'): Promise<ImportSummary> {
    const src = typeof source === 'string' ? createReadStream(source, { highWaterMark: 64 * 1024 }) : source;
    const tally = emptyTally();
    const sum = await this.inventory.importObservations(parseScan(src, format, Date.now(), tally), tally);
    await this.audit.append({
      step: 'scan.imported',
      detail: {
        format,
        hosts: sum.hostIds.length,
        threats: sum.threatsSeen,
        findings: sum.findings,
        findingsKept: sum.findingsKept,
      },
    });
    return sum;
  }

  /** Runs the embedded nmap scan and imports it. */
  async runScan(opts: ScanOptions): Promise<ImportSummary> {
    const tally = emptyTally();
    const sum = await this.inventory.importObservations(runScan(opts, tally), tally);
    await this.audit.append({
      step: 'scan.run',
      detail: { targets: opts.targets, hosts: sum.hostIds.length },
    });
    return sum;
  }

  // ---- rules and programs ----

  async listRules(): Promise<Rule[]> {
    return this.rules.list();
  }
  async getRule(id: string): Promise<Rule | undefined> {
    return this.rules.get(id);
  }
  async createRule(raw: unknown): Promise<Rule> {
    const r = await this.rules.create(raw);
    await this.audit.append({ step: 'rule.created', ruleId: r.id });
    return r;
  }
  async updateRule(id: string, raw: unknown): Promise<Rule> {
    const r = await this.rules.update(id, raw);
    await this.audit.append({ step: 'rule.updated', ruleId: id });
    return r;
  }
  async deleteRule(id: string): Promise<boolean> {
    const ok = await this.rules.remove(id);
    if (ok) await this.audit.append({ step: 'rule.deleted', ruleId: id });
    return ok;
  }
  async exportRules(): Promise<string> {
    return this.rules.exportJson();
  }
  async importRules(
    json: string,
    opts: { replace?: boolean } = {},
  ): Promise<{ imported: number; removed: number }> {
    const r = await this.rules.importJson(json, opts);
    await this.audit.append({ step: 'rules.imported', detail: r });
    return r;
  }
  /** Validates a rule without storing it (for the UI's form). */
  validateRule(raw: unknown): Rule {
    return parseRule(raw);
  }

  async putProgram(p: {
    id: string;
    location: string;
    platform?: ProgramInfo['platform'];
    content: Uint8Array;
  }): Promise<ProgramInfo> {
    const info = await this.programs.put(p);
    await this.audit.append({
      step: 'program.stored',
      detail: { id: info.id, location: info.location, sha256: info.sha256 },
    });
    return info;
  }
  async listPrograms(): Promise<ProgramInfo[]> {
    return this.programs.list();
  }

  // ---- dispatch ----

  /** Queues a remedy for a host: a rule's remedy (the program when the router stores it, else the file operations) or explicit actions. */
  async dispatch(hostIdent: string, req: DispatchRequest): Promise<Dispatch> {
    const h = this.inventory.getHost(hostIdent) ?? this.inventory.findHost(hostIdent);
    const hostId = h?.id ?? hostIdent;
    if (!this.endpointFor(hostId)) throw new RuleError(`host ${hostId} has no paired agent`);
    if (req.ruleId) {
      const rule = this.rules.get(req.ruleId);
      if (!rule) throw new RuleError(`no rule ${req.ruleId}`);
      const plan = planRemedy(
        rule.remedy,
        platformOf(h ? bestOs(remedyView(h, this.remedyEvidence))?.family : undefined),
        this.programs,
        req.mode,
      );
      return this.queue.enqueue({
        hostId,
        ruleId: rule.id,
        actions: plan.actions,
        trigger: 'manual',
        remedyType: plan.type,
        ...(req.ttlMs ? { ttlMs: req.ttlMs } : {}),
      });
    }
    if (!req.actions?.length) throw new RuleError('dispatch needs a ruleId or actions');
    return this.queue.enqueue({
      hostId,
      actions: req.actions,
      trigger: 'manual',
      remedyType: 'custom',
      ...(req.ttlMs ? { ttlMs: req.ttlMs } : {}),
    });
  }

  /**
   * Queues the remedies of every rule that matches a host now (the dashboard's "remediate"): in lookup
   * order, skipping a rule whose dispatch is still open. Throws when the host is unknown or has no
   * agent.
   */
  async remediateHost(
    hostIdent: string,
    opts: { lookup?: LookupMode; mode?: RemedyMode } = {},
  ): Promise<RemediateResult> {
    const h = this.inventory.getHost(hostIdent) ?? this.inventory.findHost(hostIdent);
    if (!h) throw new RuleError(`no host ${hostIdent}`);
    if (!this.endpointFor(h.id)) throw new RuleError(`host ${h.id} has no paired agent`);
    const out: RemediateResult = { hostId: h.id, queued: [], skipped: [] };
    const { view, matches } = this.remedyMatches(h, opts.lookup);
    for (const m of matches) {
      if (this.queue.openFor(h.id, m.rule.id)) {
        out.skipped.push({ ruleId: m.rule.id, why: 'already queued' });
        continue;
      }
      let plan: ReturnType<typeof planRemedy>;
      try {
        plan = planRemedy(m.rule.remedy, platformOf(bestOs(view)?.family), this.programs, opts.mode);
      } catch (e) {
        out.skipped.push({ ruleId: m.rule.id, why: (e as Error).message });
        await this.audit.append({
          step: 'remedy.unavailable',
          hostId: h.id,
          ruleId: m.rule.id,
          detail: { why: (e as Error).message },
        });
        continue;
      }
      await this.audit.append({
        step: 'rule.matched',
        hostId: h.id,
        ruleId: m.rule.id,
        detail: { set: m.set, threats: m.threats, by: 'admin' },
      });
      const d = await this.queue.enqueue({
        hostId: h.id,
        ruleId: m.rule.id,
        actions: plan.actions,
        trigger: 'manual',
        remedyType: plan.type,
      });
      out.queued.push({ id: d.id, ruleId: m.rule.id, set: m.set, remedyType: d.remedyType });
    }
    return out;
  }

  /** A dispatch with its audit trail (program bytes are not echoed back). */
  async dispatchStatus(
    id: string,
  ): Promise<
    (Omit<Dispatch, 'actions'> & { actions: Array<Record<string, unknown>>; audit: AuditEntry[] }) | undefined
  > {
    const d = this.queue.get(id);
    if (!d) return undefined;
    const actions = d.actions.map((a) => {
      if (a.action === 'program.run' && a.content) {
        const { content: _c, ...rest } = a;
        return { ...rest, contentBytes: Math.floor((a.content.length * 3) / 4) };
      }
      return { ...a };
    });
    return { ...d, actions, audit: this.audit.list({ dispatchId: id }) };
  }

  async listDispatches(filter: { hostId?: string; status?: Dispatch['status'] } = {}): Promise<Dispatch[]> {
    return this.queue.list(filter);
  }
  async cancelDispatch(id: string): Promise<Dispatch | undefined> {
    return this.queue.cancel(id);
  }
  /** Sends due dispatches now (the background loop does this on its own when started). */
  async processQueue(): Promise<void> {
    await this.queue.processDue();
  }
  async waitForDispatch(id: string, timeoutMs?: number): Promise<Dispatch> {
    return this.queue.waitFor(id, timeoutMs);
  }

  // ---- detection ----

  async detectNow(o: DetectionOptions): Promise<DetectionReport> {
    return this.detector.detect({ evidence: this.remedyEvidence, ...o });
  }
  startDetection(
    o: DetectionOptions,
    periodMs: number,
    firstMs?: number,
    done?: (r: DetectionReport | Error) => void,
  ): void {
    this.detector.start(o, periodMs, firstMs, done);
  }
  /** The schedule (as configured), whether a round runs now, and the last round's report. */
  detectionState(): DetectionState {
    const d = this.detector;
    const o = d.schedule?.options;
    return {
      scheduled: d.schedule !== undefined,
      ...(d.schedule && o
        ? {
            intervalSeconds: d.schedule.periodMs / 1000,
            protectedHosts: o.protectedHosts,
            scan: o.scan !== undefined,
            scanLan: o.checkScanned === true,
          }
        : {}),
      running: d.busy,
      ...(d.nextAt !== undefined ? { nextRunAt: d.nextAt } : {}),
      ...(d.last ? { last: d.last } : {}),
    };
  }
  /** The scheduled round's options (the configured protected hosts and scan), when a schedule runs. */
  scheduledDetection(): DetectionOptions | undefined {
    return this.detector.schedule?.options;
  }
  stopDetection(): void {
    this.detector.stop();
  }
  /** Remedies that would be chosen for a host now, without queueing anything. */
  async previewRemedies(
    hostIdent: string,
    lookup: LookupMode = 'ordered',
  ): Promise<Array<{ ruleId: string; set: string }>> {
    const h = this.inventory.getHost(hostIdent) ?? this.inventory.findHost(hostIdent);
    if (!h) return [];
    return this.remedyMatches(h, lookup).matches.map((m) => ({
      ruleId: m.rule.id,
      set: m.set,
    }));
  }

  // ---- agents and pairing ----

  /** The router's public key (what an admin copies onto a host for key pairing). */
  routerPublicKey(): string {
    return this.identity.publicText;
  }

  /**
   * Starts pairing with an agent in pairing mode; show `code` to the admin, then confirmPairing(). The
   * pairing is kept in the durable store until it is confirmed, rejected or expires.
   */
  async pairAgent(p: {
    address: string;
    port: number;
    routerName?: string;
    /** The inventory host the agent serves (id, address, MAC or name); see bindHost. */
    host?: string;
  }): Promise<{ pairingId: string; code: string; hostId: string; agentKey: string; expiresAt: number }> {
    await this.expirePairings();
    if (p.host && !(this.inventory.getHost(p.host) ?? this.inventory.findHost(p.host)))
      throw new RuleError(`no host ${p.host} to bind the agent to`);
    const routerName = p.routerName ?? 'tunguard';
    const s = await this.client.pair(p.address, p.port, routerName);
    if (this.agents.get(s.hostId)) {
      // Pairing by code never replaces a paired agent behind the admin's back: delete it first.
      s.cancel();
      throw new RuleError(`host ${s.hostId} already has a paired agent (delete it first)`);
    }
    const pairingId = randomUUID();
    const now = Date.now();
    const rec: PendingPairing = {
      id: pairingId,
      address: p.address,
      port: p.port,
      hostId: s.hostId,
      agentKey: s.agentKey,
      code: s.code,
      routerName,
      ...(p.host ? { host: p.host } : {}),
      startedAt: now,
      expiresAt: now + this.pairingTtlMs,
    };
    try {
      await this.pairings.add(rec);
    } catch (e) {
      s.cancel();
      throw e;
    }
    this.live.set(pairingId, { finish: s.finish, cancel: s.cancel });
    await this.audit.append({
      step: 'agent.pairing-started',
      hostId: s.hostId,
      detail: { address: p.address, port: p.port, pairingId },
    });
    return { pairingId, code: s.code, hostId: s.hostId, agentKey: s.agentKey, expiresAt: rec.expiresAt };
  }

  /** Pairings waiting for the admin's confirmation (they survive a restart until they expire). */
  async listPairings(): Promise<PendingPairing[]> {
    await this.expirePairings();
    return this.pairings.list();
  }

  /** Drops expired pairings (and closes their conversations); audited. */
  async expirePairings(): Promise<number> {
    const gone = await this.pairings.sweep();
    for (const id of gone) {
      this.live.get(id)?.cancel();
      this.live.delete(id);
      await this.audit.append({ step: 'agent.pairing-expired', detail: { pairingId: id } });
    }
    return gone.length;
  }

  /**
   * The admin says whether the codes matched; the agent is stored once both sides accepted. When this
   * process started the pairing, the host's answer comes on the open conversation; after a restart it is
   * proven instead by a signed ping the agent only answers once it pinned our key (it does so when its
   * operator accepts, whether or not the router is still connected). Unreachable agents and hosts that
   * have not answered yet leave the pairing waiting (until it expires).
   */
  async confirmPairing(pairingId: string, accept: boolean): Promise<PairingOutcome> {
    await this.expirePairings();
    const p = this.pairings.get(pairingId);
    if (!p) throw new Error(`no pairing ${pairingId}`);
    const live = this.live.get(pairingId);
    if (!accept) {
      live?.cancel();
      this.live.delete(pairingId);
      await this.pairings.remove(pairingId);
      await this.audit.append({ step: 'agent.pairing-rejected', hostId: p.hostId, detail: { pairingId } });
      return { paired: false, reason: 'rejected by the admin' };
    }
    let accepted: boolean | 'not-yet';
    if (live) {
      this.live.delete(pairingId); // the conversation ends here, whatever it says
      accepted = await live.finish();
    } else accepted = await this.hostTrustsUs(p);
    if (accepted === 'not-yet') {
      await this.audit.append({
        step: 'agent.pairing-waiting',
        hostId: p.hostId,
        detail: { pairingId, why: 'the host has not accepted yet' },
      });
      return {
        paired: false,
        pending: true,
        reason: 'the host has not accepted the pairing yet (confirm again after it has)',
      };
    }
    await this.pairings.remove(pairingId);
    if (accepted && this.agents.get(p.hostId)) {
      // Another pairing for the same host finished first.
      await this.audit.append({
        step: 'agent.pairing-rejected',
        hostId: p.hostId,
        detail: { pairingId, by: 'router', why: 'already paired' },
      });
      return { paired: false, reason: `host ${p.hostId} already has a paired agent (delete it first)` };
    }
    if (!accepted) {
      await this.audit.append({
        step: 'agent.pairing-rejected',
        hostId: p.hostId,
        detail: { pairingId, by: 'host' },
      });
      return { paired: false, reason: 'the host did not accept the pairing' };
    }
    const rec = await this.agents.add(
      { hostId: p.hostId, address: p.address, port: p.port, agentKey: p.agentKey },
      'code',
      await this.bindHost(p.hostId, p.address, p.host),
    );
    await this.audit.append({
      step: 'agent.paired',
      hostId: p.hostId,
      detail: { by: 'code', pairingId, ...(live ? {} : { proven: 'ping' }) },
    });
    return { paired: true, agent: rec };
  }

  /** Whether the agent pinned our key: true (it answers a signed ping), 'not-yet' (it says unpaired). */
  private async hostTrustsUs(p: PendingPairing): Promise<boolean | 'not-yet'> {
    const ep = { hostId: p.hostId, address: p.address, port: p.port, agentKey: p.agentKey };
    const { result } = await this.client.send(ep, this.client.buildCommand(ep, { action: 'ping' }, 60_000));
    if (result.ok) return true;
    if (result.refused === 'unpaired') return 'not-yet';
    // Pinned another router's key (bad-signature), or anything else: this pairing did not take.
    if (result.refused === 'bad-signature') return false;
    throw new AgentError(
      'protocol',
      `agent refused the pairing check: ${result.refused ?? ''} ${result.reason ?? ''}`.trim(),
    );
  }

  /** Pairing by a copied key: the admin enters the agent's key (and pins the router key on the host). */
  async addAgentKey(p: {
    hostId: string;
    address: string;
    port: number;
    agentKey: string;
    /** The inventory host the agent serves (id, address, MAC or name); see bindHost. */
    host?: string;
  }): Promise<AgentRecord> {
    const { host, ...endpoint } = p;
    const rec = await this.agents.add(endpoint, 'key', await this.bindHost(p.hostId, p.address, host));
    await this.audit.append({ step: 'agent.paired', hostId: p.hostId, detail: { by: 'key' } });
    return rec;
  }

  /** Forgets a paired agent (its key is no longer trusted); false when there was none. */
  async removeAgent(hostId: string): Promise<boolean> {
    if (!this.agents.get(hostId)) return false;
    await this.agents.remove(hostId);
    await this.audit.append({ step: 'agent.removed', hostId });
    return true;
  }

  async listAgents(): Promise<AgentRecord[]> {
    return this.agents.list();
  }

  /**
   * How many agents are paired, and how many of them the last contact did not reach. After close (the
   * daemon's last status write comes after it), the last count: the store is gone.
   */
  reachSummary(): ReachSummary {
    if (!this.closed) this.lastReach = this.reach.summary(this.agents.list().map((a) => a.hostId));
    return this.lastReach;
  }
  private lastReach: ReachSummary = { paired: 0, unreachable: 0, checked: 0 };

  /**
   * Pings every paired agent not contacted within `intervalMs` (now, then every `intervalMs`); 0 stops
   * it (then only dispatches and pairing checks tell). Returns the round now under way.
   */
  checkAgents(intervalMs: number): Promise<void> {
    if (this.reachTimer) clearInterval(this.reachTimer);
    this.reachTimer = undefined;
    if (intervalMs <= 0) return Promise.resolve();
    this.reachTimer = setInterval(() => void this.pingDue(intervalMs), intervalMs);
    this.reachTimer.unref();
    return this.pingDue(intervalMs);
  }

  /** One round: one at a time, so a household of agents never opens many connections at once. */
  private async pingDue(intervalMs: number): Promise<void> {
    if (this.reachBusy) return;
    this.reachBusy = true;
    try {
      for (const ep of this.agents.list()) {
        if (this.closed) return;
        if (!this.reach.due(ep.hostId, intervalMs)) continue;
        const ping = this.client.buildCommand(ep, { action: 'ping' }, 60_000);
        await this.client.send(ep, ping, PING_TIMEOUT_MS).catch(() => {}); // recorded by onContact
      }
    } finally {
      this.reachBusy = false;
    }
  }

  async auditLog(
    filter: { dispatchId?: string; hostId?: string; limit?: number } = {},
  ): Promise<AuditEntry[]> {
    return this.audit.list(filter);
  }

  /** A page of the audit log, newest first counted: `offset` newest skipped, `total` matching. */
  async auditPage(filter: { dispatchId?: string; hostId?: string; offset?: number; limit?: number } = {}) {
    return this.audit.page(filter);
  }
}
