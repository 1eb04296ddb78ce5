// What changed between two configurations, in the names a reload reports ("main.queues", "api.listen"),
// and which changed SYN options need a restart.

import { SYN_OPTION_NAMES, type SynDefenseConfig, type TunguardConfig } from '../config/index.js';

/**
 * SYN defense options the workers cannot change while they run (the table sizes and which stages run
 * are fixed at start): a reload reports them as needing a restart. Every other option of the section
 * reaches the workers through the 'settings' command (src/dataplane/stages/syn-gate.ts, synproxy.ts).
 */
const SYN_RESTART_ONLY: ReadonlySet<keyof SynDefenseConfig> = new Set([
  'synCacheSize',
  'proxyInbound',
  'proxyOutbound',
  'protectRouter',
]);

/** The SYN options that differ, split into those a reload applies and those that need a restart. */
export function synChanges(
  a: TunguardConfig,
  b: TunguardConfig,
): { reloadable: string[]; restart: string[] } {
  const out = { reloadable: [] as string[], restart: [] as string[] };
  for (const k of Object.keys(b.defense.syn) as (keyof TunguardConfig['defense']['syn'])[]) {
    if (a.defense.syn[k] === b.defense.syn[k]) continue;
    if (SYN_RESTART_ONLY.has(k)) out.restart.push(`defense.syn.${SYN_OPTION_NAMES[k]}`);
    else out.reloadable.push(k);
  }
  return out;
}

/** The parts of a configuration that differ ("main.queues", "defense.syn", "api.listen", ...). */
export function configDiff(a: TunguardConfig, b: TunguardConfig): string[] {
  const out: string[] = [];
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  for (const k of Object.keys(a.main) as (keyof TunguardConfig['main'])[])
    if (!same(a.main[k], b.main[k])) out.push(`main.${k}`);
  if (!same(a.defense.syn, b.defense.syn)) out.push('defense.syn');
  if (!same(a.ratelimit.icmp, b.ratelimit.icmp)) out.push('ratelimit.icmp');
  if (!same(a.ratelimit.udp, b.ratelimit.udp)) out.push('ratelimit.udp');
  if (!same(a.allow, b.allow)) out.push('allow');
  if (!same(a.api.listen, b.api.listen)) out.push('api.listen');
  if (a.api.cors !== b.api.cors) out.push('api.cors');
  if (a.api.tokenFile !== b.api.tokenFile) out.push('api.token_file');
  if (!same(a.detect, b.detect)) out.push('detect');
  return out;
}
