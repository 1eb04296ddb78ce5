// Remediation end to end in the netns lab: tunguard in rtr, a real service and the real host agent in lan;
// the agent is paired by a copied key through the API, a real nmap scan run from rtr is imported, an
// environment rule matches, the remedy is dispatched through the API, executed and reported by the agent,
// and the "deleted" (quarantined) file is restored. Then a threat-only rule (a CVE the scanned
// nginx has, per an NVD record) and a combined rule (nginx + a bot reported on the host) are
// matched by a detection round and carried out by the agent.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentDirs, buildAgent, cleanup, makeDirs, writeAgentConfig } from '../agent/harness.js';
import { ADDR, type ApiResult, Lab, REPO_ROOT, sleep, type TunguardProcess, waitFor } from './lab.js';
import { NGINX_LIKE_JS, scanLanPort } from './scan.js';

const WEB_PORT = 8081;
const AGENT_PORT = 7443;
const API = 'http://127.0.0.1:7447/api/v1/remediation';
/** Four NVD 2.0 records, CVE-2021-23017 (nginx 0.6.18 to 1.20.0) among them. */
const FEED = join(REPO_ROOT, 'test', 'fixtures', 'scanners', 'nvd-sample.json');

let lab: Lab;
let tg: TunguardProcess;
let dirs: AgentDirs;
let agentMain: string;
let agentConf: string;
let agentProc: ChildProcess;
let agentOut = '';
let token = '';

type Res = ApiResult;

function api(method: string, path: string, body?: unknown): Res {
  return lab.api(token, method, `${API}${path}`, body);
}

/** Polls a dispatch through the API until it leaves queued/running. */
async function settled(id: string, timeoutMs = 15_000): Promise<Res['json']> {
  const t0 = Date.now();
  for (;;) {
    const r = api('GET', `/dispatches/${id}`);
    expect(r.status, r.text).toBe(200);
    if (r.json.status !== 'queued' && r.json.status !== 'running') return r.json;
    if (Date.now() - t0 > timeoutMs) throw new Error(`dispatch ${id} still ${r.json.status}: ${r.text}`);
    await sleep(200);
  }
}

beforeAll(async () => {
  lab = Lab.create();
  const conf = join(lab.stateDir, 'tunguard.conf');
  writeFileSync(conf, lab.config());
  tg = lab.startTunguard(['--config', conf], false);

  // The LAN host: a real HTTP service …
  const web = lab.spawn(lab.ns.lan, process.execPath, ['-e', NGINX_LIKE_JS, ADDR.lan4, String(WEB_PORT)]);
  let webOut = '';
  web.stdout?.on('data', (d: Buffer) => {
    webOut += d.toString();
  });
  // … and the host agent, listening on the host's LAN address, its roots in a temp dir.
  dirs = makeDirs('tg-lab-rem-');
  agentMain = buildAgent();
  agentConf = writeAgentConfig(dirs, 'lan-host', { host: ADDR.lan4, port: AGENT_PORT });
  await tg.ready();
  await waitFor('the API token', () => existsSync(join(lab.stateDir, 'api.token')));
  token = readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
  await waitFor('the web service', () => webOut.includes('listening'));
}, 30_000);

afterAll(async () => {
  agentProc?.kill('SIGTERM');
  await lab?.tunguard?.stop();
  lab?.destroy();
  if (dirs) cleanup(dirs);
});

