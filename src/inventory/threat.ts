// Threat identities: typed vulnerability ids (CVE, BUGTRAQ, CNCVE, CNNVD) and malicious-program records.

export type VulnScheme = 'CVE' | 'BUGTRAQ' | 'CNCVE' | 'CNNVD';

/** A vulnerability number in one of the schemes rules and scanners use (CVE, BUGTRAQ, …). */
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

/** Maps rules' and scanners' words for a kind of malicious program onto MalwareKind. */
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

/**
 * What a threat is; `key` is the canonical vuln id, malwareKey() or findingKey(). A `finding` is a scanner
 * check that fired under the scanner's own id (end-of-life OS, default credentials, SMB signing…): many
 * carry no CVE, and dropping them would understate a host's risk.
 */
export type ThreatType = 'vulnerability' | 'malware' | 'finding';
export const HOST_THREAT_TYPES: readonly ThreatType[] = ['vulnerability', 'malware', 'finding'];

/** The scanners whose own check ids name findings. */
export type FindingScanner = 'nessus' | 'openvas';

/** Canonical key of a scanner finding: NESSUS:<plugin id> or OPENVAS:<NVT OID>. */
export function findingKey(scanner: FindingScanner, id: string): string {
  return `${scanner.toUpperCase()}:${id.trim()}`;
}

/**
 * The malware kind a scanner finding reports, when its name or family says it found a malicious program
 * (a backdoor, a trojan, a rootkit…) rather than a flaw; undefined for an ordinary finding.
 */
export function malwareOfFinding(name: string, family = ''): MalwareKind | undefined {
  const text = `${name} ${family}`.toLowerCase();
  if (!/backdoor|trojan|rootkit|\bworm\b|botnet|malware|ransomware|spyware|coin ?miner/.test(text))
    return undefined;
  const kind = malwareKind(/backdoor/.test(text) ? 'backdoor' : text);
  return kind === 'other' && /botnet/.test(text) ? 'bot' : kind;
}

export const SEVERITIES = ['none', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The lowest CVSS score of each band: a scanner's word for a finding with no score is worth this much. */
const BAND_FLOOR: Record<Severity, number> = { none: 0, low: 0.1, medium: 4, high: 7, critical: 9 };

/**
 * How much one threat weighs (0–10): a malicious program 10; else the higher of its CVSS score and the
 * floor of the scanner's severity word, so a finding rated Critical without a score is never "none".
 */
export function threatScore(t: { type: ThreatType; cvss?: number; severity?: Severity }): number {
  if (t.type === 'malware') return 10;
  return Math.max(t.cvss ?? 0, t.severity ? BAND_FLOOR[t.severity] : 0);
}

/** CVSS v3 base score → qualitative severity (FIRST's bands). */
export function severityFromCvss(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'none';
}
