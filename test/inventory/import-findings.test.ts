// Scanner imports agree with the scanner: every finding kept under the scanner's own id and severity,
// OpenVAS 6/7 reports, Nessus CPEs, multi-token Server banners, all-or-nothing imports, encodings, and
// the details (one-host view, nmap osmatch, address checks, vulners/vulscan CVEs). One block per item.

import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyTally, ImportError, parseScan, scanFileSource } from '../../src/inventory/import/index.js';
import { MAX_SCRIPT_CVES } from '../../src/inventory/import/nmap.js';
import { openvasHandler } from '../../src/inventory/import/openvas.js';
import { MAX_BAD_ADDRESSES } from '../../src/inventory/import/records.js';
import { Inventory } from '../../src/inventory/inventory.js';
import type { Observation } from '../../src/inventory/model.js';
import { parseServerHeader, serverHeaderFinds } from '../../src/inventory/passive/banner.js';
import { threatScore } from '../../src/inventory/threat.js';
import { streamXml } from '../../src/inventory/xml-stream.js';
import { RemediationService } from '../../src/remediation/service.js';
import { openDurable } from '../../src/state/durable.js';
import { http, startTestDaemon, type TestDaemon } from '../api/helpers.js';
import { runCli } from '../cli/run-cli.js';
import { generateNessus } from '../fixtures/scanners/generate-nessus.js';

const FIX = new URL('../fixtures/scanners/', import.meta.url).pathname;
const text = (f: string) => {
  const b = readFileSync(join(FIX, f));
  return (f.endsWith('.gz') ? gunzipSync(b) : b).toString('utf8');
};

async function read(src: Parameters<typeof parseScan>[0], tally = emptyTally()): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const o of parseScan(src, 'auto', 0, tally)) out.push(o);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'tg-findings-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshStore = () => openDurable(join(tmp, `s${n++}`));

describe('1. findings without a CVE are kept under the scanner id, with its severity', () => {
  it('Nessus: EOL OS, SMB signing and backdoors are threats; the summary counts kept and not kept', async () => {
    const tally = emptyTally();
    const [h] = await read([text('reduced_nessus_backdoors.nessus')], tally);
    const byKey = new Map(h.threats.map((t) => [`${t.key}/${t.port ?? ''}`, t]));
    expect(byKey.get('NESSUS:33850/')).toMatchObject({
      type: 'finding',
      name: 'Unix Operating System Unsupported Version Detection',
      severity: 'critical',
      cvss: 10,
      source: 'nessus',
    });
    expect(byKey.get('NESSUS:57608/445')).toMatchObject({ type: 'finding', severity: 'medium', cvss: 5 });
    // The Ingreslock root shell (family Backdoors) and the vsftpd backdoor (family FTP) are malware.
    const malware = h.threats.filter((t) => t.type === 'malware');
    expect(malware.map((t) => [t.kind, t.port]).sort()).toEqual([
      ['backdoor', 1524],
      ['backdoor', 21],
    ]);
    // The second host (192.0.2.1001, no other identity) is refused with its one finding, and says so.
    expect(tally).toMatchObject({
      findings: 11,
      findingsKept: 5,
      notKept: { informational: 5, 'no-identity': 1 },
    });
  });

  it('OpenVAS: the vsftpd backdoor becomes a malware threat as well as a finding (OpenVAS 6 report)', async () => {
    const obs = await read([text('openvas_lib_metasploitable_all.xml.gz')]);
    const all = obs.flatMap((o) => o.threats);
    const vsftpd = all.filter((t) => t.title === 'vsftpd Compromised Source Packages Backdoor Vulnerability');
    expect([...new Set(vsftpd.map((t) => t.type))].sort()).toEqual(['finding', 'malware', 'vulnerability']);
    expect(vsftpd.find((t) => t.type === 'malware')).toMatchObject({ kind: 'backdoor', port: 6200 });
    expect(vsftpd.find((t) => t.type === 'finding')?.key).toBe('OPENVAS:1.3.6.1.4.1.25623.1.0.103185');
  });

  it('risk takes the scanner severity: a Critical finding with no CVE makes the host critical', async () => {
    expect(threatScore({ type: 'finding', severity: 'critical' })).toBe(9);
    expect(threatScore({ type: 'finding', severity: 'medium' })).toBe(4);
    expect(threatScore({ type: 'vulnerability', cvss: 7.5, severity: 'low' })).toBe(7.5);
    const svc = await RemediationService.open({ dataDir: join(tmp, 'svc1') });
    try {
      const sum = await svc.importScan(join(FIX, 'reduced_nessus_backdoors.nessus'));
      expect(sum).toMatchObject({
        findings: 11,
        findingsKept: 5,
        findingsNotKept: { informational: 5, 'no-identity': 1 },
      });
      expect(sum.badAddresses).toEqual(['192.0.2.1001']);
      const d = await svc.getHost('192.0.2.10');
      expect(d?.risk).toEqual({ score: 10, level: 'critical' });
      const listed = (await svc.listHosts()).items.find((x) => x.id === d?.host.id);
      expect(listed?.risk.level).toBe('critical');
      expect(listed?.threatKeys[0]).toMatch(/^MALWARE:backdoor:/);
      // Finding records are known to the threats db under their own type.
      expect((await svc.listThreats({ type: 'finding' })).map((t) => t.key)).toContain('NESSUS:57608');
    } finally {
      await svc.close();
    }
  });

  it('a host whose only finding is Medium without a score is at medium risk, not none', async () => {
    const svc = await RemediationService.open({ dataDir: join(tmp, 'svc2') });
    try {
      const xml = `<NessusClientData_v2><Report name="r"><ReportHost name="192.0.2.30"><HostProperties><tag name="host-ip">192.0.2.30</tag></HostProperties>
<ReportItem port="445" svc_name="cifs" protocol="tcp" severity="2" pluginID="57608" pluginName="SMB Signing not required" pluginFamily="Misc."/></ReportHost></Report></NessusClientData_v2>`;
      await svc.importScan([xml]);
      expect((await svc.getHost('192.0.2.30'))?.risk).toEqual({ score: 4, level: 'medium' });
    } finally {
      await svc.close();
    }
  });
});

