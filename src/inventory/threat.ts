// Threat identities: typed vulnerability ids (CVE, BUGTRAQ, CNCVE, CNNVD) and malicious-program records.

export type VulnScheme = 'CVE' | 'BUGTRAQ' | 'CNCVE' | 'CNNVD';

/** A vulnerability number in one of the schemes the seed names ([0035]). */
export interface VulnId {
  scheme: VulnScheme;
  /** Canonical text: CVE-2021-44228, BUGTRAQ-12345, CNCVE-2005-1234, CNNVD-202112-799. */
  id: string;
}

const PATTERNS: Array<[VulnScheme, RegExp, (m: RegExpExecArray) => string]> = [
  ['CVE', /^CVE[-_ ](\d{4})[-_ ](\d{4,})$/i, (m) => `CVE-${m[1]}-${m[2]}`],
  ['BUGTRAQ', /^(?:BUGTRAQ|BID)[-_: ]?(\d{1,7})$/i, (m) => `BUGTRAQ-${Number(m[1])}`],
  ['CNCVE', /^CNCVE[-_ ](\d{4})[-_ ]?(\d{1,6})$/i, (m) => `CNCVE-${m[1]}-${m[2]}`],
  ['CNNVD', /^CNNVD[-_ ](\d{6})[-_ ](\d{1,5})$/i, (m) => `CNNVD-${m[1]}-${m[2]}`],
];

/** Parses a vulnerability id in any common spelling; undefined when it is none of the four schemes. */
export function parseVulnId(text: string): VulnId | undefined {
  const t = text.trim();
  for (const [scheme, re, canon] of PATTERNS) {
    const m = re.exec(t);
    if (m) return { scheme, id: canon(m) };
  }
  return undefined;
}

export const MALWARE_KINDS = [
  'bot',
  'trojan',
  'worm',
  'virus',
  'ransomware',
  'backdoor',
  'rootkit',
  'spyware',
  'adware',
  'miner',
  'other',
] as const;
export type MalwareKind = (typeof MALWARE_KINDS)[number];

/** Maps the seed's and scanners' words for a kind of malicious program onto MalwareKind. */
export function malwareKind(word: string): MalwareKind {
  const w = word.trim().toLowerCase();
  if (/zombie|bot/.test(w)) return 'bot';
  for (const k of MALWARE_KINDS) if (w.includes(k)) return k;
  if (w.includes('coin')) return 'miner';
  return 'other';
}

/** Canonical key of a malicious program: its kind and its lower-cased name. */
export function malwareKey(kind: MalwareKind, name: string): string {
  return `MALWARE:${kind}:${name.trim().toLowerCase()}`;
}

/** What a threat is; `key` is the canonical vuln id or malwareKey(). */
export type ThreatType = 'vulnerability' | 'malware';

export const SEVERITIES = ['none', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** CVSS v3 base score → qualitative severity (FIRST's bands). */
export function severityFromCvss(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'none';
}
