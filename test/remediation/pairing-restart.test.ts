// Pairings by code outlive a daemon restart: started, the service closed and reopened on the same LMDB
// store, then confirmed — the host's acceptance proven by a signed ping to the real agent. Expired
// pairings are dropped; an admin's "no" after the restart forgets the pairing.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RemediationService } from '../../src/remediation/service.js';
import { type AgentDirs, cleanup, makeDirs, type RunningAgent, startAgent } from '../agent/harness.js';

const agents: RunningAgent[] = [];
const dirs: AgentDirs[] = [];
const open: RemediationService[] = [];

async function agent(hostId: string): Promise<RunningAgent> {
  const d = makeDirs('tg-pair-restart-');
  dirs.push(d);
  const a = await startAgent(d, { pairing: true, hostId });
  agents.push(a);
  return a;
}

async function service(dataDir: string, pairingTtlMs?: number): Promise<RemediationService> {
  const s = await RemediationService.open({
    dataDir,
    agentTimeoutMs: 10_000,
    ...(pairingTtlMs ? { pairingTtlMs } : {}),
  });
  open.push(s);
  return s;
}

async function restart(
  s: RemediationService,
  dataDir: string,
  pairingTtlMs?: number,
): Promise<RemediationService> {
  await s.close();
  open.splice(open.indexOf(s), 1);
  return service(dataDir, pairingTtlMs);
}

afterAll(async () => {
  for (const s of open) await s.close();
  for (const a of agents) await a.stop();
  for (const d of dirs) cleanup(d);
});

describe('pairing across a daemon restart', () => {
  it('confirms a pairing started before the restart, once the host has accepted', async () => {
    const a = await agent('restart-host');
    const dataDir = join(a.dirs.base, 'router');
    let svc = await service(dataDir);
    const p = await svc.pairAgent({ address: '127.0.0.1', port: a.port, routerName: 'tg-restart' });
    expect((await a.waitLine(/code=(\d{5}-\d{5})$/))[1]).toBe(p.code);

    svc = await restart(svc, dataDir); // the conversation with the agent is gone
    const waiting = await svc.listPairings();
    expect(waiting).toEqual([
      expect.objectContaining({
        id: p.pairingId,
        hostId: 'restart-host',
        code: p.code,
        agentKey: a.agentKey,
      }),
    ]);
    expect(waiting[0].expiresAt).toBe(p.expiresAt);

    // The host's operator has not answered yet: the pairing waits (and stays stored).
    const early = await svc.confirmPairing(p.pairingId, true);
    expect(early).toMatchObject({ paired: false, pending: true });
    expect((await svc.listPairings()).map((x) => x.id)).toEqual([p.pairingId]);
    expect(await svc.listAgents()).toEqual([]);

    // The operator accepts (the router is no longer on the line); the agent pins the router key.
    a.proc.stdin.write('yes\n');
    for (let i = 0; i < 100 && !a.stderr.join('').includes('pairing accepted'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(a.stderr.join('')).toContain('pairing accepted');
    const done = await svc.confirmPairing(p.pairingId, true);
    expect(done).toMatchObject({
      paired: true,
      agent: { hostId: 'restart-host', pairedBy: 'code', agentKey: a.agentKey },
    });
    expect(await svc.listPairings()).toEqual([]);
    await expect(svc.confirmPairing(p.pairingId, true)).rejects.toThrow(/no pairing/);
    const steps = (await svc.auditLog({ hostId: 'restart-host' })).map((e) => e.step);
    expect(steps).toEqual(['agent.pairing-started', 'agent.pairing-waiting', 'agent.paired']);
    const paired = (await svc.auditLog({ hostId: 'restart-host' })).find((e) => e.step === 'agent.paired');
    expect(paired?.detail).toMatchObject({ by: 'code', proven: 'ping' });

    // And the paired agent takes commands from the restarted router.
    const d = await svc.dispatch('restart-host', { actions: [{ action: 'ping' }] });
    await svc.processQueue();
    expect((await svc.waitForDispatch(d.id, 10_000)).status).toBe('done');
  });

  it('forgets a pairing the admin rejects after the restart, and drops expired ones', async () => {
    const a = await agent('reject-host');
    const dataDir = join(a.dirs.base, 'router');
    let svc = await service(dataDir);
    const p = await svc.pairAgent({ address: '127.0.0.1', port: a.port });
    svc = await restart(svc, dataDir);
    expect(await svc.confirmPairing(p.pairingId, false)).toEqual({
      paired: false,
      reason: 'rejected by the admin',
    });
    expect(await svc.listPairings()).toEqual([]);
    a.proc.stdin.write('no\n');

    const b = await agent('expire-host');
    const dataDir2 = join(b.dirs.base, 'router');
    let svc2 = await service(dataDir2, 400);
    const q = await svc2.pairAgent({ address: '127.0.0.1', port: b.port });
    expect((await svc2.listPairings()).map((x) => x.id)).toEqual([q.pairingId]);
    await svc2.close();
    open.splice(open.indexOf(svc2), 1);
    await new Promise((r) => setTimeout(r, 500)); // expires while the daemon is down
    svc2 = await service(dataDir2, 400);
    // Opening the store dropped it: nothing left to sweep, and the audit says why.
    expect(await svc2.pairings.sweep()).toEqual([]);
    const expired = (await svc2.auditLog()).filter((e) => e.step === 'agent.pairing-expired');
    expect(expired.map((e) => e.detail)).toEqual([{ pairingId: q.pairingId }]);
    expect(await svc2.listPairings()).toEqual([]);
    await expect(svc2.confirmPairing(q.pairingId, true)).rejects.toThrow(/no pairing/);
    b.proc.stdin.write('no\n');
  });
});
