// Periodic detection: re-check the pre-entered protected hosts, match rules, queue remedies.

import { isIP } from 'node:net';
import type { Inventory } from '../inventory/inventory.js';
import { bestOs } from '../inventory/model.js';
import { runScan, type ScanOptions } from '../inventory/scan-runner.js';
import type { AuditLog } from '../state/durable-audit.js';
import { findRemedies, hostFacts, type LookupMode, remedyView } from './match.js';
import type { RemedyEvidence } from './names.js';
import type { ProgramStore } from './programs.js';
import type { DispatchQueue } from './queue.js';
import { planRemedy, platformOf, type RemedyMode } from './remedy.js';
import type { RulesStore } from './rules-store.js';

export interface DetectionOptions {
  /** Protected hosts as the admin entered them: IP address, MAC, host/user name, or host id. */
  protectedHosts: string[];
  /** When set, the embedded nmap scan runs first against the protected hosts' addresses (or these targets). */
  scan?: Omit<ScanOptions, 'targets'> & { targets?: string[] };
  /** Check every host the scan found too, not only the protected ones (a whole-LAN scan). */
  checkScanned?: boolean;
  lookup?: LookupMode;
  remedyMode?: RemedyMode;
  /** Which facts may trigger a remedy (default 'confirm': not passive ones alone). */
  evidence?: RemedyEvidence;
}

export interface DetectionReport {
  scanned: number;
  checked: number;
  queued: string[];
  skipped: Array<{ hostId: string; ruleId: string; why: string }>;
  missing: string[];
  scanError?: string;
}

/** The last finished round, for the API and the log. */
export interface DetectionRun {
  startedAt: number;
  finishedAt: number;
  trigger: 'schedule' | 'api';
  report: DetectionReport;
}

export class Detector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<DetectionReport> | undefined;
  /** The last finished round (scheduled or asked for). */
  last: DetectionRun | undefined;
  /** When the next scheduled round starts (ms), while a schedule runs. */
  nextAt: number | undefined;
  /** The running schedule: what each round does, and how often. */
  schedule: { options: DetectionOptions; periodMs: number } | undefined;

  constructor(
    private readonly inventory: Inventory,
    private readonly rules: RulesStore,
    private readonly programs: ProgramStore,
    private readonly queue: DispatchQueue,
    private readonly audit: AuditLog,
  ) {}

  /** One detection round (a round already running is joined, not doubled). */
  detect(o: DetectionOptions, trigger: DetectionRun['trigger'] = 'api'): Promise<DetectionReport> {
    if (!this.running) {
      const startedAt = Date.now();
      this.running = this.round(o)
        .then((report) => {
          this.last = { startedAt, finishedAt: Date.now(), trigger, report };
          return report;
        })
        .finally(() => {
          this.running = undefined;
        });
    }
    return this.running;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** The scan targets: the protected hosts' addresses (IPs as given; MACs and names through the inventory). */
  private targetsOf(hosts: readonly string[]): string[] {
    const out = new Set<string>();
    for (const h of hosts) {
      if (isIP(h)) out.add(h);
      else for (const a of this.inventory.findHost(h)?.ipv4 ?? []) out.add(a);
    }
    return [...out];
  }

  private async round(o: DetectionOptions): Promise<DetectionReport> {
    const rep: DetectionReport = { scanned: 0, checked: 0, queued: [], skipped: [], missing: [] };
    await this.audit.append({ step: 'detect.start', detail: { hosts: o.protectedHosts.length } });
    const check = [...o.protectedHosts];
    if (o.scan) {
      const targets = o.scan.targets ?? this.targetsOf(o.protectedHosts);
      if (targets.length) {
        try {
          const sum = await this.inventory.importObservations(runScan({ ...o.scan, targets }));
          rep.scanned = sum.hostIds.length;
          if (o.checkScanned) for (const id of sum.hostIds) if (!check.includes(id)) check.push(id);
        } catch (e) {
          // A missing or failing nmap is reported, never hidden; detection goes on with what is known.
          rep.scanError = (e as Error).message;
          await this.audit.append({ step: 'detect.scan-error', detail: { error: rep.scanError } });
        }
      }
    }
    const rules = this.rules.list();
    const seen = new Set<string>();
    for (const ident of check) {
      const h = this.inventory.findHost(ident);
      if (h && seen.has(h.id)) continue; // named twice (by address and by MAC, or scanned and named)
      if (h) seen.add(h.id);
      if (!h) {
        rep.missing.push(ident);
        continue;
      }
      rep.checked++;
      const view = remedyView(h, o.evidence ?? 'confirm');
      const facts = hostFacts(view, this.inventory.matchHost(view));
      for (const m of findRemedies(facts, rules, o.lookup ?? 'ordered')) {
        if (this.queue.openFor(h.id, m.rule.id)) {
          rep.skipped.push({ hostId: h.id, ruleId: m.rule.id, why: 'already queued' });
          continue;
        }
        const done = this.queue
          .list({ hostId: h.id })
          .find((d) => d.ruleId === m.rule.id && d.status === 'done');
        if (done) {
          rep.skipped.push({ hostId: h.id, ruleId: m.rule.id, why: 'already remedied' });
          continue;
        }
        await this.audit.append({
          step: 'rule.matched',
          hostId: h.id,
          ruleId: m.rule.id,
          detail: { set: m.set, threats: m.threats },
        });
        try {
          const plan = planRemedy(
            m.rule.remedy,
            platformOf(bestOs(view)?.family),
            this.programs,
            o.remedyMode,
          );
          const d = await this.queue.enqueue({
            hostId: h.id,
            ruleId: m.rule.id,
            actions: plan.actions,
            trigger: 'detection',
            remedyType: plan.type,
          });
          rep.queued.push(d.id);
        } catch (e) {
          rep.skipped.push({ hostId: h.id, ruleId: m.rule.id, why: (e as Error).message });
          await this.audit.append({
            step: 'remedy.unavailable',
            hostId: h.id,
            ruleId: m.rule.id,
            detail: { why: (e as Error).message },
          });
        }
      }
    }
    await this.audit.append({
      step: 'detect.end',
      detail: { queued: rep.queued.length, missing: rep.missing.length },
    });
    return rep;
  }

  /**
   * Runs detection every `periodMs` (the configured detection period), the first round after
   * `firstMs`. `done` hears each scheduled round's report (or its error).
   */
  start(
    o: DetectionOptions,
    periodMs: number,
    firstMs = periodMs,
    done: (r: DetectionReport | Error) => void = () => {},
  ): void {
    this.stop();
    this.schedule = { options: o, periodMs };
    const arm = (ms: number) => {
      this.nextAt = Date.now() + ms;
      this.timer = setTimeout(() => {
        this.detect(o, 'schedule').then(done, (e: Error) => done(e));
        // The next round is timed from this one's start; a round still running then is joined.
        arm(periodMs);
      }, ms);
      this.timer.unref();
    };
    arm(firstMs);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = undefined;
    this.schedule = undefined;
  }
}
