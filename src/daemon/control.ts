// The daemon's control plane: joins the dataplane (counters, events) and the configuration to the API,
// runs the API listeners, and applies a new configuration (SIGHUP or PUT /config) without touching the
// packets in flight. The dataplane knows nothing of this module.
// One file (about 950 lines): the config in force, the listeners, the token and the remediation service
// are state that a reload and the API's answers both read and change, in one object. What needs none of
// that state is in config-diff.ts, listen-check.ts and remediation.ts.

import { join } from 'node:path';
import { type Api, createApi } from '../api/app.js';
import { ConfigHealth, type ConfigStatus, describeInForce } from '../api/config-status.js';
import {
  type AllowChange,
  type ApiDeps,
  type BucketStats,
  type ConfigApplyResult,
  type ConfigView,
  type ConnectionRecord,
  DepsError,
  type FlowOffloadStatus,
  type Page,
  type PoliceStatus,
  type StatusSnapshot,
  TIERS,
  type Tier,
} from '../api/deps.js';
import { ControlBus, type DataplaneCommand, parseDataplaneEvent, type SseHubOptions } from '../api/events.js';
import { ApiServer, isWildcardHost } from '../api/server.js';
import {
  AttackerBook,
  applyDataplaneEvent,
  ConnectionBook,
  Gauges,
  inPrefix,
  TierHistory,
} from '../api/stores.js';
import {
  type ApiCertificate,
  isLoopbackHost,
  loadOrCreateCertificate,
  TLS_CERT_FILE,
} from '../api/tls-cert.js';
import { ensureToken, tokenFileIssue } from '../api/token.js';
import {
  orderForClients,
  removeApiInfo,
  tokenDirs,
  tokenFilePath,
  urlFor,
  writeApiInfo,
} from '../cli/api-locate.js';
import {
  type CidrPrefix,
  type ConfigIssue,
  type DetectConfig,
  formatListen,
  type ListenAddress,
  parseCidr,
  type TunguardConfig,
} from '../config/index.js';
import { type AttackerMarks, markOf } from '../dataplane/attacker-batch.js';
import { ConnState } from '../defense/conntable.js';
import type { DetectionOptions, DetectionReport } from '../remediation/detector.js';
import { importDirOf } from '../remediation/import-file.js';
import { configDiff, synChanges } from './config-diff.js';
import type { ConfigStore } from './config-store.js';
import { deviceAddresses, tokenFileLine, wanListenIssues } from './listen-check.js';
import type { Log } from './log.js';
import { LoopDelay } from './loop-delay.js';
import { openRemediation, type Remediation } from './remediation.js';
import { type StartFallback, saveLastGood } from './start-config.js';

// run.ts checks the listen addresses before the control plane starts, with this import.
export { wanListenIssues };

/**
 * What the control plane needs of the dataplane. The Dataplane handle satisfies it as it is; the two
 * optional methods light up features when the dataplane grows them (shapes in src/api/events.ts).
 */
export interface DataplaneLink {
  readonly startedAt: number;
  counters(): Record<string, number>;
  workerCounters(): Record<string, number>[];
  /** 'event': what a worker reports; 'attackers': a tick's aggressive marks, checked; 'active':
   * packets or timers moved a worker's counters. */
  on(event: 'event' | 'active', listener: (e: unknown) => void): unknown;
  on(event: 'attackers', listener: (marks: AttackerMarks) => void): unknown;
  off(event: 'event' | 'active', listener: (e: unknown) => void): unknown;
  off(event: 'attackers', listener: (marks: AttackerMarks) => void): unknown;
  /** Commands over the MessagePort: clear attacker marks, new allowlist, new settings. */
  command(c: DataplaneCommand): void;
  /** Queries answered by the workers (connections). */
  request?(q: { type: 'connections' } & Record<string, unknown>): Promise<unknown>;
  /** Packet samples of LAN hosts for the passive inventory (when the sampler stage runs). */
  drainSamples?(visit: (kind: number, bytes: Uint8Array) => void): number;
}

