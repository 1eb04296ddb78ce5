// Whether paired agents can be reached (the status file's and /metrics' unreachable count), against a
// real agent process: the periodic ping finds it there, then gone, and a dispatch finds it back. The
// controls: with the ping off nothing notices an agent that went away, and an agent never contacted
// counts as neither reached nor unreachable.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentReach } from '../../src/remediation/reach.js';
import { RemediationService } from '../../src/remediation/service.js';
import { agentCli, agentSuite, freePort } from '../agent/harness.js';

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!ok() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
  return ok();
}

const fx = agentSuite('tg-reach-');

describe('agent reachability', () => {
  it('the ping finds a paired agent, then its absence; a dispatch finds it back; each change is said once', async () => {
    const port = await freePort();
    const said: string[] = [];
    const svc = await RemediationService.open({
      dataDir: join(fx.dirs.base, 'svc'),
      agentTimeoutMs: 3000,
      onReach: (host, reached, reason) => said.push(`${host} ${reached} ${reason ?? ''}`.trim()),
    });
    try {
      const start = () => fx.startOn(port);
      let agent = await start();
      await agentCli(agent.configPath, ['trust-router', '--key', svc.routerPublicKey()]);
      await svc.addAgentKey({ hostId: 'host-1', address: '127.0.0.1', port, agentKey: agent.agentKey });
      // Paired, never contacted: not counted as unreachable.
      expect(svc.reachSummary()).toEqual({ paired: 1, unreachable: 0, checked: 0 });
      await svc.checkAgents(60_000); // the first round runs now
      expect(svc.reachSummary()).toEqual({ paired: 1, unreachable: 0, checked: 1 });
      expect(said).toEqual([]); // a first contact that worked is no news

      await agent.stop();
      void svc.checkAgents(50);
      expect(await until(() => svc.reachSummary().unreachable === 1, 5000)).toBe(true);
      await svc.checkAgents(0);
      expect(said).toEqual(['host-1 false unreachable']);
      expect(svc.reach.get('host-1')).toMatchObject({ reached: false, reason: 'unreachable' });

      // Back: a dispatch reaches it (no ping running), and that counts too.
      agent = await start();
      const d = await svc.dispatch('host-1', { actions: [{ action: 'ping' }] });
      expect((await svc.waitForDispatch(d.id, 10_000)).status).toBe('done');
      expect(svc.reachSummary()).toEqual({ paired: 1, unreachable: 0, checked: 1 });
      expect(said).toEqual(['host-1 false unreachable', 'host-1 true']);

      // The control: with the ping off, an agent that goes away is not noticed until something is sent.
      await agent.stop();
      await new Promise((r) => setTimeout(r, 300));
      expect(svc.reachSummary().unreachable).toBe(0);

      // Unpaired: forgotten.
      await svc.removeAgent('host-1');
      expect(svc.reachSummary()).toEqual({ paired: 0, unreachable: 0, checked: 0 });
    } finally {
      await svc.close();
    }
    // The daemon writes its status once more after the store closed: the last count, not a throw.
    expect(svc.reachSummary()).toEqual({ paired: 0, unreachable: 0, checked: 0 });
  }, 30_000);

  it('keeps only the paired agents, and pings only those not contacted within the interval', () => {
    const r = new AgentReach();
    r.record('a', false, 'timeout', 1000);
    r.record('b', true, undefined, 1000);
    r.record('gone', false, 'unreachable', 1000);
    expect(r.summary(['a', 'b', 'never'])).toEqual({ paired: 3, unreachable: 1, checked: 2 });
    expect(r.get('gone')).toBeUndefined();
    expect(r.due('a', 500, 1400)).toBe(false);
    expect(r.due('a', 500, 1500)).toBe(true);
    expect(r.due('never', 500, 0)).toBe(true);
  });
});
