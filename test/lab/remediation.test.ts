// Remediation end to end in the netns lab: tunguard in rtr, a real service and the real host agent in lan;
// the agent is paired by a copied key through the API, a real nmap scan run from rtr is imported, an
// environment rule matches, the remedy is dispatched through the API, executed and reported by the agent,
// and the "deleted" (quarantined) file is restored.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentDirs, buildAgent, cleanup, makeDirs } from '../agent/harness.js';
import { ADDR, Lab, sleep, type TunguardProcess } from './lab.js';

const WEB_PORT = 8081;
const AGENT_PORT = 7443;
const API = 'http://127.0.0.1:7447/api/v1/remediation';

/** Answers like nginx 1.18.0 (what nmap -sV then reports). */
const NGINX_LIKE_JS = `
const http = require('node:http');
const [host, port] = process.argv.slice(1);
http.createServer((_q, s) => { s.setHeader('Server', 'nginx/1.18.0'); s.end('ok'); })
  .listen(Number(port), host, () => console.log('listening'));
`;

let lab: Lab;
let tg: TunguardProcess;
let dirs: AgentDirs;
let agentMain: string;
let agentConf: string;
let agentProc: ChildProcess;
let agentOut = '';
let token = '';

interface Res {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience (API bodies are checked by the assertions)
  json: any;
}

/** Calls the daemon's API with curl inside the router namespace; returns the status and parsed body. */
function api(method: string, path: string, body?: unknown): Res {
  const args = ['-sS', '-X', method, '-H', `Authorization: Bearer ${token}`, '-w', '\n%{http_code}'];
  if (body !== undefined)
    args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
  const r = lab.run(lab.ns.rtr, 'curl', [...args, '--max-time', '20', `${API}${path}`], 25_000);
  const nl = r.lastIndexOf('\n');
  const text = r.slice(0, nl);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: Number(r.slice(nl + 1)), json, text };
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
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
  writeFileSync(
    conf,
    `config tunguard 'main'
\toption wan_device 'wan0'
\tlist lan_device 'lan0'
\toption state_dir '${lab.stateDir}'

config api 'api'
\tlist listen '127.0.0.1:7447'
`,
  );
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
  agentConf = join(dirs.base, 'agent.json');
  writeFileSync(
    agentConf,
    JSON.stringify({
      hostId: 'lan-host',
      listen: { host: ADDR.lan4, port: AGENT_PORT },
      stateDir: dirs.state,
      roots: [dirs.root],
      quarantineDir: dirs.quarantine,
      programRoots: [dirs.programs],
    }),
  );
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
    const xml = join(lab.stateDir, 'lan-scan.xml');
    const scan = lab.exec(
      lab.ns.rtr,
      'nmap',
      [
        '-sV',
        '-Pn',
        '-n',
        '-p',
        String(WEB_PORT),
        '--max-retries',
        '1',
        '--host-timeout',
        '30s',
        '-oX',
        xml,
        ADDR.lan4,
      ],
      40_000,
    );
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
});