export interface ControlPlaneOptions {
  dp: DataplaneLink;
  store: ConfigStore;
  stateDir: string;
  /** `--api`: listen here instead of the config's list (reloads then leave the listeners alone). */
  apiOverride?: ListenAddress;
  /** The WAN device: the API never listens on its addresses. */
  wanDevice: string;
  /** The uplinks now, when they follow netifd (wan_follow); else only wanDevice counts. */
  wanDevices?: () => readonly string[];
  version: string;
  log: Log;
  /**
   * After each of the sampler's seconds; `moved`: a counter changed since the last. The sampler
   * sleeps while nothing happens, so this is not called then.
   */
  onSample?: (moved: boolean) => void;
  /** Something status.json shows changed outside the counters and the bus (an agent's reachability). */
  onStatusChange?: () => void;
  sse?: SseHubOptions;
  /** LAN prefixes (CIDR): a connection to one of them is inbound. */
  lanPrefixes?: readonly string[];
  /** Connections the SYN proxy restored from the connection store at start (same shape as conn-sync). */
  restoredConnections?: readonly unknown[];
  /**
   * Where the remediation service keeps its durable store (hosts, rules, dispatches, agents); its routes
   * are served under /api/v1/remediation. Absent: no remediation routes.
   */
  remediationDir?: string;
  /**
   * Keep that store live here (tmpfs) and snapshot it to remediationDir every commitIntervalSeconds
   * and at stop (src/state/snapshot.ts). Absent: the store is written in remediationDir itself.
   */
  remediationLiveDir?: string;
  commitIntervalSeconds?: number;
  /** dnsmasq's lease file, read for the passive inventory (absent: none). */
  dhcpLeases?: string;
  /** The LAN hosts' DHCP requests, for the passive inventory (DhcpTap.drain; absent: none). */
  dhcpDrain?: (visit: (packet: Uint8Array) => void) => number;
  /** How often a listen address that failed is tried again (default LISTEN_RETRY_MS). */
  listenRetryMs?: number;
  /** What the daemon started on when the file had errors (./start-config.ts); absent: the file. */
  startFallback?: StartFallback;
  /** Where the API's TLS certificate is kept (flash: its pinned fingerprint must survive a reboot). */
  certDir?: string;
  /** Flow offloading and the proxied connections, now (absent: nothing is proxied). */
  flowOffload?: () => FlowOffloadStatus;
  /** The SYN police's nft table, now (absent: the daemon runs without one). */
  police?: () => PoliceStatus | undefined;
  /**
   * Whether the kernel translates a proxied connection now (src/netcfg/xlate.ts; absent: nothing is
   * translated in the kernel): the connection list's `path`.
   */
  inKernel?: (client: Uint8Array, cPort: number, server: Uint8Array, sPort: number) => boolean;
}

/** How often a listen address that failed is tried again. */
const LISTEN_RETRY_MS = 10_000;

/** The first scheduled detection round runs this long after the start (or a changed configuration). */
const FIRST_DETECTION_MS = 5000;

/** Counters that count dropped packets, by name. */
const DROP_RE = /^(drop_|malformed_)/;
const NO_DEFENSE =
  'not reported: tiers, half-open counts and attacker marks come from the SYN defense stage, which has not reported any yet';
/** Seconds over which the main thread's event-loop delay is reported. */
const ELD_WINDOW_SECONDS = 5;
const STATE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ConnState).map(([k, n]) => [n, k.toLowerCase().replace(/_/g, '-')]),
);

export class ControlPlane {
  readonly bus = new ControlBus();
  readonly tiers = new TierHistory();
  readonly attackers = new AttackerBook();
  readonly gauges = new Gauges();
  readonly configHealth: ConfigHealth;
  readonly connections: ConnectionBook;
  readonly api: Api;
  private server: ApiServer | undefined;
  private token = '';
  private tokenFile = '';
  private ignored = 0;
  private rates: Record<string, number> = {};
  private prevSample: { at: number; counters: Record<string, number> } | undefined;
  /** The once-a-second sampler; undefined while it sleeps (see wake()). */
  private sampler: NodeJS.Timeout | undefined;
  /** When the sampler went to sleep (Date.now()). */
  private sleptAt = 0;
  /** The last time something said the daemon is busy (a worker, an event, an API request). */
  private activeAt = 0;
  private readonly loopDelay = new LoopDelay(ELD_WINDOW_SECONDS);
  private readonly onEvent = (x: unknown) => {
    this.wake();
    this.dataplaneEvent(x);
  };
  /** A tick's aggressive marks (checked where they arrive): each is an 'attacker' mark as any other. */
  private readonly onAttackers = (marks: AttackerMarks) => {
    this.wake();
    const now = Date.now();
    for (let k = 0; k < marks.addresses.length; k++) {
      const out = applyDataplaneEvent(markOf(marks, k), this, now);
      if (out) this.bus.publish(out);
    }
  };
  private readonly onActive = () => this.wake();
  private stopped = false;
  /** Why the API is not listening, when it is not. */
  apiError: string | undefined;
  /** The TLS certificate of the listeners that are not loopback, once one needed it. */
  private cert: ApiCertificate | undefined;

