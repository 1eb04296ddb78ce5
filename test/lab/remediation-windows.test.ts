// Seed 003's Windows examples end to end in the netns lab: tunguard in rtr; in lan a Windows host, that
// is Wine running the agent's zip (node.exe + bundled agent) and an IIS-like web server, all inside the
// lan namespace (Wine makes sockets in its wineserver, which therefore starts there too). A real nmap
// scan from rtr finds IIS 10.0; through the API the daemon dispatches (1) an environment rule deleting
// C:\Windows\System32\drivers\tgworm.sys (quarantined, then restored), (2) a threat rule running a
// cleanup .exe stored on the host and pinned by sha256, (3) a rule whose program the router sends
// itself; the agent under Wine carries each out and the API shows the results. Negative controls: a
// rule for software the host does not run is never sent, and a traversal sent through the daemon is
// refused by the agent with the host's files unchanged. LuCI's Hosts tab (Chromium, through the real
// rpcd plugin and CLI) shows every dispatch with what the Windows agent reported for it.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot } from '../agent/wire.js';
import { LuciHarness } from '../luci/harness.js';
import { callPlugin, listPlugin } from '../luci/plugin.js';
import {
  buildCleanupExe,
  mkdirWin,
  requireWineTools,
  spawnWine,
  startWineAgent,
  type WineAgent,
  WinePrefix,
  type WineProcess,
  windowsAgentDir,
} from '../windows/wine.js';
import { CHROMIUM, launchChromium } from './browser.js';
import { ADDR, type ApiResult, Lab, REPO_ROOT, sleep, type TunguardProcess, waitFor } from './lab.js';
import { scanLanPort } from './scan.js';

const WEB_PORT = 8082;
const AGENT_PORT = 7443;
const API = 'http://127.0.0.1:7447/api/v1/remediation';
const HOST = 'win-laptop';
const DRIVERS = 'C:\\Windows\\System32\\drivers';
const ROOT = 'C:\\tg\\root';
const PROGRAMS = 'C:\\tg\\programs';
const QUARANTINE = 'C:\\ProgramData\\tunguard-agent\\quarantine';
/** An HTTP server that answers as IIS 10.0 does (nmap -sV: "Microsoft IIS httpd 10.0", ostype Windows). */
const IIS_LIKE_JS = `
const http = require('node:http');
const [host, port] = process.argv.slice(1);
http.createServer((_q, s) => { s.setHeader('Server', 'Microsoft-IIS/10.0'); s.setHeader('X-Powered-By', 'ASP.NET'); s.end('ok'); })
  .listen(Number(port), host, () => console.log('listening'));
`;

let lab: Lab;
let tg: TunguardProcess;
let wine: WinePrefix;
let agentDir: string;
let agent: WineAgent;
let web: WineProcess;
let exe: Buffer;
let exeSha: string;
let token = '';
let conf = '';
let harness: LuciHarness | undefined;
let browser: BrowserContext | undefined;
let profile = '';

function api(method: string, path: string, body?: unknown): ApiResult {
  return lab.api(token, method, `${API}${path}`, body);
}

/** Polls a dispatch through the API until it leaves queued/running. */
async function settled(id: string, timeoutMs = 30_000): Promise<ApiResult['json']> {
  const t0 = Date.now();
  for (;;) {
    const r = api('GET', `/dispatches/${id}`);
    expect(r.status, r.text).toBe(200);
    if (r.json.status !== 'queued' && r.json.status !== 'running') return r.json;
    if (Date.now() - t0 > timeoutMs) throw new Error(`dispatch ${id} still ${r.json.status}: ${r.text}`);
    await sleep(200);
  }
}

const winFile = (dir: string, name: string) => join(wine.unix(dir), name);
const hostFiles = () => snapshot(...[DRIVERS, ROOT, PROGRAMS, QUARANTINE].map((d) => wine.unix(d)));

