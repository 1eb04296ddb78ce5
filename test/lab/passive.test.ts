// Passive inventory end to end in the netns lab: tunguard in rtr samples what crosses it (a LAN host's
// SYN and cleartext HTTP request, the banner of the LAN host's real Python http.server answering a WAN
// client), a real dnsmasq in rtr hands the LAN host (busybox udhcpc) its lease — DHCP talks to the
// router itself and never crosses the TUN, so the DHCP sources are the lease file and a packet socket
// on the LAN device (options 55/60/12/61) — and the host appears in the API with its OS and software,
// each with its passive source and confidence. What the traffic showed stays under the address (any LAN
// client can send from it); the host known by its MAC has what its DHCP requests and lease said.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADDR,
  type ApiResult,
  Lab,
  makeTempDir,
  sleep,
  startHttpServer,
  type TunguardProcess,
  waitFor,
} from './lab.js';

const API = 'http://127.0.0.1:7447/api/v1';
const PY_PORT = 8000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0';
/** Tools this suite needs beyond the lab's, with their Debian packages. */
const TOOLS: Record<string, string> = { dnsmasq: 'dnsmasq-base', busybox: 'busybox' };

let lab: Lab;
let tg: TunguardProcess;
let token = '';
let leases = '';
let lanMac = '';
let dnsmasqOut = '';

function api(path: string): ApiResult {
  return lab.api(token, 'GET', `${API}${path}`);
}

beforeAll(async () => {
  const missing = Object.keys(TOOLS).filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0)
    throw new Error(
      `passive lab: missing ${missing.join(', ')} (apt-get install -y ${missing.map((t) => TOOLS[t]).join(' ')})`,
    );
  lab = Lab.create();
  const conf = join(lab.stateDir, 'tunguard.conf');
  leases = join(lab.stateDir, 'dhcp.leases');
  writeFileSync(
    conf,
    `config tunguard 'main'\n\toption wan_device 'wan0'\n\tlist lan_device 'lan0'\n\nconfig api 'api'\n\tlist listen '127.0.0.1:7447'\n`,
  );
  tg = lab.startTunguard(['--config', conf, '--dhcp-leases', leases], false);
  lanMac = JSON.parse(lab.run(lab.ns.lan, 'ip', ['-j', 'link', 'show', 'dev', 'eth0']))[0].address;

  // The router's DHCP server (OpenWrt runs dnsmasq): the LAN host's address is reserved for its MAC.
  const dnsmasq = lab.spawn(lab.ns.rtr, 'dnsmasq', [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--port=0',
    '--interface=lan0',
    '--bind-interfaces',
    '--dhcp-authoritative',
    '--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m',
    `--dhcp-host=${lanMac},${ADDR.lan4}`,
    '--no-ping',
    `--dhcp-leasefile=${leases}`,
    '--pid-file',
    '--user=root',
    '--log-dhcp',
    '--log-facility=-',
  ]);
  dnsmasq.stdout?.on('data', (d: Buffer) => {
    dnsmasqOut += d.toString();
  });
  dnsmasq.stderr?.on('data', (d: Buffer) => {
    dnsmasqOut += d.toString();
  });

  // The LAN host's real service: Python's http.server (Server: SimpleHTTP/0.6 Python/3.x).
  const www = makeTempDir('tg-passive-www-');
  writeFileSync(join(www, 'index.html'), '<p>lan host</p>\n');
  lab.spawn(lab.ns.lan, 'python3', [
    '-m',
    'http.server',
    String(PY_PORT),
    '--bind',
    ADDR.lan4,
    '--directory',
    www,
  ]);
  // A WAN web server the LAN host browses.
  await startHttpServer(lab, lab.ns.wan, www, 80, [ADDR.wan4]);
  await tg.ready();
  await waitFor('the API token', () => existsSync(join(lab.stateDir, 'api.token')), 15_000);
  token = readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
  await waitFor('dnsmasq', () => /started|DHCP, IP range/.test(dnsmasqOut), 10_000);
}, 60_000);

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

