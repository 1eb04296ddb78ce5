// Test helpers: a fake dataplane (counters + the 'event' emitter), a control plane on a temp state dir
// serving real HTTP on loopback, and a small HTTP client.

import { EventEmitter } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { PoliceStatus } from '../../src/api/deps.js';
import type { DataplaneCommand, SseHubOptions } from '../../src/api/events.js';
import { type ListenAddress, parseListen, type TunguardConfig } from '../../src/config/index.js';
import { ConfigStore } from '../../src/daemon/config-store.js';
import { ControlPlane, type DataplaneLink } from '../../src/daemon/control.js';
import { BASE_COUNTERS } from '../../src/dataplane/counters.js';
import { Pipeline, pipelineLayout } from '../../src/dataplane/pipeline.js';
import type { Stage } from '../../src/dataplane/stage.js';
import { buildStages, testStageEnv } from '../../src/dataplane/stages/index.js';
import type { TieredSynGate } from '../../src/dataplane/stages/syn-gate.js';
import { SynProxyStage } from '../../src/dataplane/stages/synproxy.js';
import { importDirOf } from '../../src/remediation/import-file.js';

/** The dataplane's own base counters, plus two malformed reasons the tests look at. */
export const COUNTER_NAMES = [...BASE_COUNTERS, 'malformed_truncated', 'malformed_bad_version'];

/**
 * The dataplane as the control plane sees it. Like production, it always has a command channel, and a
 * command reaches real stages built from the start configuration (as a structured clone, as over the
 * workers' MessagePort), so a setting the stages ignore shows in their state, not only in `commands`.
 */
export class FakeDataplane extends EventEmitter implements DataplaneLink {
  readonly startedAt = Date.now() - 5000;
  values: Record<string, number> = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0]));
  commands: DataplaneCommand[] = [];
  /** One worker's stages, as run.ts configures them (ratelimit, synproxy with its gate). */
  readonly stages: Stage[];
  private readonly pipeline: Pipeline;
  request?: (q: { type: 'connections' } & Record<string, unknown>) => Promise<unknown>;

  constructor(config: TunguardConfig = ConfigStore.fromDefaults().config) {
    super();
    const allow = config.allow.map((p) => p.cidr);
    const syn = config.defense.syn;
    this.stages = buildStages(
      ['ratelimit', 'synproxy'],
      testStageEnv({
        syn: {
          windowSeconds: syn.windowSeconds,
          moderateThreshold: syn.moderateThreshold,
          riskyThreshold: syn.riskyThreshold,
          riskyAction: syn.riskyAction,
          maxUnfinishedPerSource: syn.maxUnfinishedPerSource,
          aggressiveHoldSeconds: syn.aggressiveHoldSeconds,
          allow,
        },
        ratelimit: { ...config.ratelimit, allow },
        idleSeconds: syn.connectionIdleSeconds,
      }),
    );
    const layout = pipelineLayout(this.stages);
    this.pipeline = new Pipeline(
      this.stages,
      layout,
      layout.slice(new SharedArrayBuffer(layout.names.length * 8), 0),
      false,
    );
  }

  command(c: DataplaneCommand): void {
    this.commands.push(c);
    this.pipeline.command(structuredClone(c));
  }

  /** The SYN gate of the proxy stage (tiers and per-source marks). */
  get gate(): TieredSynGate {
    return (this.stages.find((s) => s instanceof SynProxyStage) as SynProxyStage).opts.gate as TieredSynGate;
  }

  counters(): Record<string, number> {
    return { ...this.values };
  }

  workerCounters(): Record<string, number>[] {
    return [{ ...this.values }];
  }

  /** Counts `n` more under `name` and says so, as a worker does after a batch (worker.ts 'active'). */
  bump(name: string, n = 1): void {
    this.values[name] = (this.values[name] ?? 0) + n;
    this.emit('active');
  }
}

export interface TestDaemon {
  cp: ControlPlane;
  dp: FakeDataplane;
  store: ConfigStore;
  dir: string;
  configPath: string | undefined;
  url: string;
  token: string;
  close(): Promise<void>;
}

export const BASE_UCI = `# tunguard test config
config tunguard 'main'
\toption wan_device 'wan0'
\tlist lan_device 'lan0'
\t# an admin host
\tlist allow_prefix '192.0.2.10/32'

config defense 'syn'
\toption moderate_threshold '100'
\toption risky_threshold '300'
`;