beforeAll(async () => {
  requireWineTools();
  agentDir = windowsAgentDir();
  lab = Lab.create();
  conf = join(lab.stateDir, 'tunguard.conf');
  writeFileSync(conf, lab.config());
  tg = lab.startTunguard(['--config', conf], false);

  // The Windows host: a Wine prefix whose every process runs in the lan namespace.
  wine = WinePrefix.create(lab.ns.lan);
  for (const d of [ROOT, PROGRAMS]) mkdirWin(wine, d);
  exe = readFileSync(buildCleanupExe(wine.unix(PROGRAMS)));
  exeSha = createHash('sha256').update(exe).digest('hex');
  writeFileSync(winFile(DRIVERS, 'tgworm.sys'), 'worm driver');
  writeFileSync(
    wine.unix('C:\\tg\\agent.json'),
    JSON.stringify({
      hostId: HOST,
      listen: { host: ADDR.lan4, port: AGENT_PORT },
      stateDir: '%ProgramData%\\tunguard-agent',
      quarantineDir: '%ProgramData%\\tunguard-agent\\quarantine',
      roots: ['%SystemRoot%\\System32\\drivers', ROOT],
      programRoots: [PROGRAMS],
      // The seed's "send the program itself" remedy: this host opts in (off by default).
      allowInlinePrograms: true,
    }),
  );
  web = spawnWine(wine, [join(agentDir, 'node.exe'), '-e', IIS_LIKE_JS, ADDR.lan4, String(WEB_PORT)]);
  await tg.ready();
  await waitFor('the API token', () => existsSync(join(lab.stateDir, 'api.token')));
  token = readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
  await web.waitFor(/listening/);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await harness?.close();
  await agent?.stop();
  web?.proc.kill('SIGKILL');
  wine?.destroy();
  await lab?.tunguard?.stop();
  lab?.destroy();
});

