// Hostile scanner reports: one host with tens of thousands of names, addresses, ports, CPEs or details,
// and attribute texts of 100 000 characters. Each importer keeps a host's lists within REPORT_HOST_CAPS
// (checked by a set, not a scan of the list) and cuts or refuses the long texts; the first real entries
// are kept. Reports are generated lazily, so the test itself holds no big string.

import { describe, expect, it } from 'vitest';
import { emptyTally, parseScan } from '../../src/inventory/import/index.js';
import { MAX_FIELD_TEXT, MAX_HOSTNAME, REPORT_HOST_CAPS } from '../../src/inventory/import/records.js';
import type { Observation } from '../../src/inventory/model.js';

const N = 20_000;
const HUGE = 'x'.repeat(100_000);
/** 198.18.0.0/15 has room for N distinct lab addresses. */
const lab4 = (i: number) => `198.18.${i >> 8}.${i & 255}`;

function* lines(head: string, body: (i: number) => string, tail: string, n = N): Generator<string> {
  yield head;
  for (let i = 0; i < n; i++) yield body(i);
  yield tail;
}

function* concat(...parts: Iterable<string>[]): Generator<string> {
  for (const p of parts) yield* p;
}

async function parse(src: Iterable<string>) {
  const tally = emptyTally();
  const out: Observation[] = [];
  for await (const o of parseScan(src, 'auto', 1, tally)) out.push(o);
  return { out, tally };
}

describe('a hostile report cannot grow a host without bound', () => {
  it('nmap: names, addresses, ports and OS guesses are capped; huge attributes are refused or cut', async () => {
    const { out } = await parse(
      concat(
        ['<nmaprun><host><status state="up"/>'],
        lines('', (i) => `<address addr="${lab4(i)}" addrtype="ipv4"/>`, ''),
        [`<hostnames><hostname name="${HUGE}"/>`],
        lines('', (i) => `<hostname name="h${i}.example"/>`, '</hostnames>'),
        lines(
          '<ports>',
          (i) =>
            `<port protocol="tcp" portid="${(i % 65535) + 1}"><state state="open"/><service name="http" product="p${i}${i === 0 ? HUGE : ''}" version="1"/></port>`,
          '</ports>',
        ),
        lines('<os>', (i) => `<osmatch name="os${i}" accuracy="90"/>`, '</os>'),
        ['</host></nmaprun>'],
      ),
    );
    expect(out).toHaveLength(1);
    const h = out[0];
    expect(h.ipv4.length).toBe(REPORT_HOST_CAPS.ipv4);
    expect(h.ipv4[0]).toBe('198.18.0.0');
    expect(h.hostnames.length).toBe(REPORT_HOST_CAPS.hostnames);
    expect(h.hostnames[0]).toBe('h0.example'); // the 100 000-character name is no host name
    expect(Math.max(...h.hostnames.map((n) => n.length))).toBeLessThanOrEqual(MAX_HOSTNAME);
    expect(h.software.length).toBe(REPORT_HOST_CAPS.software);
    expect(h.software[0].product.length).toBe(MAX_FIELD_TEXT);
    expect(h.software[1].product).toBe('p1');
    expect(h.os.length).toBeLessThanOrEqual(3);
  });

  it('Nessus: CPE tags, names and one item’s CVEs are capped', async () => {
    const { out } = await parse(
      concat(
        [
          '<NessusClientData_v2><Report><ReportHost name="target.example"><HostProperties><tag name="host-ip">198.18.0.1</tag>',
        ],
        lines('', (i) => `<tag name="host-fqdn">n${i}.example</tag>`, ''),
        lines('', (i) => `<tag name="cpe-${i}">cpe:/a:vendor${i}:product${i}:1.0</tag>`, ''),
        [
          '</HostProperties><ReportItem port="80" protocol="tcp" svc_name="www" severity="3" pluginID="1" pluginName="x" pluginFamily="y">',
        ],
        lines('', (i) => `<cve>CVE-2020-${10000 + i}</cve>`, ''),
        ['</ReportItem></ReportHost></Report></NessusClientData_v2>'],
      ),
    );
    expect(out).toHaveLength(1);
    const h = out[0];
    expect(h.hostnames.length).toBe(REPORT_HOST_CAPS.hostnames);
    expect(h.software.length).toBe(REPORT_HOST_CAPS.software);
    expect(h.software[0].product).toBe('product0');
    const vulns = h.threats.filter((t) => t.type === 'vulnerability');
    expect(vulns.length).toBe(256);
    expect(vulns[0].key).toBe('CVE-2020-10000');
  });

  it('OpenVAS: a huge <host> text is refused and named cut; details and references are capped', async () => {
    const { out, tally } = await parse(
      concat(
        ['<report><results><result><host>', HUGE, '</host><nvt oid="1.2.3"><name>n</name>'],
        lines('<refs>', (i) => `<ref type="cve" id="CVE-2021-${10000 + i}"/>`, '</refs>'),
        ['</nvt><threat>High</threat><severity>7.5</severity></result>'],
        ['<result><host>198.18.0.9</host><nvt oid="1.2.4"><name>m</name>'],
        lines('<refs>', (i) => `<ref type="cve" id="CVE-2022-${10000 + i}"/>`, '</refs>'),
        ['</nvt><threat>High</threat><severity>7.5</severity></result></results>'],
        ['<host><ip>198.18.0.7</ip>'],
        // 4 000 details: under the per-host bound on details (4 096), over those on software and names.
        lines('', (i) => `<detail><name>App</name><value>cpe:/a:v${i}:p${i}:1</value></detail>`, '', 2000),
        lines('', (i) => `<detail><name>hostname</name><value>d${i}.example</value></detail>`, '', 2000),
        ['</host></report>'],
      ),
    );
    expect(tally.addressesRefused).toBe(1);
    expect(tally.badAddresses[0].length).toBeLessThanOrEqual(64);
    const byAddr = new Map(out.map((o) => [o.ipv4[0], o]));
    const result = byAddr.get('198.18.0.9');
    expect(result?.threats.filter((t) => t.type === 'vulnerability').length).toBe(256);
    const details = byAddr.get('198.18.0.7');
    expect(details?.software.length).toBe(REPORT_HOST_CAPS.software);
    expect(details?.software[0].product).toBe('p0');
    expect(details?.hostnames.length).toBe(REPORT_HOST_CAPS.hostnames);
  });
});
