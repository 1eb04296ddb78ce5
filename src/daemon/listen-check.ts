// Checks of the API's listen addresses against the router's devices: the API never listens on a WAN
// address, and a listen problem names its line in the config file.

import { type ConfigIssue, formatListen, parseUci, type TunguardConfig } from '../config/index.js';
import { ip } from '../netcfg/ip.js';

/** Addresses configured on a device (empty when it has none or `ip` fails). */
export function deviceAddresses(dev: string): string[] {
  try {
    const out = JSON.parse(ip(['-j', 'addr', 'show', 'dev', dev])) as { addr_info?: { local?: string }[] }[];
    return out.flatMap((l) => (l.addr_info ?? []).map((a) => a.local ?? '')).filter((a) => a !== '');
  } catch {
    return [];
  }
}

function listenLine(text: string, index: number): number {
  try {
    const api = parseUci(text).sections.find((s) => s.type === 'api');
    if (!api) return 1;
    if (Object.hasOwn(api.lists, 'listen')) return api.lists.listen.lines[index] ?? api.lists.listen.line;
    if (Object.hasOwn(api.options, 'listen')) return api.options.listen.line;
    return api.line;
  } catch {
    return 1;
  }
}

/** The line of the api section's token_file (or of the section, else 1) in the config text. */
export function tokenFileLine(text: string): number {
  try {
    const api = parseUci(text).sections.find((s) => s.type === 'api');
    return api && Object.hasOwn(api.options, 'token_file') ? api.options.token_file.line : (api?.line ?? 1);
  } catch {
    return 1;
  }
}

/** Listen addresses of a configuration that belong to a WAN device (the API never listens there). */
export function wanListenIssues(
  c: TunguardConfig,
  text: string,
  wanDevices: string | readonly string[],
): ConfigIssue[] {
  const owner = new Map<string, string>();
  for (const dev of typeof wanDevices === 'string' ? [wanDevices] : wanDevices)
    for (const a of deviceAddresses(dev)) if (!owner.has(a)) owner.set(a, dev);
  const issues: ConfigIssue[] = [];
  c.api.listen.forEach((l, i) => {
    const dev = owner.get(l.host);
    if (dev !== undefined) {
      const line = listenLine(text, i);
      issues.push({
        line,
        message: `line ${line}: list listen: ${formatListen(l)} is an address of the WAN device ${dev}; the API never listens on the WAN side`,
      });
    }
  });
  return issues;
}
