// remediateHost (the dashboard's button) and the host summaries it is shown with, on a real LMDB store:
// every matching rule queued in lookup order, open dispatches not queued twice, reasons given.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyObservation, type Observation } from '../../src/inventory/model.js';
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
    // Bound to the host of the address by name: by default a host known only from traffic is not one.
    await svc.addAgentKey({
      hostId: `agent-${address}`,
      address,
      port: 7443,
      agentKey: KEY,
      host: `ip:${address}`,
    });
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

describe('which agent a host reaches', () => {
  const nginx = (mac: string, address: string): Observation => ({
    ...emptyObservation(),
    mac,
    ipv4: [address],
    software: [{ product: 'nginx', version: '1.18.0', port: 80, confidence: 90, source: 'nmap', seenAt: 1 }],
  });

  it('the host it was bound to when paired, never one that claims its address later', async () => {
    await svc.inventory.importObservations([nginx('00:16:3e:00:00:40', '192.0.2.40')]);
    const rec = await svc.addAgentKey({
      hostId: 'agent-40',
      address: '192.0.2.40',
      port: 7443,
      agentKey: KEY,
    });
    expect(rec.inventoryHostId).toBe('mac:00:16:3e:00:00:40');
    // Another LAN client claims the address: a lease (passive) and a scan answering from it.
    await svc.inventory.importObservations(
      [{ ...emptyObservation(), mac: '00:16:3e:00:00:66', ipv4: ['192.0.2.40'] }],
      undefined,
      { passive: true },
    );
    await svc.inventory.importObservations([nginx('00:16:3e:00:00:67', '192.0.2.40')]);
    for (const other of ['mac:00:16:3e:00:00:66', 'mac:00:16:3e:00:00:67']) {
      expect(svc.inventory.getHost(other)?.ipv4).toEqual(['192.0.2.40']);
      await expect(svc.remediateHost(other)).rejects.toThrow(/no paired agent/);
      await expect(svc.dispatch(other, { ruleId: 'env-nginx' })).rejects.toThrow(/no paired agent/);
    }
    expect((await svc.remediateHost('mac:00:16:3e:00:00:40')).queued.map((q) => q.ruleId)).toContain(
      'env-nginx',
    );
  });

  it('traffic from an agent’s address before pairing is not the agent’s host', async () => {
    const o = emptyObservation();
    o.ipv4.push('192.0.2.41');
    o.os.push({ name: 'Windows', family: 'Windows', confidence: 40, source: 'http-ua', seenAt: 1 });
    await svc.inventory.importObservations([o], undefined, { passive: true });
    const rec = await svc.addAgentKey({
      hostId: 'agent-41',
      address: '192.0.2.41',
      port: 7443,
      agentKey: KEY,
    });
    expect(rec.inventoryHostId).toBe('agent:agent-41');
    await expect(svc.remediateHost('ip:192.0.2.41')).rejects.toThrow(/no paired agent/);
    // The address names the agent's host, which a scan of the address then joins.
    expect(svc.inventory.findHost('192.0.2.41')?.id).toBe('agent:agent-41');
    await svc.inventory.importObservations([nginx('00:16:3e:00:00:41', '192.0.2.41')]);
    expect(svc.inventory.findHost('00:16:3e:00:00:41')?.id).toBe('agent:agent-41');
    expect((await svc.remediateHost('192.0.2.41')).hostId).toBe('agent:agent-41');
  });
});