describe('2. OpenVAS 6/7 results (<threat>, nvt/cvss_base, "microsoft-ds (445/tcp)" ports)', () => {
  it('keeps every non-Log result with its CVSS, threat word and port', async () => {
    const tally = emptyTally();
    const obs = await read([text('openvas_lib_metasploitable_all.xml.gz')], tally);
    const findings = obs.flatMap((o) => o.threats).filter((t) => t.type === 'finding');
    expect(findings.length).toBe(79);
    expect(tally).toMatchObject({ findings: 159, findingsKept: 79 });
    expect(tally.notKept.informational).toBe(80);
    const smb = findings.filter((t) => t.port === 445);
    expect(smb.length).toBeGreaterThan(0);
    const distcc = findings.find((t) => t.port === 3632 && t.severity === 'high');
    expect(distcc?.cvss).toBeGreaterThanOrEqual(9);
    expect(obs.flatMap((o) => o.threats).some((t) => t.key === 'CVE-2004-2687')).toBe(true);
  });
});

describe('3. Nessus software from host cpe-N tags and per-item <cpe>', () => {
  it('log4j, Java, Samba and PHP versions reach the software list, normalised to CPE 2.3', async () => {
    const [h] = await read([text('reduced_nessus_backdoors.nessus')]);
    const sw = (p: string) =>
      h.software.filter((s) => s.product === p).map((s) => [s.version, s.cpe, s.port]);
    expect(sw('log4j')).toEqual([['2.14.1', 'cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*', 8080]]);
    expect(sw('jre')[0][1]).toBe('cpe:2.3:a:oracle:jre:1.8.0:update_281:*:*:*:*:*:*');
    expect(sw('samba')).toEqual([['3.0.20', 'cpe:2.3:a:samba:samba:3.0.20:*:*:*:*:*:*:*', undefined]]);
    expect(sw('php')).toEqual([['5.2.4', 'cpe:2.3:a:php:php:5.2.4:*:*:*:*:*:*:*', 80]]);
  });

  it('a CPE with a distribution version (5.6.40-38+ubuntu…) is kept, escaped (DefectDojo Nessus)', async () => {
    const [h] = await read([text('defectdojo_nessus_with_cvssv3.nessus.gz')]);
    expect(h.software.filter((s) => s.product === 'php').map((s) => s.version)).toContain(
      '5.6.40-38+ubuntu20.04.1+deb.sury.org+1',
    );
  });

  it('the CPE software is matched against a feed (log4j 2.14.1 → CVE-2021-44228)', async () => {
    const store = freshStore();
    try {
      const inv = new Inventory(store);
      await inv.putThreat({
        key: 'CVE-2021-44228',
        type: 'vulnerability',
        scheme: 'CVE',
        cvss: 10,
        source: 'nvd',
        configurations: [
          {
            nodes: [
              {
                operator: 'OR',
                negate: false,
                cpeMatch: [
                  {
                    vulnerable: true,
                    criteria: 'cpe:2.3:a:apache:log4j:*:*:*:*:*:*:*:*',
                    versionStartIncluding: '2.0.1',
                    versionEndExcluding: '2.15.0',
                  },
                ],
              },
            ],
          },
        ],
      } as never);
      const xml = text('reduced_nessus_backdoors.nessus').replace(
        /<ReportItem port="8080"[\s\S]*?<\/ReportItem>/,
        '',
      );
      await inv.importObservations(parseScan([xml]));
      const h = inv.findHost('192.0.2.10')!;
      expect(inv.matchHost(h).map((m) => m.key)).toContain('CVE-2021-44228');
    } finally {
      await store.close();
    }
  });
});

