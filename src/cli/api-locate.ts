// Where the API is and where its token lives, worked out the same way by the daemon (which writes
// `<state-dir>/api.json` once it listens) and by the CLI (which reads it), so `tunguard status` works
// with no arguments on a router.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isLoopbackHost } from '../api/tls-cert.js';
import { formatListen, type ListenAddress, parseListen, parseUci } from '../config/index.js';
import { writeFileAtomicSync } from '../state/atomic-file.js';

export const DEFAULT_CONFIG_PATH = '/etc/config/tunguard';
export const DEFAULT_STATE_DIR = '/var/run/tunguard';
export const API_INFO_FILE = 'api.json';
export const TOKEN_FILE = 'api.token';
/** The package's own configuration directory (the default token_file lives there). */
export const PACKAGE_CONFIG_DIR = '/etc/tunguard';

/** Directories a token_file may lie in (directly): the state directory and the package's config directory. */
export function tokenDirs(stateDir: string): string[] {
  return [stateDir, PACKAGE_CONFIG_DIR];
}

/** What the daemon publishes about its API (no secrets: the token stays in its own 0600 file). */
export interface ApiInfo {
  pid: number;
  /** Base URLs, loopback first. */
  urls: string[];
  tokenFile: string;
  /** ms since the epoch, like every time the daemon writes. */
  startedAt: number;
  /** SHA-256 fingerprint of the certificate the https:// URLs serve (clients pin it). */
  tlsFingerprint?: string;
}

/** The `option token_file` of the api section, when the file sets one. */
export function explicitTokenFile(uciText: string): string | undefined {
  try {
    const doc = parseUci(uciText);
    const api = doc.sections.find((s) => s.type === 'api');
    return api && Object.hasOwn(api.options, 'token_file') ? api.options.token_file.value : undefined;
  } catch {
    return undefined;
  }
}

/** The token file: the config's token_file when it sets one, else `<state-dir>/api.token`. */
export function tokenFilePath(stateDir: string, uciText: string | undefined): string {
  const explicit = uciText === undefined ? undefined : explicitTokenFile(uciText);
  return explicit?.startsWith('/') ? explicit : join(stateDir, TOKEN_FILE);
}

/**
 * A base URL to reach a listen address: http:// on loopback, https:// elsewhere (the daemon serves
 * only TLS there). A wildcard is reached over loopback, on its TLS listener.
 */
export function urlFor(l: ListenAddress): string {
  if (l.host === '0.0.0.0') return `https://127.0.0.1:${l.port}`;
  if (l.host === '::') return `https://[::1]:${l.port}`;
  return `${isLoopbackHost(l.host) ? 'http' : 'https'}://${formatListen(l)}`;
}

/** Loopback addresses first: that is what a local client should try. */
export function orderForClients(listen: readonly ListenAddress[]): ListenAddress[] {
  const loop = (l: ListenAddress) =>
    l.host.startsWith('127.') || l.host === '::1' || l.host === '0.0.0.0' || l.host === '::';
  return [...listen.filter(loop), ...listen.filter((l) => !loop(l))];
}

export function writeApiInfo(stateDir: string, info: ApiInfo): void {
  const file = join(stateDir, API_INFO_FILE);
  writeFileAtomicSync(file, `${JSON.stringify(info)}\n`, { mode: 0o644 });
}

export function removeApiInfo(stateDir: string): void {
  rmSync(join(stateDir, API_INFO_FILE), { force: true });
}

/** The daemon's api.json, if it exists, parses, and its process is alive. */
export function readApiInfo(stateDir: string): ApiInfo | undefined {
  const file = join(stateDir, API_INFO_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as ApiInfo;
    if (!Number.isInteger(info.pid) || !Array.isArray(info.urls) || typeof info.tokenFile !== 'string')
      return undefined;
    try {
      process.kill(info.pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return undefined; // stale: the daemon died
    }
    return info;
  } catch {
    return undefined;
  }
}

/** `--api` accepts `addr:port`, `[v6]:port` or an http:// or https:// URL. */
export function parseApiFlag(text: string): { url: string; listen?: ListenAddress } {
  if (/^https?:\/\//.test(text)) {
    const u = new URL(text);
    if (u.pathname !== '/' || u.search !== '' || u.username !== '')
      throw new Error('expected http://host:port or https://host:port');
    return { url: `${u.protocol}//${u.host}` };
  }
  const listen = parseListen(text);
  return { url: urlFor(listen), listen };
}
