// Rule lookup: host facts against the three record sets (environment, threat, combined) in that order,
// stopping at the first set with a match, or all at once by priority.

import { parseCpe, wfnText } from '../inventory/cpe.js';
import { evidenceClass, type Host } from '../inventory/model.js';
import { parseVulnId, type ThreatType } from '../inventory/threat.js';
import { inRange } from '../inventory/version.js';
import type { VulnMatch } from '../inventory/vuln-match.js';
import type { LookupMode, RemedyEvidence } from './names.js';
import type { Environment, Rule, ThreatCriteria } from './rules.js';

/** What a rule is compared with: the host's environment and threat detection data. */
export interface HostFacts {
  hostId: string;
  os: Array<{ name?: string; vendor?: string; family?: string; version?: string; confidence: number }>;
  software: Array<{ product: string; vendor?: string; version?: string; cpe?: string }>;
  threats: Array<{
    key: string;
    type: ThreatType;
    kind?: string;
    name?: string;
    possible: boolean;
  }>;
}

/** OS guesses below this confidence are not used to pick remedies. */
export const MIN_OS_CONFIDENCE = 50;
/** Software below this confidence (a client's User-Agent, a guess from a shape) is not either. */
export const MIN_SOFTWARE_CONFIDENCE = 50;

/**
 * The host as remedies see it: with 'confirm', only the records a scan, its agent or the admin gave
 * (passive facts alone never trigger a remedy); with 'any', all of them.
 */
export function remedyView(h: Host, evidence: RemedyEvidence): Host {
  if (evidence === 'any') return h;
  const confirmed = (r: { source: Parameters<typeof evidenceClass>[0] }) =>
    evidenceClass(r.source) !== 'passive';
  return {
    ...h,
    os: h.os.filter(confirmed),
    software: h.software.filter(confirmed),
    threats: h.threats.filter(confirmed),
  };
}

export function hostFacts(h: Host, matched: VulnMatch[] = []): HostFacts {
  const threats: HostFacts['threats'] = h.threats.map((t) => ({
    key: t.key,
    type: t.type,
    ...(t.kind ? { kind: t.kind } : {}),
    ...(t.name ? { name: t.name } : {}),
    possible: false,
  }));
  for (const m of matched)
    if (!threats.some((t) => t.key === m.key))
      threats.push({ key: m.key, type: 'vulnerability', possible: m.certainty !== 'affected' });
  return {
    hostId: h.id,
    os: h.os.filter((o) => o.confidence >= MIN_OS_CONFIDENCE),
    software: h.software.filter((s) => s.confidence >= MIN_SOFTWARE_CONFIDENCE),
    threats,
  };
}

const eq = (a: string | undefined, b: string) =>
  a !== undefined && a.trim().toLowerCase() === b.trim().toLowerCase();
/** "Windows7" and "Windows 7" (both spellings occur) compare equal. */
const squash = (s: string) => s.replace(/\s+/g, '').toLowerCase();
const eqLoose = (a: string | undefined, b: string) => a !== undefined && squash(a) === squash(b);

function cpeParts(cpe: string | undefined): { vendor?: string; product?: string } {
  if (!cpe) return {};
  try {
    const w = parseCpe(cpe);
    return { vendor: wfnText(w.vendor), product: wfnText(w.product) };
  } catch {
    return {};
  }
}

function osMatches(e: Environment, f: HostFacts): boolean {
  if (!e.osType && !e.osVersions) return true;
  return f.os.some((o) => {
    const typeOk =
      !e.osType ||
      eq(o.family, e.osType) ||
      eq(o.vendor, e.osType) ||
      (o.name?.toLowerCase().startsWith(e.osType.toLowerCase()) ?? false);
    const verOk =
      !e.osVersions ||
      e.osVersions.some(
        (ver) =>
          eqLoose(o.name, ver) ||
          eqLoose(o.version, ver) ||
          eqLoose([o.family, o.version].filter(Boolean).join(' '), ver) ||
          eqLoose([o.vendor, o.family, o.version].filter(Boolean).join(' '), ver),
      );
    return typeOk && verOk;
  });
}