describe('4. multi-token Server banners', () => {
  it.each([
    ['Debian/4.0r9 DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.0', 'MiniDLNA', '1.0'],
    ['Apache/2.2.8 (Ubuntu) DAV/2', 'Apache', '2.2.8'],
    ['Apache/2.2.8 (Ubuntu) PHP/5.2.4-2ubuntu5.10 with Suhosin-Patch', 'Apache', '2.2.8'],
    ['Linux/2.x UPnP/1.0 Avtech/1.0', 'Avtech', '1.0'],
    ['Microsoft-IIS/7.5', 'Microsoft-IIS', '7.5'],
    ['nginx', 'nginx', undefined],
  ])('%s → %s %s', (banner, product, version) => {
    expect(parseServerHeader(banner)).toMatchObject({ product, ...(version ? { version } : {}) });
  });

  it('names the distribution as the OS and keeps other known products beside the server', () => {
    expect(parseServerHeader('Debian/4.0r9 DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.0')?.os).toBe('Debian');
    expect(
      serverHeaderFinds('Apache/2.2.8 (Ubuntu) PHP/5.2.4-2ubuntu5.10 with Suhosin-Patch').map(
        (f) => f.product,
      ),
    ).toEqual(['Apache', 'PHP']);
  });

  it('the Nessus HTTP plugin output gives MiniDLNA 1.0, not "Debian" 4.0r9', async () => {
    const [h] = await read([text('reduced_nessus_backdoors.nessus')]);
    const onPort = h.software.filter((s) => s.port === 8200).map((s) => [s.product, s.version]);
    expect(onPort).toEqual([['MiniDLNA', '1.0']]);
  });
});