  private constructor(
    private readonly o: ControlPlaneOptions,
    private readonly remediation?: Remediation,
  ) {
    const lan: CidrPrefix[] = [];
    for (const p of o.lanPrefixes ?? []) {
      try {
        lan.push(parseCidr(p));
      } catch {}
    }
    this.connections = new ConnectionBook({
      stateName: (n) => STATE_NAMES[n] ?? `state-${n}`,
      isLan: (a) => lan.length === 0 || lan.some((p) => inPrefix(a, p)),
      inKernel: o.inKernel,
    });
    if (o.restoredConnections && o.restoredConnections.length > 0)
      this.dataplaneEvent({ type: 'conn-sync', upserts: o.restoredConnections, removes: [] });
    o.store.extraCheck = (c, text) => this.checkListen(c, text);
    this.configHealth = new ConfigHealth(
      o.startFallback ?? { inForce: o.store.path === undefined ? 'defaults' : 'file' },
    );
    // run.ts logged the fallback as it chose it; the allowlist stays unedited until the file is good.
    if (o.startFallback) o.store.fallback = `running on ${describeInForce(o.startFallback.inForce)}`;
    else this.keepLastGood();
    this.api = createApi(this.deps(), {
      token: () => this.token,
      cors: () => this.o.store.config.api.cors,
      log: (m) => o.log(`api: ${m}`),
      sse: o.sse,
      onRequest: () => this.wake(),
    });
    o.dp.on('event', this.onEvent);
    o.dp.on('attackers', this.onAttackers);
    o.dp.on('active', this.onActive);
    this.wake();
  }

  /**
   * Something happened (a worker's packets or timers, a dataplane event, an API request): the
   * sampler runs again if it slept. While it slept no counter moved, so every rate was zero; the
   * counters that moved since, moved after now.
   */
  wake(): void {
    this.activeAt = Date.now();
    // Packets may have left samples for the passive inventory (its tick is slow while idle).
    this.remediation?.svc.passive?.poke();
    if (this.sampler || this.stopped) return;
    if (this.prevSample) {
      this.catchUp();
      this.prevSample = { at: this.activeAt, counters: this.prevSample.counters };
    }
    this.sampler = setInterval(() => this.sample(), 1000);
    this.sampler.unref();
  }

  /** The quiet seconds the loop-delay monitor missed while the sampler slept. */
  private catchUp(): void {
    if (this.sampler || this.sleptAt === 0) return;
    const now = Date.now();
    this.loopDelay.quiet((now - this.sleptAt) / 1000);
    this.sleptAt = now;
  }

  /** Starts the API (a failure to listen is logged, not fatal: the dataplane keeps protecting). */
  static async start(o: ControlPlaneOptions): Promise<ControlPlane> {
    const rem =
      o.remediationDir !== undefined
        ? await openRemediation(
            importDirOf(o.stateDir),
            o.remediationDir,
            o.remediationLiveDir,
            o.commitIntervalSeconds ?? 0,
            o.log,
            {
              drain: o.dp.drainSamples?.bind(o.dp),
              leaseFile: o.dhcpLeases,
              dhcpDrain: o.dhcpDrain,
            },
            () => o.onStatusChange?.(),
          )
        : undefined;
    const cp = new ControlPlane(o, rem);
    cp.applyDetection(o.store.config.detect);
    try {
      cp.loadToken();
    } catch (err) {
      // Not fatal: the dataplane keeps protecting; the API stays off until a reload finds a good token.
      cp.apiError = (err as Error).message;
      o.log(`api: not listening: ${cp.apiError}`, 'error');
      return cp;
    }
    const wan = cp.checkListen(o.store.config, o.store.text);
    if (wan.length > 0) {
      // run.ts refuses this before starting; here it only guards other callers.
      cp.apiError = wan.map((i) => i.message).join('; ');
      o.log(`api: not listening: ${cp.apiError}`, 'error');
      return cp;
    }
    try {
      await cp.applyListen(cp.listenAddresses(o.store.config));
    } catch {
      // Logged by applyListen. The defenses run; the API is tried again until it listens (a port taken
      // by a process that goes away, an address that comes up later) or a reload moves it.
      cp.retryListen();
    }
    return cp;
  }

  /** The addresses the API should listen on for a configuration. */
  private listenAddresses(c: TunguardConfig): ListenAddress[] {
    return this.o.apiOverride ? [this.o.apiOverride] : c.api.listen;
  }

  /**
   * Never a WAN address, and a token file only in the state or config directory; checked on every new
   * configuration (start, reload, API).
   */
  private checkListen(c: TunguardConfig, text: string): ConfigIssue[] {
    const issues = this.o.apiOverride ? [] : wanListenIssues(c, text, this.wans());
    const token = tokenFileIssue(tokenFilePath(this.o.stateDir, text), tokenDirs(this.o.stateDir));
    if (token) {
      const line = tokenFileLine(text);
      issues.push({ line, message: `line ${line}: option ${token}` });
    }
    return issues;
  }