/** A control plane with a fake dataplane, its API on 127.0.0.1:<ephemeral> (or the config's listen). */
export async function startTestDaemon(
  opts: {
    uci?: string | null;
    wanDevice?: string;
    override?: ListenAddress | null;
    sse?: SseHubOptions;
    /** Open a real remediation service in <dir>/durable and serve its routes. */
    remediation?: boolean;
    /** What /status says of the SYN police's table (the daemon's SynPolice.status). */
    police?: () => PoliceStatus | undefined;
    /** Which proxied connections the kernel translates (the daemon's KernelXlate.holds). */
    inKernel?: (client: Uint8Array, cPort: number, server: Uint8Array, sPort: number) => boolean;
  } = {},
): Promise<TestDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'tunguard-api-test-'));
  let store: ConfigStore;
  let configPath: string | undefined;
  if (opts.uci === null) {
    store = ConfigStore.fromDefaults();
  } else {
    configPath = join(dir, 'tunguard.conf');
    writeFileSync(configPath, opts.uci ?? BASE_UCI);
    store = ConfigStore.fromFile(configPath);
  }
  const dp = new FakeDataplane(store.config);
  const logs: string[] = [];
  const override = opts.override === null ? undefined : (opts.override ?? parseListen('127.0.0.1:1'));
  const cp = await ControlPlane.start({
    dp,
    store,
    stateDir: dir,
    apiOverride: override ? { ...override, port: override.port === 1 ? 0 : override.port } : undefined,
    wanDevice: opts.wanDevice ?? 'tgl-none0',
    version: '0.0.0-test',
    log: (m) => logs.push(m),
    sse: opts.sse,
    ...(opts.remediation ? { remediationDir: join(dir, 'durable') } : {}),
    ...(opts.police ? { police: opts.police } : {}),
    ...(opts.inKernel ? { inKernel: opts.inKernel } : {}),
  });
  const s = cp.summary();
  const listening = s.listening[0];
  const token = (await import('node:fs')).readFileSync(s.tokenFile, 'utf8').trim();
  return {
    cp,
    dp,
    store,
    dir,
    configPath,
    url: listening ? `http://${listening}` : '',
    token,
    async close() {
      await cp.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    get logs() {
      return logs;
    },
  } as TestDaemon & { logs: string[] };
}

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  json: any;
}

export async function http(
  base: string,
  method: string,
  path: string,
  o: {
    token?: string;
    body?: unknown;
    raw?: string | Uint8Array<ArrayBuffer>;
    headers?: Record<string, string>;
  } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  let body: string | Uint8Array<ArrayBuffer> | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  const r = await fetch(`${base}${path}`, { method, headers, body });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

export interface SseEvent {
  event: string;
  id?: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  data: any;
}

/** An SSE client over fetch: collects parsed events; `next(type)` waits for the next one of a type. */
export class SseReader {
  readonly events: SseEvent[] = [];
  private buf = '';
  private readonly abort = new AbortController();
  private waiters: (() => void)[] = [];
  status = 0;
  done: Promise<void> = Promise.resolve();

  static async open(url: string, token: string): Promise<SseReader> {
    const r = new SseReader();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: r.abort.signal });
    r.status = res.status;
    if (res.status !== 200 || !res.body) {
      await res.text().catch(() => '');
      return r;
    }
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    r.done = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          r.feed(dec.decode(value, { stream: true }));
        }
      } catch {}
    })();
    return r;
  }

  private feed(text: string): void {
    this.buf += text;
    let i = this.buf.indexOf('\n\n');
    while (i >= 0) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      const e: Partial<SseEvent> & { raw: string[] } = { raw: [] };
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('id: ')) e.id = line.slice(4);
        else if (line.startsWith('data: ')) e.raw.push(line.slice(6));
      }
      if (e.event) this.events.push({ event: e.event, id: e.id, data: JSON.parse(e.raw.join('\n')) });
      i = this.buf.indexOf('\n\n');
    }
    for (const w of this.waiters.splice(0)) w();
  }

  /** The first event of `type` after index `from` (waits up to timeoutMs). */
  async next(type: string, timeoutMs = 3000, from = 0): Promise<SseEvent> {
    const t0 = Date.now();
    for (;;) {
      const e = this.events.slice(from).find((x) => x.event === type);
      if (e) return e;
      if (Date.now() - t0 > timeoutMs)
        throw new Error(
          `no '${type}' event in ${timeoutMs} ms (got ${this.events.map((x) => x.event).join(',')})`,
        );
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.abort.abort();
  }
}

/**
 * The routes an openapi.json documents and the routes the hono app serves, as sorted "METHOD /path"
 * lists (OpenAPI's {id} written as hono's :id; the dashboard page and script are not API routes).
 */
export function documentedAndServed(
  doc: { paths: Record<string, object> },
  routes: readonly { method: string; path: string }[],
): { documented: string[]; served: string[] } {
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths))
    for (const m of Object.keys(ops))
      documented.add(`${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
  const served = new Set(
    routes
      .filter((x) => x.method !== 'ALL' && !['/', '/dashboard.js'].includes(x.path))
      .map((x) => `${x.method} ${x.path}`),
  );
  return { documented: [...documented].sort(), served: [...served].sort() };
}

/** Copies `file` into the daemon's import directory, the only place /scans and /threats/feed read from. */
export function importable(stateDir: string, file: string): string {
  const to = join(importDirOf(stateDir), basename(file));
  copyFileSync(file, to);
  return to;
}
