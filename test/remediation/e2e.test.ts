// End to end on loopback: real services, a real nmap scan imported, rules matched, remedies run by a real agent.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RemediationService } from '../../src/remediation/service.js';
import {
  type AgentDirs,
  cleanup,
  freePort,
  makeDirs,
  type RunningAgent,
  startAgent,
} from '../agent/harness.js';

const FEED = new URL('../fixtures/scanners/nvd-sample.json', import.meta.url).pathname;

let dirs: AgentDirs;
let agent: RunningAgent;
let svc: RemediationService;
let nginxLike: Server;
let python: ChildProcess;
let webPort = 0;
let pyPort = 0;

beforeAll(async () => {
  dirs = makeDirs('tg-e2e-');
  // Service 1: answers like nginx 1.18.0 (which NVD lists under CVE-2021-23017).
  nginxLike = createServer((_q, s) => {
    s.setHeader('Server', 'nginx/1.18.0');
    s.end('ok');
  });
  webPort = await new Promise<number>((r) =>
    nginxLike.listen(0, '127.0.0.1', () => r((nginxLike.address() as { port: number }).port)),
  );
  // Service 2: Python's http.server (nmap names it SimpleHTTPServer).
  pyPort = await freePort();
  python = spawn('python3', ['-m', 'http.server', String(pyPort), '--bind', '127.0.0.1'], {
    cwd: dirs.outside,
    stdio: 'ignore',
  });
  // Ready when it accepts a connection.
  await vi.waitFor(
    () =>
      new Promise<void>((resolve, reject) => {
        const c = connect(pyPort, '127.0.0.1', () => {
          c.destroy();
          resolve();
        });
        c.once('error', reject);
      }),
    { timeout: 10_000, interval: 50 },
  );
  agent = await startAgent(dirs, { pairing: true, hostId: 'lab-host', extra: { allowInlinePrograms: true } });
  svc = await RemediationService.open({ dataDir: join(dirs.base, 'router'), agentTimeoutMs: 15_000 });
});

afterAll(async () => {
  await svc?.close();
  await agent?.stop();
  python?.kill();
  nginxLike?.close();
  cleanup(dirs);
});