describe('5. an import is all or nothing', () => {
  it('a file truncated after 70 of 100+ hosts fails and stores none of them', async () => {
    const full = await generateNessus(join(tmp, 'full.nessus'), 2_500_000, 2);
    expect(full.hosts).toBeGreaterThanOrEqual(100);
    // Cut the file inside host 71: more than the 64 hosts an import holds in memory before staging them.
    const body = readFileSync(full.path, 'utf8');
    let at = 0;
    for (let i = 0; i < 70; i++) at = body.indexOf('</ReportHost>', at) + 1;
    const cut = join(tmp, 'cut.nessus');
    writeFileSync(cut, body.slice(0, body.indexOf('<ReportItem', at + 20) + 30));
    const store = freshStore();
    try {
      const inv = new Inventory(store);
      await inv.importObservations([
        {
          ipv4: ['192.0.2.50'],
          ipv6: [],
          hostnames: ['before'],
          up: true,
          os: [],
          software: [],
          threats: [],
        },
      ]);
      const before = inv.listHosts();
      const err = await inv.importObservations(parseScan(scanFileSource(cut), 'nessus')).catch((e) => e);
      expect(err).toBeInstanceOf(ImportError);
      expect(inv.listHosts()).toEqual(before);
      expect(inv.findHost('10.0.0.5')).toBeUndefined();
      expect([...store.db('import-staging').getKeys()]).toEqual([]);
      // The whole file lands: all 100+ hosts at once.
      const sum = await inv.importObservations(parseScan(scanFileSource(full.path), 'nessus'));
      expect(sum.hostsCreated).toBe(full.hosts);
      expect(inv.listHosts().length).toBe(full.hosts + 1);
    } finally {
      await store.close();
    }
  });

  it('staged hosts of an import cut short by a crash are dropped when the store reopens', async () => {
    const dir = join(tmp, 'crash');
    let store = openDurable(dir);
    await store.db('import-staging').put('run/h/ip:192.0.2.9', { id: 'ip:192.0.2.9' });
    await store.close();
    store = openDurable(dir);
    try {
      const inv = new Inventory(store);
      expect([...store.db('import-staging').getKeys()]).toEqual([]);
      expect(inv.listHosts()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe('6. encodings and error messages', () => {
  const xml =
    '<?xml version="1.0" encoding="UTF-16"?>\n<nmaprun><host><status state="up"/><address addr="192.0.2.7" addrtype="ipv4"/><hostnames><hostname name="größe-pc"/></hostnames></host></nmaprun>\n';

  it('reads UTF-16 LE and BE with a byte-order mark (what PowerShell 5 writes)', async () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]);
    const be = Buffer.from(le);
    be.swap16();
    for (const bytes of [le, be]) {
      // Split at odd offsets: a code unit cut across chunks must still decode.
      const chunks = [bytes.subarray(0, 7), bytes.subarray(7, 301), bytes.subarray(301)];
      const [h] = await read(chunks);
      expect(h.hostnames).toEqual(['größe-pc']);
    }
  });

  it('honours the XML declaration encoding (ISO-8859-1)', async () => {
    const latin = Buffer.from(xml.replace('UTF-16', 'ISO-8859-1'), 'latin1');
    expect(latin.includes(0xf6)).toBe(true); // ö as one byte
    const [h] = await read([latin]);
    expect(h.hostnames).toEqual(['größe-pc']);
  });

  it('says "not XML" for files that are not XML, with no position', async () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), /not XML: the file is gzip-compressed/],
      [Buffer.from('{"hosts": []}'), /not XML: the file looks like JSON/],
      [
        Buffer.from('Nmap scan report for 192.0.2.1\nHost is up.\n'),
        /not XML: the file does not start with "<"/,
      ],
    ];
    for (const [bytes, re] of cases) {
      const err = await read([bytes]).catch((e) => e);
      expect(err).toBeInstanceOf(ImportError);
      expect(err.message).toMatch(re);
      expect(err.message).not.toMatch(/line|\d+:\d+/);
    }
  });

  it('gives the position of malformed XML once', async () => {
    const err = await read([
      '<nmaprun>\n<host>\n<address addr="192.0.2.1" addrtype="ipv4"/>\n</hots></nmaprun>',
    ]).catch((e) => e);
    expect(err.message).toMatch(/^malformed XML: .*\(line 4\)$/);
    expect(err.message).not.toMatch(/\d+:\d+/);
  });

  it('refuses an encoding it cannot decode by name', async () => {
    const err = await read([Buffer.from('<?xml version="1.0" encoding="x-unknown-9"?><nmaprun/>')]).catch(
      (e) => e,
    );
    expect(err.message).toMatch(/unsupported encoding "x-unknown-9"/);
  });
});

