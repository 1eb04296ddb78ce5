// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
// tunguard in the lab: the page loads with the token, the charts and the tier gauge move while bounded
// floods cross tunguard, actions round-trip through the API, the LAN hosts table shows what the
// passive inventory learned (OS, software, CVEs, risk) and its "Remediate" button has the real agent on
// the LAN host carry out the remedy; screenshots are kept.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentDirs, buildAgent, cleanup, makeDirs, writeAgentConfig } from '../agent/harness.js';
import { type Bridge, bridgeInto } from '../api/lab-bridge.js';
import { launchChromium } from './browser.js';
import { ADDR, Lab, makeTempDir, REPO_ROOT, sleep, startHttpServer } from './lab.js';
import { NGINX_LIKE_JS } from './scan.js';
import { synBurst, synsFrom } from './syns.js';

const SCREENSHOT = join(REPO_ROOT, 'test-artifacts', 'dashboard.png');
const HOSTS_SCREENSHOT = join(REPO_ROOT, 'test-artifacts', 'dashboard-hosts.png');
const FEED = join(REPO_ROOT, 'test', 'fixtures', 'scanners', 'nvd-sample.json');
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0';
let agentDirs: AgentDirs | undefined;
let lab: Lab;
let bridge: Bridge;
let browser: BrowserContext;
let page: Page;
let token = '';
let profile = '';
const www = makeTempDir('tunguard-www-');