describe('scan → match → dispatch → agent → report → restore', () => {
  it('pairs the agent with a code shown on both sides', async () => {
    const p = await svc.pairAgent({ address: '127.0.0.1', port: agent.port, routerName: 'tunguard-lab' });
    const shown = await agent.waitLine(/code=(\d{5}-\d{5})$/);
    expect(shown[1]).toBe(p.code);
    agent.proc.stdin.write('yes\n');
    const rec = await svc.confirmPairing(p.pairingId, true);
    expect(rec).toMatchObject({ paired: true, agent: { hostId: 'lab-host', pairedBy: 'code' } });
  });

  it('scans with nmap, matches an environment rule, a threat-only rule and a combined rule, and remedies all three', async () => {
    // Host files the remedies act on.
    writeFileSync(join(dirs.root, 'dropper.sh'), 'evil payload', { mode: 0o755 });
    writeFileSync(join(dirs.root, 'config.txt'), 'secret=1', { mode: 0o666 });
    expect(await svc.loadNvdFeed(FEED)).toBe(4);
    const cleaner = Buffer.from(
      `#!/bin/sh\necho "patched $1" > ${join(dirs.root, 'patched.txt')}\necho done\n`,
    );
    await svc.putProgram({
      id: 'Linux13',
      location: '/script/clean-nginx.bin',
      platform: 'linux',
      content: cleaner,
    });
    await svc.createRule({
      kind: 'environment',
      id: 'E1',
      environment: { software: 'SimpleHTTPServer', softwareVersions: ['0.6'] },
      remedy: { fileOps: [{ name: 'dropper.sh', location: dirs.root, op: 'delete' }] },
    });
    await svc.createRule({
      kind: 'threat',
      id: 'T1',
      threat: { type: 'vulnerability', id: 'CVE-2021-23017' },
      remedy: {
        programs: [
          { id: 'Linux13', location: '/script/clean-nginx.bin', platform: 'linux', args: ['nginx'] },
        ],
        fileOps: [{ name: 'nginx.conf', location: dirs.root, op: 'delete' }],
      },
    });
    await svc.createRule({
      kind: 'combined',
      id: 'C1',
      environment: { osType: 'Linux' },
      threat: { type: 'vulnerability', id: 'CVE-2021-23017' },
      remedy: { fileOps: [{ name: 'config.txt', location: dirs.root, op: 'chmod', mode: 0o600 }] },
    });

    const rep = await svc.detectNow({
      protectedHosts: ['127.0.0.1'],
      scan: { ports: `${webPort},${pyPort}`, versionIntensity: 5, maxRate: 200, timeoutMs: 90_000 },
    });
    expect(rep.scanError).toBeUndefined();
    expect(rep.missing).toEqual([]);
    expect(rep.queued).toHaveLength(3);

    const detail = (await svc.getHost('127.0.0.1'))!;
    expect(detail.host.software.map((s) => s.product).sort()).toEqual(['SimpleHTTPServer', 'nginx']);
    expect(detail.matchedCves.map((m) => m.key)).toEqual(['CVE-2021-23017']);
    expect(detail.risk).toEqual({ score: 7.7, level: 'high' });
    expect(detail.matchingRules.map((r) => `${r.set}:${r.ruleId}`)).toEqual([
      'FIG4:E1',
      'FIG5:T1',
      'FIG6:C1',
    ]);

    const results = [];
    for (const id of rep.queued) results.push(await svc.waitForDispatch(id, 30_000));
    expect(results.map((d) => [d.ruleId, d.remedyType, d.status])).toEqual([
      ['E1', 'file-op', 'done'],
      ['T1', 'program', 'done'],
      ['C1', 'file-op', 'done'],
    ]);
    // Environment rule: the file was "deleted" (moved to quarantine).
    expect(existsSync(join(dirs.root, 'dropper.sh'))).toBe(false);
    // Threat rule: the router's pinned program ran on the host and reported exit code and output digest.
    expect(readFileSync(join(dirs.root, 'patched.txt'), 'utf8')).toBe('patched nginx\n');
    const run = results[1].results[0];
    expect(run).toMatchObject({ ok: true, exitCode: 0, output: 'done\n' });
    expect(run.outputDigest).toBe(createHash('sha256').update('done\n').digest('hex'));
    // Combined rule: permissions tightened.
    expect(statSync(join(dirs.root, 'config.txt')).mode & 0o777).toBe(0o600);

    const status = (await svc.dispatchStatus(rep.queued[1]))!;
    expect(status.actions[0]).not.toHaveProperty('content');
    expect(status.audit.map((a) => a.step)).toEqual([
      'dispatch.queued',
      'dispatch.sent',
      'agent.result',
      'dispatch.done',
    ]);

    // The "deleted" file comes back.
    const quarantineId = results[0].results[0].quarantineId!;
    const restore = await svc.dispatch('127.0.0.1', { actions: [{ action: 'file.restore', quarantineId }] });
    const rd = await svc.waitForDispatch(restore.id, 10_000);
    expect(rd.status).toBe('done');
    expect(readFileSync(join(dirs.root, 'dropper.sh'), 'utf8')).toBe('evil payload');
    expect(statSync(join(dirs.root, 'dropper.sh')).mode & 0o777).toBe(0o755);

    // A second round finds the same matches already remedied and queues nothing.
    const again = await svc.detectNow({ protectedHosts: ['127.0.0.1'] });
    expect(again.queued).toEqual([]);
    expect(again.skipped.map((s) => s.why)).toEqual([
      'already remedied',
      'already remedied',
      'already remedied',
    ]);
    const steps = (await svc.auditLog({})).map((a) => a.step);
    expect(steps).toContain('rule.matched');
    expect(steps).toContain('agent.paired');
  });
});
