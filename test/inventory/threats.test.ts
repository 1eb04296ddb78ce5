// Threat ids, the NVD 2.0 feed loader, and CVE matching of host software (ranges, AND nodes, backports).

import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Inventory } from '../../src/inventory/inventory.js';
import { emptyObservation, mergeObservation } from '../../src/inventory/model.js';
import { parseNvdFeed, type VulnRecord } from '../../src/inventory/nvd.js';
import { malwareKey, malwareKind, parseVulnId } from '../../src/inventory/threat.js';
import { hostCpes, matchVuln } from '../../src/inventory/vuln-match.js';
import { ImportError } from '../../src/inventory/xml-stream.js';
import { openDurable } from '../../src/state/durable.js';

const FEED = new URL('../fixtures/scanners/nvd-sample.json', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'tg-threats-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function feed(): Promise<VulnRecord[]> {
  const out: VulnRecord[] = [];
  for await (const r of parseNvdFeed(createReadStream(FEED, { highWaterMark: 97 }))) out.push(r);
  return out;
}

function host(
  sw: Array<{ product: string; version?: string; cpe?: string; extra?: string }>,
  osCpe?: string,
) {
  const o = emptyObservation();
  o.ipv4.push('10.0.0.9');
  for (const s of sw) o.software.push({ ...s, confidence: 100, source: 'nmap', seenAt: 0 });
  if (osCpe) o.os.push({ cpe: osCpe, confidence: 90, source: 'nmap', seenAt: 0 });
  return mergeObservation(undefined, o, 0);
}

describe('threat ids', () => {
  it('types the vulnerability schemes and canonicalises spellings', () => {
    expect(parseVulnId('cve-2013-0098')).toEqual({ scheme: 'CVE', id: 'CVE-2013-0098' });
    expect(parseVulnId('BID-13818')).toEqual({ scheme: 'BUGTRAQ', id: 'BUGTRAQ-13818' });
    expect(parseVulnId('bugtraq:0042')).toEqual({ scheme: 'BUGTRAQ', id: 'BUGTRAQ-42' });
    expect(parseVulnId('CNCVE-2005-1234')).toEqual({ scheme: 'CNCVE', id: 'CNCVE-2005-1234' });
    expect(parseVulnId('CNNVD-202112-799')).toEqual({ scheme: 'CNNVD', id: 'CNNVD-202112-799' });
    expect(parseVulnId('CVE-13-1')).toBeUndefined();
    expect(parseVulnId('NOCVE')).toBeUndefined();
  });

  it('maps malicious-program words onto kinds (seed: zombie, Trojan, worm)', () => {
    expect(malwareKind('Zombie program')).toBe('bot');
    expect(malwareKind('Trojan')).toBe('trojan');
    expect(malwareKind('Worm')).toBe('worm');
    expect(malwareKey('worm', 'Bot-4162')).toBe('MALWARE:worm:bot-4162');
  });
});

describe('NVD feed', () => {
  it('streams entries (any chunking) with CVSS and configurations', async () => {
    const recs = await feed();
    expect(recs.map((r) => r.key)).toEqual([
      'CVE-2023-38408',
      'CVE-2016-2108',
      'CVE-2021-23017',
      'CVE-2099-0001',
    ]);
    expect(recs[0]).toMatchObject({ cvss: 9.8, severity: 'critical', scheme: 'CVE' });
    expect(recs[1].cvss).toBe(9.8); // v3.0 metric when no v3.1
    expect(recs[3].configurations[0].operator).toBe('AND');
  });

  it('stops with a reason on an invalid entry or a truncated feed', async () => {
    const bad = JSON.stringify({ vulnerabilities: [{ cve: { id: 'CVE-1-2' } }] });
    await expect(parseNvdFeed([bad]).next()).rejects.toThrow(/entry 1 is invalid at cve.id: not a CVE id/);
    await expect(parseNvdFeed(['{"vulnerabilities":[{"cve":']).next()).rejects.toThrow(ImportError);
    await expect(parseNvdFeed(['{"other":[]}']).next()).rejects.toThrow(/no top-level "vulnerabilities"/);
  });
});

