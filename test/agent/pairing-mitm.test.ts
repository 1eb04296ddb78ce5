// Pairing by code against a man in the middle (ARP spoofing on the LAN, played here by a TCP relay the
// router dials instead of the agent): a real router client, a real agent, an attacker with its own key.

import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentConfig, parseAgentConfig } from '../../src/agent/config.js';
import {
  type Envelope,
  encodeFrame,
  FrameReader,
  PairHelloSchema,
  PairReplySchema,
  PairRevealSchema,
  pairingCode,
  pairingCommitment,
  parseBody,
  parseEnvelope,
  seal,
} from '../../src/agent/protocol.js';
import { AgentServer } from '../../src/agent/server.js';
import { loadRouterKey } from '../../src/agent/state.js';
import { AgentClient } from '../../src/remediation/agent-client.js';
import { type AgentDirs, cleanup, makeDirs } from './harness.js';
import { newRouterIdentity } from './wire.js';

/** Frames over one socket, as envelopes, in order. */
function envelopes(s: Socket): () => Promise<Envelope> {
  const reader = new FrameReader();
  const queue: Envelope[] = [];
  const waiters: Array<(e: Envelope) => void> = [];
  s.on('data', (c: Buffer) => {
    for (const f of reader.push(c)) {
      const e = parseEnvelope(f);
      const w = waiters.shift();
      if (w) w(e);
      else queue.push(e);
    }
  });
  return () => {
    const q = queue.shift();
    return q ? Promise.resolve(q) : new Promise((r) => waiters.push(r));
  };
}

/** Tries agent nonces until the router's code equals `target`: the search the old ordering allowed. */
function searchNonce(
  target: string,
  code: (agentNonce: string) => string,
  maxTries: number,
): { nonce?: string; tries: number } {
  const base = randomBytes(8).toString('hex');
  for (let i = 0; i < maxTries; i++) {
    const n = base + i.toString(16).padStart(16, '0');
    if (code(n) === target) return { nonce: n, tries: i + 1 };
  }
  return { tries: maxTries };
}