  private loadToken(): void {
    const path = tokenFilePath(
      this.o.stateDir,
      this.o.store.path === undefined ? undefined : this.o.store.text,
    );
    const t = ensureToken(path, tokenDirs(this.o.stateDir));
    if (t.created) this.o.log(`api: created a new token in ${path} (mode 0600)`);
    this.token = t.token;
    this.tokenFile = path;
  }

  /** The WAN devices the API keeps off: netifd's uplinks now when they are followed. */
  private wans(): readonly string[] {
    return this.o.wanDevices?.() ?? [this.o.wanDevice];
  }

  /**
   * The uplinks changed (wan_follow): a listen address that now belongs to one is closed, loudly,
   * and the others stay; the configuration is not changed, so a later reload checks it again.
   */
  async uplinksChanged(): Promise<void> {
    if (this.o.apiOverride || !this.server) return;
    const wans = this.wans();
    const wanAddresses = new Set(wans.flatMap((d) => deviceAddresses(d)));
    const listen = this.listenAddresses(this.o.store.config);
    const onWan = listen.filter((l) => wanAddresses.has(l.host));
    if (onWan.length === 0) return;
    for (const l of onWan)
      this.o.log(
        `api: WARNING: ${formatListen(l)} is now an address of an uplink (${wans.join(', ')}): closing it; the API never listens on the WAN side`,
      );
    await this.applyListen(listen.filter((l) => !wanAddresses.has(l.host)));
  }

  private listenRetry: NodeJS.Timeout | undefined;

  /** Tries the configured listen addresses again every LISTEN_RETRY_MS until they open. */
  private retryListen(): void {
    if (this.listenRetry || this.stopped) return;
    this.listenRetry = setInterval(() => {
      void this.applyListen(this.listenAddresses(this.o.store.config), 0, true).then(
        () => this.stopRetry(),
        () => {},
      );
    }, this.o.listenRetryMs ?? LISTEN_RETRY_MS);
    this.listenRetry.unref();
  }

  private stopRetry(): void {
    clearInterval(this.listenRetry);
    this.listenRetry = undefined;
  }

  private async applyListen(addresses: ListenAddress[], closeDelayMs = 0, retry = false): Promise<void> {
    for (const a of addresses) {
      if (isWildcardHost(a.host))
        this.o.log(
          `api: WARNING: listening on ${formatListen(a)} (every address, WAN included) as configured`,
        );
    }
    if (addresses.length === 0) {
      await this.server?.close();
      this.server = undefined;
      this.apiError = 'no listen address configured';
      removeApiInfo(this.o.stateDir);
      this.o.log('api: off (no listen address)');
      return;
    }
    this.server ??= new ApiServer(this.api, {
      allowWildcard: this.o.apiOverride === undefined,
      log: (m) => this.o.log(m),
      tls: () => this.certificate(),
    });
    try {
      const r = await this.server.update(addresses, closeDelayMs);
      this.apiError = undefined;
      if (r.opened.length > 0)
        this.o.log(`api: listening on ${this.server.addresses.map(formatListen).join(', ')}`);
      if (r.closed.length > 0) this.o.log(`api: stopped listening on ${r.closed.join(', ')}`);
      this.stopRetry();
    } catch (err) {
      const first = this.apiError === undefined || !retry;
      this.apiError = (err as Error).message;
      // Loud once (the status, status.json and LuCI show it until it listens), quiet on each retry.
      if (first)
        this.o.log(
          `api: ERROR: the API is not listening: ${this.apiError}; the defenses run without it, retrying every ${(this.o.listenRetryMs ?? LISTEN_RETRY_MS) / 1000} s`,
          'error',
          { event: 'api', listening: false },
        );
      throw err;
    } finally {
      this.writeInfo();
    }
  }

  private certificate(): ApiCertificate {
    if (this.cert) return this.cert;
    const dir = this.o.certDir ?? this.o.stateDir;
    this.cert = loadOrCreateCertificate(dir);
    this.o.log(
      `api: TLS certificate ${this.cert.created ? 'made' : 'loaded'} (${join(dir, TLS_CERT_FILE)}), sha256 fingerprint ${this.cert.fingerprint}`,
    );
    return this.cert;
  }

  /** The fingerprint clients pin, while a listener serves TLS. */
  private tlsFingerprint(): string | undefined {
    const tls = (this.server?.addresses ?? []).some((a) => !isLoopbackHost(a.host));
    return tls ? this.cert?.fingerprint : undefined;
  }

  private writeInfo(): void {
    const addrs = this.server?.addresses ?? [];
    if (addrs.length === 0) {
      removeApiInfo(this.o.stateDir);
      return;
    }
    writeApiInfo(this.o.stateDir, {
      pid: process.pid,
      urls: orderForClients(addrs).map(urlFor),
      tokenFile: this.tokenFile,
      startedAt: this.o.dp.startedAt,
      ...(this.tlsFingerprint() ? { tlsFingerprint: this.tlsFingerprint() } : {}),
    });
  }