describe('the Windows agent under Wine, driven by the real daemon', () => {
  it('pairs the Windows agent by a copied key and it listens on the LAN address', async () => {
    const node = join(agentDir, 'node.exe');
    const script = WinePrefix.z(join(agentDir, 'tunguard-agent.mjs'));
    const shown = wine.run([node, script, 'show-key', '--config', 'C:\\tg\\agent.json']);
    const agentKey = shown.out.trim();
    expect(agentKey, shown.out).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const r = api('POST', '/agents', { hostId: HOST, address: ADDR.lan4, port: AGENT_PORT, agentKey });
    expect(r.status, r.text).toBe(201);
    const pin = wine.run([
      node,
      script,
      'trust-router',
      '--key',
      r.json.routerKey,
      '--config',
      'C:\\tg\\agent.json',
    ]);
    expect(pin, pin.out).toMatchObject({ code: 0 });
    agent = await startWineAgent(wine, agentDir, 'C:\\tg\\agent.json');
    expect(agent.port).toBe(AGENT_PORT);
    expect(agent.agentKey).toBe(agentKey);
  }, 60_000);

  it('a real nmap scan finds IIS 10.0; the environment rule quarantines the driver, a restore brings it back', async () => {
    const xml = join(lab.importDir, 'win-scan.xml');
    const scan = scanLanPort(lab, WEB_PORT, xml);
    expect(scan.code, scan.stderr).toBe(0);
    expect(api('POST', '/scans', { path: xml, format: 'nmap' }).status).toBe(201);
    const host = api('GET', `/hosts/${ADDR.lan4}`);
    expect(
      host.json.host.software.map((s: { product: string; version?: string }) => `${s.product} ${s.version}`),
    ).toContain('Microsoft IIS httpd 10.0');
    for (const rule of [
      {
        kind: 'environment',
        id: 'win-iis-worm-driver',
        environment: { software: 'Microsoft IIS httpd', softwareVersions: ['10.0'] },
        remedy: { fileOps: [{ name: 'tgworm.sys', location: DRIVERS, op: 'delete' }] },
      },
      // Negative control: software this host does not run.
      {
        kind: 'environment',
        id: 'win-apache-driver',
        environment: { software: 'apache' },
        remedy: { fileOps: [{ name: 'tgworm.sys', location: DRIVERS, op: 'delete' }] },
      },
    ]) {
      const c = api('POST', '/rules', rule);
      expect(c.status, c.text).toBe(201);
    }
    const matching = api('GET', `/hosts/${ADDR.lan4}`).json.matchingRules;
    expect(matching.map((m: { ruleId: string }) => m.ruleId)).toEqual(['win-iis-worm-driver']);

    const disp = api('POST', '/dispatch', { host: ADDR.lan4, ruleId: 'win-iis-worm-driver' });
    expect(disp.status, disp.text).toBe(202);
    const done = await settled(disp.json.id);
    expect(done.status, JSON.stringify(done)).toBe('done');
    expect(done.remedyType).toBe('file-op');
    expect(done.results[0]).toMatchObject({
      ok: true,
      hostId: HOST,
      path: 'C:\\windows\\System32\\drivers\\tgworm.sys',
    });
    const quarantineId: string = done.results[0].quarantineId;
    expect(existsSync(winFile(DRIVERS, 'tgworm.sys'))).toBe(false);
    expect(readFileSync(winFile(QUARANTINE, `${quarantineId}.data`), 'utf8')).toBe('worm driver');

    const rest = api('POST', '/dispatch', {
      host: ADDR.lan4,
      actions: [{ action: 'file.restore', quarantineId }],
    });
    expect(rest.status, rest.text).toBe(202);
    const restored = await settled(rest.json.id);
    expect(restored.status, JSON.stringify(restored)).toBe('done');
    expect(readFileSync(winFile(DRIVERS, 'tgworm.sys'), 'utf8')).toBe('worm driver');
    expect(readdirSync(wine.unix(QUARANTINE))).toEqual([]);
  }, 90_000);

  it('a threat rule runs the cleanup .exe stored on the host, pinned by sha256', async () => {
    const rep = api('POST', `/hosts/${ADDR.lan4}/threats`, {
      type: 'malware',
      kind: 'worm',
      name: 'W32.Tgworm',
    });
    expect(rep.status, rep.text).toBe(201);
    const rule = api('POST', '/rules', {
      kind: 'threat',
      id: 'win-tgworm-clean',
      threat: { type: 'worm', id: 'W32.Tgworm' },
      remedy: {
        programs: [
          {
            id: 'tg-cleanup',
            location: `${PROGRAMS}\\cleanup.exe`,
            sha256: exeSha,
            args: ['clean', `${ROOT}\\cleaned-by-reference.txt`, 'worm-removed'],
          },
        ],
      },
    });
    expect(rule.status, rule.text).toBe(201);
    const disp = api('POST', '/dispatch', { host: ADDR.lan4, ruleId: 'win-tgworm-clean' });
    expect(disp.status, disp.text).toBe(202);
    const done = await settled(disp.json.id);
    expect(done.status, JSON.stringify(done)).toBe('done');
    expect(done.remedyType).toBe('reference');
    expect(done.results[0]).toMatchObject({ ok: true, exitCode: 0, timedOut: false, hostId: HOST });
    expect(done.results[0].output).toContain('cleaned worm-removed');
    expect(readFileSync(winFile(ROOT, 'cleaned-by-reference.txt'), 'utf8')).toBe('worm-removed');
  }, 60_000);

  it('a combined rule sends the program itself (stored on the router), and the agent runs it', async () => {
    const stored = api('POST', '/programs', {
      id: 'tg-cleanup-sent',
      location: 'tg-cleanup-sent.exe',
      platform: 'any',
      content: exe.toString('base64'),
    });
    expect(stored.status, stored.text).toBe(201);
    expect(stored.json).toMatchObject({ id: 'tg-cleanup-sent', sha256: exeSha, size: exe.length });
    const rule = api('POST', '/rules', {
      kind: 'combined',
      id: 'win-iis-tgworm-sent',
      environment: { software: 'Microsoft IIS httpd' },
      threat: { type: 'worm', id: 'W32.Tgworm' },
      remedy: {
        programs: [
          {
            id: 'tg-cleanup-sent',
            location: 'tg-cleanup-sent.exe',
            args: ['clean', `${ROOT}\\cleaned-by-sent-program.txt`, 'sent-and-run'],
          },
        ],
      },
    });
    expect(rule.status, rule.text).toBe(201);
    const disp = api('POST', '/dispatch', { host: ADDR.lan4, ruleId: 'win-iis-tgworm-sent' });
    expect(disp.status, disp.text).toBe(202);
    const done = await settled(disp.json.id);
    expect(done.status, JSON.stringify(done)).toBe('done');
    expect(done.remedyType).toBe('program');
    expect(done.results[0]).toMatchObject({ ok: true, exitCode: 0, hostId: HOST });
    expect(readFileSync(winFile(ROOT, 'cleaned-by-sent-program.txt'), 'utf8')).toBe('sent-and-run');
    // The program ran from the agent's private copy, which is gone again.
    expect(readdirSync(wine.unix('C:\\ProgramData\\tunguard-agent\\run'))).toEqual([]);
  }, 60_000);

  it('a traversal sent through the daemon is refused by the agent, shown as such, nothing changed', async () => {
    const before = hostFiles();
    const disp = api('POST', '/dispatch', {
      host: ADDR.lan4,
      actions: [
        {
          action: 'file.delete',
          location: `${DRIVERS}\\..\\..\\..\\tg\\root`,
          name: 'cleaned-by-reference.txt',
        },
      ],
    });
    expect(disp.status, disp.text).toBe(202);
    const done = await settled(disp.json.id);
    expect(done.status, JSON.stringify(done)).toBe('failed');
    expect(done.results[0]).toMatchObject({ ok: false, refused: 'path-not-canonical' });
    expect(hostFiles()).toEqual(before);

    // Every dispatch is listed by the API with its outcome; the negative-control rule was never sent.
    const list = api('GET', '/dispatches');
    expect(list.status, list.text).toBe(200);
    const byRule = list.json.items.map(
      (d: { ruleId?: string; status: string }) => `${d.ruleId ?? '-'}:${d.status}`,
    );
    expect(byRule).toEqual(
      expect.arrayContaining([
        'win-iis-worm-driver:done',
        'win-tgworm-clean:done',
        'win-iis-tgworm-sent:done',
        '-:failed',
      ]),
    );
    expect(byRule.some((s: string) => s.startsWith('win-apache-driver'))).toBe(false);
  }, 60_000);

  it("LuCI's Hosts tab shows each Windows dispatch with what the agent reported", async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`);
    const plugin = { stateDir: lab.stateDir, cli: join(REPO_ROOT, 'bin', 'tunguard'), ns: lab.ns.rtr };
    harness = new LuciHarness({
      configFile: conf,
      runPlugin: (method, input) => callPlugin(plugin, method, input),
      listPlugin: () => listPlugin(plugin),
    });
    await harness.start();
    ({ browser, profile } = await launchChromium());
    const page = browser.pages()[0] ?? (await browser.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await page.goto(harness.pageUrl('admin/services/tunguard/hosts'));
    await page.locator('#view[data-rendered="true"]').waitFor({ timeout: 20_000 });
    await page.locator('#tg-dispatches tr[data-dispatch]').first().waitFor({ timeout: 20_000 });
    const rows = await page.locator('#tg-dispatches tr[data-dispatch]').evaluateAll((trs) =>
      trs.map((tr) => ({
        status: tr.getAttribute('data-status'),
        cells: [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
        steps: [...tr.querySelectorAll('[data-field="result"] [data-step]')].map((x) => ({
          ok: x.getAttribute('data-ok'),
          text: x.textContent ?? '',
        })),
      })),
    );
    const byRule = (rule: string) => rows.filter((r) => r.cells[2] === rule);
    const api = lab.api(token, 'GET', `${API}/dispatches`).json.items as {
      ruleId?: string;
      results: { quarantineId?: string }[];
      actions: { action: string }[];
    }[];
    const qid = api.find((d) => d.ruleId === 'win-iis-worm-driver')?.results[0].quarantineId;
    expect(qid).toMatch(/^[0-9a-f]{32}$/);
    expect(byRule('win-iis-worm-driver')[0].steps).toEqual([
      { ok: 'true', text: `quarantined C:\\windows\\System32\\drivers\\tgworm.sys (id ${qid})` },
    ]);
    expect(byRule('win-tgworm-clean')[0].steps).toEqual([
      { ok: 'true', text: `${PROGRAMS}\\cleanup.exe ran: exit 0` },
    ]);
    expect(byRule('win-iis-tgworm-sent')[0].steps).toEqual([
      { ok: 'true', text: 'tg-cleanup-sent ran: exit 0' },
    ]);
    // The two dispatches without a rule: the restore (done) and the traversal (refused by the agent).
    const manual = byRule('–');
    expect(manual.map((r) => r.status).sort()).toEqual(['done', 'failed']);
    expect(manual.find((r) => r.status === 'done')?.steps).toEqual([
      { ok: 'true', text: 'restored C:\\windows\\System32\\drivers\\tgworm.sys' },
    ]);
    const refused = manual.find((r) => r.status === 'failed')?.steps ?? [];
    expect(refused).toHaveLength(1);
    expect(refused[0].ok).toBe('false');
    expect(refused[0].text).toMatch(/^refused \(path-not-canonical\): /);
    // Negative control: the rule for software the host does not run was never dispatched, so no row.
    expect(byRule('win-apache-driver')).toEqual([]);
    expect(rows).toHaveLength(5);
    expect(errors).toEqual([]);
  }, 90_000);
});
