// The CLI's API client: finds the daemon's API and token the way the daemon publishes them (see
// api-locate.ts), makes one request, and turns every failure into a message and an exit code scripts
// can rely on: 1 runtime or daemon error, 3 the daemon is not running.

import { existsSync, readFileSync } from 'node:fs';
import { readToken } from '../api/token.js';
import { loadConfigFile, type TunguardConfig } from '../config/index.js';
import { DEFAULT_LISTEN } from '../config/net.js';
import { salvageConfig } from '../config/salvage.js';
import {
  DEFAULT_CONFIG_PATH,
  DEFAULT_STATE_DIR,
  orderForClients,
  parseApiFlag,
  readApiInfo,
  tokenFilePath,
  urlFor,
} from './api-locate.js';
import { PinMismatch, pinnedFetch } from './pinned-fetch.js';
import { CliError, EXIT, UsageError } from './usage.js';

export { CliError, EXIT } from './usage.js';

/** Where the remediation service's routes are mounted in the API. */
export const REM = '/api/v1/remediation';

export interface LocateFlags {
  api?: string;
  'state-dir'?: string;
  config?: string;
  'token-file'?: string;
}

export interface Located {
  url: string;
  /** Where the token comes from ('TUNGUARD_TOKEN' or a file). */
  tokenSource: string;
  stateDir: string;
  configPath: string | undefined;
  /** How the URL was found, for messages. */
  via: string;
  /** The certificate fingerprint an https:// URL must present (api.json, or TUNGUARD_API_FINGERPRINT). */
  tlsFingerprint?: string;
}

/** Reads the config the CLI should use: --config, else /etc/config/tunguard when present. */
function cliConfig(flags: LocateFlags): { path?: string; text?: string; config?: TunguardConfig } {
  const path = flags.config ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  if (path === undefined) return {};
  try {
    const config = loadConfigFile(path).config;
    return { path, text: readFileSync(path, 'utf8'), config };
  } catch {
    // A file with errors: the daemon runs on a fallback (start-config.ts) and the status says why; the
    // CLI takes what it can of the file (state_dir, listen, token_file) to find that daemon.
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch {}
    const salvaged = text === undefined ? undefined : salvageConfig(text, path);
    return salvaged ? { path, text: salvaged.text, config: salvaged.loaded.config } : { path };
  }
}

export function locate(flags: LocateFlags): Located {
  const cfg = cliConfig(flags);
  const stateDir = flags['state-dir'] ?? cfg.config?.main.stateDir ?? DEFAULT_STATE_DIR;
  const info = readApiInfo(stateDir);
  let url: string;
  let via: string;
  if (flags.api !== undefined) {
    try {
      url = parseApiFlag(flags.api).url;
    } catch (err) {
      throw new UsageError(`--api: ${(err as Error).message}`);
    }
    via = '--api';
  } else if (info && info.urls.length > 0) {
    url = info.urls[0];
    via = `${stateDir}/api.json`;
  } else {
    const listen = cfg.config ? orderForClients(cfg.config.api.listen) : [DEFAULT_LISTEN];
    if (listen.length === 0)
      throw new CliError(`the API is off in ${cfg.path} (no 'list listen' in config api)`, EXIT.ERROR);
    url = urlFor(listen[0]);
    via = cfg.path ?? 'the default address';
  }
  let tokenSource: string;
  if (process.env.TUNGUARD_TOKEN) tokenSource = 'TUNGUARD_TOKEN';
  else tokenSource = flags['token-file'] ?? info?.tokenFile ?? tokenFilePath(stateDir, cfg.text);
  const tlsFingerprint = process.env.TUNGUARD_API_FINGERPRINT || info?.tlsFingerprint;
  return {
    url,
    tokenSource,
    stateDir,
    configPath: cfg.path,
    via,
    ...(tlsFingerprint ? { tlsFingerprint } : {}),
  };
}

