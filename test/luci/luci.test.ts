// luci-app-tunguard in a real browser (Debian's Chromium via playwright-core) against a real tunguard in
// the netns lab. The page talks only to the harness's /ubus/, which checks the session and the app's ACL
// file and runs the REAL rpcd plugin inside the router's namespace (busybox ash), which reads the
// daemon's status.json or runs the repo's `tunguard` CLI against the daemon's API. Settings are saved
// into the daemon's real UCI file and read back with the project's parser; the daemon then reloads it.
// One file (about 1050 lines): every view shares one browser, one lab and one daemon (starting them
// is most of the run time); each describe block is one LuCI tab.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configFromText, DEFAULT_UCI, parseUci } from '../../src/config/index.js';
import { type AgentDirs, buildAgent, cleanup, makeDirs, writeAgentConfig } from '../agent/harness.js';
import { CHROMIUM, launchChromium } from '../lab/browser.js';
import { ADDR, type ApiResult, Lab, REPO_ROOT, requireTools, sleep, waitFor } from '../lab/lab.js';
import { NGINX_LIKE_JS, scanLanPort } from '../lab/scan.js';
import { synBurst, synsFrom } from '../lab/syns.js';
import { LuciHarness } from './harness.js';
import { busyboxBin, callPlugin, listPlugin, type PluginEnv } from './plugin.js';

const SCREENSHOT = join(REPO_ROOT, 'test-artifacts', 'luci-status.png');
const POLICE_SCREENSHOT = join(REPO_ROOT, 'test-artifacts', 'luci-police-down.png');
const CLI = join(REPO_ROOT, 'bin', 'tunguard');
const WEB_PORT = 8081;
const AGENT_PORT = 7443;
const OPENVAS = join(REPO_ROOT, 'test/fixtures/scanners/defectdojo_openvas_report_detail_v2.xml');

let lab: Lab;
let conf: string;
let harness: LuciHarness;
let browser: BrowserContext;
let page: Page;
let profile = '';
let token = '';
let dirs: AgentDirs | undefined;
let agent: ChildProcess | undefined;
let plugin: PluginEnv;
const errors: string[] = [];
/** Where the harness's cgi-upload puts /tmp/tunguard-program.upload, and the plugin takes it from. */
let uploadFile = '';
/** The system log the logread stand-in prints (the daemon's own lines, written there by the test). */
let syslogFile = '';
/** rpcd rc's "enabled" for tunguard (the harness plays procd's init script; see the service test). */
let enabledAtBoot = true;

function running(): boolean {
  const p = lab.tunguard?.proc;
  return p !== undefined && p.exitCode === null && p.signalCode === null;
}

/** The repo's CLI in the router's namespace (what the plugin runs too). */
function cli(...args: string[]): unknown {
  const out = lab.run(
    lab.ns.rtr,
    process.execPath,
    [CLI, ...args, '--json', '--state-dir', lab.stateDir],
    60_000,
  );
  return JSON.parse(out);
}

/** The daemon's API with curl inside the router's namespace (rules and agents have no CLI verbs). */
function api(method: string, path: string, body?: unknown): ApiResult {
  return lab.api(token, method, `http://127.0.0.1:7447/api/v1/remediation${path}`, body);
}

async function open(tab: string): Promise<void> {
  await page.goto(harness.pageUrl(`admin/services/tunguard/${tab}`));
  await page.locator('#view[data-rendered="true"]').waitFor({ timeout: 20_000 });
}

/** The chart legend's current values (what the last poll computed). */
function legend(): Promise<Record<string, number | null>> {
  return page.evaluate(() => {
    const out: Record<string, number | null> = {};
    for (const el of document.querySelectorAll('#tg-legend [data-series]')) {
      const v = el.getAttribute('data-value');
      out[el.getAttribute('data-series') ?? '?'] = v === '' || v === null ? null : Number(v);
    }
    return out;
  });
}

const widget = (section: string, option: string) =>
  page.locator(`[id="widget.cbid.tunguard.${section}.${option}"]`);

beforeAll(async () => {
  requireTools(['ip', 'curl', 'nmap', 'hping3', 'python3']);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`);
  lab = Lab.create();
  // The package's default file, with the lab's devices and every path in the lab's state dir.
  conf = join(lab.stateDir, 'tunguard.conf');
  writeFileSync(
    conf,
    DEFAULT_UCI.replace("option wan_device 'wan'", "option wan_device 'wan0'")
      .replace("list lan_device 'br-lan'", "list lan_device 'lan0'")
      .replace("option state_dir '/var/run/tunguard'", `option state_dir '${lab.stateDir}'`)
      .replace("option durable_dir '/etc/tunguard'", `option durable_dir '${lab.stateDir}/durable'`)
      .replace(
        "option token_file '/etc/tunguard/api.token'",
        `option token_file '${lab.stateDir}/api.token'`,
      ),
  );
  const tg = lab.startTunguard(['--config', conf], false);
  const web = lab.spawn(lab.ns.lan, process.execPath, ['-e', NGINX_LIKE_JS, ADDR.lan4, String(WEB_PORT)]);
  let webOut = '';
  web.stdout?.on('data', (d: Buffer) => {
    webOut += d.toString();
  });
  await tg.ready();
  await waitFor('the API token', () => existsSync(join(lab.stateDir, 'api.token')));
  token = readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
  await waitFor('the LAN web service', () => webOut.includes('listening'));

  uploadFile = join(lab.stateDir, 'program.upload');
  syslogFile = join(lab.stateDir, 'syslog');
  writeFileSync(syslogFile, '');
  // A stand-in for OpenWrt's logread (ubox): `-e PATTERN` filters the log; the log holds what the
  // test copies there from the real daemon's output (logd is not here).
  const logread = join(lab.stateDir, 'logread');
  writeFileSync(
    logread,
    `#!/bin/sh\n[ "$1" = -e ] && exec grep -- "$2" '${syslogFile}'\ncat '${syslogFile}'\n`,
  );
  chmodSync(logread, 0o755);
  plugin = { stateDir: lab.stateDir, cli: CLI, ns: lab.ns.rtr, upload: uploadFile, logread };
  harness = new LuciHarness({
    configFile: conf,
    runPlugin: (method, input) => callPlugin(plugin, method, input),
    listPlugin: () => listPlugin(plugin),
    uploadPath: (aclPath) => {
      if (aclPath !== '/tmp/tunguard-program.upload') throw new Error(`unexpected upload path ${aclPath}`);
      return uploadFile;
    },
    // procd's side, played here: the daemon of this lab stops and starts for real.
    rc: {
      list: async () => ({ tunguard: { start: 95, stop: 10, enabled: enabledAtBoot, running: running() } }),
      init: async (name, action) => {
        if (name !== 'tunguard') return 4;
        if ((action === 'stop' || action === 'restart') && running()) await lab.tunguard?.stop();
        if ((action === 'start' || action === 'restart') && !running())
          await lab.startTunguard(['--config', conf], false).ready();
        if (action === 'enable') enabledAtBoot = true;
        if (action === 'disable') enabledAtBoot = false;
        return 0;
      },
    },
    devices: async () => {
      const links = JSON.parse(lab.run(lab.ns.rtr, 'ip', ['-j', 'link', 'show'])) as {
        ifname: string;
        flags: string[];
        address?: string;
      }[];
      return Object.fromEntries(
        links.map((l) => [
          l.ifname,
          { name: l.ifname, flags: { up: l.flags.includes('UP') }, mac: l.address },
        ]),
      );
    },
  });
  await harness.start();
  ({ browser, profile } = await launchChromium());
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await harness?.close();
  agent?.kill('SIGTERM');
  await lab?.tunguard?.stop();
  lab?.destroy();
  if (dirs) cleanup(dirs);
});