  private dataplaneEvent(x: unknown): void {
    const e = parseDataplaneEvent(x);
    if (!e) {
      if (this.ignored++ < 5)
        this.o.log(`dataplane event of unknown shape ignored: ${JSON.stringify(x)?.slice(0, 200)}`);
      return;
    }
    const out = applyDataplaneEvent(e, this, Date.now());
    if (out) this.bus.publish(out);
  }

  /**
   * Once a second while anything happens: the rates, the loop-delay monitor, and `onSample` (run.ts:
   * status.json, the kernel's counters). After a second in which no counter moved, nothing woke it
   * and the loop was quiet, it sleeps until wake(): an idle router's main thread has no timer here.
   */
  private sample(): void {
    this.loopDelay.second();
    const at = Date.now();
    const counters = this.o.dp.counters();
    let moved = this.prevSample === undefined;
    if (this.prevSample) {
      const dt = Math.max(0.001, (at - this.prevSample.at) / 1000);
      const rates: Record<string, number> = {};
      for (const [k, v] of Object.entries(counters)) {
        const before = this.prevSample.counters[k] ?? 0;
        if (v !== before) moved = true;
        rates[k] = Math.max(0, (v - before) / dt);
      }
      this.rates = rates;
    }
    this.prevSample = { at, counters };
    this.o.onSample?.(moved);
    if (!moved && !this.loopDelay.monitoring && at - this.activeAt >= 1000) {
      clearInterval(this.sampler);
      this.sampler = undefined;
      this.sleptAt = at;
    }
  }

  /** Whether the sampler runs now (it sleeps while nothing happens). */
  get sampling(): boolean {
    return this.sampler !== undefined;
  }

  /** Whether a SYN defense stage reports (its gauges exist, or it sent events). */
  private get defenseReporting(): boolean {
    return this.tiers.reportedAt !== null || Object.hasOwn(this.o.dp.counters(), 'gauge_tier');
  }

  private synproxyRuns(): boolean {
    return Object.hasOwn(this.o.dp.counters(), 'synproxy_syn_received');
  }

  /** The tier now: the SYN gate's gauge (highest over workers), else the last reported change. */
  private currentTier(workers: Record<string, number>[]): Tier | null {
    if (workers.length > 0 && Object.hasOwn(workers[0], 'gauge_tier')) {
      const top = Math.max(...workers.map((w) => w.gauge_tier ?? 0));
      return TIERS[Math.min(TIERS.length - 1, Math.max(0, Math.round(top)))];
    }
    return this.tiers.current;
  }

  private currentHalfOpen(workers: Record<string, number>[]): number | null {
    if (workers.length > 0 && Object.hasOwn(workers[0], 'gauge_half_open'))
      return workers.reduce((n, w) => n + (w.gauge_half_open ?? 0), 0);
    return this.gauges.halfOpen;
  }

  /**
   * Starts, restarts or stops the periodic detection as `d` says. Returns why it cannot
   * run, or undefined. Each round is logged with what it found.
   */
  private applyDetection(d: DetectConfig): string | undefined {
    const svc = this.remediation?.svc;
    if (!svc) {
      if (d.enabled) this.o.log('detect: not running: the remediation service is off');
      return d.enabled ? 'the remediation service is off' : undefined;
    }
    svc.stopDetection();
    svc.remedyEvidence = d.remedyEvidence;
    void svc.checkAgents(d.agentCheckSeconds * 1000);
    if (!d.enabled) return undefined;
    const o: DetectionOptions = {
      protectedHosts: d.protectedHosts,
      lookup: d.lookup,
      evidence: d.remedyEvidence,
    };
    if (d.scan) {
      const timeoutMs = d.scanTimeoutSeconds * 1000;
      o.scan = {
        maxRate: d.scanMaxRate,
        timeoutMs,
        hostTimeoutMs: Math.min(timeoutMs, 300_000),
        ...(d.scanPorts ? { ports: d.scanPorts } : {}),
      };
      if (d.scanLan) {
        // IPv4 only (an IPv6 /64 cannot be swept), and no more than a /16 (what the scanner bounds).
        const v4 = (this.o.lanPrefixes ?? []).filter((p) => {
          try {
            const c = parseCidr(p);
            return c.family === 4 && c.bits >= 16;
          } catch {
            return false;
          }
        });
        if (v4.length === 0) this.o.log('detect: scan_lan: no IPv4 LAN prefix of /16 or smaller to scan');
        else o.scan.targets = v4;
        o.checkScanned = true;
      }
    }
    const what = [
      d.protectedHosts.length > 0 ? `${d.protectedHosts.length} protected host(s)` : '',
      o.scan?.targets ? `the LAN (${o.scan.targets.join(', ')})` : '',
    ]
      .filter((x) => x)
      .join(' and ');
    this.o.log(
      `detect: every ${d.intervalSeconds} s, ${what || 'nothing to check'}${d.scan ? ', nmap scan first' : ''}; first round in ${FIRST_DETECTION_MS / 1000} s`,
    );
    svc.startDetection(o, d.intervalSeconds * 1000, FIRST_DETECTION_MS, (r) => this.logDetection(r));
    return undefined;
  }

