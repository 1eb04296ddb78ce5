// remediateHost (the dashboard's button) and the host summaries it is shown with, on a real LMDB store:
// every matching rule queued in lookup order, open dispatches not queued twice, reasons given.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyObservation } from '../../src/inventory/model.js';
import { RemediationService } from '../../src/remediation/service.js';

const KEY = 'A'.repeat(43);
let dir: string;
let svc: RemediationService;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tg-remediate-'));
  svc = await RemediationService.open({ dataDir: join(dir, 'router') });
  const o = emptyObservation();
  o.ipv4.push('192.0.2.20');
  // A scan found nginx (facts a LAN client cannot forge by sending traffic); the OS is a passive guess.
  o.software.push({
    product: 'nginx',
    version: '1.18.0',
    port: 80,
    confidence: 60,
    source: 'nmap',
    seenAt: 1,
  });
  o.os.push({ name: 'Linux', family: 'Linux', confidence: 40, source: 'http-ua', seenAt: 1 });
  await svc.inventory.importObservations([o]);
  await svc.reportMalware('192.0.2.20', 'bot', 'Bot-4162');
  await svc.createRule({
    kind: 'environment',
    id: 'env-nginx',
    environment: { software: 'nginx' },
    remedy: { fileOps: [{ name: 'a.sh', location: '/opt/x', op: 'delete' }] },
  });
  await svc.createRule({
    kind: 'combined',
    id: 'nginx-bot',
    environment: { software: 'nginx' },
    threat: { type: 'bot', id: 'Bot-4162' },
    remedy: { fileOps: [{ name: 'bot', location: '/opt/x', op: 'quarantine' }] },
  });
  await svc.createRule({
    kind: 'threat',
    id: 'bot-program',
    threat: { type: 'malware' },
    // A program the router does not store and the host's copy is not pinned: no remedy can be sent.
    remedy: { programs: [{ id: 'cleaner', location: '/opt/cleaner' }] },
  });
});

afterAll(async () => {
  await svc?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('remediateHost', () => {
  it('needs a known host with an agent', async () => {
    await expect(svc.remediateHost('192.0.2.99')).rejects.toThrow(/^no host /);
    await expect(svc.remediateHost('192.0.2.20')).rejects.toThrow(/no paired agent/);
  });

  it('queues every matching rule in order, once, and says why it skips the rest', async () => {
    await svc.addAgentKey({ hostId: 'agent-20', address: '192.0.2.20', port: 7443, agentKey: KEY });
    const first = await svc.remediateHost('192.0.2.20');
    expect(first.hostId).toBe('ip:192.0.2.20');
    expect(first.queued.map((q) => `${q.set}:${q.ruleId}:${q.remedyType}`)).toEqual([
      'FIG4:env-nginx:file-op',
      'FIG6:nginx-bot:file-op',
    ]);
    expect(first.skipped).toEqual([
      { ruleId: 'bot-program', why: 'the remedy names no pinned program stored on the host' },
    ]);
    const again = await svc.remediateHost('192.0.2.20');
    expect(again.queued).toEqual([]);
    expect(again.skipped.map((s) => `${s.ruleId}: ${s.why}`)).toEqual([
      'env-nginx: already queued',
      'bot-program: the remedy names no pinned program stored on the host',
      'nginx-bot: already queued',
    ]);
    const steps = (await svc.auditLog({ hostId: 'ip:192.0.2.20' })).map((e) => e.step);
    expect(steps.filter((s) => s === 'rule.matched')).toHaveLength(2);
    expect(steps.filter((s) => s === 'remedy.unavailable')).toHaveLength(2);
  });

  it('summarises the host for the table: evidence, software, threats, rules, last dispatch', async () => {
    const [h] = (await svc.listHosts()).items;
    expect(h).toMatchObject({
      id: 'ip:192.0.2.20',
      osName: 'Linux',
      osSource: 'http-ua',
      osConfidence: 40,
      softwareCount: 1,
      software: [{ product: 'nginx', version: '1.18.0', port: 80, source: 'nmap', confidence: 60 }],
      threatKeys: ['MALWARE:bot:bot-4162'],
      evidence: ['manual', 'passive', 'scan'],
      matchingRules: ['env-nginx', 'bot-program', 'nginx-bot'],
      agent: true,
      risk: { level: 'critical' },
    });
    expect(h.lastDispatch?.status).toBe('queued');
    // Both were queued in the same call (possibly the same millisecond): either is the newest.
    expect(['env-nginx', 'nginx-bot']).toContain(h.lastDispatch?.ruleId);
  });
});

describe('what may trigger a remedy', () => {
  /** A host at `address` whose nginx only traffic showed (a banner any LAN client can send). */
  async function passiveNginx(address: string, confidence: number, source: 'banner' | 'http-ua' | 'nmap') {
    const o = emptyObservation();
    o.ipv4.push(address);
    o.software.push({ product: 'nginx', version: '1.18.0', port: 80, confidence, source, seenAt: 1 });
    await svc.inventory.importObservations([o], undefined, { passive: source !== 'nmap' });
    await svc.addAgentKey({ hostId: `agent-${address}`, address, port: 7443, agentKey: KEY });
  }

  it("passive facts alone trigger no remedy unless remedy_evidence is 'any'", async () => {
    await passiveNginx('192.0.2.30', 60, 'banner');
    const confirm = await svc.remediateHost('192.0.2.30');
    expect(confirm.queued).toEqual([]);
    expect(await svc.previewRemedies('192.0.2.30')).toEqual([]);
    const det = await svc.detectNow({ protectedHosts: ['192.0.2.30'] });
    expect(det.queued).toEqual([]);
    expect(svc.remedyEvidence, 'the default').toBe('confirm');
    // Control: the same host with passive facts allowed.
    svc.remedyEvidence = 'any';
    try {
      expect((await svc.remediateHost('192.0.2.30')).queued.map((q) => q.ruleId)).toEqual(['env-nginx']);
    } finally {
      svc.remedyEvidence = 'confirm';
    }
  });

  it('software below the confidence floor matches no rule, whatever its source', async () => {
    await passiveNginx('192.0.2.31', 40, 'nmap');
    expect(await svc.previewRemedies('192.0.2.31')).toEqual([]);
    // Control: the same fact at the floor matches.
    await passiveNginx('192.0.2.32', 50, 'nmap');
    expect((await svc.previewRemedies('192.0.2.32')).map((r) => r.ruleId)).toEqual(['env-nginx']);
  });
});
