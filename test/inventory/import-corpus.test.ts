// Property over the corpus of real reports: for every file, what the importer yields (hosts, products,
// versions, findings, CVEs) equals an independent count of the XML (support/count-report.ts, a DOM walk
// sharing no code with the importers); what lands in the store agrees with the import summary.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyTally, parseScan } from '../../src/inventory/import/index.js';
import { Inventory } from '../../src/inventory/inventory.js';
import type { Observation } from '../../src/inventory/model.js';
import { openDurable } from '../../src/state/durable.js';
import { countReport, type ReportCounts } from './support/count-report.js';

const FIX = new URL('../fixtures/scanners/', import.meta.url).pathname;
const CORPUS = readdirSync(FIX)
  .filter((f) => /\.(xml|nessus)(\.gz)?$/.test(f))
  .sort();
const text = (f: string) => {
  const b = readFileSync(join(FIX, f));
  return (f.endsWith('.gz') ? gunzipSync(b) : b).toString('utf8');
};

/** The same five numbers, read off the importer's observations. */
function countObservations(obs: Observation[]): ReportCounts {
  const hosts = new Set<string>();
  const products = new Set<string>();
  const versions = new Set<string>();
  const findings = new Set<string>();
  const cves = new Set<string>();
  for (const o of obs) {
    if (!o.up) continue;
    const key = (o.ipv4[0] ?? o.ipv6[0] ?? o.mac ?? o.hostnames[0] ?? '').toLowerCase();
    hosts.add(key);
    for (const s of o.software) {
      products.add(s.product.toLowerCase());
      if (s.version) versions.add(`${s.product.toLowerCase()}|${s.version}`);
    }
    for (const t of o.threats) {
      if (t.type === 'finding' || (t.source === 'nmap' && t.origin))
        findings.add(`${key}|${t.key}|${t.port ?? ''}`);
      if (t.type === 'vulnerability' && t.scheme === 'CVE') cves.add(t.key);
    }
  }
  return {
    hosts: hosts.size,
    products: products.size,
    versions: versions.size,
    findings: findings.size,
    cves: cves.size,
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'tg-corpus-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const rows: string[] = [];
afterAll(() => {
  console.log(
    [
      '| file | format | hosts | products | versions | findings | CVEs |',
      '|---|---|---|---|---|---|---|',
      ...rows,
    ].join('\n'),
  );
});

describe('every corpus report: importer counts = independent XML counts', () => {
  it('has a corpus of all three formats', () => {
    const formats = new Set(CORPUS.map((f) => countReport(text(f)).format));
    expect([...formats].sort()).toEqual(['nessus', 'nmap', 'openvas']);
    expect(CORPUS.length).toBeGreaterThanOrEqual(20);
  });

  for (const f of CORPUS) {
    it(f, async () => {
      const xml = text(f);
      const want = countReport(xml);
      const obs: Observation[] = [];
      const tally = emptyTally();
      for await (const o of parseScan([xml], 'auto', 0, tally)) obs.push(o);
      const got = countObservations(obs);
      const cell = (k: keyof ReportCounts) => `${want[k]}/${got[k]}`;
      rows.push(
        `| ${f} | ${want.format} | ${cell('hosts')} | ${cell('products')} | ${cell('versions')} | ${cell('findings')} | ${cell('cves')} |`,
      );
      expect(got).toEqual({
        hosts: want.hosts,
        products: want.products,
        versions: want.versions,
        findings: want.findings,
        cves: want.cves,
      });
      // The summary's "kept" is what the store holds, finding for finding.
      expect(tally.findingsKept).toBe(want.findings);
      const store = openDurable(join(tmp, f));
      try {
        const inv = new Inventory(store);
        const t2 = emptyTally();
        const sum = await inv.importObservations(parseScan([xml], 'auto', 0, t2), t2);
        expect(sum.findingsKept).toBe(want.findings);
        const stored = inv.listHosts();
        expect(stored.length).toBe(sum.hostIds.length);
        const storedFindings = stored.reduce(
          (n, h) =>
            n + h.threats.filter((t) => t.type === 'finding' || (t.source === 'nmap' && t.origin)).length,
          0,
        );
        expect(storedFindings).toBe(want.findings);
      } finally {
        await store.close();
      }
    });
  }
});
