// Durable store and dispatch queue: reopen survival, retries with backoff until the agent comes up, expiry, audit.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RemediationService } from '../../src/remediation/service.js';
import { openDurable } from '../../src/state/durable.js';
import { agentCli, agentSuite, cleanup, freePort, makeDirs, startAgent } from '../agent/harness.js';

const fx = agentSuite('tg-queue-');

describe('durable store', () => {
  it('keeps every sub-database across a reopen, in a 0600 file', async () => {
    const dir = join(fx.dirs.base, 'durable');
    let s = openDurable(dir);
    for (const name of [
      'hosts',
      'threats',
      'rules',
      'dispatches',
      'audit',
      'agents',
      'programs',
      'meta',
    ] as const)
      await s.db(name).put('k', { name });
    await s.close();
    expect(statSync(join(dir, 'durable.mdb')).mode & 0o777).toBe(0o600);
    s = openDurable(dir);
    expect(s.db('dispatches').get('k')).toEqual({ name: 'dispatches' });
    expect(s.db('audit').get('k')).toEqual({ name: 'audit' });
    await s.close();
  });
});

describe('dispatch queue', () => {
  it('retries with backoff while the agent is down, survives a restart, and completes when it comes up', async () => {
    const dataDir = join(fx.dirs.base, 'svc');
    const port = await freePort();
    // The queue's clock, moved by the test: a retry is due when the clock says so, not after a sleep.
    let clock = Date.now();
    const queue = { baseBackoffMs: 50, maxBackoffMs: 200, now: () => clock };
    let svc = await RemediationService.open({ dataDir, agentTimeoutMs: 3000, queue });
    // Pair by copied keys: the agent's key goes to the router now; the router's key to the host below.
    const probe = await fx.startOn(port);
    const agentKey = probe.agentKey;
    await probe.stop();
    await svc.addAgentKey({ hostId: 'host-1', address: '127.0.0.1', port, agentKey });
    writeFileSync(join(fx.dirs.root, 'evil.bin'), 'x');
    const d = await svc.dispatch('host-1', {
      actions: [{ action: 'file.delete', location: fx.dirs.root, name: 'evil.bin' }],
    });

    await svc.processQueue();
    let cur = (await svc.dispatchStatus(d.id))!;
    expect(cur.status).toBe('queued');
    expect(cur.attempts).toBe(1);
    expect(cur.lastError).toMatch(/^unreachable/);
    expect(cur.nextAttemptAt - clock).toBeGreaterThanOrEqual(50); // the first backoff (+ up to 10 % jitter)
    expect(cur.nextAttemptAt - clock).toBeLessThanOrEqual(55);
    clock = cur.nextAttemptAt - 1; // not yet due: nothing is sent
    await svc.processQueue();
    expect((await svc.dispatchStatus(d.id))!.attempts).toBe(1);
    clock = cur.nextAttemptAt;
    await svc.processQueue();
    cur = (await svc.dispatchStatus(d.id))!;
    expect(cur.attempts).toBe(2);
    expect(cur.nextAttemptAt - cur.updatedAt).toBeGreaterThanOrEqual(100); // backoff doubled
    expect(cur.nextAttemptAt - cur.updatedAt).toBeLessThanOrEqual(110);

    await svc.close();
    svc = await RemediationService.open({ dataDir, agentTimeoutMs: 3000, queue });
    expect((await svc.dispatchStatus(d.id))?.status).toBe('queued');
    clock = cur.nextAttemptAt;

    const agent = await fx.startOn(port);
    await agentCli(agent.configPath, ['trust-router', '--key', svc.routerPublicKey()]);
    const done = await svc.waitForDispatch(d.id, 10_000);
    expect(done.status).toBe('done');
    expect(done.results[0]).toMatchObject({ ok: true, hostId: 'host-1' });
    expect(existsSync(join(fx.dirs.root, 'evil.bin'))).toBe(false);
    const steps = (await svc.dispatchStatus(d.id))!.audit.map((a) => a.step);
    expect(steps).toEqual([
      'dispatch.queued',
      'dispatch.sent',
      'dispatch.retry',
      'dispatch.sent',
      'dispatch.retry',
      'dispatch.sent',
      'agent.result',
      'dispatch.done',
    ]);
    await svc.close();
  });

  it('runs its timer only while a dispatch is queued (an idle router has none)', async () => {
    const dataDir = join(fx.dirs.base, 'svc-idle');
    const port = await freePort();
    const svc = await RemediationService.open({
      dataDir,
      agentTimeoutMs: 500,
      queue: { baseBackoffMs: 20, maxBackoffMs: 40 },
      queueIntervalMs: 30,
    });
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await pause(100);
    expect(svc.queue.ticking, 'nothing queued: no timer').toBe(false);
    const probe = await fx.startOn(port);
    const agentKey = probe.agentKey;
    await probe.stop();
    await svc.addAgentKey({ hostId: 'host-1', address: '127.0.0.1', port, agentKey });
    const d = await svc.dispatch('host-1', {
      actions: [{ action: 'file.delete', location: fx.dirs.root, name: 'absent.bin' }],
    });
    expect(svc.queue.ticking, 'a dispatch queued: the timer runs').toBe(true);
    await pause(200);
    const cur = await svc.dispatchStatus(d.id);
    expect(cur?.attempts, 'the timer tried it (the agent is down)').toBeGreaterThanOrEqual(2);
    expect(svc.queue.ticking).toBe(true);
    await svc.cancelDispatch(d.id);
    await pause(100);
    expect(svc.queue.ticking, 'the queue is empty again').toBe(false);
    await svc.close();
  });

  it('expires a dispatch that waited past its lifetime, and fails on a verified refusal without retrying', async () => {
    let clock = Date.now();
    const svc = await RemediationService.open({
      dataDir: join(fx.dirs.base, 'svc'),
      agentTimeoutMs: 3000,
      queue: { now: () => clock },
    });
    const gone = await svc.dispatch('host-1', { actions: [{ action: 'ping' }], ttlMs: 1 });
    clock += 1; // its lifetime is over
    expect((await svc.waitForDispatch(gone.id, 5000)).status).toBe('expired');
    const bad = await svc.dispatch('host-1', {
      actions: [{ action: 'file.delete', location: fx.dirs.outside, name: 'x' }],
    });
    const r = await svc.waitForDispatch(bad.id, 5000);
    expect(r).toMatchObject({ status: 'failed', attempts: 1, lastError: 'path-outside-roots' });
    await expect(svc.dispatch('host-unknown', { actions: [{ action: 'ping' }] })).rejects.toThrow(
      /no paired agent/,
    );
    await svc.close();
  });

  it('a retry after a lost answer resends the same command: a non-idempotent program runs once', async () => {
    const d2 = makeDirs('tg-queue-once-');
    const port = await freePort();
    const a2 = await startAgent(d2, {
      hostId: 'host-once',
      extra: { listen: { host: '127.0.0.1', port }, allowInlinePrograms: true },
    });
    // The router gives up on an answer after 1 s; the program takes 2 s.
    const svc = await RemediationService.open({
      dataDir: join(d2.base, 'svc'),
      agentTimeoutMs: 1000,
      queue: { baseBackoffMs: 50, maxBackoffMs: 100 },
    });
    try {
      await svc.addAgentKey({ hostId: 'host-once', address: '127.0.0.1', port, agentKey: a2.agentKey });
      await agentCli(a2.configPath, ['trust-router', '--key', svc.routerPublicKey()]);
      const runs = join(d2.outside, 'runs.log');
      const prog = Buffer.from(`#!/bin/sh\necho run >> ${runs}\nsleep 2\n`);
      const d = await svc.dispatch('host-once', {
        actions: [
          {
            action: 'program.run',
            programId: 'append',
            sha256: createHash('sha256').update(prog).digest('hex'),
            content: prog.toString('base64'),
            timeoutMs: 5000,
          },
        ],
      });
      const r = await svc.waitForDispatch(d.id, 15_000);
      expect(r.attempts).toBeGreaterThan(1); // it was retried
      expect(readFileSync(runs, 'utf8')).toBe('run\n'); // and ran once
      expect(r).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/^replay: /) });
      const sent = (await svc.dispatchStatus(d.id))!.audit.filter((a) => a.step === 'dispatch.sent');
      expect(new Set(sent.map((a) => (a.detail as { commandId: string }).commandId)).size).toBe(1);
    } finally {
      await svc.close();
      await a2.stop();
      cleanup(d2);
    }
  }, 30_000);
});
