// Scanner report import: picks the format from the root element and streams observations out.

import { createReadStream } from 'node:fs';
import type { Observation } from '../model.js';
import { ImportError, streamXml, type XmlHandler, type XmlSource } from '../xml-stream.js';
import type { ScanFormat } from './formats.js';
import { nessusHandler } from './nessus.js';
import { nmapHandler } from './nmap.js';
import { openvasHandler } from './openvas.js';
import { emptyTally, type ImportTally } from './tally.js';

export { SCAN_FORMATS, type ScanFormat } from './formats.js';

const ROOTS: Record<string, ScanFormat> = {
  nmaprun: 'nmap',
  NessusClientData_v2: 'nessus',
  report: 'openvas',
  get_reports_response: 'openvas',
};

/**
 * Streams observations out of a scanner report; `format` 'auto' reads it off the root element. `tally`
 * is filled as the report is read: findings seen, kept, and left out by reason.
 */
export function parseScan(
  source: XmlSource,
  format: ScanFormat | 'auto' = 'auto',
  now = Date.now(),
  tally: ImportTally = emptyTally(),
): AsyncGenerator<Observation> {
  return streamXml<Observation>(source, (root, emit): XmlHandler | string => {
    const found = ROOTS[root];
    if (!found) return `not a scanner report: root element <${root}> is none of nmap, Nessus v2, OpenVAS`;
    if (format !== 'auto' && found !== format) return `expected a ${format} report but the root is <${root}>`;
    if (found === 'nmap') return nmapHandler(emit, now, tally);
    if (found === 'nessus') return nessusHandler(emit, now, tally);
    return openvasHandler(emit, now, tally);
  });
}

/** Opens a report file as a stream (64 KiB reads); the file is never read whole. */
export function scanFileSource(path: string): XmlSource {
  return createReadStream(path, { highWaterMark: 64 * 1024 });
}

export { emptyTally, type ImportTally } from './tally.js';
export { ImportError };
