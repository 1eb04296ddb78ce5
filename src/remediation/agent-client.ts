// Router side of the agent protocol: signed, expiring, host-bound commands over TCP; verified results; pairing.

import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import {
  type Action,
  type CommandInput,
  digest,
  type Envelope,
  encodeFrame,
  FrameReader,
  keyId,
  PairDoneSchema,
  PairReplySchema,
  pairingCode,
  pairingCommitment,
  parseBody,
  parseEnvelope,
  publicKeyFromText,
  type Result,
  ResultSchema,
  seal,
  verifyEnvelope,
} from '../agent/protocol.js';
import type { RouterIdentity } from './identity.js';

/** A paired agent as the router stores it. */
export interface AgentEndpoint {
  hostId: string;
  address: string;
  port: number;
  /** The agent's pinned public key (base64url). */
  agentKey: string;
}

/** Transport-level failure; `retryable` ones are worth another attempt later. */
export class AgentError extends Error {
  override name = 'AgentError';
  constructor(
    readonly reason:
      | 'unreachable'
      | 'timeout'
      | 'closed'
      | 'bad-agent-signature'
      | 'mismatched-reply'
      | 'protocol',
    message: string,
    /** Whether the command had been sent when this happened (then the agent may have run it). */
    readonly sent = false,
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.reason === 'unreachable' || this.reason === 'timeout' || this.reason === 'closed';
  }
}

export interface ClientOptions {
  /** Per exchange: connect, send, wait for the result (a program's own timeout must fit inside). */
  timeoutMs?: number;
  maxFrameBytes?: number;
  /** Told how each command exchange ended: reached (a verified result came back) or why not. */
  onContact?: (hostId: string, reached: boolean, reason?: AgentError['reason']) => void;
}