function softwareMatches(e: Environment, f: HostFacts): boolean {
  if (!e.software) return true;
  const want = e.software.toLowerCase();
  return f.software.some((s) => {
    const c = cpeParts(s.cpe);
    const named =
      eq(s.product, want) ||
      eq(c.product, want) ||
      (want.includes(':') && eq(`${c.vendor}:${c.product}`, want));
    if (!named) return false;
    const version = s.version?.trim().split(/\s+/)[0];
    if (e.softwareVersions && !e.softwareVersions.some((v) => eq(version, v) || eq(s.version, v)))
      return false;
    if (e.softwareRange && (!version || inRange(version, e.softwareRange) !== 'in')) return false;
    return true;
  });
}

export function environmentMatches(e: Environment, f: HostFacts): boolean {
  return osMatches(e, f) && softwareMatches(e, f);
}

/** The host threats a criteria names (empty = no match). */
export function threatMatches(t: ThreatCriteria, f: HostFacts): string[] {
  const id = t.id ? (parseVulnId(t.id)?.id ?? t.id.trim().toLowerCase()) : undefined;
  return f.threats
    .filter((x) => {
      if (x.possible && !t.includePossible) return false;
      if (t.type === 'vulnerability' && x.type !== 'vulnerability') return false;
      if (t.type === 'malware' && x.type !== 'malware') return false;
      if (t.type === 'finding' && x.type !== 'finding') return false;
      if (
        t.type &&
        t.type !== 'vulnerability' &&
        t.type !== 'malware' &&
        t.type !== 'finding' &&
        x.kind !== t.type
      )
        return false;
      if (id && x.key !== id && x.name?.toLowerCase() !== id && !x.key.endsWith(`:${id}`)) return false;
      return true;
    })
    .map((x) => x.key);
}

export interface RuleMatch {
  rule: Rule;
  /** Which record set the rule belongs to (the values are the rule sets' API names). */
  set: 'FIG4' | 'FIG5' | 'FIG6';
  /** Threat keys that made a threat or combined rule match. */
  threats: string[];
}

export type { LookupMode } from './names.js';

const SET_OF: Record<Rule['kind'], RuleMatch['set']> = {
  environment: 'FIG4',
  threat: 'FIG5',
  combined: 'FIG6',
};

function matchOne(rule: Rule, f: HostFacts): RuleMatch | undefined {
  if (!rule.enabled) return undefined;
  const set = SET_OF[rule.kind];
  if (rule.kind === 'environment')
    return environmentMatches(rule.environment, f) ? { rule, set, threats: [] } : undefined;
  const threats = threatMatches(rule.threat, f);
  if (!threats.length) return undefined;
  if (rule.kind === 'combined' && !environmentMatches(rule.environment, f)) return undefined;
  return { rule, set, threats };
}

/**
 * Finds the remedies for a host. 'ordered' searches the environment rules, then the threat rules, then
 * the combined ones and returns every match in that order; 'first-hit' stops at the first set that has
 * one; 'simultaneous' searches all sets at once and orders by priority only.
 */
export function findRemedies(f: HostFacts, rules: Rule[], mode: LookupMode = 'ordered'): RuleMatch[] {
  const byPriority = (a: RuleMatch, b: RuleMatch) =>
    a.rule.priority - b.rule.priority || a.rule.id.localeCompare(b.rule.id);
  const all = rules.map((r) => matchOne(r, f)).filter((m): m is RuleMatch => m !== undefined);
  if (mode === 'simultaneous') return all.sort(byPriority);
  const out: RuleMatch[] = [];
  for (const set of ['FIG4', 'FIG5', 'FIG6'] as const) {
    const hits = all.filter((m) => m.set === set).sort(byPriority);
    out.push(...hits);
    if (mode === 'first-hit' && hits.length) break;
  }
  return out;
}