describe('7. details', () => {
  it("nmap: the best osmatch's name over the coarse class name, the class's CPE kept", async () => {
    const [h] = await read([text('reduced_nmap_vulscan_osmatch.xml')]);
    expect(h.os[0]).toMatchObject({
      name: 'Linux 4.15 - 5.8',
      family: 'Linux',
      cpe: 'cpe:2.3:o:linux:linux_kernel:4:*:*:*:*:*:*:*',
      confidence: 96,
    });
    // nmap 5 writes classes beside the matches: each match gets the class its name speaks of.
    const five = await read([text('libnmap_os_scan5.xml.gz')]);
    const chumby = five.find((o) => o.os[0]?.name === 'Chumby Internet radio');
    expect(chumby?.os.map((o) => [o.name, o.family])).toEqual([
      ['Chumby Internet radio', 'embedded'],
      ['Linux 2.6.9 - 2.6.30', 'Linux'],
    ]);
  });

  it('addresses are validated in all three importers (192.0.2.1001 is refused and counted)', async () => {
    const nmapTally = emptyTally();
    const nm = await read([text('reduced_nmap_vulscan_osmatch.xml')], nmapTally);
    expect(nm.map((o) => o.ipv4)).toEqual([['192.0.2.20']]);
    expect(nmapTally).toMatchObject({ addressesRefused: 1, badAddresses: ['192.0.2.1001'], hostsRefused: 1 });
    const ovTally = emptyTally();
    const ov = await read([text('defectdojo_openvas_many_vuln.xml.gz')], ovTally);
    expect(ov.every((o) => o.ipv4.length === 0)).toBe(true);
    expect(ovTally.badAddresses).toEqual(['192.168.1.1001']);
    const nsTally = emptyTally();
    const ns = await read([text('reduced_nessus_backdoors.nessus')], nsTally);
    expect(ns.flatMap((o) => o.ipv4)).toEqual(['192.0.2.10']);
    expect(nsTally.badAddresses).toEqual(['192.0.2.1001']);
  });

  it('an invalid address is never stored; the host is kept by its name when it has one', async () => {
    const store = freshStore();
    try {
      const inv = new Inventory(store);
      const tally = emptyTally();
      const sum = await inv.importObservations(
        parseScan(
          createReadStream(join(FIX, 'defectdojo_openvas_many_vuln.xml.gz')).pipe(createGunzip()),
          'openvas',
          0,
          tally,
        ),
        tally,
      );
      expect(sum.addressesRefused).toBeGreaterThan(40);
      expect(inv.findHost('192.168.1.1001')).toBeUndefined();
      const h = inv.findHost('b6b9f466d63');
      expect(h?.ipv4).toEqual([]);
      expect(h?.threats.filter((t) => t.type === 'finding').length).toBe(sum.findingsKept);
    } finally {
      await store.close();
    }
  });

  it('CVEs of nmap vulners and vulscan output are threats, with their source script', async () => {
    const [h] = await read([text('reduced_nmap_vulscan_osmatch.xml')]);
    const cves = h.threats.map((t) => [t.key, t.port, t.origin, t.cvss]).sort();
    expect(cves).toEqual([
      ['CVE-2017-15906', 22, 'vulscan', undefined],
      ['CVE-2018-15919', 22, 'vulscan', undefined],
      ['CVE-2023-38408', 22, 'vulners', 9.8],
    ]);
    const [dd] = await read([text('defectdojo_nmap_script_vulners.xml')]);
    expect(dd.threats).toMatchObject([
      {
        key: 'CVE-2018-15919',
        type: 'vulnerability',
        port: 5022,
        cvss: 5,
        severity: 'medium',
        origin: 'vulners',
        source: 'nmap',
      },
      { key: 'CVE-2017-15906', port: 5022, cvss: 5, origin: 'vulners' },
    ]);
  });
});