describe('CVE matching', () => {
  it('matches version ranges, OpenSSH pN and OpenSSL letters', async () => {
    const [ssh, ssl, nginx] = await feed();
    const h = host([
      { product: 'OpenSSH', version: '9.3p1', cpe: 'cpe:2.3:a:openbsd:openssh:9.3:p1:*:*:*:*:*:*' },
      { product: 'OpenSSL', version: '1.0.2b', cpe: 'cpe:/a:openssl:openssl:1.0.2b' },
      { product: 'nginx', version: '1.18.0', cpe: 'cpe:/a:igor_sysoev:nginx:1.18.0' },
    ]);
    const cpes = hostCpes(h);
    expect(matchVuln(ssh, cpes)?.certainty).toBe('affected');
    expect(matchVuln(ssl, cpes)?.via[0].criteria).toContain('openssl');
    expect(matchVuln(nginx, cpes)?.key).toBe('CVE-2021-23017'); // igor_sysoev and f5 are one vendor
    const fixed = hostCpes(
      host([
        { product: 'OpenSSH', version: '9.3p2', cpe: 'cpe:/a:openbsd:openssh:9.3p2' },
        { product: 'OpenSSL', version: '1.0.2k', cpe: 'cpe:/a:openssl:openssl:1.0.2k' },
        { product: 'nginx', version: '1.20.1', cpe: 'cpe:/a:nginx:nginx:1.20.1' },
      ]),
    );
    expect(matchVuln(ssh, fixed)).toBeUndefined();
    expect(matchVuln(ssl, fixed)).toBeUndefined();
    expect(matchVuln(nginx, fixed)).toBeUndefined();
  });

  it('fills a missing CPE version from the record and flags distro builds as possibly affected', async () => {
    const [ssh] = await feed();
    const h = host([
      {
        product: 'OpenSSH',
        version: '8.9p1 Ubuntu 3ubuntu0.6',
        cpe: 'cpe:/a:openbsd:openssh',
        extra: 'Ubuntu Linux; protocol 2.0',
      },
    ]);
    const m = matchVuln(ssh, hostCpes(h));
    expect(m?.certainty).toBe('possibly-affected');
    expect(m?.via[0].hostCpe).toBe('cpe:2.3:a:openbsd:openssh:8.9:p1:*:*:*:*:*:*');
  });

  it('gives no match for unknown or incomparable versions', async () => {
    const [ssh, , nginx] = await feed();
    expect(
      matchVuln(ssh, hostCpes(host([{ product: 'OpenSSH', cpe: 'cpe:/a:openbsd:openssh' }]))),
    ).toBeUndefined();
    expect(
      matchVuln(
        nginx,
        hostCpes(host([{ product: 'nginx', version: 'custom', cpe: 'cpe:/a:f5:nginx:custom' }])),
      ),
    ).toBeUndefined();
  });

  it('needs every node of an AND configuration, and only vulnerable entries accuse', async () => {
    const and = (await feed())[3];
    const uhttpd = { product: 'uhttpd', version: '1.5', cpe: 'cpe:/a:openwrt:uhttpd:1.5' };
    expect(matchVuln(and, hostCpes(host([uhttpd])))).toBeUndefined();
    const m = matchVuln(and, hostCpes(host([uhttpd], 'cpe:/o:linux:linux_kernel:5.15')));
    expect(m?.via).toEqual([
      {
        criteria: 'cpe:2.3:a:openwrt:uhttpd:*:*:*:*:*:*:*:*',
        hostCpe: 'cpe:2.3:a:openwrt:uhttpd:1.5:*:*:*:*:*:*:*',
      },
    ]);
    const negated: VulnRecord = {
      ...and,
      configurations: [
        {
          ...and.configurations[0],
          nodes: [and.configurations[0].nodes[0], { ...and.configurations[0].nodes[1], negate: true }],
        },
      ],
    };
    expect(matchVuln(negated, hostCpes(host([uhttpd], 'cpe:/o:linux:linux_kernel:5.15')))).toBeUndefined();
  });

  it('finds matches through the store index after a feed load', async () => {
    const store = openDurable(join(tmp, 'db'));
    const inv = new Inventory(store);
    expect(await inv.loadVulns(parseNvdFeed(createReadStream(FEED)))).toBe(4);
    const o = emptyObservation();
    o.ipv4.push('10.1.1.1');
    o.software.push({
      product: 'nginx',
      version: '1.18.0',
      cpe: 'cpe:2.3:a:f5:nginx:1.18.0:*:*:*:*:*:*:*',
      confidence: 100,
      source: 'nmap',
      seenAt: 0,
    });
    await inv.importObservations([o]);
    const h = inv.findHost('10.1.1.1')!;
    expect(inv.matchHost(h).map((m) => m.key)).toEqual(['CVE-2021-23017']);
    expect(
      inv
        .listThreats()
        .map((t) => t.key)
        .sort(),
    ).toEqual(['CVE-2016-2108', 'CVE-2021-23017', 'CVE-2023-38408', 'CVE-2099-0001']);
    await store.close();
  });
});