/** One TCP conversation: sends frames, yields envelopes as they come. */
class Conversation {
  private readonly reader: FrameReader;
  private readonly queue: Envelope[] = [];
  private waiter: ((e: Envelope | Error) => void) | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly sock: Socket,
    maxFrame: number,
  ) {
    this.reader = new FrameReader(maxFrame);
    sock.on('data', (c: Buffer) => {
      try {
        for (const f of this.reader.push(c)) this.deliver(parseEnvelope(f));
      } catch (e) {
        this.fail(new AgentError('protocol', (e as Error).message));
      }
    });
    sock.on('error', (e) => this.fail(new AgentError('closed', e.message)));
    sock.on('close', () => this.fail(new AgentError('closed', 'agent closed the connection')));
  }

  static open(address: string, port: number, timeoutMs: number, maxFrame: number): Promise<Conversation> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: address, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new AgentError('timeout', `no connection to ${address}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new Conversation(sock, maxFrame));
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(new AgentError('unreachable', `cannot reach agent at ${address}:${port}: ${e.message}`));
      });
    });
  }

  private deliver(e: Envelope): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(e);
    else this.queue.push(e);
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(e);
  }

  send(env: Envelope): void {
    this.sock.write(encodeFrame(env));
  }

  next(timeoutMs: number): Promise<Envelope> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new AgentError('timeout', `no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (e) => {
        clearTimeout(timer);
        if (e instanceof Error) reject(e);
        else resolve(e);
      };
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface SentCommand {
  command: CommandInput;
  result: Result;
}

export class AgentClient {
  private readonly timeoutMs: number;
  private readonly maxFrame: number;
  private readonly onContact: ClientOptions['onContact'];

  constructor(
    private readonly identity: RouterIdentity,
    opts: ClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.maxFrame = opts.maxFrameBytes ?? 4 * 1024 * 1024;
    this.onContact = opts.onContact;
  }

  /** Builds the signed command for one action (fresh id, host-bound, expiring). */
  buildCommand(
    ep: AgentEndpoint,
    action: Action,
    ttlMs = 5 * 60_000,
    dispatchId?: string,
    now = Date.now(),
  ): CommandInput {
    return {
      id: randomUUID(),
      hostId: ep.hostId,
      agentKeyId: keyId(ep.agentKey),
      issuedAt: now,
      expiresAt: now + ttlMs,
      ...(dispatchId ? { dispatchId } : {}),
      action,
    };
  }

  /** Sends a command and returns the agent's verified result (which may be a refusal). */
  async send(ep: AgentEndpoint, command: CommandInput, timeoutMs = this.timeoutMs): Promise<SentCommand> {
    try {
      const sent = await this.exchange(ep, command, timeoutMs);
      this.onContact?.(ep.hostId, true);
      return sent;
    } catch (e) {
      this.onContact?.(ep.hostId, false, e instanceof AgentError ? e.reason : 'protocol');
      throw e;
    }
  }

  private async exchange(ep: AgentEndpoint, command: CommandInput, timeoutMs: number): Promise<SentCommand> {
    const env = seal('command', command, this.identity.privateKey);
    const expectDigest = digest(env.body);
    const agentKey = publicKeyFromText(ep.agentKey);
    const conv = await Conversation.open(ep.address, ep.port, Math.min(timeoutMs, 10_000), this.maxFrame);
    try {
      conv.send(env);
      let reply: Envelope;
      try {
        reply = await conv.next(timeoutMs);
      } catch (e) {
        // Sent and no answer: the agent may have carried it out; the caller must not issue a new one.
        if (e instanceof AgentError) throw new AgentError(e.reason, e.message, true);
        throw e;
      }
      if (reply.type !== 'result') throw new AgentError('protocol', `agent answered ${reply.type}`);
      if (!verifyEnvelope(reply, agentKey))
        throw new AgentError('bad-agent-signature', 'result is not signed by the pinned agent key');
      const result = parseBody(ResultSchema, reply);
      if (result.commandDigest !== expectDigest || (result.commandId && result.commandId !== command.id))
        throw new AgentError('mismatched-reply', 'result answers a different command');
      if (result.hostId !== ep.hostId)
        throw new AgentError('mismatched-reply', 'result comes from another host');
      return { command, result };
    } finally {
      conv.close();
    }
  }

  /**
   * Starts pairing with an agent in pairing mode. Resolves once the agent has answered, with the
   * code both sides show; `finish` waits for the host-side confirmation.
   */
  async pair(
    address: string,
    port: number,
    routerName = 'tunguard',
  ): Promise<{
    code: string;
    agentKey: string;
    hostId: string;
    finish: () => Promise<boolean>;
    cancel: () => void;
  }> {
    const routerNonce = randomBytes(16).toString('hex');
    const routerKey = this.identity.publicText;
    // Only a commitment now: the nonce is revealed after the agent has sent its own (see protocol.ts).
    const hello = { routerKey, commitment: pairingCommitment(routerKey, routerNonce), routerName };
    const conv = await Conversation.open(address, port, Math.min(this.timeoutMs, 10_000), this.maxFrame);
    try {
      conv.send(seal('pair-hello', hello, this.identity.privateKey));
      const reply = await conv.next(10_000);
      if (reply.type === 'result') {
        const r = parseBody(ResultSchema, reply);
        throw new AgentError(
          'protocol',
          `agent refused pairing: ${r.refused ?? ''} ${r.reason ?? ''}`.trim(),
        );
      }
      if (reply.type !== 'pair-reply') throw new AgentError('protocol', `unexpected ${reply.type}`);
      const body = parseBody(PairReplySchema, reply);
      if (!verifyEnvelope(reply, publicKeyFromText(body.agentKey)))
        throw new AgentError('bad-agent-signature', 'pairing reply not signed by the key it offers');
      conv.send(seal('pair-reveal', { routerNonce }, this.identity.privateKey));
      const code = pairingCode(routerKey, body.agentKey, routerNonce, body.agentNonce);
      return {
        code,
        agentKey: body.agentKey,
        hostId: body.hostId,
        finish: async () => {
          try {
            const done = await conv.next(this.timeoutMs);
            if (done.type !== 'pair-done' || !verifyEnvelope(done, publicKeyFromText(body.agentKey)))
              return false;
            return parseBody(PairDoneSchema, done).accepted;
          } finally {
            conv.close();
          }
        },
        cancel: () => conv.close(),
      };
    } catch (e) {
      conv.close();
      throw e;
    }
  }
}