  private logDetection(r: DetectionReport | Error): void {
    if (r instanceof Error) {
      this.o.log(`detect: round failed: ${r.message}`, 'warn');
      return;
    }
    const parts = [
      `checked ${r.checked} host(s)`,
      `scanned ${r.scanned}`,
      `queued ${r.queued.length} remedy(ies)`,
      r.skipped.length > 0 ? `skipped ${r.skipped.length}` : '',
      r.missing.length > 0 ? `not in the inventory: ${r.missing.join(', ')}` : '',
      r.scanError ? `scan failed: ${r.scanError}` : '',
    ].filter((x) => x);
    this.o.log(`detect: ${parts.join('; ')}`);
  }

  status(): StatusSnapshot {
    const counters = this.o.dp.counters();
    const perWorker = this.o.dp.workerCounters();
    const drops: Record<string, number> = {};
    for (const [k, v] of Object.entries(counters)) if (DROP_RE.test(k)) drops[k] = v;
    const notes: Record<string, string> = {};
    const tier = this.currentTier(perWorker);
    const halfOpen = this.currentHalfOpen(perWorker);
    if (tier === null) notes.tier = `unknown: ${NO_DEFENSE}`;
    if (halfOpen === null) notes.halfOpen = `unknown: ${NO_DEFENSE}`;
    const s: StatusSnapshot = {
      tier,
      halfOpen,
      counters,
      drops,
      perWorker,
      uptimeSeconds: (Date.now() - this.o.dp.startedAt) / 1000,
      version: this.o.version,
      startedAt: this.o.dp.startedAt,
      config: this.configStatus(),
    };
    const svc = this.remediation?.svc;
    if (svc) {
      const { paired, unreachable } = svc.reachSummary();
      s.agents = { paired, unreachable };
    }
    if (this.o.flowOffload) s.flowOffload = this.o.flowOffload();
    const police = this.o.police?.();
    if (police) s.police = police;
    if (Object.keys(notes).length > 0) s.notes = notes;
    return s;
  }

  configStatus(): ConfigStatus {
    return this.configHealth.status(this.o.store.path, this.o.store.text, this.pendingRestart());
  }

  /** The file in force is good: keep a copy to start on should it break (./start-config.ts). */
  private keepLastGood(): void {
    const st = this.o.store;
    if (st.path === undefined || st.fallback !== undefined) return;
    try {
      saveLastGood(this.o.stateDir, st.path, st.text);
    } catch (err) {
      this.o.log(`config: cannot keep a copy of the good configuration: ${(err as Error).message}`);
    }
  }

  private publishConfigStatus(): void {
    this.bus.publish({ type: 'config-status', at: Date.now(), config: this.configStatus() });
  }

  private view(): ConfigView {
    const st = this.o.store;
    return {
      path: st.path ?? null,
      persisted: st.persisted,
      etag: st.etag,
      uci: st.text,
      config: st.config,
      warnings: st.warnings,
      pendingRestart: this.pendingRestart(),
    };
  }

  private pendingRestart(): string[] {
    const start = this.o.store.startConfig;
    const now = this.o.store.config;
    return [
      ...configDiff(start, now).filter((p) => p.startsWith('main.')),
      ...synChanges(start, now).restart,
    ];
  }

  private bucket(
    proto: 'icmp' | 'udp',
    c: TunguardConfig['ratelimit']['icmp'],
    counters: Record<string, number>,
  ): BucketStats {
    const dropped: Record<string, number> = {};
    const re = new RegExp(`^(drop|ratelimit)_${proto}`);
    for (const [k, v] of Object.entries(counters)) if (re.test(k)) dropped[k] = v;
    return { ...c, packetsPerSecond: Math.round((this.rates[proto] ?? 0) * 10) / 10, dropped };
  }