function notRunning(l: Located, why: string): CliError {
  return new CliError(
    `tunguard is not running: nothing answers at ${l.url} (${why}; address from ${l.via}). ` +
      "Start it with '/etc/init.d/tunguard start' or 'tunguard run'.",
    EXIT.NOT_RUNNING,
  );
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ECONNRESET',
]);

export interface RequestOptions {
  method?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is, with this media type (a scanner report's XML). */
  content?: { type: string; bytes: Uint8Array<ArrayBuffer> };
  timeoutMs?: number;
}

export class ApiClient {
  private token: string | undefined;

  constructor(
    readonly where: Located,
    private readonly timeoutMs = 5000,
  ) {}

  private fetch(path: string, init: RequestInit): Promise<Response> {
    const url = `${this.where.url}${path}`;
    const withTimeout = { ...init, signal: AbortSignal.timeout(this.timeoutMs) };
    let sent: Promise<Response>;
    if (url.startsWith('https://')) {
      const pin = this.where.tlsFingerprint;
      if (!pin)
        throw new CliError(
          `${this.where.url} is served over TLS, but there is no certificate fingerprint to check it against (the daemon writes it to ${this.where.stateDir}/api.json; elsewhere set TUNGUARD_API_FINGERPRINT to the fingerprint 'tunguard status' or LuCI shows)`,
        );
      sent = pinnedFetch(url, withTimeout, pin);
    } else sent = fetch(url, withTimeout);
    return sent.catch((err: Error & { cause?: { code?: string } }) => {
      const code = err.cause?.code ?? '';
      if (err.cause instanceof PinMismatch)
        throw new CliError(`refusing the API at ${this.where.url}: ${err.cause.message}`);
      if (/bad port/i.test(String((err.cause as Error | undefined)?.message)))
        throw new CliError(
          `cannot reach the API at ${this.where.url}: fetch refuses that port (a "bad port" of the Fetch standard); list the API on another port`,
        );
      if (UNREACHABLE.has(code)) throw notRunning(this.where, code);
      if (err.name === 'TimeoutError' || err.name === 'AbortError')
        throw new CliError(
          `the daemon did not answer within ${this.timeoutMs / 1000} s at ${this.where.url}`,
        );
      throw new CliError(`cannot reach the API at ${this.where.url}: ${code || err.message}`);
    });
  }

  private loadToken(): Promise<string> | string {
    if (this.token !== undefined) return this.token;
    if (this.where.tokenSource === 'TUNGUARD_TOKEN') {
      this.token = process.env.TUNGUARD_TOKEN ?? '';
      return this.token;
    }
    try {
      this.token = readToken(this.where.tokenSource);
      return this.token;
    } catch (err) {
      // No token file usually means no daemon: say that if nothing answers either.
      return this.fetch('/healthz', {}).then(() => {
        throw new CliError(
          `${(err as Error).message}${/EACCES/.test((err as Error).message) ? ' (run as root)' : ''}`,
        );
      });
    }
  }

  /** One request; returns the parsed JSON (or text) body of a 2xx answer, throws CliError otherwise. */
  async request<T = unknown>(path: string, o: RequestOptions = {}): Promise<T> {
    const token = await this.loadToken();
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    let body: string | Uint8Array<ArrayBuffer> | undefined;
    if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.body);
    } else if (o.content !== undefined) {
      headers['content-type'] = o.content.type;
      body = o.content.bytes;
    }
    const res = await this.fetch(path, { method: o.method ?? 'GET', headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.status === 401)
      throw new CliError(
        `the API refused the token from ${this.where.tokenSource} (it changed? the daemon reads ${this.where.tokenSource === 'TUNGUARD_TOKEN' ? 'its token file' : 'it'} at start and on reload)`,
      );
    if (!res.ok) {
      const e = json as
        | { error?: string; detail?: string; issues?: { line?: number; message: string }[] }
        | undefined;
      const issues = e?.issues?.map((i) => `\n  ${i.message}`).join('') ?? '';
      throw new CliError(`${e?.detail ?? `HTTP ${res.status}`}${issues}`, EXIT.ERROR, e?.error);
    }
    return (json ?? text) as T;
  }
}
