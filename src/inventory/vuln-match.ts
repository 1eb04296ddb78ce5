// Matches a host's software and OS CPEs against NVD configurations (version ranges, AND/OR nodes, negation).

import {
  ANY,
  attrMatches,
  NA,
  parseNormalized,
  toFs,
  WFN_ATTRS,
  type Wfn,
  type WfnAttr,
  wfnString,
  wfnText,
} from './cpe.js';
import type { Host } from './model.js';
import type { ConfigNode, Configuration, CpeMatch, VulnRecord } from './nvd.js';
import { compareVersions, hasBounds, inRange, parseVersion } from './version.js';

/** One CPE a host runs, with whether its version may carry distro backports. */
export interface HostCpe {
  cpe: string;
  wfn: Wfn;
  /** Debian/Ubuntu/RHEL packages are often fixed at an "old" upstream version: never assert. */
  possiblyBackported: boolean;
}

export type Certainty = 'affected' | 'possibly-affected';

export interface VulnMatch {
  key: string;
  certainty: Certainty;
  /** The vulnerable criteria that matched, and the host CPE each matched. */
  via: Array<{ criteria: string; hostCpe: string }>;
  cvss?: number;
}

const DISTRO = /ubuntu|debian|deb\d|el\d|centos|red ?hat|fedora|suse|raspbian|alpine/i;

/** The CPEs of a host's software and OS, versions filled in from the records when the CPE lacks one. */
export function hostCpes(h: Pick<Host, 'software' | 'os'>): HostCpe[] {
  const out: HostCpe[] = [];
  const seen = new Set<string>();
  const add = (cpe: string, version: string | undefined, extra: string | undefined) => {
    let wfn: Wfn;
    try {
      wfn = parseNormalized(cpe);
    } catch {
      return;
    }
    const parsed = version ? parseVersion(version) : undefined;
    if (wfn.version === ANY && version) {
      const upstream = version.trim().split(/\s+/)[0];
      const m =
        wfn.vendor === 'openbsd' && wfn.product === 'openssh'
          ? /^(\d+(?:\.\d+)*)(p\d+)$/.exec(upstream)
          : null;
      if (m) {
        wfn.version = wfnString(m[1]);
        wfn.update = wfnString(m[2]);
      } else wfn.version = wfnString(upstream);
    }
    const key = WFN_ATTRS.map((a) => String(wfn[a])).join('|');
    if (seen.has(key)) return;
    seen.add(key);
    out.push({
      cpe: toFs(wfn),
      wfn,
      possiblyBackported: Boolean(parsed?.revision) || DISTRO.test(extra ?? ''),
    });
  };
  for (const s of h.software) if (s.cpe) add(s.cpe, s.version, [s.version, s.extra].join(' '));
  for (const o of h.os) if (o.cpe) add(o.cpe, undefined, undefined);
  return out;
}

/** Version plus update as one comparable string ("8.9" + "p1" → "8.9p1"); undefined when unknown. */
function effectiveVersion(w: Wfn): string | undefined {
  const ver = wfnText(w.version);
  if (!ver) return undefined;
  const upd = wfnText(w.update);
  return upd && upd !== '*' ? `${ver}${upd}` : ver;
}

const NON_VERSION: WfnAttr[] = WFN_ATTRS.filter((a) => a !== 'version' && a !== 'update');

/** Parsed criteria, cached: a feed repeats the same few criteria across thousands of entries. */
const critCache = new Map<string, Wfn | null>();
function criteriaWfn(c: string): Wfn | null {
  let w: Wfn | null | undefined = critCache.get(c);
  if (w === undefined) {
    try {
      w = parseNormalized(c);
    } catch {
      w = null;
    }
    if (critCache.size > 50_000) critCache.clear();
    critCache.set(c, w);
  }
  return w;
}

/** Whether one cpeMatch entry matches one host CPE. Unknown or incomparable versions never match. */
export function cpeMatchHits(m: CpeMatch, host: Wfn): boolean {
  const crit = criteriaWfn(m.criteria);
  if (!crit) return false;
  for (const a of NON_VERSION) {
    if (a === 'update' || !attrMatches(crit[a], host[a])) return false;
  }
  if (crit.version === ANY) {
    if (!hasBounds(m)) return crit.update === ANY || attrMatches(crit.update, host.update);
    const hv = effectiveVersion(host);
    return hv !== undefined && inRange(hv, m) === 'in';
  }
  if (crit.version === NA) return host.version === NA;
  const cv = effectiveVersion(crit);
  const hv = effectiveVersion(host);
  if (!cv || !hv) return false;
  if (/[*?]/.test(cv)) return attrMatches(crit.version, host.version);
  return compareVersions(cv, hv) === 0;
}

function nodeHits(node: ConfigNode, cpes: HostCpe[], via: VulnMatch['via']): boolean {
  const hits = node.cpeMatch.map((m) => {
    const hc = cpes.find((c) => cpeMatchHits(m, c.wfn));
    if (hc && m.vulnerable) via.push({ criteria: m.criteria, hostCpe: hc.cpe });
    return Boolean(hc);
  });
  const r = node.operator === 'AND' ? hits.length > 0 && hits.every(Boolean) : hits.some(Boolean);
  return node.negate ? !r : r;
}

function configHits(c: Configuration, cpes: HostCpe[], via: VulnMatch['via']): boolean {
  const local: VulnMatch['via'] = [];
  const hits = c.nodes.map((n) => nodeHits(n, cpes, local));
  const r = c.operator === 'AND' ? hits.length > 0 && hits.every(Boolean) : hits.some(Boolean);
  const out = c.negate ? !r : r;
  if (out) via.push(...local);
  return out;
}

/** Whether a vulnerability applies to a host; undefined when it does not (or cannot be shown to). */
export function matchVuln(vuln: VulnRecord, cpes: HostCpe[]): VulnMatch | undefined {
  const via: VulnMatch['via'] = [];
  const any = vuln.configurations.some((c) => configHits(c, cpes, via));
  // A configuration counts only through a vulnerable entry; platform-only entries never accuse.
  if (!any || via.length === 0) return undefined;
  const backported = via.some((x) => cpes.find((c) => c.cpe === x.hostCpe)?.possiblyBackported);
  const out: VulnMatch = { key: vuln.key, certainty: backported ? 'possibly-affected' : 'affected', via };
  if (vuln.cvss !== undefined) out.cvss = vuln.cvss;
  return out;
}

/** The vendor:product index keys of a configuration set (for a prefix index in the store). */
export function productKeys(configs: Configuration[]): string[] {
  const keys = new Set<string>();
  for (const c of configs)
    for (const n of c.nodes)
      for (const m of n.cpeMatch) {
        if (!m.vulnerable) continue;
        try {
          const w = parseNormalized(m.criteria);
          const vendor = wfnText(w.vendor);
          const product = wfnText(w.product);
          if (vendor && product) keys.add(`${vendor}:${product}`);
        } catch {
          // skip an unparsable criteria; it can never match either
        }
      }
  return [...keys];
}