  /** Applies a new configuration (already validated and persisted) to what runs. */
  private async apply(prev: TunguardConfig, source: 'api' | 'reload'): Promise<ConfigApplyResult> {
    const next = this.o.store.config;
    const parts = configDiff(prev, next);
    const applied: string[] = [];
    const notApplied: { part: string; reason: string }[] = [];
    const newTokenFile = tokenFilePath(
      this.o.stateDir,
      this.o.store.path === undefined ? undefined : this.o.store.text,
    );
    if (parts.includes('api.token_file') || source === 'reload' || newTokenFile !== this.tokenFile) {
      try {
        const before = this.token;
        this.loadToken();
        if (parts.includes('api.token_file') || before !== this.token) applied.push('api.token');
      } catch (err) {
        notApplied.push({ part: 'api.token', reason: (err as Error).message });
      }
    }
    if (parts.includes('api.listen')) {
      if (this.o.apiOverride) {
        notApplied.push({
          part: 'api.listen',
          reason: '--api on the command line wins over the configuration',
        });
      } else {
        try {
          // A change made through the API must not cut the connection that asked for it: old listeners close later.
          await this.applyListen(this.listenAddresses(next), source === 'api' ? 500 : 0);
          applied.push('api.listen');
        } catch (err) {
          notApplied.push({ part: 'api.listen', reason: (err as Error).message });
          this.retryListen();
        }
      }
    } else if (parts.includes('api.token_file')) {
      this.writeInfo();
    }
    if (parts.includes('api.cors')) applied.push('api.cors');
    const command = this.o.dp.command.bind(this.o.dp);
    if (parts.includes('allow')) {
      command({ type: 'allowlist.set', prefixes: next.allow.map((p) => p.cidr) });
      applied.push('allow');
    }
    const rate = parts.filter((p) => p.startsWith('ratelimit.'));
    const synReloaded = synChanges(prev, next).reloadable.length > 0;
    if (rate.length > 0 || synReloaded) {
      command({ type: 'settings', syn: next.defense.syn, ratelimit: next.ratelimit });
      applied.push(...(synReloaded ? ['defense.syn'] : []), ...rate);
    }
    if (parts.includes('detect')) {
      const why = this.applyDetection(next.detect);
      if (why) notApplied.push({ part: 'detect', reason: why });
      else applied.push('detect');
    }
    const pendingRestart = this.pendingRestart();
    this.bus.publish({ type: 'config', at: Date.now(), applied, pendingRestart, source });
    this.configHealth.applied(
      { trigger: source === 'api' ? 'api' : 'sighup', changed: parts, applied, notApplied },
      this.o.store.path !== undefined,
    );
    this.keepLastGood();
    this.publishConfigStatus();
    return { view: this.view(), applied, pendingRestart, notApplied };
  }

  /** SIGHUP: re-read the file; a bad one is refused (logged) and the old configuration stays. */
  async reload(): Promise<{ ok: boolean; result?: ConfigApplyResult; error?: string }> {
    if (this.stopped) return { ok: false, error: 'stopping' };
    let r: Awaited<ReturnType<ConfigStore['reload']>>;
    try {
      r = await this.o.store.reload();
    } catch (err) {
      const msg = (err as Error).message.replaceAll('\n', '; ');
      this.o.log(`reload refused, the configuration in force stays: ${msg}`, 'warn', {
        event: 'reload',
        result: 'refused',
      });
      this.configHealth.refused('sighup', (err as Error).message.split('\n'));
      this.publishConfigStatus();
      return { ok: false, error: msg };
    }
    if (!r) {
      this.loadToken();
      this.o.log('reload: no --config file to re-read (built-in defaults); the token file was re-read');
      return { ok: true };
    }
    const result = await this.apply(r.prev, 'reload');
    const changed = configDiff(r.prev, r.next.config);
    const parts = [
      changed.length === 0 ? 'no setting changed' : `changed: ${changed.join(', ')}`,
      result.applied.length > 0 ? `applied: ${result.applied.join(', ')}` : '',
      result.notApplied.length > 0
        ? `not applied: ${result.notApplied.map((n) => `${n.part} (${n.reason})`).join(', ')}`
        : '',
      result.pendingRestart.length > 0 ? `needs a restart: ${result.pendingRestart.join(', ')}` : '',
    ].filter((x) => x !== '');
    this.o.log(`reload: ${this.o.store.path}: ${parts.join('; ')}`, 'info', {
      result: 'applied',
      changed: changed.join(',') || undefined,
      restart: result.pendingRestart.join(',') || undefined,
    });
    for (const w of r.next.warnings) this.o.log(`config: ${w.message}`, 'warn');
    return { ok: true, result };
  }

