// Periodic detection (seed [0069]–[0070]): re-check the pre-entered protected hosts, match rules, queue remedies.

import type { Inventory } from '../inventory/inventory.js';
import { bestOs } from '../inventory/model.js';
import { runScan, type ScanOptions } from '../inventory/scan-runner.js';
import type { AuditLog } from '../state/durable-audit.js';
import { findRemedies, hostFacts, type LookupMode } from './match.js';
import type { ProgramStore } from './programs.js';
import type { DispatchQueue } from './queue.js';
import { planRemedy, platformOf, type RemedyMode } from './remedy.js';
import type { RulesStore } from './rules-store.js';

export interface DetectionOptions {
  /** Protected hosts as the admin entered them: IP address, MAC, host/user name, or host id. */
  protectedHosts: string[];
  /** When set, the embedded nmap scan runs first against the protected IPs (or these targets). */
  scan?: Omit<ScanOptions, 'targets'> & { targets?: string[] };
  lookup?: LookupMode;
  remedyMode?: RemedyMode;
}

export interface DetectionReport {
  scanned: number;
  checked: number;
  queued: string[];
  skipped: Array<{ hostId: string; ruleId: string; why: string }>;
  missing: string[];
  scanError?: string;
}

export class Detector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<DetectionReport> | undefined;

  constructor(
    private readonly inventory: Inventory,
    private readonly rules: RulesStore,
    private readonly programs: ProgramStore,
    private readonly queue: DispatchQueue,
    private readonly audit: AuditLog,
  ) {}

  /** One detection round. */
  detect(o: DetectionOptions): Promise<DetectionReport> {
    this.running ??= this.round(o).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async round(o: DetectionOptions): Promise<DetectionReport> {
    const rep: DetectionReport = { scanned: 0, checked: 0, queued: [], skipped: [], missing: [] };
    await this.audit.append({ step: 'detect.start', detail: { hosts: o.protectedHosts.length } });
    if (o.scan) {
      const targets =
        o.scan.targets ??
        o.protectedHosts.filter((h) => /^[\d.]+$|:/.test(h) && !/^([0-9a-f]{2}:){5}/i.test(h));
      if (targets.length) {
        try {
          const sum = await this.inventory.importObservations(runScan({ ...o.scan, targets }));
          rep.scanned = sum.hostIds.length;
        } catch (e) {
          // A missing or failing nmap is reported, never hidden; detection goes on with what is known.
          rep.scanError = (e as Error).message;
          await this.audit.append({ step: 'detect.scan-error', detail: { error: rep.scanError } });
        }
      }
    }
    const rules = this.rules.list();
    for (const ident of o.protectedHosts) {
      const h = this.inventory.findHost(ident);
      if (!h) {
        rep.missing.push(ident);
        continue;
      }
      rep.checked++;
      const facts = hostFacts(h, this.inventory.matchHost(h));
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
          const plan = planRemedy(m.rule.remedy, platformOf(bestOs(h)?.family), this.programs, o.remedyMode);
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

  /** Runs detection every `periodMs` (the seed's preset detection period). */
  start(o: DetectionOptions, periodMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.detect(o).catch(() => {}), periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
