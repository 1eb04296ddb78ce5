// The router's checks on an agent's reply: a result counts only when it is signed by the pinned agent key,
// answers the command that was sent (digest and id) and comes from the host it was meant for. The agent
// here is a TCP server that answers each command with a reply the test builds: a real agent never sends
// the wrong ones, so they are crafted.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Envelope,
  encodeFrame,
  FrameReader,
  parseEnvelope,
  publicKeyText,
  type Result,
  seal,
} from '../../src/agent/protocol.js';
import { AgentClient, type AgentEndpoint, AgentError } from '../../src/remediation/agent-client.js';
import { newKey, newRouterIdentity } from '../agent/wire.js';

const agentKey = newKey();
const router = newRouterIdentity();
/** What the crafted agent answers to the command envelope it receives. */
let answer: (cmd: Envelope) => Envelope;
let server: Server;
let ep: AgentEndpoint;

beforeAll(async () => {
  server = createServer((sock) => {
    const reader = new FrameReader();
    sock.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) sock.write(encodeFrame(answer(parseEnvelope(f))));
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  ep = { hostId: 'host-1', address: '127.0.0.1', port, agentKey: publicKeyText(agentKey) };
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** The result an honest agent gives for `cmd` (before `edit`). */
function resultFor(cmd: Envelope, edit: Partial<Result> = {}): Result {
  const { id } = JSON.parse(cmd.body) as { id: string };
  const now = Date.now();
  return {
    commandId: id,
    commandDigest: digestOf(cmd.body),
    hostId: 'host-1',
    ok: true,
    startedAt: now,
    finishedAt: now,
    durationMs: 0,
    ...edit,
  };
}

// Computed here rather than with protocol.digest: the binding is sha256 of the envelope's body text.
const digestOf = (body: string) => createHash('sha256').update(body, 'utf8').digest('hex');

async function sendPing(): Promise<Result> {
  const client = new AgentClient(router, { timeoutMs: 5000 });
  const { result } = await client.send(ep, client.buildCommand(ep, { action: 'ping' }));
  return result;
}

async function refusal(): Promise<string> {
  try {
    await sendPing();
  } catch (e) {
    if (e instanceof AgentError) return e.reason;
    throw e;
  }
  return 'accepted';
}

describe('AgentClient.send: the reply checks', () => {
  it('takes a result signed by the pinned key that answers the command (the control)', async () => {
    answer = (cmd) => seal('result', resultFor(cmd), agentKey);
    expect(await sendPing()).toMatchObject({ ok: true, hostId: 'host-1' });
  });

  it('refuses a result signed by another key', async () => {
    const other = newKey();
    answer = (cmd) => seal('result', resultFor(cmd), other);
    expect(await refusal()).toBe('bad-agent-signature');
  });

  it('refuses an unsigned result', async () => {
    answer = (cmd) => {
      const { sig: _sig, ...unsigned } = seal('result', resultFor(cmd), agentKey);
      return unsigned;
    };
    expect(await refusal()).toBe('bad-agent-signature');
  });

  it('refuses a result whose body was changed after signing', async () => {
    answer = (cmd) => {
      const env = seal('result', resultFor(cmd), agentKey);
      return { ...env, body: env.body.replace('"ok":true', '"ok":false') };
    };
    expect(await refusal()).toBe('bad-agent-signature');
  });

  it('refuses a signature the agent made for another message type (the type is signed)', async () => {
    answer = (cmd) => ({ ...seal('pair-done', resultFor(cmd), agentKey), type: 'result' });
    expect(await refusal()).toBe('bad-agent-signature');
  });

  it('refuses a result for another command: its digest, or its id', async () => {
    answer = (cmd) => seal('result', resultFor(cmd, { commandDigest: digestOf(`${cmd.body} `) }), agentKey);
    expect(await refusal()).toBe('mismatched-reply');
    answer = (cmd) =>
      seal('result', resultFor(cmd, { commandId: '00000000-0000-4000-8000-000000000000' }), agentKey);
    expect(await refusal()).toBe('mismatched-reply');
  });

  it('refuses a result from another host', async () => {
    answer = (cmd) => seal('result', resultFor(cmd, { hostId: 'host-2' }), agentKey);
    expect(await refusal()).toBe('mismatched-reply');
  });

  it('refuses a reply that is not a result', async () => {
    answer = (cmd) => seal('pair-done', resultFor(cmd), agentKey);
    expect(await refusal()).toBe('protocol');
  });
});