async function api(path: string, init: RequestInit = {}) {
  const r = await fetch(`${bridge.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
  return r.json();
}

/** Chart data the page keeps (window.tunguardDashboard.samples). */
function samples(): Promise<
  { at: number; icmp: number; syn: number; halfOpen: number | null; drops: Record<string, number> }[]
> {
  return page.evaluate(
    () => (window as unknown as { tunguardDashboard: { samples: never[] } }).tunguardDashboard.samples,
  );
}

beforeAll(async () => {
  lab = Lab.create();
  writeFileSync(join(www, 'f.bin'), Buffer.alloc(4 << 20, 7));
  await startHttpServer(lab, lab.ns.lan, www, 8080, [ADDR.lan4]);
  const conf = join(lab.stateDir, 'tunguard.conf');
  // The LAN host is known from its traffic only here: remedies may act on passive facts.
  writeFileSync(
    conf,
    "config tunguard 'main'\n\toption wan_device 'wan0'\n\tlist lan_device 'lan0'\n\nconfig detect 'detect'\n\toption remedy_evidence 'any'\n",
  );
  // No DHCP lease file: the hosts table is fed by traffic alone here.
  const tg = lab.startTunguard(['--config', conf, '--dhcp-leases', ''], false);
  await tg.ready();
  token = readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
  bridge = await bridgeInto(lab, lab.ns.rtr, '127.0.0.1', 7447);
  ({ browser, profile } = await launchChromium());
  page = browser.pages()[0] ?? (await browser.newPage());
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await bridge?.close();
  await lab?.tunguard?.stop();
  lab?.destroy();
  if (agentDirs) cleanup(agentDirs);
});

describe('dashboard in Chromium', () => {
  it('asks for the token, refuses a wrong one, then loads with the right one', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/401/.test(m.text())) errors.push(m.text());
    });
    await page.goto(`${bridge.url}/`);
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#token', 'wrong-token-wrong-token-wrong-token-xx');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error', { hasText: 'refused' }).waitFor();
    await page.fill('#token', token);
    await page.click('#login button[type=submit]');
    await page.locator('#login').waitFor({ state: 'hidden' });
    await page.locator('#live-text', { hasText: /^live/ }).waitFor({ timeout: 5000 });
    expect(await page.textContent('#version')).toMatch(/^v\d+\.\d+\.\d+/);
    expect(await page.getAttribute('#tier-name', 'data-tier')).toBe('normal');
    // The uptime ticks every second from the status' startedAt (whole ms since the epoch; parsed as
    // an ISO string it is NaN and the clock stands still).
    const up0 = await page.textContent('#uptime');
    await page.waitForTimeout(2200);
    const up1 = await page.textContent('#uptime');
    expect(up1).toMatch(/^up (\d+s|\d+m \d+s)$/);
    expect(up1).not.toBe(up0);
    // The token lives in this tab's sessionStorage, nowhere in a URL.
    expect(await page.evaluate(() => sessionStorage.getItem('tunguard.token'))).toBe(token);
    expect(page.url()).not.toContain(token);
    expect(errors).toEqual([]);
  });

  it('moves the charts and the gauge while ICMP and SYN floods cross tunguard', async () => {
    const before = await samples();
    const icmpBefore = Math.max(0, ...before.map((s) => s.icmp));
    const pointsBefore = await page.getAttribute('#chart-rates polyline[data-series="ICMP/s"]', 'points');
    // Bounded floods, lab addresses only: ~8000 echo requests in ~8 s from the WAN host; SYN bursts from
    // 50 WAN-side sources (5 each: below the aggressive mark) and one source that gets marked; and a
    // slow download, so that a proxied connection is listed.
    const icmp = lab.execAsync(
      lab.ns.wan,
      'hping3',
      ['-q', '--icmp', '-i', 'u1000', '-c', '8000', ADDR.lan4],
      30_000,
    );
    const download = lab.execAsync(
      lab.ns.wan,
      'curl',
      [
        '-sS',
        '-o',
        '/dev/null',
        '--limit-rate',
        '400k',
        '--max-time',
        '20',
        `http://${ADDR.lan4}:8080/f.bin`,
      ],
      30_000,
    );
    const burst = (from: number) => synBurst(lab, from);
    const hping66 = (n: number) => synsFrom(lab, '198.51.100.66', n);
    await burst(10);
    hping66(6);
    // The gauge leaves 'normal': 250 new SYNs in the 3 s window is more than the moderate threshold.
    await page
      .locator('#tier-name[data-tier="moderate"], #tier-name[data-tier="risky"]')
      .waitFor({ timeout: 5000 });
    await sleep(2000); // handshakes count as unfinished after a grace second
    hping66(3);
    await burst(100); // keeps the tier up for the screenshot
    await page.locator('#attackers tr[data-address="198.51.100.66"]').waitFor({ timeout: 5000 });
    await page.click('#conn-filter button'); // refresh the connections table now
    await page
      .locator('#connections td', { hasText: `${ADDR.lan4}:8080` })
      .first()
      .waitFor({ timeout: 5000 });
    await page
      .locator('#tier-name[data-tier="moderate"], #tier-name[data-tier="risky"]')
      .waitFor({ timeout: 3000 });
    await sleep(1100); // one more counters event with the floods in it
    mkdirSync(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await icmp;
    const dl = await download;
    expect(dl.code, dl.stderr).toBe(0); // the flood did not break the legitimate transfer
    const after = await samples();
    const icmpPeak = Math.max(...after.map((s) => s.icmp));
    const synPeak = Math.max(...after.map((s) => s.syn));
    const halfOpenPeak = Math.max(...after.map((s) => s.halfOpen ?? 0));
    const icmpDrops = Math.max(
      ...after.map((s) =>
        Object.entries(s.drops).reduce((n, [k, v]) => n + (k.startsWith('drop_icmp') ? v : 0), 0),
      ),
    );
    console.log(
      `dashboard: ${after.length} samples; peaks ICMP ${icmpPeak.toFixed(0)}/s (before ${icmpBefore.toFixed(0)}), new SYN ${synPeak.toFixed(0)}/s, half-open ${halfOpenPeak}, ICMP drops ${icmpDrops.toFixed(0)}/s`,
    );
    // The kernel drops what is over the ICMP limit before the TUN (src/netcfg/kernel-limits.ts): the
    // dataplane reads about the limit's worth, and the drops (same counters, by reason) carry the flood.
    expect(icmpPeak).toBeGreaterThan(80);
    expect(icmpDrops).toBeGreaterThan(300);
    expect(synPeak).toBeGreaterThan(50);
    expect(halfOpenPeak).toBeGreaterThan(100);
    expect(await page.getAttribute('#chart-rates polyline[data-series="ICMP/s"]', 'points')).not.toBe(
      pointsBefore,
    );
    expect(
      await page.locator('#chart-drops polyline[data-series^="drop_icmp"]').count(),
    ).toBeGreaterThanOrEqual(1);
    expect(await page.textContent('#legend-hs')).toMatch(/half-open/);
  });

  it('round-trips actions: allow a prefix and remove it, clear an attacker', async () => {
    await page.fill('#allow-prefix', '203.0.113.0/24');
    await page.fill('#allow-comment', 'lab peers');
    await page.click('#allow-form button[type=submit]');
    await page.locator('#allowlist tr[data-cidr="203.0.113.0/24"]').waitFor({ timeout: 5000 });
    const listed = await api('/api/v1/allowlist');
    expect(listed.items).toContainEqual(
      expect.objectContaining({ cidr: '203.0.113.0/24', comment: 'lab peers' }),
    );
    expect(readFileSync(join(lab.stateDir, 'tunguard.conf'), 'utf8')).toContain(
      "list prefix '203.0.113.0/24'",
    );
    await page.click('#allowlist tr[data-cidr="203.0.113.0/24"] button');
    await page
      .locator('#allowlist tr[data-cidr="203.0.113.0/24"]')
      .waitFor({ state: 'detached', timeout: 5000 });
    expect((await api('/api/v1/allowlist')).items).toEqual([]);

    // A bad prefix is refused with the API's reason on the page.
    await page.fill('#allow-prefix', '10.0.0.1/8');
    await page.click('#allow-form button[type=submit]');
    await page.locator('#error', { hasText: 'host bits set' }).waitFor({ timeout: 5000 });

    await page.click('#attackers tr[data-address="198.51.100.66"] button:has-text("Clear")');
    await page
      .locator('#attackers tr[data-address="198.51.100.66"]')
      .waitFor({ state: 'detached', timeout: 5000 });
    const att = await api('/api/v1/attackers');
    expect(att.items.map((a: { address: string }) => a.address)).not.toContain('198.51.100.66');
  });

  it('lists LAN hosts with OS, software, CVEs, risk and dispatch status; Remediate runs the remedy', async () => {
    const post = (path: string, body: unknown) =>
      api(path, { method: 'POST', body: JSON.stringify(body) }) as Promise<Record<string, unknown>>;
    // What the passive inventory sees: the LAN host browsing the WAN, and a WAN client fetching from
    // the LAN host's nginx-like service.
    const web = lab.spawn(lab.ns.lan, process.execPath, ['-e', NGINX_LIKE_JS, ADDR.lan4, '8081']);
    await new Promise<void>((r) => web.stdout?.once('data', () => r()));
    await startHttpServer(lab, lab.ns.wan, www, 80, [ADDR.wan4]);
    expect(
      lab.exec(lab.ns.lan, 'curl', ['-sS', '-A', UA, '-o', '/dev/null', `http://${ADDR.wan4}/f.bin`]).code,
    ).toBe(0);
    expect(lab.exec(lab.ns.wan, 'curl', ['-sS', `http://${ADDR.lan4}:8081/`]).stdout).toBe('ok');
    expect((await post('/api/v1/remediation/threats/feed', { path: lab.importable(FEED) })).loaded).toBe(4);

    // The row appears (passive evidence is written every 5 s); no agent yet: Remediate is disabled.
    const row = page.locator(`#hosts tr[data-host="ip:${ADDR.lan4}"]`);
    await row.locator('td.cves', { hasText: 'CVE-2021-23017' }).waitFor({ timeout: 20_000 });
    expect(await row.locator('td.software').textContent()).toContain('nginx 1.18.0:8081');
    expect(await row.locator('td.software').textContent()).toContain('banner');
    expect(await row.locator('td.os').textContent()).toMatch(/^Linux.*http-ua, confidence 40/);
    expect(await row.locator('.risk').textContent()).toBe('high 7.7');
    expect(await row.locator('td.dispatch').textContent()).toBe('–');
    const remediate = row.locator('button[data-action="remediate"]');
    expect(await remediate.isDisabled()).toBe(true);
    expect(await remediate.getAttribute('title')).toBe('no paired agent on this host');

    // The host's real agent, paired by a copied key, and a rule for the CVE.
    agentDirs = makeDirs('tg-dash-agent-');
    const implant = join(agentDirs.root, 'implant.bin');
    writeFileSync(implant, 'implant');
    const agentMain = buildAgent();
    const agentConf = writeAgentConfig(agentDirs, 'dash-host', { host: ADDR.lan4, port: 7443 });
    const agentKey = lab
      .run(lab.ns.lan, process.execPath, [agentMain, 'show-key', '--config', agentConf])
      .trim();
    const paired = await post('/api/v1/remediation/agents', {
      hostId: 'dash-host',
      address: ADDR.lan4,
      port: 7443,
      agentKey,
      // The row the admin pairs it for (a host known from traffic only is never bound by default).
      host: `ip:${ADDR.lan4}`,
    });
    lab.run(lab.ns.lan, process.execPath, [
      agentMain,
      'trust-router',
      '--key',
      String(paired.routerKey),
      '--config',
      agentConf,
    ]);
    const agent = lab.spawn(lab.ns.lan, process.execPath, [agentMain, 'serve', '--config', agentConf]);
    await new Promise<void>((r) => agent.stdout?.once('data', () => r()));
    const rule = await post('/api/v1/remediation/rules', {
      kind: 'threat',
      id: 'dash-cve-2021-23017',
      threat: { type: 'vulnerability', id: 'CVE-2021-23017' },
      remedy: { fileOps: [{ name: 'implant.bin', location: agentDirs.root, op: 'quarantine' }] },
    });
    expect(rule.id).toBe('dash-cve-2021-23017');

    // The next poll enables the button; clicking it queues the remedy and the status follows it.
    await row.locator('button[data-action="remediate"]:not([disabled])').waitFor({ timeout: 10_000 });
    expect(await row.locator('button[data-action="remediate"]').getAttribute('title')).toBe(
      'rules: dash-cve-2021-23017',
    );
    await row.locator('button[data-action="remediate"]').click();
    await page.locator('#toast', { hasText: 'queued 1 remedy' }).waitFor({ timeout: 5000 });
    await row.locator('td.dispatch', { hasText: /^done/ }).waitFor({ timeout: 15_000 });
    expect(await row.locator('td.dispatch').textContent()).toMatch(/^donedash-cve-2021-23017 · /);
    expect(existsSync(implant)).toBe(false); // the agent quarantined it
    const dispatches = (await api('/api/v1/remediation/dispatches')).items as Array<{
      ruleId?: string;
      status: string;
      trigger: string;
      results: Array<{ ok: boolean; quarantineId?: string }>;
    }>;
    const d = dispatches.find((x) => x.ruleId === 'dash-cve-2021-23017');
    expect(d).toMatchObject({ status: 'done', trigger: 'manual' });
    expect(readFileSync(join(agentDirs.quarantine, `${d?.results[0].quarantineId}.data`), 'utf8')).toBe(
      'implant',
    );
    await page.locator('#h-hosts').scrollIntoViewIfNeeded();
    await page.screenshot({ path: HOSTS_SCREENSHOT, fullPage: true });
  }, 90_000);
});