describe("7. the one-host view lists the scanner's CVEs and findings (API + CLI)", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ remediation: true });
  });
  afterAll(async () => {
    await d?.close();
  });

  const cli = (cmd: string, args: string[]) => runCli(d, cmd, args);

  it('shows risk critical beside the CVE and the findings that make it so', async () => {
    const imp = await cli('scan', ['import', join(FIX, 'reduced_nessus_backdoors.nessus')]);
    expect(imp.code).toBe(0);
    expect(imp.stdout).toMatch(
      /findings: 11 in the report, 5 kept, not kept: 5 informational, 1 no-identity/,
    );
    expect(imp.stdout).toMatch(/addresses refused: 1 \(192\.0\.2\.1001\)/);
    const one = await cli('hosts', ['192.0.2.10']);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^risk\s+critical \(10\)$/m);
    expect(one.stdout).toMatch(/^cves\s+CVE-2021-44228$/m);
    expect(one.stdout).toMatch(
      /^findings\s+.*Unix Operating System Unsupported Version Detection \(critical 10\)/m,
    );
    expect(one.stdout).toMatch(/Bind Shell Backdoor Detection \(malware\)/);
    // A gzipped report is refused as such; unpacked, its host has dozens of findings: the view names ten.
    const gz = await cli('scan', ['import', join(FIX, 'openvas_lib_metasploitable_all.xml.gz')]);
    expect(gz.code).not.toBe(0);
    expect(gz.stderr).toMatch(/not XML: the file is gzip-compressed/);
    const plain = join(tmp, 'metasploitable.xml');
    writeFileSync(plain, text('openvas_lib_metasploitable_all.xml.gz'));
    expect((await cli('scan', ['import', plain])).code).toBe(0);
    const many = await cli('hosts', ['10.211.55.35']);
    expect(many.stdout).toMatch(/^findings\s+(?:[^;\n]+; ){10}… \d+ more$/m);
    const threats = await http(d.url, 'GET', '/api/v1/remediation/threats?type=finding', { token: d.token });
    expect(threats.status).toBe(200);
    expect(threats.json.items.map((t: { key: string }) => t.key)).toContain('NESSUS:33850');
  });
});

describe('bounds of what an import holds', () => {
  it('names at most MAX_BAD_ADDRESSES refused addresses, and counts them all', async () => {
    const hosts = Array.from(
      { length: MAX_BAD_ADDRESSES + 2 },
      (_, i) => `<host><status state="up"/><address addr="192.0.2.${300 + i}" addrtype="ipv4"/></host>`,
    ).join('');
    const tally = emptyTally();
    await read([`<nmaprun>${hosts}</nmaprun>`], tally);
    expect(tally.addressesRefused).toBe(MAX_BAD_ADDRESSES + 2);
    expect(tally.badAddresses.length).toBe(MAX_BAD_ADDRESSES);
  });

  it('keeps at most MAX_SCRIPT_CVES script CVEs per host; the rest are counted as over the limit', async () => {
    const out = Array.from({ length: MAX_SCRIPT_CVES + 3 }, (_, i) => `[CVE-2020-${10000 + i}] x`).join(
      '&#xa;',
    );
    const xml = `<nmaprun><host><status state="up"/><address addr="192.0.2.40" addrtype="ipv4"/><ports><port protocol="tcp" portid="80"><state state="open"/><service name="http" product="x"/><script id="vulscan" output="${out}"/></port></ports></host></nmaprun>`;
    const tally = emptyTally();
    const [h] = await read([xml], tally);
    expect(h.threats.length).toBe(MAX_SCRIPT_CVES);
    expect(tally).toMatchObject({
      findings: MAX_SCRIPT_CVES + 3,
      findingsKept: MAX_SCRIPT_CVES,
      notKept: { 'over-limit': 3 },
    });
  });

  it('OpenVAS repeats are dropped while the remembered set has room, kept (and counted kept) past it', async () => {
    const result = (port: number) =>
      `<result><host>192.0.2.41</host><port>${port}/tcp</port><nvt oid="1.3.6.1.4.1.25623.1.0.1"><name>n</name></nvt><threat>High</threat><severity>7.5</severity></result>`;
    const xml = `<report><report><results>${[1, 2, 1, 3, 3].map(result).join('')}</results></report></report>`;
    const run = async (maxSeen: number) => {
      const tally = emptyTally();
      let threats = 0;
      for await (const o of streamXml<Observation>([xml], (_root, emit) =>
        openvasHandler(emit, 0, tally, maxSeen),
      ))
        threats += o.threats.length;
      return { threats, kept: tally.findingsKept, dup: tally.notKept.duplicate ?? 0 };
    };
    expect(await run(10)).toEqual({ threats: 3, kept: 3, dup: 2 });
    // Room for two: ports 1 and 2 are remembered, the repeat of 3 is no longer seen as one.
    expect(await run(2)).toEqual({ threats: 4, kept: 4, dup: 1 });
  });
});
