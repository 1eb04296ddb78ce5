// The durable dispatch queue: planned actions per host, sent one by one, retried with backoff, expiring.

import { randomUUID } from 'node:crypto';
import type { Database } from 'lmdb';
import type { Action, Result } from '../agent/protocol.js';
import type { DurableStore } from '../state/durable.js';
import type { AuditLog } from '../state/durable-audit.js';
import { type AgentClient, type AgentEndpoint, AgentError } from './agent-client.js';
import type { DispatchStatus } from './names.js';

export type { DispatchStatus } from './names.js';

export interface Dispatch {
  id: string;
  hostId: string;
  ruleId?: string;
  trigger: 'manual' | 'detection';
  /** Seed type chosen for the remedy. */
  remedyType: 'program' | 'reference' | 'file-op' | 'custom';
  actions: Action[];
  /** Index of the next action to send. */
  step: number;
  status: DispatchStatus;
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
  /** Verified agent results, one per completed action (program content is never kept here). */
  results: Result[];
  lastError?: string;
  /**
   * The signed command of the current step once it has been sent: a retry sends this same command
   * (same id), so an agent that ran it before its answer was lost refuses it as a replay instead of
   * running a non-idempotent program twice.
   */
  inFlight?: { step: number; commandId: string; issuedAt: number; expiresAt: number; sent: boolean };
}

export interface QueueOptions {
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long a dispatch may wait for its host before it expires. */
  ttlMs?: number;
  /** Lifetime of each signed command. */
  commandTtlMs?: number;
  now?: () => number;
}

const OPEN: ReadonlySet<DispatchStatus> = new Set(['queued', 'running']);

export class DispatchQueue {
  private readonly db: Database<Dispatch, string>;
  private readonly o: Required<Omit<QueueOptions, 'now'>>;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** The pass interval while dispatches are queued (0: stopped). */
  private intervalMs = 0;
  private busy: Promise<void> | undefined;

  constructor(
    store: DurableStore,
    private readonly audit: AuditLog,
    private readonly client: AgentClient,
    private readonly endpoint: (hostId: string) => AgentEndpoint | undefined,
    opts: QueueOptions = {},
  ) {
    this.db = store.db<Dispatch>('dispatches');
    this.now = opts.now ?? Date.now;
    this.o = {
      baseBackoffMs: opts.baseBackoffMs ?? 5_000,
      maxBackoffMs: opts.maxBackoffMs ?? 15 * 60_000,
      ttlMs: opts.ttlMs ?? 24 * 3600_000,
      commandTtlMs: opts.commandTtlMs ?? 5 * 60_000,
    };
  }

  /** After a restart, a dispatch caught mid-send goes back to the queue (the agent's replay cache and
   * file checks make a re-sent action harmless: a file already moved is reported not-found). */
  async recover(): Promise<number> {
    let n = 0;
    for (const { value } of this.db.getRange())
      if (value.status === 'running') {
        await this.save({ ...value, status: 'queued' });
        n++;
      }
    return n;
  }

  private async save(d: Dispatch): Promise<Dispatch> {
    const rec = { ...d, updatedAt: this.now() };
    await this.db.put(rec.id, rec);
    if (rec.status === 'queued') this.arm();
    return rec;
  }

  async enqueue(p: {
    hostId: string;
    actions: Action[];
    ruleId?: string;
    trigger: Dispatch['trigger'];
    remedyType: Dispatch['remedyType'];
    ttlMs?: number;
  }): Promise<Dispatch> {
    const now = this.now();
    const d: Dispatch = {
      id: randomUUID(),
      hostId: p.hostId,
      ...(p.ruleId ? { ruleId: p.ruleId } : {}),
      trigger: p.trigger,
      remedyType: p.remedyType,
      actions: p.actions,
      step: 0,
      status: 'queued',
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
      updatedAt: now,
      expiresAt: now + (p.ttlMs ?? this.o.ttlMs),
      results: [],
    };
    await this.save(d);
    await this.audit.append({
      step: 'dispatch.queued',
      dispatchId: d.id,
      hostId: d.hostId,
      ...(d.ruleId ? { ruleId: d.ruleId } : {}),
      detail: { trigger: d.trigger, remedyType: d.remedyType, actions: d.actions.map((a) => a.action) },
    });
    return d;
  }