describe('luci-app-tunguard in Chromium, through the rpcd plugin, against a real tunguard', () => {
  beforeEach(() => {
    errors.length = 0; // each test answers for its own page errors
  });

  it('loads every tab of the menu without console errors', async () => {
    // The menu entry is an alias of the Status tab.
    await page.goto(harness.pageUrl('admin/services/tunguard'));
    await page.locator('#view[data-rendered="true"]').waitFor({ timeout: 20_000 });
    expect(
      await page.locator('ul.tabs li').evaluateAll((li) => li.map((l) => l.getAttribute('data-tab'))),
    ).toEqual(['status', 'hosts', 'rules', 'log', 'settings']);
    await page.locator('#tg-tier[data-tier="normal"]').waitFor({ timeout: 5000 });
    expect(await page.textContent('#tg-version')).toMatch(/^\d+\.\d+\.\d+/);
    expect(await page.textContent('#tg-half-open')).toBe('0');
    expect(await page.locator('#tg-attackers tr.placeholder').count()).toBe(1);

    await page.click('ul.tabs li[data-tab="hosts"] a');
    await page.locator('#view[data-rendered="true"] #tg-hosts').waitFor({ timeout: 20_000 });
    await page.locator('#tg-hosts tr.placeholder').waitFor();
    expect(await page.textContent('#tg-detection [data-field="schedule"]')).toBe(
      'Off: enable it under Settings → Detection.',
    );
    await page.click('ul.tabs li[data-tab="rules"] a');
    await page.locator('#view[data-rendered="true"] #tg-rules tr.placeholder').waitFor({ timeout: 20_000 });
    await page.click('ul.tabs li[data-tab="settings"] a');
    await page.locator('#view[data-rendered="true"] .cbi-map').waitFor({ timeout: 20_000 });
    expect(await widget('syn', 'moderate_threshold').inputValue()).toBe('100');
    expect(await widget('main', 'wan_device').inputValue()).toBe('wan0');
    // Settings is a form: LuCI's three buttons (the other tabs set them to null).
    expect(await page.locator('.cbi-page-actions button').allTextContents()).toEqual([
      'Save & Apply',
      'Save',
      'Reset',
    ]);
    expect(errors).toEqual([]);
    // Every call went through the plugin and was granted.
    expect(harness.calls.filter((c) => c.status !== 0)).toEqual([]);
    expect(new Set(harness.calls.map((c) => `${c.object}.${c.method}`))).toEqual(
      new Set([
        'tunguard.status',
        'tunguard.hosts',
        'tunguard.dispatches',
        'tunguard.detect',
        'tunguard.rules',
        'tunguard.programs',
        'uci.get',
        'luci-rpc.getNetworkDevices',
      ]),
    );
  });

  it('moves the Status chart and tier while bounded floods cross tunguard; lists the aggressive source', async () => {
    await open('status');
    const pointsBefore = await page.getAttribute('#tg-chart polyline[data-series="icmp"]', 'points');
    // Bounded, lab addresses only: ~6000 echo requests in ~6 s from the WAN host; three bursts of SYNs
    // from 50 WAN-side sources (5 each: below the aggressive mark); one source that gets marked.
    const icmp = lab.execAsync(
      lab.ns.wan,
      'hping3',
      ['-q', '--icmp', '-i', 'u1000', '-c', '6000', ADDR.lan4],
      30_000,
    );
    const burst = (from: number) => synBurst(lab, from);
    const hping66 = (n: number) => synsFrom(lab, '198.51.100.66', n);
    const peak: Record<string, number> = {};
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const [k, v] of Object.entries(await legend()))
          if (v !== null) peak[k] = Math.max(peak[k] ?? 0, v);
        await sleep(250);
      }
    })();
    await burst(10);
    hping66(6);
    await page
      .locator('#tg-tier[data-tier="moderate"], #tg-tier[data-tier="risky"]')
      .waitFor({ timeout: 8000 });
    await sleep(1500); // handshakes count as unfinished after a grace second
    hping66(3);
    await burst(100);
    await page.locator('#tg-attackers tr[data-address="198.51.100.66"]').waitFor({ timeout: 8000 });
    await burst(150);
    await (await icmp).code;
    await sleep(2500); // one more poll with the floods in it
    sampling = false;
    await sampler;
    mkdirSync(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(
      `luci status: peaks ${Object.entries(peak)
        .map(([k, v]) => `${k} ${v.toFixed(0)}`)
        .join(', ')}`,
    );
    // The kernel drops what is over the ICMP limit before the TUN (src/netcfg/kernel-limits.ts): the
    // dataplane reads about the limit's worth, and the drops series carries the flood.
    expect(peak.icmp).toBeGreaterThan(80);
    expect(peak.drops).toBeGreaterThan(300);
    expect(peak.syn).toBeGreaterThan(20);
    expect(peak.halfOpen).toBeGreaterThan(20);
    expect(await page.getAttribute('#tg-chart polyline[data-series="icmp"]', 'points')).not.toBe(
      pointsBefore,
    );
    expect(errors).toEqual([]);
  });

  it('round-trips "allow" and "clear" for an aggressive source', async () => {
    const row = () => page.locator('#tg-attackers tr[data-address="198.51.100.66"]');
    await row().waitFor({ timeout: 5000 });
    await row().locator('button[data-action="allow"]').click();
    await page
      .locator('[data-notification="info"]', { hasText: 'Allowed 198.51.100.66' })
      .waitFor({ timeout: 15_000 });
    // Written to the daemon's config file (read back with the project's parser).
    const allowed = configFromText(readFileSync(conf, 'utf8')).config.allow.map((p) => p.cidr);
    expect(allowed).toContain('198.51.100.66/32');
    expect((cli('allow', 'list') as { items: { cidr: string }[] }).items.map((i) => i.cidr)).toContain(
      '198.51.100.66/32',
    );

    await row().locator('button[data-action="clear"]').click();
    await page
      .locator('[data-notification="info"]', { hasText: 'Cleared the mark of 198.51.100.66' })
      .waitFor({ timeout: 15_000 });
    await row().waitFor({ state: 'detached', timeout: 8000 });
    const att = cli('attackers') as { items: { address: string }[] };
    expect(att.items.map((a) => a.address)).not.toContain('198.51.100.66');
    expect(errors).toEqual([]);
  });

  it('refuses a bad argument through the whole path (browser → ubus → plugin) with its reason', async () => {
    const marker = join(lab.stateDir, 'pwned');
    const reply = await page.evaluate(
      async ([sid, mark]) => {
        const r = await fetch('/ubus/', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'call',
            params: [sid, 'tunguard', 'clear', { address: `198.51.100.7; touch ${mark}` }],
          }),
        });
        return r.json();
      },
      [harness.sessionId, marker],
    );
    expect(reply.result[0]).toBe(0);
    expect(reply.result[1].error).toMatch(
      /^bad address '198\.51\.100\.7; touch .*': expected an IPv4 or IPv6 address/,
    );
    expect(existsSync(marker)).toBe(false);
    // No session, no call; and the ACL grants no method the plugin does not list.
    const noSession = await fetch(`${harness.url}/ubus/`, {
      method: 'POST',
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 2,
        method: 'call',
        params: ['0'.repeat(32), 'tunguard', 'status', {}],
      }),
    }).then((r) => r.json());
    expect(noSession.error).toEqual({ code: -32002, message: 'Access denied' });
    const notGranted = await fetch(`${harness.url}/ubus/`, {
      method: 'POST',
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 3,
        method: 'call',
        params: [harness.sessionId, 'tunguard', 'config', {}],
      }),
    }).then((r) => r.json());
    expect(notGranted.error).toEqual({ code: -32002, message: 'Access denied' });
  });

  it('shows hosts after scan imports, their CVEs and risk, and dispatches a remedy to the real agent', async () => {
    // The LAN host: a real agent, paired by a copied key.
    dirs = makeDirs('tg-luci-agent-');
    const agentMain = buildAgent();
    // It takes programs the router sends (the program upload test below needs that).
    const agentConf = writeAgentConfig(
      dirs,
      'lan-host',
      { host: ADDR.lan4, port: AGENT_PORT },
      { allowInlinePrograms: true },
    );
    const agentKey = lab
      .run(lab.ns.lan, process.execPath, [agentMain, 'show-key', '--config', agentConf])
      .trim();
    const paired = api('POST', '/agents', {
      hostId: 'lan-host',
      address: ADDR.lan4,
      port: AGENT_PORT,
      agentKey,
    });
    expect(paired.status).toBe(201);
    lab.run(lab.ns.lan, process.execPath, [
      agentMain,
      'trust-router',
      '--key',
      (paired.json as { routerKey: string }).routerKey,
      '--config',
      agentConf,
    ]);
    agent = lab.spawn(lab.ns.lan, process.execPath, [agentMain, 'serve', '--config', agentConf]);
    let agentOut = '';
    agent.stdout?.on('data', (d: Buffer) => {
      agentOut += d.toString();
    });
    const victim = join(dirs.root, 'dropper.sh');
    writeFileSync(victim, 'evil payload', { mode: 0o755 });

    // A real, bounded nmap version scan of the LAN service from the router, and a stored OpenVAS report.
    const xml = join(lab.stateDir, 'lan-scan.xml');
    const scan = scanLanPort(lab, WEB_PORT, xml);
    expect(scan.code, scan.stderr).toBe(0);
    // The agent was paired before any host was known at its address: it serves a host of its own,
    // which the scan of its address joins.
    expect((cli('scan', 'import', xml) as { hostIds: string[] }).hostIds).toEqual(['agent:lan-host']);
    expect((cli('scan', 'import', OPENVAS) as { hostIds: string[] }).hostIds).toEqual(['name:server99']);
    const rule = api('POST', '/rules', {
      kind: 'environment',
      id: 'lab-nginx-dropper',
      name: 'nginx 1.18 dropper',
      environment: { software: 'nginx', softwareVersions: ['1.18.0'] },
      remedy: { fileOps: [{ name: 'dropper.sh', location: dirs.root, op: 'delete' }] },
    });
    expect(rule.status).toBe(201);
    await waitFor('the agent', () => agentOut.includes(`LISTENING ${ADDR.lan4}:${AGENT_PORT}`));

    await open('hosts');
    const lan = page.locator('#tg-hosts tr[data-host="agent:lan-host"]');
    const server99 = page.locator('#tg-hosts tr[data-host="name:server99"]');
    expect(await lan.locator('[data-field="software"]').textContent()).toBe('1');
    expect(Number(await server99.locator('[data-field="threats"]').textContent())).toBeGreaterThan(50);
    expect(await server99.locator('[data-risk]').getAttribute('data-risk')).toBe('critical');

    await server99.locator('button[data-action="details"]').click();
    const server99Detail = page.locator('#tg-hosts tr[data-detail-for="name:server99"]');
    await server99Detail.locator('li[data-threat^="CVE-"]').first().waitFor({ timeout: 15_000 });
    expect(await server99Detail.locator('li[data-threat="CVE-2025-49659"]').textContent()).toMatch(
      /cvss 9\.8/,
    );
    // The scanner's own finding (its NVT), beside the CVEs it names.
    expect(await server99Detail.locator('li[data-threat^="OPENVAS:"]').textContent()).toMatch(
      /^OPENVAS:1\.3\.6\.1\.4\.1\.25623\.\S+ cvss \d+(\.\d)?: \S/,
    );

    await lan.locator('button[data-action="details"]').click();
    const lanDetail = page.locator('#tg-hosts tr[data-detail-for="agent:lan-host"]');
    await lanDetail.locator('li[data-product="nginx"]').waitFor({ timeout: 15_000 });
    expect(await lanDetail.locator('li[data-product="nginx"]').textContent()).toMatch(
      /nginx 1\.18\.0 \(tcp\/8081\)/,
    );
    await lanDetail.locator('li[data-rule="lab-nginx-dropper"] button').click();
    await page
      .locator('[data-notification="info"]', { hasText: 'queued for agent:lan-host' })
      .waitFor({ timeout: 15_000 });
    // The dispatch table follows it until the agent has reported.
    await page.locator('#tg-dispatches tr[data-status="done"]').waitFor({ timeout: 30_000 });
    expect(existsSync(victim)).toBe(false);
    // The CLI verb behind the plugin's `dispatches`: the list and one dispatch with its audit trail.
    const done = cli('dispatches', '--status=done') as { items: { id: string; hostId: string }[] };
    expect(done.items.map((d) => d.hostId)).toEqual(['agent:lan-host']);
    const one = cli('dispatches', done.items[0].id) as { audit: { step: string }[] };
    expect(one.audit.map((a) => a.step)).toContain('dispatch.done');
    expect(await page.locator('#tg-dispatches tr[data-status="done"] td').nth(2).textContent()).toBe(
      'lab-nginx-dropper',
    );

    await page.screenshot({ path: join(REPO_ROOT, 'test-artifacts', 'luci-hosts.png'), fullPage: true });
    // A host without an agent: the refusal is shown, nothing is queued.
    await server99.locator('button[data-action="remediate"]').click();
    await page
      .locator('[data-notification="error"]', { hasText: 'Remediation of name:server99 refused' })
      .waitFor({ timeout: 15_000 });
    expect(await page.locator('#tg-dispatches tr[data-dispatch]').count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it('lists the remediation rules, their text never taken as HTML', async () => {
    // A rule's name is free text from whoever wrote the rules file.
    const hostile = '<img src=x onerror="window.tgXss=1">';
    const rule = api('POST', '/rules', {
      kind: 'threat',
      id: 'hostile-name',
      name: hostile,
      threat: { id: 'CVE-2025-49659' },
      remedy: { fileOps: [{ name: 'x.sh', location: '/tmp/nowhere', op: 'quarantine' }] },
    });
    expect(rule.status).toBe(201);
    await open('rules');
    const odd = page.locator('#tg-rules tr[data-rule="hostile-name"]');
    expect(await odd.locator('td').nth(1).textContent()).toBe(hostile);
    expect(await odd.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { tgXss?: number }).tgXss)).toBeUndefined();
    expect(await odd.locator('[data-field="when"]').textContent()).toBe('CVE-2025-49659');
    const row = page.locator('#tg-rules tr[data-rule="lab-nginx-dropper"]');
    expect(await row.locator('[data-field="kind"]').textContent()).toBe('environment rule');
    expect(await row.locator('[data-field="enabled"]').textContent()).toBe('yes');
    expect(await row.locator('[data-field="when"]').textContent()).toBe('software nginx, version 1.18.0');
    expect(await row.locator('[data-field="remedy"]').textContent()).toBe(`delete ${dirs?.root}/dropper.sh`);
    expect(errors).toEqual([]);
  });

  it('shows a host by its name or MAC before its router id', async () => {
    await open('hosts');
    const known = cli('hosts') as {
      items: { id: string; hostnames: string[]; macs: string[]; ipv4: string[] }[];
    };
    expect(known.items.length).toBeGreaterThan(1);
    for (const h of known.items) {
      const want = h.hostnames[0] ?? h.macs[0] ?? h.ipv4[0] ?? h.id;
      const cell = page.locator(`#tg-hosts tr[data-host="${h.id}"] [data-field="host"]`);
      expect(await cell.locator('strong').textContent()).toBe(want);
      expect(await cell.locator('small').textContent()).toBe(h.id);
      expect(want.startsWith('ip:')).toBe(false);
    }
    // The scanned LAN host (its agent’s own host, which the scan joined) is known by its MAC (nmap saw it
    // on the LAN), the OpenVAS one by its name.
    expect(
      await page.locator(`#tg-hosts tr[data-host="agent:lan-host"] [data-field="host"] strong`).textContent(),
    ).toMatch(/^([0-9A-F]{2}:){5}[0-9A-F]{2}$/i);
    expect(
      await page.locator('#tg-hosts tr[data-host="name:server99"] [data-field="host"] strong').textContent(),
    ).toBe('server99');
  });

  /** Fills the rule editor's field NAME (the rule's own fields, not a remedy row's). */
  async function ruleField(name: string, value: string): Promise<void> {
    const el = page.locator(`#tg-rule-editor [name="${name}"]`).first();
    if ((await el.evaluate((n) => n.tagName)) === 'SELECT') await el.selectOption(value);
    else await el.fill(value);
  }

  async function saveRule(): Promise<void> {
    await page.click('#tg-rule-editor button[data-action="save-rule"]');
  }

  it('adds environment, threat and combined rules with every remedy kind in the editor; refuses, edits, deletes', async () => {
    await open('rules');
    const getRule = (id: string) => api('GET', `/rules/${id}`);

    // An environment rule: software and versions; a program the router stores, and a file operation.
    await page.click('button[data-action="add-rule"]');
    await ruleField('id', 'ui-env');
    await ruleField('name', 'nginx 1.18 cleanup');
    await ruleField('kind', 'environment');
    expect(await page.locator('#tg-edit-threat').isVisible()).toBe(false);
    await ruleField('software', 'nginx');
    await ruleField('softwareVersions', '1.18.0, 1.18.1');
    await page.click('#tg-rule-editor button[data-action="add-program"]');
    const prog = page.locator('#tg-rule-editor .tg-program').last();
    await prog.locator('[name="programId"]').fill('lab-clean');
    await prog.locator('[name="location"]').fill('/opt/tunguard');
    await page.click('#tg-rule-editor button[data-action="add-fileop"]');
    const op = page.locator('#tg-rule-editor .tg-fileop').last();
    await op.locator('[name="op"]').selectOption('quarantine');
    await op.locator('[name="fileName"]').fill('dropper2.sh');
    await op.locator('[name="location"]').fill(dirs?.root ?? '/srv');
    await saveRule();
    await page
      .locator('[data-notification="info"]', { hasText: 'Rule ui-env added.' })
      .waitFor({ timeout: 15_000 });
    expect(getRule('ui-env').json).toMatchObject({
      kind: 'environment',
      name: 'nginx 1.18 cleanup',
      enabled: true,
      priority: 100,
      environment: { software: 'nginx', softwareVersions: ['1.18.0', '1.18.1'] },
      remedy: {
        programs: [{ id: 'lab-clean', location: '/opt/tunguard', platform: 'any' }],
        fileOps: [{ op: 'quarantine', name: 'dropper2.sh', location: dirs?.root }],
      },
    });
    const envRow = page.locator('#tg-rules tr[data-rule="ui-env"]');
    expect(await envRow.locator('[data-field="kind"]').textContent()).toBe('environment rule');

    // A threat rule: a malicious program by name; a program the Windows host keeps (sha256 pin, a
    // location with backslashes) and chmod.
    const pin = 'ab'.repeat(32);
    await page.click('button[data-action="add-rule"]');
    await ruleField('id', 'ui-threat');
    await ruleField('kind', 'threat');
    expect(await page.locator('#tg-edit-environment').isVisible()).toBe(false);
    await ruleField('threatType', 'trojan');
    await ruleField('threatId', 'Bot-4162');
    await page.click('#tg-rule-editor button[data-action="add-program"]');
    const ref = page.locator('#tg-rule-editor .tg-program').last();
    await ref.locator('[name="programId"]').fill('scrub.exe');
    await ref.locator('[name="location"]').fill('C:\\Tools\\"scrub"');
    await ref.locator('[name="platform"]').selectOption('windows');
    await ref.locator('[name="sha256"]').fill(pin);
    await ref.locator('[name="args"]').fill('--all --quiet');
    await page.click('#tg-rule-editor button[data-action="add-fileop"]');
    const chmod = page.locator('#tg-rule-editor .tg-fileop').last();
    await chmod.locator('[name="op"]').selectOption('chmod');
    await chmod.locator('[name="fileName"]').fill('run.sh');
    await chmod.locator('[name="location"]').fill('/srv');
    await chmod.locator('[name="mode"]').fill('600');
    await saveRule();
    await page
      .locator('[data-notification="info"]', { hasText: 'Rule ui-threat added.' })
      .waitFor({ timeout: 15_000 });
    expect(getRule('ui-threat').json).toMatchObject({
      kind: 'threat',
      threat: { type: 'trojan', id: 'Bot-4162', includePossible: false },
      remedy: {
        programs: [
          {
            id: 'scrub.exe',
            location: 'C:\\Tools\\"scrub"',
            platform: 'windows',
            sha256: pin,
            args: ['--all', '--quiet'],
          },
        ],
        fileOps: [{ op: 'chmod', name: 'run.sh', location: '/srv', mode: 0o600 }],
      },
    });

    // A combined rule: OS versions and a CVE (possible matches too); restore from quarantine.
    const qid = 'cd'.repeat(16);
    await page.click('button[data-action="add-rule"]');
    await ruleField('id', 'ui-both');
    await ruleField('kind', 'combined');
    await ruleField('osType', 'Windows');
    await ruleField('osVersions', 'Windows 7, Windows XP');
    await ruleField('threatType', 'vulnerability');
    await ruleField('threatId', 'CVE-2021-23017');
    await page.locator('#tg-rule-editor [name="includePossible"]').check();
    await page.click('#tg-rule-editor button[data-action="add-fileop"]');
    const restore = page.locator('#tg-rule-editor .tg-fileop').last();
    await restore.locator('[name="op"]').selectOption('restore');
    await restore.locator('[name="fileName"]').fill('report.doc');
    await restore.locator('[name="location"]').fill('/home/user');
    await restore.locator('[name="quarantineId"]').fill(qid);
    await saveRule();
    await page
      .locator('[data-notification="info"]', { hasText: 'Rule ui-both added.' })
      .waitFor({ timeout: 15_000 });
    expect(getRule('ui-both').json).toMatchObject({
      kind: 'combined',
      environment: { osType: 'Windows', osVersions: ['Windows 7', 'Windows XP'] },
      threat: { type: 'vulnerability', id: 'CVE-2021-23017', includePossible: true },
      remedy: { fileOps: [{ op: 'restore', name: 'report.doc', location: '/home/user', quarantineId: qid }] },
    });
    expect(await page.locator('#tg-rules tr[data-rule="ui-both"] [data-field="kind"]').textContent()).toBe(
      'combined rule',
    );

    // Refused with the API's reason, nothing stored: no remedy; then an id that exists.
    await page.click('button[data-action="add-rule"]');
    await ruleField('id', 'ui-bad');
    await ruleField('software', 'nginx');
    await saveRule();
    await page
      .locator('#tg-edit-problem [data-error="rule"]', {
        hasText: 'a remedy needs a program or a file operation',
      })
      .waitFor({ timeout: 15_000 });
    expect(getRule('ui-bad').status).toBe(404);
    // The API's words, not the CLI's JSON envelope.
    expect(await page.locator('#tg-edit-problem [data-error="rule"]').textContent()).toMatch(
      /^invalid json: json\.remedy: a remedy needs a program or a file operation/,
    );
    await ruleField('id', 'ui-env');
    await page.click('#tg-rule-editor button[data-action="add-fileop"]');
    await page.locator('#tg-rule-editor .tg-fileop [name="fileName"]').fill('x');
    await page.locator('#tg-rule-editor .tg-fileop [name="location"]').fill('/srv');
    await saveRule();
    await page
      .locator('#tg-edit-problem [data-error="rule"]', { hasText: 'ui-env' })
      .waitFor({ timeout: 15_000 });
    expect((getRule('ui-env').json as { name: string }).name).toBe('nginx 1.18 cleanup');
    await page.click('#tg-rule-editor button[data-action="cancel"]');

    // Edit: the editor opens with the rule's values; priority and enabled change, the rest stays.
    await page.click('#tg-rules tr[data-rule="ui-threat"] button[data-action="edit"]');
    expect(await page.locator('#tg-rule-editor [name="threatId"]').inputValue()).toBe('Bot-4162');
    expect(await page.locator('#tg-rule-editor .tg-program [name="location"]').inputValue()).toBe(
      'C:\\Tools\\"scrub"',
    );
    expect(await page.locator('#tg-rule-editor .tg-fileop [name="mode"]').inputValue()).toBe('600');
    await ruleField('priority', '5');
    await page.locator('#tg-rule-editor [name="enabled"]').uncheck();
    await saveRule();
    await page
      .locator('[data-notification="info"]', { hasText: 'Rule ui-threat saved.' })
      .waitFor({ timeout: 15_000 });
    expect(getRule('ui-threat').json).toMatchObject({
      priority: 5,
      enabled: false,
      threat: { id: 'Bot-4162' },
      remedy: { programs: [{ sha256: pin }], fileOps: [{ mode: 0o600 }] },
    });
    expect(
      await page.locator('#tg-rules tr[data-rule="ui-threat"] [data-field="enabled"]').textContent(),
    ).toBe('no');

    // Delete.
    await page.click('#tg-rules tr[data-rule="ui-both"] button[data-action="delete"]');
    await page
      .locator('[data-notification="info"]', { hasText: 'Rule ui-both deleted.' })
      .waitFor({ timeout: 15_000 });
    expect(await page.locator('#tg-rules tr[data-rule="ui-both"]').count()).toBe(0);
    expect(getRule('ui-both').status).toBe(404);
    const calls = harness.calls.filter((c) => c.method === 'rule_save' || c.method === 'rule_delete');
    expect(calls.every((c) => c.status === 0)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('a read-only login sees the rules with every write button disabled; a save is refused in words', async () => {
    harness.readOnly = true;
    try {
      await open('rules');
      expect(await page.locator('#tg-rules tr[data-rule="hostile-name"]').count()).toBe(1);
      expect(await page.locator('button[data-action="add-rule"]').isDisabled()).toBe(true);
      expect(await page.locator('button[data-action="upload"]').isDisabled()).toBe(true);
      expect(await page.locator('#tg-rules button').count()).toBeGreaterThan(0);
      expect(await page.locator('#tg-rules button:enabled').count()).toBe(0);
      // What the editor would send, from the page: the ACL's read grants do not include it.
      const refused = await page.evaluate(() =>
        (
          window as unknown as {
            L: {
              require(
                m: string,
              ): Promise<{ declare(...a: unknown[]): (...a: unknown[]) => Promise<{ error?: string }> }>;
            };
          }
        ).L.require('tunguard.rpc').then((m) =>
          m.declare('rule_save', ['rule', 'create'])(
            { id: 'ro-try', kind: 'threat', threat: { id: 'CVE-2025-49659' } },
            true,
          ),
        ),
      );
      expect(refused.error).toBe(
        'Not allowed for this login: its access to tunguard does not include rule_save.',
      );
      expect(api('GET', '/rules/ro-try').status).toBe(404);
    } finally {
      harness.readOnly = false;
    }
    // Control: the same page for a login that may write.
    await open('rules');
    expect(await page.locator('button[data-action="add-rule"]').isDisabled()).toBe(false);
    expect(await page.locator('#tg-rules button:enabled').count()).toBeGreaterThan(0);
  });

  it('uploads a program (sha256, size cap, ACL) and a rule that sends it runs it on the real agent', async () => {
    const marker = join(dirs?.root ?? '/nonexistent', 'cleaned.txt');
    const program = Buffer.from(`#!/bin/sh\necho cleaned-by-router > '${marker}'\n`);
    const sha = createHash('sha256').update(program).digest('hex');
    await open('rules');
    // Before the upload the rule's program is only a reference.
    expect(
      await page.locator('#tg-rules tr[data-rule="ui-env"] [data-field="remedy"]').textContent(),
    ).toMatch(/^run lab-clean from \/opt\/tunguard/);
    await page.setInputFiles('#tg-upload-file', { name: 'clean.sh', mimeType: 'text/x-sh', buffer: program });
    await page.fill('#tg-upload-id', 'lab-clean');
    await page.fill('#tg-upload-location', '/opt/tunguard');
    await page.click('button[data-action="upload"]');
    await page
      .locator('[data-notification="info"]', {
        hasText: `Stored program lab-clean for /opt/tunguard: ${program.length} bytes, sha256 ${sha}.`,
      })
      .waitFor({ timeout: 15_000 });
    const row = page.locator('#tg-programs tr[data-program="lab-clean"]');
    expect(await row.locator('[data-field="sha256"]').textContent()).toBe(sha);
    expect(await row.locator('[data-field="size"]').textContent()).toBe(String(program.length));
    expect(existsSync(uploadFile)).toBe(false); // consumed
    expect(
      await page.locator('#tg-rules tr[data-rule="ui-env"] [data-field="remedy"]').textContent(),
    ).toMatch(/^send program lab-clean \(stored on the router\) for \/opt\/tunguard/);
    const stored = cli('programs') as { items: { id: string; sha256: string; size: number }[] };
    expect(stored.items).toEqual([
      expect.objectContaining({ id: 'lab-clean', sha256: sha, size: program.length }),
    ]);

    // The cap: the page refuses 2 MiB + 1 before uploading; the plugin and API refuse it too.
    const uploads = harness.calls.filter((c) => c.object === 'cgi-upload').length;
    await page.setInputFiles('#tg-upload-file', {
      name: 'big.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(2 * 1024 * 1024 + 1),
    });
    await page.click('button[data-action="upload"]');
    await page
      .locator('#tg-upload-problem [data-error="upload"]', {
        hasText: 'the router keeps programs up to 2097152 bytes',
      })
      .waitFor({ timeout: 10_000 });
    expect(harness.calls.filter((c) => c.object === 'cgi-upload').length).toBe(uploads);
    writeFileSync(uploadFile, Buffer.alloc(2 * 1024 * 1024 + 1));
    const big = JSON.parse(
      (await callPlugin(plugin, 'program_add', JSON.stringify({ id: 'big', location: '/x' }))).stdout,
    );
    expect(big.error).toMatch(/2097152/);
    expect(existsSync(uploadFile)).toBe(false);
    // cgi-upload writes only the path the ACL grants.
    const denied = await page.evaluate(async () => {
      const f = new FormData();
      f.append('sessionid', (window as unknown as { L: { env: { sessionid: string } } }).L.env.sessionid);
      f.append('filename', '/etc/passwd');
      f.append('filedata', new Blob(['x']));
      const r = await fetch('/cgi-bin/cgi-upload', { method: 'POST', body: f });
      return { status: r.status, body: await r.json() };
    });
    expect(denied).toEqual({ status: 403, body: { failure: [13, 'Access to path denied by ACL'] } });
    // That refusal is the one error this page may log (the browser reports the 403 twice).
    errors.splice(
      0,
      errors.length,
      ...errors.filter((e) => !(e.includes('cgi-upload') && e.includes('403'))),
    );

    // The rule that names it: remediate the LAN host with it; the agent receives the bytes and runs them.
    await open('hosts');
    const lan = page.locator(`#tg-hosts tr[data-host="agent:lan-host"]`);
    await lan.locator('button[data-action="details"]').click();
    const detail = page.locator(`#tg-hosts tr[data-detail-for="agent:lan-host"]`);
    await detail.locator('li[data-rule="ui-env"] button').waitFor({ timeout: 15_000 });
    const doneBefore = await page.locator('#tg-dispatches tr[data-status="done"]').count();
    await detail.locator('li[data-rule="ui-env"] button').click();
    await page
      .locator('[data-notification="info"]', { hasText: '(rule ui-env)' })
      .waitFor({ timeout: 15_000 });
    await page.locator('#tg-dispatches tr[data-status="done"]').nth(doneBefore).waitFor({ timeout: 30_000 });
    expect(readFileSync(marker, 'utf8')).toBe('cleaned-by-router\n');
    const d = cli('dispatches', '--status=done') as { items: { id: string; ruleId?: string }[] };
    const mine = d.items.find((x) => x.ruleId === 'ui-env');
    expect(mine).toBeDefined();
    const one = cli('dispatches', mine?.id ?? '') as {
      actions?: { action: string }[];
      audit: { step: string }[];
    };
    expect(one.audit.map((a) => a.step)).toContain('dispatch.done');
    expect(JSON.stringify(one)).toContain('program.run');
    expect(errors).toEqual([]);
  });

  it('saves settings into the UCI file (refusing invalid input) and the daemon takes them on reload', async () => {
    await open('settings');
    const before = readFileSync(conf, 'utf8');
    const applied = harness.applied;
    // The file's values shown: LAN following and the seccomp filter off, agents pinged every 300 s.
    expect(await widget('main', 'lan_follow').isChecked()).toBe(false);
    expect(await widget('main', 'seccomp').isChecked()).toBe(false);
    expect(await widget('detect', 'agent_check').inputValue()).toBe('300');
    // Invalid: 99 queues, a day and more between agent pings, a LAN interface name no device can have,
    // and a risky threshold below the moderate one: nothing is written.
    await widget('main', 'queues').fill('99');
    await widget('detect', 'agent_check').fill('86401');
    await widget('main', 'lan_network').fill('lan/x');
    await page.click('[id="cbid.tunguard.main.lan_network"] .cbi-button-add');
    await page.click('.cbi-page-actions button:has-text("Save & Apply")');
    await page.locator('[data-notification="error"]', { hasText: 'invalid' }).waitFor({ timeout: 10_000 });
    expect(await widget('main', 'queues').getAttribute('class')).toContain('cbi-input-invalid');
    expect(await widget('detect', 'agent_check').getAttribute('class')).toContain('cbi-input-invalid');
    await widget('main', 'queues').fill('1');
    await widget('detect', 'agent_check').fill('60');
    await widget('main', 'lan_network').fill('guest');
    await page.click('[id="cbid.tunguard.main.lan_network"] .cbi-button-add');
    await widget('main', 'seccomp').check();
    await widget('syn', 'risky_threshold').fill('50');
    await page.click('.cbi-page-actions button:has-text("Save & Apply")');
    await page
      .locator('[id="cbid.tunguard.syn.risky_threshold"] .cbi-value-error', { hasText: 'above the moderate' })
      .waitFor({ timeout: 10_000 });
    expect(harness.applied).toBe(applied);
    expect(readFileSync(conf, 'utf8')).toBe(before);

    // Valid changes: thresholds, one more exempt UDP port, a new allowlist group.
    await widget('syn', 'moderate_threshold').fill('150');
    await widget('syn', 'risky_threshold').fill('450');
    await widget('udp', 'exempt_port').fill('123');
    await page.click('[id="cbid.tunguard.udp.exempt_port"] .cbi-button-add');
    await page.click('button[data-add="allow"]');
    const group = page.locator('#cbi-tunguard-allow .cbi-section-item').last();
    await group.locator('input[id$=".prefix"]').fill('203.0.113.0/24');
    await group.locator('input[id$=".comment"]').fill('lab peers');
    // Detection: on, the LAN host protected, no scan (the inventory already knows it), hourly.
    await widget('detect', 'enabled').check();
    await widget('detect', 'protected_host').fill(ADDR.lan4);
    await page.click('[id="cbid.tunguard.detect.protected_host"] .cbi-button-add');
    await widget('detect', 'scan').uncheck();
    await page.click('.cbi-page-actions button:has-text("Save & Apply")');
    await page.locator('[data-notification="info"]', { hasText: 'applied' }).waitFor({ timeout: 10_000 });
    expect(harness.applied).toBe(applied + 1);

    // Read back with the project's parser: the values changed, the file is valid for the daemon.
    const text = readFileSync(conf, 'utf8');
    const doc = parseUci(text);
    const syn = doc.sections.find((s) => s.type === 'defense' && s.name === 'syn');
    expect(syn?.options.moderate_threshold.value).toBe('150');
    expect(syn?.options.risky_threshold.value).toBe('450');
    const udp = doc.sections.find((s) => s.name === 'udp');
    expect(udp?.lists.exempt_port.values).toEqual(['53', '123']);
    const loaded = configFromText(text).config;
    expect(loaded.defense.syn.moderateThreshold).toBe(150);
    expect(loaded.allow.map((p) => p.cidr)).toEqual(
      expect.arrayContaining(['203.0.113.0/24', '198.51.100.66/32']),
    );
    expect(loaded.main.wanDevice).toBe('wan0'); // untouched settings stay (the device pickers too)
    expect(loaded.main.lanDevices).toEqual(['lan0']);
    // The LAN interfaces, the seccomp switch and the agent pings as the daemon reads them.
    expect(doc.sections.find((x) => x.name === 'main')?.lists.lan_network.values).toEqual(['lan', 'guest']);
    expect(loaded.main).toMatchObject({ lanNetworks: ['lan', 'guest'], lanFollow: false, seccomp: true });
    expect(loaded.detect.agentCheckSeconds).toBe(60);
    expect(loaded.detect).toMatchObject({
      enabled: true,
      protectedHosts: [ADDR.lan4],
      scan: false,
      intervalSeconds: 3600,
    });

    // procd would send the reload on `uci commit`: the daemon takes the file.
    lab.tunguard?.proc.kill('SIGHUP');
    await waitFor('the reload', () => (lab.tunguard?.output ?? '').includes('reload:'), 10_000);
    expect(lab.tunguard?.output).toMatch(/reload: .*changed: .*defense\.syn/);
    const tiers = cli('tiers') as { thresholds: { moderate: number; risky: number } };
    expect(tiers.thresholds).toMatchObject({ moderate: 150, risky: 450 });
    expect(lab.tunguard?.output).toMatch(/detect: every 3600 s, 1 protected host\(s\); first round in 5 s/);
    expect(errors).toEqual([]);
  });

  it('shows the detection schedule and its last round on the Hosts tab, and runs a round on demand', async () => {
    // The reload above scheduled the first round 5 s later.
    await waitFor(
      'the first detection round',
      () => /detect: checked/.test(lab.tunguard?.output ?? ''),
      15_000,
    );
    await open('hosts');
    const panel = page.locator('#tg-detection');
    expect(await panel.locator('[data-field="schedule"]').textContent()).toMatch(
      new RegExp(`^Every 3600 s: ${ADDR.lan4.replaceAll('.', '\\.')}; next round .+\\.$`),
    );
    expect(await panel.locator('[data-field="last"]').textContent()).toMatch(
      /^Last round \(schedule, .+\): checked 1, scanned 0, queued \d+, skipped \d+\.$/,
    );
    await page.click('#tg-detect-now');
    await page
      .locator('[data-notification="info"]', { hasText: 'Detection round started.' })
      .waitFor({ timeout: 10_000 });
    await panel.locator('[data-field="last"]', { hasText: 'Last round (api,' }).waitFor({ timeout: 15_000 });
    expect(errors).toEqual([]);
  });

  it('says on the Status tab when a reload was refused and which configuration is in force', async () => {
    await open('status');
    await page.locator('#tg-config[data-in-force="file"]').waitFor({ timeout: 10_000 });
    expect(await page.textContent('#tg-config')).toMatch(
      /tunguard\.conf \(sha256 [0-9a-f]{16}\); last reload .*: applied/,
    );
    expect(await page.locator('#tg-config-problem').count()).toBe(0); // (control) nothing to say yet
    const good = readFileSync(conf, 'utf8');
    try {
      expect(good).toContain('moderate_threshold');
      writeFileSync(conf, good.replace('moderate_threshold', 'modrate_threshold'));
      lab.tunguard?.proc.kill('SIGHUP');
      const alert = page.locator('#tg-config-problem');
      await alert.waitFor({ timeout: 10_000 });
      expect(await alert.textContent()).toMatch(
        /last reload of .*tunguard\.conf was refused.*modrate_threshold/s,
      );
      expect(await page.textContent('#tg-config')).toMatch(/last reload .*: refused/);
    } finally {
      writeFileSync(conf, good);
      lab.tunguard?.proc.kill('SIGHUP');
    }
    await page.locator('#tg-config-problem').waitFor({ state: 'detached', timeout: 10_000 });
    expect(errors).toEqual([]);
  });
  it("warns on the Status tab and the Overview while the SYN police's nft table is gone, and not once it is back", async () => {
    const tg = lab.tunguard;
    if (!tg) throw new Error('no daemon');
    const read = () => JSON.parse(readFileSync(join(lab.stateDir, 'status.json'), 'utf8'));
    await open('status');
    // (control) The table is there: the field says so, and no warning.
    await page.locator('#tg-police[data-installed="true"]').waitFor({ timeout: 10_000 });
    expect(await page.textContent('#tg-police')).toBe('Installed.');
    expect(await page.locator('#tg-police-problem').count()).toBe(0);
    const before = read();
    expect(before.police).toEqual({ installed: true, lost: 0, rebuilt: 0 });
    // What status.json says, every 50 ms: never the police gone with a guard flag still true.
    const seen = new Set<string>();
    const sampler = setInterval(() => {
      try {
        const s = read();
        seen.add(`${s.police?.installed} v4=${s.flowOffload?.ipv4Guarded} v6=${s.flowOffload?.ipv6Guarded}`);
      } catch {
        /* replaced meanwhile */
      }
    }, 50);
    // The police's own `nft -i` (the limits' counters have `nft -j -i`), killed whenever it is there:
    // the table stays gone (each rebuild waits twice as long: 1, 2, 4 s) while this runs. A process of
    // its own: the CLI below blocks this one's event loop.
    const killer = spawn('sh', ['-c', `while :; do pkill -KILL -P ${tg.pid} -fx 'nft -i'; sleep 0.05; done`]);
    try {
      const alert = page.locator('#tg-police-problem');
      await alert.waitFor({ timeout: 10_000 });
      expect(await alert.getAttribute('class')).toBe('alert-message warning'); // as the page's other warnings
      expect(await alert.textContent()).toMatch(
        /^The SYN police is down: its nft table is gone.*Reason: (the rebuild failed: )?nft exited \(?SIGKILL\)?\.?Lost \d+ times? since the start\. Rebuilt \d+ times?\.$/s,
      );
      expect(await page.getAttribute('#tg-police', 'data-installed')).toBe('false');
      expect(await page.textContent('#tg-police')).toMatch(
        /^Down: .*nft exited.*\. Lost \d+ times? since the start\./,
      );
      mkdirSync(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: POLICE_SCREENSHOT, fullPage: true });
      // The CLI says it too (the daemon's API).
      const text = lab.run(
        lab.ns.rtr,
        process.execPath,
        [CLI, 'status', '--state-dir', lab.stateDir],
        60_000,
      );
      expect(text, text).toMatch(
        /^police {6}WARNING: the SYN police's nft table is gone \(lost \d+ times?, rebuilt \d+ times?\): .*nft exited/m,
      );
      // Status → Overview: a row while it is down.
      await page.goto(harness.pageUrl('admin/status/overview'));
      await page.locator('#view[data-rendered="true"] #tg-overview').waitFor({ timeout: 20_000 });
      expect(await page.textContent('#tg-overview [data-field="police"]')).toMatch(
        /SYN police\s*Down: .*nft exited/,
      );
    } finally {
      killer.kill('SIGKILL');
    }
    // Back: built again after the last wait (at most 8 s here).
    await waitFor('the table rebuilt', () => read().police?.installed === true, 20_000);
    clearInterval(sampler);
    const after = read();
    expect(after.police.lost).toBeGreaterThanOrEqual(1);
    expect(after.police.rebuilt).toBeGreaterThanOrEqual(1);
    expect(after.police.reason).toBeUndefined();
    // (control) Installed again: no Overview row, no warning on the Status tab, the history in its field.
    await page.goto(harness.pageUrl('admin/status/overview'));
    await page.locator('#view[data-rendered="true"] #tg-overview').waitFor({ timeout: 20_000 });
    expect(await page.locator('#tg-overview [data-field="police"]').count()).toBe(0);
    await open('status');
    await page.locator('#tg-police[data-installed="true"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#tg-police-problem').count()).toBe(0);
    expect(await page.textContent('#tg-police')).toBe(
      `Installed. Lost ${after.police.lost} time${after.police.lost === 1 ? '' : 's'} since the start. Rebuilt ${after.police.rebuilt} time${after.police.rebuilt === 1 ? '' : 's'}.`,
    );
    // status.json never had the police gone with a guard still said to hold.
    const states = [...seen];
    console.log(`police and guard flags seen in status.json: ${states.join(' | ')}`);
    expect(states.some((st) => st.startsWith('false'))).toBe(true);
    expect(states.filter((st) => st.startsWith('false') && st.includes('=true'))).toEqual([]);
    expect(errors).toEqual([]);
  });
});