function agentConfig(dirs: AgentDirs): AgentConfig {
  return parseAgentConfig({
    hostId: 'victim-host',
    listen: { host: '127.0.0.1', port: 0 },
    stateDir: dirs.state,
    roots: [dirs.root],
    quarantineDir: dirs.quarantine,
    allowActions: ['ping'],
    pairing: true,
  });
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('pairing by code with an attacker in the middle', () => {
  it('the attacker cannot make the two codes match, so the humans see different codes', async () => {
    const dirs = makeDirs('tg-mitm-');
    cleanups.push(() => cleanup(dirs));
    let agentCode: string | undefined;
    let routerCode: string | undefined;
    const agent = new AgentServer(agentConfig(dirs), {
      // The two people compare the codes (by phone, say) and accept only if they are equal.
      confirmPairing: async (code) => {
        agentCode = code;
        for (let i = 0; i < 200 && routerCode === undefined; i++) await new Promise((r) => setTimeout(r, 10));
        return code === routerCode;
      },
    });
    const { port: agentPort } = await agent.listen();
    cleanups.push(() => agent.close());

    const attacker = newRouterIdentity();
    const mitm: Server = createServer((fromRouter) => {
      void (async () => {
        const nextFromRouter = envelopes(fromRouter);
        const hello = parseBody(PairHelloSchema, await nextFromRouter());
        // Pose as the router to the agent, with the attacker's own key (and an honest commitment: the
        // agent checks it against the reveal).
        const toAgent = await new Promise<Socket>((r) => {
          const s = connect({ host: '127.0.0.1', port: agentPort }, () => r(s));
        });
        cleanups.push(() => void toAgent.destroy());
        const nextFromAgent = envelopes(toAgent);
        const myNonce = randomBytes(16).toString('hex');
        const send = (s: Socket, type: Parameters<typeof seal>[0], body: unknown) =>
          s.write(encodeFrame(seal(type, body, attacker.privateKey)));
        send(toAgent, 'pair-hello', {
          routerKey: attacker.publicText,
          commitment: pairingCommitment(attacker.publicText, myNonce),
          routerName: hello.routerName,
        });
        const reply = parseBody(PairReplySchema, await nextFromAgent());
        // Pose as the agent to the router. The router's nonce is still hidden behind its commitment,
        // so there is nothing to search against: the attacker must pick its nonce blind.
        send(fromRouter, 'pair-reply', {
          agentKey: attacker.publicText,
          agentNonce: randomBytes(16).toString('hex'),
          hostId: reply.hostId,
        });
        parseBody(PairRevealSchema, await nextFromRouter());
        send(toAgent, 'pair-reveal', { routerNonce: myNonce });
        const done = await nextFromAgent();
        const accepted = JSON.parse(done.body).accepted as boolean;
        send(fromRouter, 'pair-done', { accepted, hostId: reply.hostId });
      })().catch(() => fromRouter.destroy());
    });
    await new Promise<void>((r) => mitm.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => mitm.close(() => r())));
    const mitmPort = (mitm.address() as { port: number }).port;

    const router = newRouterIdentity();
    const client = new AgentClient(router, { timeoutMs: 20_000 });
    const session = await client.pair('127.0.0.1', mitmPort, 'lab-router');
    routerCode = session.code;
    const accepted = await session.finish();
    expect(agentCode).toBeDefined();
    // The attack failed: the codes differ, the host refused, the agent pinned no key.
    expect(agentCode).not.toBe(routerCode);
    expect(accepted).toBe(false);
    expect(loadRouterKey(dirs.state)).toBeUndefined();
  }, 60_000);

  it('negative control: when the router sends its nonce first (the old ordering), the same search matches a 6-digit code', () => {
    const [routerKey, attackerKey, agentKey] = [
      newRouterIdentity(),
      newRouterIdentity(),
      newRouterIdentity(),
    ].map((k) => k.publicText);
    const hex = () => randomBytes(16).toString('hex');
    const [routerNonce, attackerNonce, agentNonce] = [hex(), hex(), hex()];
    const codeAtAgent = pairingCode(attackerKey, agentKey, attackerNonce, agentNonce, 6);
    // Old ordering: the router's nonce is known before the attacker answers the router.
    const found = searchNonce(
      codeAtAgent,
      (n) => pairingCode(routerKey, attackerKey, routerNonce, n, 6),
      20_000_000,
    );
    expect(found.nonce).toBeDefined();
    expect(pairingCode(routerKey, attackerKey, routerNonce, found.nonce!, 6)).toBe(codeAtAgent);
  }, 60_000);

  it('refuses a reveal that does not match the commitment (the attacker cannot change its nonce late)', async () => {
    const dirs = makeDirs('tg-mitm2-');
    cleanups.push(() => cleanup(dirs));
    const agent = new AgentServer(agentConfig(dirs), { confirmPairing: async () => true });
    const { port } = await agent.listen();
    cleanups.push(() => agent.close());
    const router = newRouterIdentity();
    const s = await new Promise<Socket>((r) => {
      const c = connect({ host: '127.0.0.1', port }, () => r(c));
    });
    cleanups.push(() => void s.destroy());
    const next = envelopes(s);
    const send = (type: Parameters<typeof seal>[0], body: unknown) =>
      s.write(encodeFrame(seal(type, body, router.privateKey)));
    send('pair-hello', {
      routerKey: router.publicText,
      commitment: pairingCommitment(router.publicText, randomBytes(16).toString('hex')),
      routerName: 'x',
    });
    expect((await next()).type).toBe('pair-reply');
    send('pair-reveal', { routerNonce: randomBytes(16).toString('hex') });
    const r = await next();
    expect(r.type).toBe('result');
    expect(JSON.parse(r.body)).toMatchObject({ ok: false, refused: 'pairing-rejected' });
    expect(loadRouterKey(dirs.state)).toBeUndefined();
  });

  it('shows a 10-digit code', async () => {
    const dirs = makeDirs('tg-mitm3-');
    cleanups.push(() => cleanup(dirs));
    let shown = '';
    const agent = new AgentServer(agentConfig(dirs), {
      confirmPairing: async (code) => {
        shown = code;
        return false;
      },
    });
    const { port } = await agent.listen();
    cleanups.push(() => agent.close());
    const session = await new AgentClient(newRouterIdentity()).pair('127.0.0.1', port);
    expect(await session.finish()).toBe(false);
    expect(session.code).toMatch(/^\d{5}-\d{5}$/);
    expect(shown).toBe(session.code);
  });
});
