// Verifies one command envelope (pairing, signature, host binding, expiry, replay, allowlist) and carries it out.

import { join } from 'node:path';
import type { AgentConfig } from './config.js';
import { Refused } from './paths.js';
import {
  type ActionName,
  ActionSchema,
  type Command,
  CommandSchema,
  digest,
  type Envelope,
  keyId,
  type ProtocolError,
  parseBody,
  type Refusal,
  type Result,
  verifyEnvelope,
} from './protocol.js';
import { Quarantine } from './quarantine.js';
import type { ReplayCache } from './replay.js';
import { runProgram } from './runner.js';
import type { AgentIdentity } from './state.js';
import { loadRouterKey, makePrivateDir } from './state.js';

const ACTIONS = new Set<string>(ActionSchema.options.map((o) => o.entries.action.literal));

export interface HandlerDeps {
  cfg: AgentConfig;
  identity: AgentIdentity;
  replay: ReplayCache;
  /** Canonical roots (checked at start). */
  roots: string[];
  programRoots: string[];
  now?: () => number;
  log?: (line: string) => void;
}

export class CommandHandler {
  private readonly quarantine: Quarantine;
  private readonly workRoot: string;
  private readonly myKeyId: string;

  constructor(private readonly d: HandlerDeps) {
    this.quarantine = new Quarantine(d.cfg.quarantineDir, d.roots);
    this.workRoot = join(d.cfg.stateDir, 'run');
    makePrivateDir(this.workRoot);
    this.myKeyId = keyId(d.identity.publicText);
  }

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  /** A refusal result (signed by the caller like any result). */
  refusal(refusal: Refusal, reason: string, commandId = '', commandDigest = ''): Result {
    const t = this.now();
    return {
      commandId,
      commandDigest,
      hostId: this.d.cfg.hostId,
      ok: false,
      refused: refusal,
      reason,
      startedAt: t,
      finishedAt: t,
      durationMs: 0,
    };
  }

  /** Checks everything about a command envelope before anything on the host is touched. */
  private verify(env: Envelope): Command {
    const router = loadRouterKey(this.d.cfg.stateDir);
    if (!router) throw new Refused('unpaired', 'this agent is not paired with a router');
    if (!env.sig) throw new Refused('unsigned', 'command carries no signature');
    if (!verifyEnvelope(env, router.key))
      throw new Refused('bad-signature', 'signature does not verify with the paired router key');
    // Name an unknown action as such before the schema's generic complaint.
    try {
      const raw = JSON.parse(env.body) as { action?: { action?: unknown } };
      const a = raw?.action?.action;
      if (typeof a === 'string' && !ACTIONS.has(a))
        throw new Refused('action-not-allowed', `action "${a.slice(0, 40)}" is not allowed`);
    } catch (e) {
      if (e instanceof Refused) throw e;
    }
    let cmd: Command;
    try {
      cmd = parseBody(CommandSchema, env);
    } catch (e) {
      const pe = e as ProtocolError;
      throw new Refused(pe.reason === 'malformed-json' ? 'malformed-json' : 'invalid-command', pe.message);
    }
    if (cmd.hostId !== this.d.cfg.hostId || cmd.agentKeyId !== this.myKeyId)
      throw new Refused('wrong-host', `command is for ${cmd.hostId}, not this host`);
    const now = this.now();
    if (cmd.expiresAt <= now) throw new Refused('expired', 'command has expired');
    if (cmd.issuedAt > now + this.d.cfg.clockSkewMs)
      throw new Refused('not-yet-valid', 'command is issued in the future');
    if (cmd.expiresAt - cmd.issuedAt > this.d.cfg.maxCommandTtlMs)
      throw new Refused('ttl-too-long', 'command lifetime exceeds the agent limit');
    if (!this.d.cfg.allowActions.includes(cmd.action.action as ActionName))
      throw new Refused('action-not-allowed', `action ${cmd.action.action} is disabled on this host`);
    if (
      cmd.action.action === 'program.run' &&
      cmd.action.content !== undefined &&
      !this.d.cfg.allowInlinePrograms
    )
      throw new Refused(
        'action-not-allowed',
        'this host runs only programs stored under its programRoots (allowInlinePrograms is off)',
      );
    const adm = this.d.replay.admit(cmd.id, cmd.expiresAt, now);
    if (adm === 'replay') throw new Refused('replay', `command ${cmd.id} was already accepted`);
    if (adm === 'full') throw new Refused('replay-cache-full', 'too many live commands; try later');
    return cmd;
  }

  private async execute(cmd: Command): Promise<Partial<Result>> {
    const a = cmd.action;
    switch (a.action) {
      case 'ping':
        return { reason: 'pong' };
      case 'file.delete':
      case 'file.quarantine': {
        const q = this.quarantine.put(a.location, a.name, cmd.id);
        return { quarantineId: q.quarantineId, outputDigest: q.sha256, path: q.path };
      }
      case 'file.restore': {
        const r = this.quarantine.restore(a.quarantineId);
        return { path: r.path, outputDigest: r.sha256 };
      }
      case 'file.chmod':
        return { path: this.quarantine.chmod(a.location, a.name, a.mode).path };
      case 'program.run': {
        const r = await runProgram(
          {
            sha256: a.sha256,
            content: a.content,
            location: a.location,
            args: a.args,
            timeoutMs: a.timeoutMs,
          },
          this.d.programRoots,
          this.workRoot,
        );
        return {
          exitCode: r.exitCode,
          signal: r.signal,
          timedOut: r.timedOut,
          outputDigest: r.outputDigest,
          output: r.output,
          ...(r.killNote ? { reason: r.killNote } : {}),
        };
      }
    }
  }

  /** Handles one command envelope; always returns a result (ok, failed or refused). */
  async handle(env: Envelope): Promise<Result> {
    const cmdDigest = digest(env.body);
    let cmd: Command;
    try {
      cmd = this.verify(env);
    } catch (e) {
      const r = e instanceof Refused ? e : new Refused('internal', (e as Error).message);
      this.d.log?.(`refused ${r.refusal}: ${r.message}`);
      return this.refusal(r.refusal, r.message, '', cmdDigest);
    }
    const startedAt = this.now();
    try {
      const out = await this.execute(cmd);
      const finishedAt = this.now();
      const ok = cmd.action.action !== 'program.run' || (out.exitCode === 0 && !out.timedOut);
      this.d.log?.(`command ${cmd.id} ${cmd.action.action} ${ok ? 'done' : 'failed'}`);
      return {
        commandId: cmd.id,
        commandDigest: cmdDigest,
        hostId: this.d.cfg.hostId,
        ok,
        ...out,
        startedAt,
        finishedAt,
        durationMs: finishedAt - startedAt,
      };
    } catch (e) {
      const r = e instanceof Refused ? e : new Refused('internal', (e as Error).message);
      this.d.log?.(`command ${cmd.id} ${cmd.action.action} refused ${r.refusal}: ${r.message}`);
      return this.refusal(r.refusal, r.message, cmd.id, cmdDigest);
    }
  }
}