describe('the rpcd plugin against the running daemon', () => {
  it('answers status from status.json alone: no CLI, no node, busybox applets only', async () => {
    // PATH holds busybox's applets and nothing else; the CLI does not exist.
    const bare: PluginEnv = { stateDir: lab.stateDir, cli: '/nonexistent/tunguard', path: busyboxBin() };
    const t0 = performance.now();
    const r = await callPlugin(bare, 'status', '');
    const ms = performance.now() - t0;
    const s = JSON.parse(r.stdout);
    expect(s.pid, r.stdout).toBe(JSON.parse(readFileSync(join(lab.stateDir, 'status.json'), 'utf8')).pid);
    expect(s.tier).toEqual(expect.any(String));
    expect(s.halfOpen).toEqual(expect.any(Number));
    expect(s.attackers).toMatchObject({ items: expect.any(Array), total: expect.any(Number) });
    expect(JSON.parse((await callPlugin(bare, 'hosts', '{}')).stdout).error).toMatch(
      /tunguard command is missing/,
    );
    console.log(`plugin status: ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1000);
  });
});

describe('service, log, overview and device pickers', () => {
  beforeEach(() => {
    errors.length = 0;
  });

  it("Settings: the device pickers offer the router's own devices, the configured ones chosen", async () => {
    await open('settings');
    const names = (JSON.parse(lab.run(lab.ns.rtr, 'ip', ['-j', 'link', 'show'])) as { ifname: string }[])
      .map((l) => l.ifname)
      .sort();
    expect(names).toEqual(expect.arrayContaining(['lan0', 'wan0']));
    const wan = widget('main', 'wan_device');
    expect(await wan.evaluate((n) => n.tagName)).toBe('SELECT');
    expect(
      await wan
        .locator('option')
        .evaluateAll((o) => o.map((x) => (x as HTMLOptionElement).value).filter(Boolean)),
    ).toEqual(names);
    expect(await wan.inputValue()).toBe('wan0');
    const lan = widget('main', 'lan_device');
    expect(await lan.getAttribute('multiple')).not.toBeNull();
    expect(
      await lan
        .locator('option')
        .evaluateAll((o) =>
          o.filter((x) => (x as HTMLOptionElement).selected).map((x) => (x as HTMLOptionElement).value),
        ),
    ).toEqual(['lan0']);
    expect(await widget('main', 'wan_follow').isChecked()).toBe(false);
    expect(errors).toEqual([]);
  });

  it("Status → Overview: tunguard's tier, proxied connections and drops", async () => {
    const read = () => JSON.parse(readFileSync(join(lab.stateDir, 'status.json'), 'utf8'));
    const before = read();
    await page.goto(harness.pageUrl('admin/status/overview'));
    await page.locator('#view[data-rendered="true"] #tg-overview').waitFor({ timeout: 20_000 });
    const after = read();
    const tbl = page.locator('#tg-overview');
    expect(await tbl.locator('[data-field="tier"] [data-tier]').getAttribute('data-tier')).toBe(after.tier);
    const num = async (f: string) =>
      Number((await tbl.locator(`[data-field="${f}"] td`).nth(1).textContent())?.split(' ')[0]);
    const proxied = await num('proxied');
    expect(proxied).toBeGreaterThanOrEqual(before.counters.synproxy_conn_established ?? 0);
    expect(proxied).toBeLessThanOrEqual(after.counters.synproxy_conn_established ?? 0);
    const sum = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);
    const drops = await num('drops');
    // The earlier floods were dropped in part: the widget says how many (a zero would hide them).
    expect(sum(before.drops)).toBeGreaterThan(0);
    expect(drops).toBeGreaterThanOrEqual(sum(before.drops));
    expect(drops).toBeLessThanOrEqual(sum(after.drops));
    expect(await tbl.locator('a').getAttribute('href')).toBe('/cgi-bin/luci/admin/services/tunguard/status');
    expect(errors).toEqual([]);
  });

  it("Log: the daemon's lines from logread, newest last, filtered in the page", async () => {
    // What procd would hand logd: the daemon's real output, as syslog lines, among another daemon's.
    const pid = lab.tunguard?.pid;
    const own = (lab.tunguard?.output ?? '').split('\n').filter((l) => l.trim() !== '');
    expect(own.length).toBeGreaterThan(2);
    writeFileSync(
      syslogFile,
      `${own
        .flatMap((l, i) => [
          `Sun Dec  6 10:00:00 2026 daemon.info dnsmasq[1]: query ${i}`,
          `Sun Dec  6 10:00:00 2026 daemon.notice tunguard[${pid}]: ${l}`,
        ])
        .join('\n')}\n`,
    );
    await open('log');
    const log = page.locator('#tg-log');
    const lines = (await log.inputValue()).split('\n');
    expect(lines).toHaveLength(Math.min(own.length, 300));
    expect(lines.every((l) => l.includes(`tunguard[${pid}]: `))).toBe(true);
    expect(lines.at(-1)).toBe(
      `Sun Dec  6 10:00:00 2026 daemon.notice tunguard[${pid}]: ${own.at(-1)?.replace(/\t/g, ' ')}`,
    );
    await page.fill('#tg-log-filter', 'steering up');
    const filtered = (await log.inputValue()).split('\n');
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.every((l) => l.includes('steering up'))).toBe(true);
    expect(Number(await log.getAttribute('data-lines'))).toBe(filtered.length);
    expect(harness.calls.some((c) => c.method === 'log' && c.status === 0)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('Service: stop, start, disable and enable at boot through rpcd rc; the daemon really stops and starts', async () => {
    await open('log');
    const state = page.locator('#tg-service-state');
    expect(await state.getAttribute('data-running')).toBe('true');
    expect(await state.getAttribute('data-enabled')).toBe('true');
    const oldPid = lab.tunguard?.pid;
    await page.click('#tg-service-buttons button[data-action="stop"]');
    await page.locator('#tg-service-state[data-running="false"]').waitFor({ timeout: 20_000 });
    expect(running()).toBe(false);
    expect(JSON.parse((await callPlugin(plugin, 'status', '')).stdout).error).toMatch(/not running/);
    await page.click('#tg-service-buttons button[data-action="start"]');
    await page.locator('#tg-service-state[data-running="true"]').waitFor({ timeout: 30_000 });
    expect(lab.tunguard?.pid).not.toBe(oldPid);
    await waitFor('the new status.json', () => {
      try {
        return lab.status().pid === lab.tunguard?.pid;
      } catch {
        return false; // not written yet
      }
    });
    expect(JSON.parse((await callPlugin(plugin, 'status', '')).stdout).pid).toBe(lab.tunguard?.pid);
    await page.click('#tg-service-buttons button[data-action="disable"]');
    await page.locator('#tg-service-state[data-enabled="false"]').waitFor({ timeout: 10_000 });
    await page.click('#tg-service-buttons button[data-action="enable"]');
    await page.locator('#tg-service-state[data-enabled="true"]').waitFor({ timeout: 10_000 });
    expect(
      harness.calls
        .filter((c) => c.object === 'rc' && c.method === 'init')
        .map((c) => [c.args.action, c.status]),
    ).toEqual([
      ['stop', 0],
      ['start', 0],
      ['disable', 0],
      ['enable', 0],
    ]);
    expect(errors).toEqual([]);
  });
});
