// The host agent doing its job: pairing with a code on both sides, quarantine/restore, chmod, programs, restarts.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Action, seal } from '../../src/agent/protocol.js';
import { AgentClient, type AgentEndpoint } from '../../src/remediation/agent-client.js';
import { type AgentDirs, agentCli, cleanup, makeDirs, type RunningAgent, startAgent } from './harness.js';
import { newRouterIdentity, sendEnvelope } from './wire.js';

const router = newRouterIdentity();
const client = new AgentClient(router, { timeoutMs: 20_000 });
let dirs: AgentDirs;
let agent: RunningAgent;
let ep: AgentEndpoint;

const run = (action: Action, ttlMs?: number) => client.send(ep, client.buildCommand(ep, action, ttlMs));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  dirs = makeDirs();
  agent = await startAgent(dirs, { pairing: true, extra: { allowInlinePrograms: true } });
});
afterAll(async () => {
  await agent?.stop();
  cleanup(dirs);
});

describe('pairing', () => {
  it('shows the same code on both sides and pins both keys once the host confirms', async () => {
    const session = await client.pair('127.0.0.1', agent.port, 'lab-router');
    const shown = await agent.waitLine(/^PAIRING router="lab-router" code=(\d{5}-\d{5})$/);
    expect(shown[1]).toBe(session.code);
    expect(session.agentKey).toBe(agent.agentKey);
    agent.proc.stdin.write('yes\n');
    expect(await session.finish()).toBe(true);
    ep = { hostId: session.hostId, address: '127.0.0.1', port: agent.port, agentKey: session.agentKey };
    const { result } = await run({ action: 'ping' });
    expect(result).toMatchObject({ ok: true, reason: 'pong', hostId: 'host-1' });
  });

  it('does not take a "yes" typed before the question as the answer to it', async () => {
    const d4 = makeDirs();
    const a4 = await startAgent(d4, { pairing: true, hostId: 'host-typed-ahead' });
    try {
      a4.proc.stdin.write('yes\n');
      await new Promise((r) => setTimeout(r, 200));
      const s4 = await client.pair('127.0.0.1', a4.port, 'lab-router');
      await a4.waitLine(/^PAIRING /);
      a4.proc.stdin.write('no\n');
      expect(await s4.finish()).toBe(false);
    } finally {
      await a4.stop();
      cleanup(d4);
    }
  });

  it('refuses to pair again once paired', async () => {
    await expect(client.pair('127.0.0.1', agent.port)).rejects.toThrow(/pairing-closed/);
  });

  it("takes a copied key that begins with '-' (base64url, 1 in 64) as the key, not as an option", async () => {
    const d3 = makeDirs();
    const a3 = await startAgent(d3, { hostId: 'host-dash' });
    try {
      let dashed = newRouterIdentity();
      while (!dashed.publicText.startsWith('-')) dashed = newRouterIdentity();
      await agentCli(a3.configPath, ['trust-router', '--key', dashed.publicText]);
      const c3 = new AgentClient(dashed);
      const ep3 = { hostId: 'host-dash', address: '127.0.0.1', port: a3.port, agentKey: a3.agentKey };
      const { result } = await c3.send(ep3, c3.buildCommand(ep3, { action: 'ping' }));
      expect(result.ok).toBe(true);
    } finally {
      await a3.stop();
      cleanup(d3);
    }
  });

  it('pairs by a copied key too (trust-router)', async () => {
    const d2 = makeDirs();
    const a2 = await startAgent(d2, { hostId: 'host-copy' });
    try {
      expect(await agentCli(a2.configPath, ['show-key'])).toBe(a2.agentKey);
      await agentCli(a2.configPath, ['trust-router', '--key', router.publicText]);
      const ep2 = { hostId: 'host-copy', address: '127.0.0.1', port: a2.port, agentKey: a2.agentKey };
      const { result } = await client.send(ep2, client.buildCommand(ep2, { action: 'ping' }));
      expect(result.ok).toBe(true);
    } finally {
      await a2.stop();
      cleanup(d2);
    }
  });
});