describe('remediation in the lab: scan → rule → dispatch → agent → report → restore', () => {
  it('pairs the LAN agent with the router by a copied key', async () => {
    const agentKey = lab
      .run(lab.ns.lan, process.execPath, [agentMain, 'show-key', '--config', agentConf])
      .trim();
    expect(agentKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const r = api('POST', '/agents', { hostId: 'lan-host', address: ADDR.lan4, port: AGENT_PORT, agentKey });
    expect(r.status, r.text).toBe(201);
    expect(r.json.agent).toMatchObject({ hostId: 'lan-host', pairedBy: 'key' });
    lab.run(lab.ns.lan, process.execPath, [
      agentMain,
      'trust-router',
      '--key',
      r.json.routerKey,
      '--config',
      agentConf,
    ]);
    agentProc = lab.spawn(lab.ns.lan, process.execPath, [agentMain, 'serve', '--config', agentConf]);
    agentProc.stdout?.on('data', (d: Buffer) => {
      agentOut += d.toString();
    });
    agentProc.stderr?.on('data', (d: Buffer) => {
      agentOut += d.toString();
    });
    await waitFor('the agent', () => agentOut.includes(`LISTENING ${ADDR.lan4}:${AGENT_PORT} host=lan-host`));
  });

  it('imports a real nmap scan, matches an environment rule, quarantines the file and restores it', async () => {
    const victim = join(dirs.root, 'dropper.sh');
    writeFileSync(victim, 'evil payload', { mode: 0o755 });

    // A real, bounded version scan of the one service port, run from the router.
    const xml = join(lab.importDir, 'lan-scan.xml');
    const scan = scanLanPort(lab, WEB_PORT, xml);
    expect(scan.code, scan.stderr).toBe(0);
    const imp = api('POST', '/scans', { path: xml, format: 'nmap' });
    expect(imp.status, imp.text).toBe(201);
    expect(imp.json.hostIds).toHaveLength(1);

    const host = api('GET', `/hosts/${ADDR.lan4}`);
    expect(host.status, host.text).toBe(200);
    expect(host.json.host.ipv4).toContain(ADDR.lan4);
    expect(
      host.json.host.software.map((s: { product: string; version?: string; port?: number }) => [
        s.product,
        s.version,
        s.port,
      ]),
    ).toContainEqual(['nginx', '1.18.0', WEB_PORT]);

    const rule = api('POST', '/rules', {
      kind: 'environment',
      id: 'lab-nginx-dropper',
      environment: { software: 'nginx', softwareVersions: ['1.18.0'] },
      remedy: { fileOps: [{ name: 'dropper.sh', location: dirs.root, op: 'delete' }] },
    });
    expect(rule.status, rule.text).toBe(201);
    const matched = api('GET', `/hosts/${ADDR.lan4}`).json.matchingRules;
    expect(matched.map((m: { set: string; ruleId: string }) => `${m.set}:${m.ruleId}`)).toEqual([
      'FIG4:lab-nginx-dropper',
    ]);

    // Dispatched through the API; the daemon's queue sends it, the agent executes and reports.
    const disp = api('POST', '/dispatch', { host: ADDR.lan4, ruleId: 'lab-nginx-dropper' });
    expect(disp.status, disp.text).toBe(202);
    const done = await settled(disp.json.id);
    expect(done.status, JSON.stringify(done)).toBe('done');
    expect(done.remedyType).toBe('file-op');
    expect(done.audit.map((a: { step: string }) => a.step)).toEqual([
      'dispatch.queued',
      'dispatch.sent',
      'agent.result',
      'dispatch.done',
    ]);
    const quarantineId: string = done.results[0].quarantineId;
    expect(done.results[0].ok).toBe(true);
    expect(quarantineId).toMatch(/^[0-9a-f]{32}$/);
    // Gone from its place, kept in quarantine.
    expect(existsSync(victim)).toBe(false);
    expect(readFileSync(join(dirs.quarantine, `${quarantineId}.data`), 'utf8')).toBe('evil payload');

    // The admin restores it: another dispatch through the API.
    const rest = api('POST', '/dispatch', {
      host: ADDR.lan4,
      actions: [{ action: 'file.restore', quarantineId }],
    });
    expect(rest.status, rest.text).toBe(202);
    const restored = await settled(rest.json.id);
    expect(restored.status, JSON.stringify(restored)).toBe('done');
    expect(readFileSync(victim, 'utf8')).toBe('evil payload');
    expect(statSync(victim).mode & 0o777).toBe(0o755);
    expect(existsSync(join(dirs.quarantine, `${quarantineId}.data`))).toBe(false);

    // Every step is in the router's audit log.
    const audit = api('GET', '/audit?limit=100');
    expect(audit.status, audit.text).toBe(200);
    const steps = audit.json.items.map((e: { step: string }) => e.step);
    expect(steps).toContain('agent.paired');
    expect(steps.filter((s: string) => s === 'dispatch.done')).toHaveLength(2);
  }, 45_000);

  it('matches a threat-only rule and a combined rule in a detection round; the agent carries out both', async () => {
    // On the host: a program of its own (stored on the host, pinned by sha256) and a bot's file.
    const marker = join(dirs.root, 'patched.txt');
    const bot = join(dirs.root, 'bot.bin');
    const decoy = join(dirs.root, 'other.bin');
    writeFileSync(bot, 'bot payload', { mode: 0o755 });
    writeFileSync(decoy, 'not to be touched');
    const fixer = join(dirs.programs, 'fix-nginx.sh');
    const program = `#!/bin/sh\necho "patched $1" > ${marker}\n`;
    writeFileSync(fixer, program, { mode: 0o755 });
    const sha256 = createHash('sha256').update(program).digest('hex');

    // Threat detection data: the NVD record makes the scanned nginx 1.18.0 carry CVE-2021-23017 …
    const feed = api('POST', '/threats/feed', { path: lab.importable(FEED) });
    expect(feed.status, feed.text).toBe(201);
    expect(feed.json.loaded).toBe(4);
    const cves = api('GET', `/hosts/${ADDR.lan4}`).json.matchedCves;
    expect(cves).toContainEqual(expect.objectContaining({ key: 'CVE-2021-23017', certainty: 'affected' }));
    // … and a bot is reported on the host.
    const rep = api('POST', `/hosts/${ADDR.lan4}/threats`, {
      type: 'malware',
      kind: 'bot',
      name: 'Bot-4162',
    });
    expect(rep.status, rep.text).toBe(201);

    const rules = [
      {
        kind: 'threat',
        id: 'lab-cve-2021-23017',
        threat: { type: 'vulnerability', id: 'CVE-2021-23017' },
        remedy: { programs: [{ id: 'fix-nginx', location: fixer, sha256, args: ['nginx'] }] },
      },
      {
        kind: 'combined',
        id: 'lab-nginx-bot',
        environment: { software: 'nginx' },
        threat: { type: 'bot', id: 'Bot-4162' },
        remedy: { fileOps: [{ name: 'bot.bin', location: dirs.root, op: 'quarantine' }] },
      },
      // Negative control: the same threat on software the host does not run.
      {
        kind: 'combined',
        id: 'lab-apache-bot',
        environment: { software: 'apache' },
        threat: { type: 'bot', id: 'Bot-4162' },
        remedy: { fileOps: [{ name: 'other.bin', location: dirs.root, op: 'delete' }] },
      },
    ];
    for (const r of rules) {
      const c = api('POST', '/rules', r);
      expect(c.status, c.text).toBe(201);
    }
    const matching = api('GET', `/hosts/${ADDR.lan4}`).json.matchingRules;
    expect(matching.map((m: { set: string; ruleId: string }) => `${m.set}:${m.ruleId}`)).toEqual([
      'FIG4:lab-nginx-dropper',
      'FIG5:lab-cve-2021-23017',
      'FIG6:lab-nginx-bot',
    ]);

    // One detection round: the environment rule was remedied already; the other two queue.
    const det = api('POST', '/detect', { hosts: [ADDR.lan4] });
    expect(det.status, det.text).toBe(200);
    expect(det.json.checked).toBe(1);
    expect(det.json.skipped).toContainEqual(
      expect.objectContaining({ ruleId: 'lab-nginx-dropper', why: 'already remedied' }),
    );
    expect(det.json.queued).toHaveLength(2);
    const done = await Promise.all(det.json.queued.map((id: string) => settled(id)));
    const byRule = Object.fromEntries(done.map((d) => [d.ruleId, d]));
    expect(Object.keys(byRule).sort()).toEqual(['lab-cve-2021-23017', 'lab-nginx-bot']);

    const t = byRule['lab-cve-2021-23017'];
    expect(t.status, JSON.stringify(t)).toBe('done');
    expect(t).toMatchObject({ trigger: 'detection', remedyType: 'reference' });
    expect(t.results[0]).toMatchObject({ ok: true, exitCode: 0, hostId: 'lan-host' });
    expect(readFileSync(marker, 'utf8')).toBe('patched nginx\n');

    const c = byRule['lab-nginx-bot'];
    expect(c.status, JSON.stringify(c)).toBe('done');
    expect(c).toMatchObject({ trigger: 'detection', remedyType: 'file-op' });
    expect(existsSync(bot)).toBe(false);
    expect(readFileSync(join(dirs.quarantine, `${c.results[0].quarantineId}.data`), 'utf8')).toBe(
      'bot payload',
    );
    expect(readFileSync(decoy, 'utf8')).toBe('not to be touched');

    // The audit says which record set matched and that the agent reported.
    const audit = api('GET', '/audit?limit=200').json.items as Array<{
      step: string;
      ruleId?: string;
      dispatchId?: string;
      detail?: { set?: string };
    }>;
    const matched = audit.filter((e) => e.step === 'rule.matched').map((e) => `${e.detail?.set}:${e.ruleId}`);
    expect(matched).toEqual(['FIG5:lab-cve-2021-23017', 'FIG6:lab-nginx-bot']);
    for (const d of done)
      expect(audit.filter((e) => e.dispatchId === d.id).map((e) => e.step)).toEqual([
        'dispatch.queued',
        'dispatch.sent',
        'agent.result',
        'dispatch.done',
      ]);
    // The negative control was created, never matched or sent.
    expect(audit.filter((e) => e.ruleId === 'lab-apache-bot').map((e) => e.step)).toEqual(['rule.created']);
  }, 45_000);
});
