// What an import kept and what it left out, and why: the summary an admin checks against the scanner's own.

/** Why a finding or a host of a report was not kept. */
export type NotKeptReason =
  /** Nessus severity 0 / OpenVAS "Log": inventory facts, not threats. */
  | 'informational'
  /** OpenVAS "False Positive" or "Debug" results. */
  | 'false-positive'
  /** The same finding twice on one host and port. */
  | 'duplicate'
  /** Past the per-host bound on threats. */
  | 'over-limit'
  /** Its host had no usable address, MAC or name (e.g. only the address 192.168.1.1001). */
  | 'no-identity';

export interface ImportTally {
  /** Findings in the report (Nessus ReportItems, OpenVAS results, nmap vulners/vulscan CVEs). */
  findings: number;
  /** Findings kept as threats. */
  findingsKept: number;
  /** What was left out, by reason. */
  notKept: Partial<Record<NotKeptReason, number>>;
  /** Addresses refused because they are no IPv4 or IPv6 address (e.g. 192.168.1.1001). */
  addressesRefused: number;
  /** The first few of them (at most 10), so the summary can name them. */
  badAddresses: string[];
  /** Hosts (or OpenVAS results) left out because nothing identified them. */
  hostsRefused: number;
}

export function emptyTally(): ImportTally {
  return {
    findings: 0,
    findingsKept: 0,
    notKept: {},
    addressesRefused: 0,
    badAddresses: [],
    hostsRefused: 0,
  };
}

export function countNotKept(t: ImportTally, why: NotKeptReason, n = 1): void {
  t.notKept[why] = (t.notKept[why] ?? 0) + n;
}