describe('file operations', () => {
  it('"delete" moves a file into quarantine and restore brings it back with its mode', async () => {
    const f = join(dirs.root, 'Crazy.bat');
    writeFileSync(f, 'malicious', { mode: 0o640 });
    const { result: del } = await run({ action: 'file.delete', location: dirs.root, name: 'Crazy.bat' });
    expect(del.ok).toBe(true);
    expect(del.outputDigest).toBe(sha(Buffer.from('malicious')));
    expect(existsSync(f)).toBe(false);
    const { result: back } = await run({ action: 'file.restore', quarantineId: del.quarantineId! });
    expect(back).toMatchObject({ ok: true, path: f });
    expect(readFileSync(f, 'utf8')).toBe('malicious');
    expect(statSync(f).mode & 0o777).toBe(0o640);
  });

  it('restore refuses to overwrite a file that came back meanwhile', async () => {
    const f = join(dirs.root, 'again.txt');
    writeFileSync(f, 'one');
    const { result: del } = await run({ action: 'file.quarantine', location: dirs.root, name: 'again.txt' });
    writeFileSync(f, 'two');
    const { result } = await run({ action: 'file.restore', quarantineId: del.quarantineId! });
    expect(result.refused).toBe('exists');
    expect(readFileSync(f, 'utf8')).toBe('two');
  });

  it('chmod changes permission bits only', async () => {
    const f = join(dirs.root, 'perm.txt');
    writeFileSync(f, 'x', { mode: 0o666 });
    const { result } = await run({
      action: 'file.chmod',
      location: dirs.root,
      name: 'perm.txt',
      mode: 0o600,
    });
    expect(result.ok).toBe(true);
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });
});

describe('programs', () => {
  it('runs a sent program by argv when its sha256 matches, and reports exit code and output digest', async () => {
    const prog = Buffer.from('#!/bin/sh\necho "cleaned $1"\nexit 3\n');
    const { result } = await run({
      action: 'program.run',
      programId: 'Linux13',
      sha256: sha(prog),
      content: prog.toString('base64'),
      args: ['tr.exe'],
    });
    expect(result).toMatchObject({ ok: false, exitCode: 3, output: 'cleaned tr.exe\n', timedOut: false });
    expect(result.outputDigest).toBe(sha(Buffer.from('cleaned tr.exe\n')));
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('refuses inline program content unless the host allows it (and runs nothing)', async () => {
    const d5 = makeDirs();
    const a5 = await startAgent(d5, { hostId: 'host-no-inline' });
    try {
      await agentCli(a5.configPath, ['trust-router', '--key', router.publicText]);
      const ep5 = { hostId: 'host-no-inline', address: '127.0.0.1', port: a5.port, agentKey: a5.agentKey };
      const mark = join(d5.outside, 'ran');
      const prog = Buffer.from(`#!/bin/sh\ntouch ${mark}\n`);
      const { result } = await client.send(
        ep5,
        client.buildCommand(ep5, {
          action: 'program.run',
          programId: 'inline',
          sha256: sha(prog),
          content: prog.toString('base64'),
        }),
      );
      expect(result).toMatchObject({ ok: false, refused: 'action-not-allowed' });
      expect(result.reason).toMatch(/allowInlinePrograms/);
      expect(existsSync(mark)).toBe(false);
    } finally {
      await a5.stop();
      cleanup(d5);
    }
  });

  it('runs a program stored on the host (id + location) after checking its pin', async () => {
    const body = Buffer.from('#!/bin/sh\necho stored\n');
    writeFileSync(join(dirs.programs, 'clean.sh'), body, { mode: 0o755 });
    const { result } = await run({
      action: 'program.run',
      programId: 'clean',
      sha256: sha(body),
      location: join(dirs.programs, 'clean.sh'),
    });
    expect(result).toMatchObject({ ok: true, exitCode: 0, output: 'stored\n' });
  });

  it('kills a program that overruns its timeout (and its children)', async () => {
    const prog = Buffer.from('#!/bin/sh\nsleep 30 &\nsleep 30\n');
    const t0 = Date.now();
    const { result } = await run({
      action: 'program.run',
      programId: 'slow',
      sha256: sha(prog),
      content: prog.toString('base64'),
      timeoutMs: 300,
    });
    expect(result).toMatchObject({ ok: false, timedOut: true, signal: 'SIGKILL' });
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('restarts', () => {
  it('keeps the pairing and the replay cache across an agent restart', async () => {
    const cmd = client.buildCommand(ep, { action: 'ping' });
    const env = seal('command', cmd, router.privateKey);
    expect((await sendEnvelope(agent.port, env, agent.agentKey)).ok).toBe(true);
    await agent.stop();
    agent = await startAgent(dirs, { pairing: true, extra: { allowInlinePrograms: true } });
    ep = { ...ep, port: agent.port };
    expect(agent.agentKey).toBe(ep.agentKey);
    const again = await sendEnvelope(agent.port, env, agent.agentKey);
    expect(again.refused).toBe('replay');
    expect((await run({ action: 'ping' })).result.ok).toBe(true);
  });
});
