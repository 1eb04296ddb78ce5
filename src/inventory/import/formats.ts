// The scanner report formats an import reads, by the names the API and the CLI take (`auto` guesses from
// the report's root element). A module of its own so the CLI knows them without loading the parsers.

export const SCAN_FORMATS = ['nmap', 'nessus', 'openvas'] as const;
export type ScanFormat = (typeof SCAN_FORMATS)[number];
