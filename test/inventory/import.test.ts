// Scanner imports on real public nmap / Nessus / OpenVAS files, error reasons, and bounded memory on a 20 MB file.

import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyTally, ImportError, parseScan, scanFileSource } from '../../src/inventory/import/index.js';
import { Inventory } from '../../src/inventory/inventory.js';
import type { Observation } from '../../src/inventory/model.js';
import { openDurable } from '../../src/state/durable.js';
import { generateNessus } from '../fixtures/scanners/generate-nessus.js';

const FIX = new URL('../fixtures/scanners/', import.meta.url).pathname;
const src = (f: string) =>
  f.endsWith('.gz') ? createReadStream(join(FIX, f)).pipe(createGunzip()) : createReadStream(join(FIX, f));

async function all(f: string): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const o of parseScan(src(f))) out.push(o);
  return out;
}

async function collect(it: AsyncIterable<Observation>): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const o of it) out.push(o);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'tg-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('nmap XML', () => {
  it('reads old-style <osclass> directly under <os> (nmap 5, libnmap os_scan5.xml)', async () => {
    const hosts = await all('libnmap_os_scan5.xml.gz');
    const up = hosts.filter((h) => h.up);
    expect(up.length).toBeGreaterThan(3);
    const first = up.find((h) => h.ipv4[0] === '192.168.1.1')!;
    expect(first.mac).toBe('6C:2E:85:19:AF:00');
    expect(first.os.map((o) => o.family)).toContain('Linux');
    expect(hosts.some((h) => !h.up)).toBe(true); // down hosts are reported as down, not dropped silently
  });

  it('reads services, OS CPEs (normalised to 2.3) and MAC vendors (libnmap full_sudo6.xml)', async () => {
    const hosts = await all('libnmap_full_sudo6.xml.gz');
    const router = hosts.find((h) => h.ipv4[0] === '192.168.1.1')!;
    expect(router.macVendor).toBe('Sagemcom');
    expect(router.os[0].cpe).toBe('cpe:2.3:o:linux:linux_kernel:2.6.13:*:*:*:*:*:*:*');
    expect(router.software.find((s) => s.port === 23)?.product).toBe('Sagem router telnetd');
    expect(router.software.find((s) => s.port === 23)?.confidence).toBe(100);
  });

  it('keeps hostnames and skips ports with no identified product (DefectDojo nmap_multiple_port.xml)', async () => {
    const [h] = await all('defectdojo_nmap_multiple_port.xml');
    expect(h.ipv4).toEqual(['198.38.82.159']);
    expect(h.hostnames).toContain('joaquinlp.me');
    expect(h.software).toEqual([]);
  });
});

describe('Nessus v2', () => {
  it('skips the Policy block and reads host tags, banners and CVEs (DefectDojo nessus_with_cvssv3)', async () => {
    const hosts = await all('defectdojo_nessus_with_cvssv3.nessus.gz');
    expect(hosts).toHaveLength(1);
    const h = hosts[0];
    expect(h.ipv4).toEqual(['44.228.249.3']);
    expect(h.hostnames).toContain('testphp.vulnweb.com');
    expect(h.os[0].name).toBe('Linux Kernel 2.6');
    expect(h.os[0].cpe).toBe('cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*');
    const nginx = h.software.find((s) => s.product === 'nginx')!;
    expect(nginx.version).toBe('1.19.0');
    expect(nginx.cpe).toBe('cpe:2.3:a:f5:nginx:1.19.0:*:*:*:*:*:*:*');
    const cves = h.threats.filter((t) => t.scheme === 'CVE');
    expect(cves.length).toBeGreaterThan(50);
    expect(cves.every((t) => t.cvss !== undefined && t.severity)).toBe(true);
  });

  it('types BUGTRAQ ids next to CVEs and reads MACs (DefectDojo nessus_v_unknown)', async () => {
    const hosts = await all('defectdojo_nessus_v_unknown.nessus.gz');
    expect(hosts).toHaveLength(7);
    const h = hosts.find((x) => x.ipv4[0] === '10.31.112.29')!;
    expect(h.mac).toBe('00:50:56:81:01:e3');
    expect(h.threats.some((t) => t.key === 'BUGTRAQ-13818' && t.scheme === 'BUGTRAQ')).toBe(true);
    expect(h.software.find((s) => s.product === 'Microsoft-IIS')?.cpe).toBe(
      'cpe:2.3:a:microsoft:internet_information_services:7.5:*:*:*:*:*:*:*',
    );
  });
});