describe('passive inventory in the lab', () => {
  it('learns the LAN host from its traffic and its DHCP lease, and shows it in the API', async () => {
    // DHCP: the LAN host asks the router for its lease, naming itself (option 12).
    const dhcp = lab.exec(
      lab.ns.lan,
      'busybox',
      [
        'udhcpc',
        '-i',
        'eth0',
        '-f',
        '-q',
        '-n',
        '-t',
        '5',
        '-T',
        '1',
        '-x',
        'hostname:lab-laptop',
        '-s',
        '/bin/true',
      ],
      20_000,
    );
    expect(dhcp.code, `${dhcp.stdout}${dhcp.stderr}\n${dnsmasqOut}`).toBe(0);
    await waitFor(
      'the lease',
      () => existsSync(leases) && readFileSync(leases, 'utf8').includes(lanMac),
      15_000,
    );
    expect(readFileSync(leases, 'utf8')).toMatch(new RegExp(`^\\d+ ${lanMac} ${ADDR.lan4} lab-laptop `, 'm'));

    // Traffic: the LAN host browses the WAN (SYN + cleartext request) …
    const browse = lab.exec(lab.ns.lan, 'curl', [
      '-sS',
      '-A',
      UA,
      '--max-time',
      '10',
      `http://${ADDR.wan4}/index.html`,
    ]);
    expect(browse.code, browse.stderr).toBe(0);
    // … and a WAN client fetches a page from the LAN host's service (its banner crosses the router).
    let fetched = false;
    for (let i = 0; i < 50 && !fetched; i++) {
      fetched =
        lab.exec(lab.ns.wan, 'curl', ['-sS', '--max-time', '3', `http://${ADDR.lan4}:${PY_PORT}/`]).code ===
        0;
      if (!fetched) await sleep(100);
    }
    expect(fetched).toBe(true);
    const python = lab
      .run(lab.ns.lan, 'python3', ['-c', 'import platform; print(platform.python_version())'])
      .trim();

    // The feed writes new evidence every 5 s.
    let host: ReturnType<typeof api>['json'];
    let byMac: ReturnType<typeof api>['json'];
    await waitFor(
      'the hosts with their passive evidence',
      () => {
        const r = api(`/remediation/hosts/ip:${ADDR.lan4}`);
        host = r.status === 200 ? r.json.host : undefined;
        const m = api(`/remediation/hosts/${lanMac}`);
        byMac = m.status === 200 ? m.json.host : undefined;
        return (
          host?.software.some((s: { source: string }) => s.source === 'banner') &&
          host.software.some((s: { source: string }) => s.source === 'http-ua') &&
          host.os.some((o: { source: string }) => o.source === 'tcp-syn') &&
          byMac?.os.some((o: { source: string }) => o.source === 'dhcp') &&
          byMac.hostnames.includes('lab-laptop') &&
          byMac.ipv4.includes(ADDR.lan4)
        );
      },
      20_000,
    );
    // The MAC's host (the lab's veth MAC is a local one, so udhcpc's client id keys it): its lease
    // (address, name) and its DHCP requests; none of the traffic's facts.
    expect(byMac.id).toMatch(/^dhcp:/);
    expect(byMac).toMatchObject({
      ipv4: [ADDR.lan4],
      macs: [lanMac],
      hostnames: ['lab-laptop'],
    });
    expect(byMac.software).toEqual([]);
    expect(byMac.os.map((o: { source: string }) => o.source)).toEqual(['dhcp']);
    // The address names the MAC's host; the traffic seen from it is a host of its own.
    expect(api(`/remediation/hosts/${ADDR.lan4}`).json.host.id).toBe(byMac.id);
    expect(host.id).toBe(`ip:${ADDR.lan4}`);
    expect(host.ipv4).toEqual([ADDR.lan4]);
    expect(host.macs).toEqual([]);
    // OS: the SYN's p0f-style signature (TTL 64 as the host sent it: tunguard sees it before the kernel) …
    const syn = host.os.find((o: { source: string }) => o.source === 'tcp-syn');
    expect(syn.signature).toMatch(/^4:64:0:1460:(mss\*\d+|\d+),\d+:mss,sok,ts,nop,ws:df,id\+:0$/);
    expect(syn).toMatchObject({ name: 'Linux 3.x+', family: 'Linux', confidence: 30 });
    // … and the User-Agent the host sent.
    expect(host.os).toContainEqual(
      expect.objectContaining({ name: 'Linux', family: 'Linux', source: 'http-ua', confidence: 40 }),
    );
    // … and its DHCP requests, read from the LAN device: udhcpc names itself in option 60.
    const dhcpOs = byMac.os.find((o: { source: string }) => o.source === 'dhcp');
    expect(dhcpOs).toMatchObject({ name: 'Linux (BusyBox)', family: 'Linux', confidence: 50 });
    expect(dhcpOs.signature).toMatch(/^55=[\d,]+;60=udhcp \d+\.\d+\.\d+$/);
    // Software: the service's banner, and the browser named in the request.
    const sw = host.software.map(
      (s: { product: string; version?: string; port?: number; source: string; confidence: number }) => [
        s.product,
        s.version,
        s.port,
        s.source,
        s.confidence,
      ],
    );
    expect(sw).toContainEqual(['SimpleHTTP', '0.6', PY_PORT, 'banner', 60]);
    expect(sw).toContainEqual(['Python', python, PY_PORT, 'banner', 60]);
    expect(sw).toContainEqual(['firefox', '115.0', undefined, 'http-ua', 40]);

    // The hosts list names how it was learned.
    const list = api('/remediation/hosts');
    const row = list.json.items.find((h: { id: string }) => h.id === `ip:${ADDR.lan4}`);
    expect(row.evidence).toEqual(['passive']);
    expect(row.software.length).toBeGreaterThanOrEqual(3);
    // Negative control: the WAN server answered too (HTTP/1.1 … from 198.51.100.2), but only LAN hosts are sampled.
    expect(list.json.items.some((h: { ipv4: string[] }) => h.ipv4.includes(ADDR.wan4))).toBe(false);
    expect(list.json.items.map((h: { id: string }) => h.id).sort()).toEqual([byMac.id, `ip:${ADDR.lan4}`]);

    const passive = api('/remediation/passive').json;
    expect(passive).toMatchObject({ running: true, leases: 1, leaseLinesRejected: 0, dhcpUnusable: 0 });
    // DISCOVER and REQUEST at least (the router's own dnsmasq replies go the other way: not read).
    expect(passive.dhcpPackets).toBeGreaterThanOrEqual(2);
    expect(passive.samples).toBeGreaterThanOrEqual(3);
    const st = await lab.freshStatus();
    expect(st.counters.sampler_samples).toBe(passive.samples);
    expect(st.counters.sampler_drop_full).toBe(0);
    // DHCP went to the router itself: no UDP at all crossed the TUN in this test.
    expect(st.counters.udp).toBe(0);
    console.log(
      `passive lab: ${passive.samples} samples (${st.counters.sampler_skip_repeat} repeats skipped, ${st.counters.sampler_drop_rate} over budget), ${passive.dhcpPackets} DHCP requests, ${passive.written} observations written; SYN signature ${syn.signature}; DHCP ${dhcpOs.signature}`,
    );
  }, 60_000);
});
