// The remediation service as the daemon opens it: its durable store (live on tmpfs with snapshots to
// flash, or on flash), the passive feed, the import directory and the API routes it serves. Loaded on
// demand so a daemon whose store cannot open still runs its defenses.

import { mkdirSync } from 'node:fs';
import type { Hono } from 'hono';
import { ensureImportDir } from '../remediation/import-file.js';
import type { RemediationService } from '../remediation/service.js';
import type { Log } from './log.js';

/** What the control plane holds of the remediation service (opened in start(), closed in stop()). */
export interface Remediation {
  svc: RemediationService;
  routes: { path: string; app: Hono; bodyLimit?: number };
}

/** Opens the remediation service and its routes; a failure is logged and leaves them off. */
export async function openRemediation(
  importDir: string,
  durableDir: string,
  liveDir: string | undefined,
  commitIntervalSeconds: number,
  log: Log,
  passive: {
    drain?: (visit: (kind: number, bytes: Uint8Array) => void) => number;
    leaseFile?: string;
    dhcpDrain?: (visit: (packet: Uint8Array) => void) => number;
  },
  /** An agent was reached, or lost: the status (status.json's agents) changed. */
  onReachChange?: () => void,
): Promise<Remediation | undefined> {
  try {
    const [{ RemediationService }, { remediationRoutes, MAX_SCAN_BODY }] = await Promise.all([
      import('../remediation/service.js'),
      import('../api/routes/remediation.js'),
    ]);
    mkdirSync(durableDir, { recursive: true, mode: 0o700 });
    const dataDir = liveDir ?? durableDir;
    // Dispatches queued through the API are sent by the background loop (and retried with backoff).
    // Hosts are also learned passively: the dataplane's samples and the DHCP lease file.
    const svc = await RemediationService.open({
      dataDir,
      queueIntervalMs: 1000,
      passive: { ...passive, log },
      // Said when it changes, with fields a log collector can alert on.
      onReach: (hostId, reached, reason) => {
        log(
          reached ? `agent ${hostId} reached again` : `agent ${hostId} unreachable: ${reason}`,
          reached ? 'info' : 'warn',
          { event: 'agent', host: hostId, reachable: reached, reason },
        );
        onReachChange?.();
      },
      ...(liveDir
        ? { durable: { snapshot: { dir: durableDir, intervalMs: commitIntervalSeconds * 1000, log } } }
        : {}),
    });
    log(
      liveDir
        ? `remediation: durable store in ${liveDir}, snapshots to ${durableDir} every ${commitIntervalSeconds || 'stop'}${commitIntervalSeconds ? ' s' : ''}`
        : `remediation: durable store in ${dataDir}`,
    );
    ensureImportDir(importDir);
    return {
      svc,
      routes: { path: '/remediation', app: remediationRoutes(svc, { importDir }), bodyLimit: MAX_SCAN_BODY },
    };
  } catch (err) {
    log(`remediation: off (cannot open its store in ${liveDir ?? durableDir}: ${(err as Error).message})`);
    return undefined;
  }
}