  deps(): ApiDeps {
    const st = this.o.store;
    const dp = this.o.dp;
    const allowChange = async (
      op: Promise<{ entry: AllowChange['entry']; changed?: boolean; prev: TunguardConfig }>,
      action: 'add' | 'remove',
    ): Promise<AllowChange> => {
      const r = await op;
      const changed = r.changed ?? true;
      if (changed) {
        await this.apply(r.prev, 'api');
        this.bus.publish({ type: 'allowlist', at: Date.now(), action, cidr: r.entry.cidr });
      }
      return { entry: r.entry, changed, persisted: st.persisted };
    };
    return {
      version: this.o.version,
      status: () => this.status(),
      tiers: {
        history: (limit) => {
          const syn = st.config.defense.syn;
          const v = {
            current: this.currentTier(dp.workerCounters()),
            thresholds: {
              windowSeconds: syn.windowSeconds,
              moderate: syn.moderateThreshold,
              risky: syn.riskyThreshold,
            },
            items: this.tiers.recent(limit),
            total: this.tiers.count,
          };
          return this.defenseReporting ? v : { ...v, note: NO_DEFENSE };
        },
      },
      connections: {
        list: async (q): Promise<Page<ConnectionRecord>> => {
          if (!dp.request) {
            const page = this.connections.list(q);
            return this.synproxyRuns() || this.connections.reported
              ? page
              : { ...page, note: 'no connection table: the dataplane runs no SYN proxy stage' };
          }
          const answer = (await Promise.race([
            dp.request({ type: 'connections', ...q, src: q.src?.cidr, dst: q.dst?.cidr }),
            new Promise((_, reject) =>
              setTimeout(
                () => reject(new DepsError('unavailable', 'the dataplane did not answer in 2 s')),
                2000,
              ).unref(),
            ),
          ])) as { items?: ConnectionRecord[]; total?: number };
          if (!answer || !Array.isArray(answer.items))
            throw new DepsError('unavailable', 'the dataplane gave no connection list');
          return {
            items: answer.items.slice(0, q.limit),
            total: answer.total ?? answer.items.length,
            offset: q.offset,
            limit: q.limit,
          };
        },
      },
      attackers: {
        list: (limit) => {
          const r = this.attackers.list(limit);
          return this.defenseReporting ? r : { ...r, note: NO_DEFENSE };
        },
        clear: async (address) => {
          // An IPv6 source may be marked as its /64: clearing its address clears that mark.
          const unmark = (a: string) =>
            this.attackers.unmark(a) || (a.includes(':') && this.attackers.unmark(`${a}/64`));
          const cleared = address === undefined ? this.attackers.clear() : unmark(address) ? 1 : 0;
          if (cleared > 0)
            dp.command(
              address === undefined ? { type: 'attackers.clear' } : { type: 'attackers.clear', address },
            );
          if (cleared > 0)
            this.bus.publish({
              type: 'attackers-cleared',
              at: Date.now(),
              address: address ?? null,
              cleared,
            });
          return { cleared, dataplaneNotified: cleared > 0 };
        },
      },
      ratelimit: {
        stats: () => {
          const counters = dp.counters();
          const rl = st.config.ratelimit;
          const icmp = this.bucket('icmp', rl.icmp, counters);
          const udp = { ...this.bucket('udp', rl.udp, counters), exemptPorts: rl.udp.exemptPorts };
          const enforced = Object.keys(icmp.dropped).length + Object.keys(udp.dropped).length > 0;
          const r = { enforced, icmp, udp };
          return enforced
            ? r
            : {
                ...r,
                note: 'no rate-limit stage runs in the dataplane yet: the limits are configured, not enforced',
              };
        },
      },
      config: {
        get: () => this.view(),
        check: (uci) => st.check(uci),
        set: async (uci, ifMatch) => {
          const r = await st.replace(uci, ifMatch);
          return this.apply(r.prev, 'api');
        },
      },
      allowlist: {
        list: () => ({ items: st.allowEntries(), persisted: st.persisted }),
        add: (prefix, comment) => allowChange(st.addAllow(prefix, comment), 'add'),
        remove: (prefix) => allowChange(st.removeAllow(prefix), 'remove'),
      },
      events: { subscribe: (l) => this.bus.subscribe(l), ignored: () => this.ignored },
      health: () => ({ ok: !this.stopped }),
      eventLoopDelay: () => {
        this.catchUp();
        return this.loopDelay.window;
      },
      ...(this.remediation ? { extraRoutes: [this.remediation.routes] } : {}),
    };
  }

  /** Where status.json can say how the API is doing. */
  summary(): { listening: string[]; tokenFile: string; tlsFingerprint?: string; error?: string } {
    const fp = this.tlsFingerprint();
    const s = {
      listening: (this.server?.addresses ?? []).map(formatListen),
      tokenFile: this.tokenFile,
      ...(fp ? { tlsFingerprint: fp } : {}),
    };
    return this.apiError ? { ...s, error: this.apiError } : s;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopRetry();
    clearInterval(this.sampler);
    this.loopDelay.stop();
    this.o.dp.off('event', this.onEvent);
    this.o.dp.off('attackers', this.onAttackers);
    this.o.dp.off('active', this.onActive);
    removeApiInfo(this.o.stateDir);
    if (this.server) await this.server.close();
    else this.api.close();
    if (this.remediation)
      await this.remediation.svc
        .close()
        .catch((err: Error) => this.o.log(`remediation: close: ${err.message}`));
  }
}
