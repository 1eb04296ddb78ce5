// The agent's TCP server: frames in, one command at a time, signed results and pairing replies out.

import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AgentConfig } from './config.js';
import { CommandHandler } from './handler.js';
import { checkRoots } from './paths.js';
import { hostRules } from './platform.js';
import {
  type Envelope,
  encodeFrame,
  FrameReader,
  PairHelloSchema,
  PairRevealSchema,
  ProtocolError,
  pairingCode,
  pairingCommitment,
  parseBody,
  parseEnvelope,
  publicKeyFromText,
  type Refusal,
  seal,
  verifyEnvelope,
} from './protocol.js';
import { ReplayCache } from './replay.js';
import { type AgentIdentity, loadOrCreateIdentity, loadRouterKey, saveRouterKey } from './state.js';

/** Asks the person at the host whether the code shown on the router matches (true = accept). */
type PairHello = ReturnType<typeof parseBody<typeof PairHelloSchema>>;

export type ConfirmPairing = (code: string, routerName: string) => Promise<boolean>;

export interface AgentServerOptions {
  confirmPairing?: ConfirmPairing;
  log?: (line: string) => void;
  now?: () => number;
  maxConnections?: number;
}

export class AgentServer {
  readonly identity: AgentIdentity;
  private readonly handler: CommandHandler;
  private readonly server: Server;
  /** Commands run one after another, so two can never race on the same file. */
  private chain: Promise<unknown> = Promise.resolve();
  /** The one pairing in progress: its connection, the router's hello and our nonce (sent, not yet compared). */
  private pairing: { sock: Socket; hello: PairHello; agentNonce: string } | 'confirming' | undefined;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly opts: AgentServerOptions = {},
  ) {
    const roots = checkRoots(cfg.roots);
    const programRoots = checkRoots(cfg.programRoots);
    if (roots.some((r) => hostRules.same(cfg.quarantineDir, r) || hostRules.below(cfg.quarantineDir, r)))
      throw new Error('quarantineDir must not lie under a root');
    this.identity = loadOrCreateIdentity(cfg.stateDir);
    const replay = new ReplayCache(cfg.stateDir, cfg.replayCacheSize);
    this.handler = new CommandHandler({
      cfg,
      identity: this.identity,
      replay,
      roots,
      programRoots,
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
    this.server = createServer((s) => this.onConnection(s));
    this.server.maxConnections = opts.maxConnections ?? 16;
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.cfg.listen.port, this.cfg.listen.host, () => {
        const a = this.server.address();
        if (a && typeof a === 'object') resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private send(s: Socket, env: Envelope): void {
    if (!s.destroyed) s.write(encodeFrame(env));
  }

  private refuse(s: Socket, refusal: Refusal, reason: string): void {
    this.send(s, seal('result', this.handler.refusal(refusal, reason), this.identity.privateKey));
  }

  private onConnection(s: Socket): void {
    const reader = new FrameReader(this.cfg.maxFrameBytes);
    s.setTimeout(this.cfg.idleTimeoutMs, () => s.destroy());
    s.on('error', () => s.destroy());
    s.on('close', () => {
      // A router that never revealed its nonce frees the pairing slot when its connection ends.
      if (this.pairing !== 'confirming' && this.pairing?.sock === s) this.pairing = undefined;
    });
    s.on('data', (chunk: Buffer) => {
      let frames: string[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        const pe = e as ProtocolError;
        this.opts.log?.(`refused ${pe.reason}: ${pe.message}`);
        this.refuse(s, 'oversized', pe.message);
        s.end();
        s.pause();
        return;
      }
      for (const f of frames) this.onFrame(s, f);
    });
  }

  private onFrame(s: Socket, text: string): void {
    let env: Envelope;
    try {
      env = parseEnvelope(text);
    } catch (e) {
      const pe = e as ProtocolError;
      this.opts.log?.(`refused ${pe.reason}: ${pe.message}`);
      this.refuse(s, pe.reason === 'malformed-json' ? 'malformed-json' : 'malformed-envelope', pe.message);
      return;
    }
    if (env.type === 'pair-hello') {
      this.onPairHello(s, env);
      return;
    }
    if (env.type === 'pair-reveal') {
      void this.onPairReveal(s, env);
      return;
    }
    if (env.type !== 'command') {
      this.refuse(s, 'invalid-command', `unexpected message type ${env.type}`);
      return;
    }
    this.chain = this.chain.then(async () => {
      const result = await this.handler.handle(env);
      this.send(s, seal('result', result, this.identity.privateKey));
    });
  }

  /** Trust on first use with a code on both sides; only while unpaired and pairing is enabled. */
  private onPairHello(s: Socket, env: Envelope): void {
    if (!this.cfg.pairing || loadRouterKey(this.cfg.stateDir) || !this.opts.confirmPairing) {
      this.refuse(s, 'pairing-closed', 'this agent is already paired or not accepting pairing');
      return;
    }
    if (this.pairing) {
      this.refuse(s, 'pairing-closed', 'another pairing is in progress');
      return;
    }
    let hello: PairHello;
    try {
      hello = parseBody(PairHelloSchema, env);
      // The router proves it holds the key it asks us to pin.
      if (!verifyEnvelope(env, publicKeyFromText(hello.routerKey))) throw new ProtocolError('bad-signature');
    } catch (e) {
      this.refuse(
        s,
        e instanceof ProtocolError && e.reason === 'bad-signature' ? 'bad-signature' : 'invalid-command',
        'bad pairing request',
      );
      return;
    }
    // Our nonce goes out now, while the router's is still hidden behind its commitment.
    const agentNonce = randomBytes(16).toString('hex');
    this.pairing = { sock: s, hello, agentNonce };
    const reply = { agentKey: this.identity.publicText, agentNonce, hostId: this.cfg.hostId };
    this.send(s, seal('pair-reply', reply, this.identity.privateKey));
  }

  /** The router reveals the nonce it committed to; only then is there a code to show. */
  private async onPairReveal(s: Socket, env: Envelope): Promise<void> {
    const p = this.pairing;
    if (!p || p === 'confirming' || p.sock !== s) {
      this.refuse(s, 'pairing-closed', 'no pairing in progress on this connection');
      return;
    }
    let routerNonce: string;
    try {
      if (!verifyEnvelope(env, publicKeyFromText(p.hello.routerKey)))
        throw new ProtocolError('bad-signature');
      routerNonce = parseBody(PairRevealSchema, env).routerNonce;
      if (pairingCommitment(p.hello.routerKey, routerNonce) !== p.hello.commitment)
        throw new ProtocolError('pairing-rejected', 'the revealed nonce does not match the commitment');
    } catch (e) {
      this.pairing = undefined;
      const reason = e instanceof ProtocolError ? e.reason : 'invalid-command';
      this.refuse(
        s,
        reason === 'bad-signature' || reason === 'pairing-rejected' ? reason : 'invalid-command',
        'bad pairing reveal',
      );
      this.opts.log?.(`pairing refused: ${(e as Error).message}`);
      s.end();
      return;
    }
    this.pairing = 'confirming';
    try {
      const code = pairingCode(p.hello.routerKey, this.identity.publicText, routerNonce, p.agentNonce);
      const accepted = await this.opts.confirmPairing!(code, p.hello.routerName);
      if (accepted) saveRouterKey(this.cfg.stateDir, p.hello.routerKey);
      this.opts.log?.(`pairing ${accepted ? 'accepted' : 'rejected'}`);
      this.send(s, seal('pair-done', { accepted, hostId: this.cfg.hostId }, this.identity.privateKey));
    } finally {
      this.pairing = undefined;
    }
  }
}
