// RemediationService: the plain async facade the API and CLI call (hosts, threats, rules, dispatch, pairing, imports).

import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Action } from '../agent/protocol.js';
import { parseScan, type ScanFormat } from '../inventory/import/index.js';
import { type ImportSummary, Inventory, type ThreatRecord } from '../inventory/inventory.js';
import { bestOs, type Host, type HostThreat } from '../inventory/model.js';
import { parseNvdFeed } from '../inventory/nvd.js';
import { runScan, type ScanOptions } from '../inventory/scan-runner.js';
import type { VulnMatch } from '../inventory/vuln-match.js';
import type { XmlSource } from '../inventory/xml-stream.js';
import { type DurableStore, openDurable } from '../state/durable.js';
import { type AuditEntry, AuditLog } from '../state/durable-audit.js';
import { AgentClient } from './agent-client.js';
import { type AgentRecord, AgentRegistry } from './agents.js';
import { type DetectionOptions, type DetectionReport, Detector } from './detector.js';
import { loadOrCreateRouterIdentity, type RouterIdentity } from './identity.js';
import { findRemedies, hostFacts, type LookupMode } from './match.js';
import { type ProgramInfo, ProgramStore } from './programs.js';
import { type Dispatch, DispatchQueue, type QueueOptions } from './queue.js';
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
  os?: string;
  software: number;
  threats: number;
  risk: RiskScore;
  agent: boolean;
  lastSeen: number;
}

export interface HostDetail {
  host: Host;
  matchedCves: Array<VulnMatch & { summary?: string }>;
  risk: RiskScore;
  agent?: Omit<AgentRecord, 'agentKey'> & { agentKey: string };
  /** Rules that match now, in the seed's lookup order. */
  matchingRules: Array<{ ruleId: string; set: string; threats: string[] }>;
}

export interface ServiceOptions {
  dataDir: string;
  agentTimeoutMs?: number;
  queue?: QueueOptions;
  /** Process the dispatch queue in the background every this many ms (0 = only on demand). */
  queueIntervalMs?: number;
}

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
  for (const t of h.threats) score = Math.max(score, t.type === 'malware' ? 10 : (t.cvss ?? 0));
  for (const m of matched) score = Math.max(score, (m.cvss ?? 0) * (m.certainty === 'affected' ? 1 : 0.5));
  score = Math.round(score * 10) / 10;
  const level =
    score >= 9 ? 'critical' : score >= 7 ? 'high' : score >= 4 ? 'medium' : score > 0 ? 'low' : 'none';
  return { score, level };
}

interface PendingPairing {
  address: string;
  port: number;
  hostId: string;
  agentKey: string;
  code: string;
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
  private readonly pairings = new Map<string, PendingPairing>();

  private constructor(
    private readonly store: DurableStore,
    private readonly identity: RouterIdentity,
    opts: ServiceOptions,
  ) {
    this.inventory = new Inventory(store);
    this.rules = new RulesStore(store);
    this.programs = new ProgramStore(store);
    this.agents = new AgentRegistry(store);
    this.audit = new AuditLog(store);
    const client = new AgentClient(identity, { timeoutMs: opts.agentTimeoutMs ?? 120_000 });
    this.queue = new DispatchQueue(store, this.audit, client, (id) => this.endpointFor(id), opts.queue);
    this.detector = new Detector(this.inventory, this.rules, this.programs, this.queue, this.audit);
    this.client = client;
  }
  private readonly client: AgentClient;

  /**
   * The agent serving an inventory host: paired under the host's id, or paired under its own id at one of
   * the host's addresses (an agent names itself; the inventory keys hosts by MAC or address).
   */
  private endpointFor(hostId: string): AgentRecord | undefined {
    const direct = this.agents.get(hostId);
    if (direct) return direct;
    const h = this.inventory.getHost(hostId);
    if (!h) return undefined;
    return this.agents
      .list()
      .find((a) => h.ipv4.includes(a.address) || h.ipv6.includes(a.address.toLowerCase()));
  }

  /** Opens (or creates) the durable store under `dataDir` and recovers interrupted dispatches. */
  static async open(opts: ServiceOptions): Promise<RemediationService> {
    const store = openDurable(opts.dataDir);
    const svc = new RemediationService(store, await loadOrCreateRouterIdentity(store), opts);
    await svc.queue.recover();
    if (opts.queueIntervalMs) svc.queue.start(opts.queueIntervalMs);
    return svc;
  }

  async close(): Promise<void> {
    this.queue.stop();
    this.detector.stop();
    for (const p of this.pairings.values()) p.cancel();
    await this.store.close();
  }

  // ---- hosts and threats ----