describe('OpenVAS / Greenbone', () => {
  it('reads result host, port, refs and severity (DefectDojo report_detail_v2.xml, GMP 22.6)', async () => {
    const [o] = await all('defectdojo_openvas_report_detail_v2.xml');
    expect(o.ipv4).toEqual(['10.99.99.99']);
    expect(o.hostnames).toEqual(['server99']);
    // One finding under its NVT OID, and the 93 CVEs it names.
    expect(o.threats.filter((t) => t.type === 'finding').map((t) => t.key)).toEqual([
      expect.stringMatching(/^OPENVAS:1\.3\.6\.1\.4\.1\.25623\./),
    ]);
    const cves = o.threats.filter((t) => t.type === 'vulnerability');
    expect(cves.length).toBe(93);
    expect(cves[0]).toMatchObject({ key: 'CVE-2025-49659', port: 42, cvss: 9.8, severity: 'high' });
  });

  it('folds many results of one host into one inventory host (DefectDojo many_vuln.xml)', async () => {
    const store = openDurable(join(tmp, 'ov'));
    const inv = new Inventory(store);
    const tally = emptyTally();
    const sum = await inv.importObservations(
      parseScan(src('defectdojo_openvas_many_vuln.xml.gz'), 'openvas', 0, tally),
      tally,
    );
    // 44 results; the report's host-details block names the host only by the bad address: refused.
    expect(sum.observations).toBe(44);
    expect(sum.hostsRefused).toBe(1);
    expect(sum.hostsCreated).toBe(1);
    // Its address 192.168.1.1001 is none: the host is kept by its name, the address refused.
    expect(inv.findHost('192.168.1.1001')).toBeUndefined();
    const h = inv.findHost('b6b9f466d63')!;
    expect(h.threats.length).toBeGreaterThan(10);
    expect(new Set(h.threats.map((t) => t.port)).size).toBeGreaterThan(3);
    await store.close();
  });
});

describe('import errors carry a reason', () => {
  const one = (xml: string, fmt: 'auto' | 'nmap' = 'auto') => collect(parseScan([xml], fmt));

  it('refuses a document that is no scanner report, or the wrong one', async () => {
    await expect(one('<html><body/></html>')).rejects.toThrow(/not a scanner report: root element <html>/);
    await expect(one('<NessusClientData_v2/>', 'nmap')).rejects.toThrow(/expected a nmap report/);
  });

  it('refuses malformed and truncated XML with the line', async () => {
    const err = await one(
      '<nmaprun>\n<host>\n<address addr="1.2.3.4" addrtype="ipv4"/>\n</hots></nmaprun>',
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.message).toMatch(/malformed XML.*line 4/);
    await expect(one('<nmaprun><host>')).rejects.toThrow(/malformed XML/);
  });

  it('never resolves external entities (no XXE)', async () => {
    const xml =
      '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><nmaprun><host>&x;</host></nmaprun>';
    const err = await one(xml).catch((e) => e);
    expect(String(err?.message ?? '')).not.toMatch(/root:/);
  });

  it('is independent of how the bytes are chunked (multi-byte UTF-8 split across chunks)', async () => {
    const xml = Buffer.from(
      '<nmaprun><host><status state="up"/><address addr="10.0.0.1" addrtype="ipv4"/><hostnames><hostname name="größe-ü"/></hostnames></host></nmaprun>',
    );
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < xml.length; i += 3) chunks.push(xml.subarray(i, i + 3));
    const [h] = await collect(parseScan(chunks));
    expect(h.hostnames).toEqual(['größe-ü']);
  });
});

describe('large files stream with bounded memory', () => {
  it('imports a 20 MB Nessus file into LMDB without growing RSS by its size', async () => {
    const gen = await generateNessus(join(tmp, 'big.nessus'), 20 * 1024 * 1024, 100);
    expect(statSync(gen.path).size).toBeGreaterThan(20 * 1024 * 1024);
    const store = openDurable(join(tmp, 'big'));
    const inv = new Inventory(store);
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    const t0 = performance.now();
    const sum = await inv.importObservations(parseScan(scanFileSource(gen.path), 'nessus'));
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    const ms = performance.now() - t0;
    const growthMb = (peak - base) / 1024 / 1024;
    console.log(
      `20 MB import: ${gen.hosts} hosts in ${ms.toFixed(0)} ms, RSS growth ${growthMb.toFixed(1)} MB`,
    );
    expect(sum.hostsCreated).toBe(gen.hosts);
    const h = inv.findHost('10.0.0.0')!;
    expect(h.software.find((s) => s.product === 'OpenSSH')?.version).toBe('8.9p1');
    expect(h.threats.length).toBeGreaterThan(50);
    // A whole-file parse would hold the text twice over (≥ 40 MB) plus a tree; streaming stays well below.
    expect(growthMb).toBeLessThan(40);
    await store.close();
  });
});