  get(id: string): Dispatch | undefined {
    return this.db.get(id);
  }

  list(filter: { hostId?: string; status?: DispatchStatus } = {}): Dispatch[] {
    return [...this.db.getRange()]
      .map((e) => e.value)
      .filter(
        (d) =>
          (!filter.hostId || d.hostId === filter.hostId) && (!filter.status || d.status === filter.status),
      )
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Open (queued/running) dispatches of a host for a rule: detection does not pile up duplicates. */
  openFor(hostId: string, ruleId: string): Dispatch | undefined {
    return this.list({ hostId }).find((d) => d.ruleId === ruleId && OPEN.has(d.status));
  }

  async cancel(id: string): Promise<Dispatch | undefined> {
    const d = this.db.get(id);
    if (!d || !OPEN.has(d.status)) return d;
    await this.audit.append({ step: 'dispatch.cancelled', dispatchId: id, hostId: d.hostId });
    return this.save({ ...d, status: 'cancelled' });
  }

  private backoff(attempts: number): number {
    const exp = Math.min(this.o.maxBackoffMs, this.o.baseBackoffMs * 2 ** Math.max(0, attempts - 1));
    // Up to 10 % jitter so many hosts coming back together do not retry in lock-step.
    return Math.round(exp * (1 + Math.random() * 0.1));
  }

  /** Works one dispatch until it finishes, fails, or must wait. */
  private async work(d: Dispatch): Promise<Dispatch> {
    while (d.step < d.actions.length) {
      const now = this.now();
      if (now >= d.expiresAt) {
        await this.audit.append({ step: 'dispatch.expired', dispatchId: d.id, hostId: d.hostId });
        return this.save({ ...d, status: 'expired' });
      }
      const ep = this.endpoint(d.hostId);
      if (!ep) {
        await this.audit.append({
          step: 'dispatch.waiting',
          dispatchId: d.id,
          hostId: d.hostId,
          detail: { why: 'no paired agent' },
        });
        return this.save({
          ...d,
          status: 'queued',
          attempts: d.attempts + 1,
          nextAttemptAt: now + this.backoff(d.attempts + 1),
          lastError: 'no paired agent for this host',
        });
      }
      const action = d.actions[d.step];
      const prior = d.inFlight?.step === d.step ? d.inFlight : undefined;
      let cmd = this.client.buildCommand(ep, action, this.o.commandTtlMs, d.id, now);
      if (prior && prior.expiresAt > now)
        cmd = { ...cmd, id: prior.commandId, issuedAt: prior.issuedAt, expiresAt: prior.expiresAt };
      else if (prior?.sent) {
        // It may have run, and its answer was lost; a new command could run it a second time.
        await this.audit.append({
          step: 'dispatch.failed',
          dispatchId: d.id,
          hostId: d.hostId,
          detail: { commandId: prior.commandId, why: 'outcome unknown' },
        });
        return this.save({
          ...d,
          status: 'failed',
          lastError: 'outcome unknown: the command was sent, its answer was lost, and it has expired',
        });
      }
      const inFlight = {
        step: d.step,
        commandId: cmd.id,
        issuedAt: cmd.issuedAt,
        expiresAt: cmd.expiresAt,
        sent: prior?.sent ?? false,
      };
      d = await this.save({ ...d, status: 'running', attempts: d.attempts + 1, inFlight });
      await this.audit.append({
        step: 'dispatch.sent',
        dispatchId: d.id,
        hostId: d.hostId,
        detail: { commandId: cmd.id, action: action.action, step: d.step, attempt: d.attempts },
      });
      try {
        const { result } = await this.client.send(ep, cmd);
        const { output: _o, ...kept } = result;
        await this.audit.append({
          step: 'agent.result',
          dispatchId: d.id,
          hostId: d.hostId,
          detail: { ...kept, action: action.action },
        });
        const { inFlight: _done, ...answered } = d;
        d = { ...answered, results: [...d.results, result] };
        if (!result.ok && result.refused === 'replay') {
          await this.audit.append({
            step: 'dispatch.failed',
            dispatchId: d.id,
            hostId: d.hostId,
            detail: { refused: 'replay', why: 'a retry of a command the agent had already accepted' },
          });
          return this.save({
            ...d,
            status: 'failed',
            lastError:
              'replay: the agent had already accepted this command (its first answer was lost); not run again',
          });
        }
        if (!result.ok) {
          await this.audit.append({
            step: 'dispatch.failed',
            dispatchId: d.id,
            hostId: d.hostId,
            detail: { refused: result.refused, reason: result.reason, exitCode: result.exitCode },
          });
          return this.save({
            ...d,
            status: 'failed',
            lastError: result.refused ?? `exit code ${result.exitCode}`,
          });
        }
        const { lastError: _cleared, ...rest } = d;
        d = await this.save({ ...rest, step: d.step + 1 });
      } catch (e) {
        const err = e instanceof AgentError ? e : new AgentError('protocol', (e as Error).message);
        if (!err.retryable) {
          await this.audit.append({
            step: 'dispatch.failed',
            dispatchId: d.id,
            hostId: d.hostId,
            detail: { error: err.reason, message: err.message },
          });
          return this.save({ ...d, status: 'failed', lastError: `${err.reason}: ${err.message}` });
        }
        const next = this.now() + this.backoff(d.attempts);
        await this.audit.append({
          step: 'dispatch.retry',
          dispatchId: d.id,
          hostId: d.hostId,
          detail: { error: err.reason, nextAttemptAt: next },
        });
        return this.save({
          ...d,
          status: 'queued',
          nextAttemptAt: next,
          lastError: `${err.reason}: ${err.message}`,
          ...(d.inFlight ? { inFlight: { ...d.inFlight, sent: d.inFlight.sent || err.sent } } : {}),
        });
      }
    }
    await this.audit.append({ step: 'dispatch.done', dispatchId: d.id, hostId: d.hostId });
    return this.save({ ...d, status: 'done' });
  }

  /** Sends every due dispatch; concurrent calls share one pass. */
  processDue(): Promise<void> {
    this.busy ??= (async () => {
      const now = this.now();
      for (const d of this.list({ status: 'queued' })) {
        if (d.nextAttemptAt > now && d.expiresAt > now) continue;
        await this.work(d);
      }
    })().finally(() => {
      // Cleared after the assignment above even when nothing was due (a bare finally would run first).
      this.busy = undefined;
    });
    return this.busy;
  }

  /**
   * Processes the queue every `intervalMs` until stop(), while dispatches are queued: an empty
   * queue has no timer (a new dispatch starts it again).
   */
  start(intervalMs = 2000): void {
    this.stop();
    this.intervalMs = intervalMs;
    this.arm();
  }

  /** Whether the queue's timer runs now. */
  get ticking(): boolean {
    return this.timer !== undefined;
  }

  private arm(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.pass(), this.intervalMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    await this.processDue().catch(() => {});
    if (this.list({ status: 'queued' }).length === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  stop(): void {
    this.intervalMs = 0;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Processes until the dispatch leaves the open states (or the deadline passes). */
  async waitFor(id: string, timeoutMs = 60_000): Promise<Dispatch> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.processDue();
      const d = this.get(id);
      if (!d) throw new Error(`no dispatch ${id}`);
      if (!OPEN.has(d.status) || Date.now() >= deadline) return d;
      await new Promise((r) => setTimeout(r, Math.min(200, Math.max(10, d.nextAttemptAt - this.now()))));
    }
  }
}