  async listHosts(): Promise<HostSummary[]> {
    return this.inventory.listHosts().map((h) => {
      const m = this.inventory.matchHost(h);
      const os = bestOs(h);
      return {
        id: h.id,
        ipv4: h.ipv4,
        ipv6: h.ipv6,
        macs: h.macs,
        hostnames: h.hostnames,
        ...(os?.name ? { os: os.name } : {}),
        software: h.software.length,
        threats: new Set([...h.threats.map((t: HostThreat) => t.key), ...m.map((x) => x.key)]).size,
        risk: risk(h, m),
        agent: Boolean(this.endpointFor(h.id)),
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
      matchingRules: findRemedies(hostFacts(h, matched), this.rules.list()).map((r) => ({
        ruleId: r.rule.id,
        set: r.set,
        threats: r.threats,
      })),
    };
  }

  async listThreats(
    filter: { type?: 'vulnerability' | 'malware'; limit?: number } = {},
  ): Promise<ThreatRecord[]> {
    return this.inventory.listThreats(filter);
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
    const sum = await this.inventory.importObservations(parseScan(src, format));
    await this.audit.append({
      step: 'scan.imported',
      detail: { format, hosts: sum.hostIds.length, threats: sum.threatsSeen },
    });
    return sum;
  }

  /** Runs the embedded nmap scan and imports it. */
  async runScan(opts: ScanOptions): Promise<ImportSummary> {
    const sum = await this.inventory.importObservations(runScan(opts));
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

  /** Queues a remedy for a host: a rule's remedy (planned per the seed's send rule) or explicit actions. */
  async dispatch(hostIdent: string, req: DispatchRequest): Promise<Dispatch> {
    const h = this.inventory.getHost(hostIdent) ?? this.inventory.findHost(hostIdent);
    const hostId = h?.id ?? hostIdent;
    if (!this.endpointFor(hostId)) throw new RuleError(`host ${hostId} has no paired agent`);
    if (req.ruleId) {
      const rule = this.rules.get(req.ruleId);
      if (!rule) throw new RuleError(`no rule ${req.ruleId}`);
      const plan = planRemedy(
        rule.remedy,
        platformOf(h ? bestOs(h)?.family : undefined),
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
    return this.detector.detect(o);
  }
  startDetection(o: DetectionOptions, periodMs: number): void {
    this.detector.start(o, periodMs);
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
    return findRemedies(hostFacts(h, this.inventory.matchHost(h)), this.rules.list(), lookup).map((m) => ({
      ruleId: m.rule.id,
      set: m.set,
    }));
  }

  // ---- agents and pairing ----

  /** The router's public key (what an admin copies onto a host for key pairing). */
  routerPublicKey(): string {
    return this.identity.publicText;
  }

  /** Starts pairing with an agent in pairing mode; show `code` to the admin, then confirmPairing(). */
  async pairAgent(p: {
    address: string;
    port: number;
    routerName?: string;
  }): Promise<{ pairingId: string; code: string; hostId: string; agentKey: string }> {
    const s = await this.client.pair(p.address, p.port, p.routerName ?? 'tunguard');
    const pairingId = randomUUID();
    this.pairings.set(pairingId, { address: p.address, port: p.port, ...s });
    await this.audit.append({
      step: 'agent.pairing-started',
      hostId: s.hostId,
      detail: { address: p.address, port: p.port },
    });
    return { pairingId, code: s.code, hostId: s.hostId, agentKey: s.agentKey };
  }

  /** The admin says whether the codes matched; the agent is stored once both sides accepted. */
  async confirmPairing(pairingId: string, accept: boolean): Promise<AgentRecord | undefined> {
    const p = this.pairings.get(pairingId);
    if (!p) throw new Error(`no pairing ${pairingId}`);
    this.pairings.delete(pairingId);
    if (!accept) {
      p.cancel();
      await this.audit.append({ step: 'agent.pairing-rejected', hostId: p.hostId });
      return undefined;
    }
    const agentAccepted = await p.finish();
    if (!agentAccepted) {
      await this.audit.append({ step: 'agent.pairing-rejected', hostId: p.hostId, detail: { by: 'host' } });
      return undefined;
    }
    const rec = await this.agents.add(
      { hostId: p.hostId, address: p.address, port: p.port, agentKey: p.agentKey },
      'code',
    );
    await this.audit.append({ step: 'agent.paired', hostId: p.hostId, detail: { by: 'code' } });
    return rec;
  }

  /** Pairing by a copied key: the admin enters the agent's key (and pins the router key on the host). */
  async addAgentKey(p: {
    hostId: string;
    address: string;
    port: number;
    agentKey: string;
  }): Promise<AgentRecord> {
    const rec = await this.agents.add(p, 'key');
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

  async auditLog(
    filter: { dispatchId?: string; hostId?: string; limit?: number } = {},
  ): Promise<AuditEntry[]> {
    return this.audit.list(filter);
  }
}
