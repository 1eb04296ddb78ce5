// The agent's Windows service after a crash and at boot, under Wine's service control manager.
//
// Crash: NSSM is told (src/agent/service.ts) to start node.exe again 5 s after it exits. The test kills
// the agent's node.exe (SIGKILL of its Unix process: no clean exit, as a crash) and waits for a new
// LISTENING line in the agent's log and a signed ping answered by the new process. Control: with
// NSSM's AppExit set to Exit the agent stays down.
//
// Boot: Wine has no machine that boots; its "boot" is the start of a session: the first Wine program
// starts services.exe, which starts every SERVICE_AUTO_START service, as Windows' SCM does at boot.
// The test ends every Wine process of the prefix (wineserver -k) and starts a session with one
// ordinary program: the agent comes up without `sc start`. Control: the same service set to
// SERVICE_DEMAND_START stays down.
//
// A Wine session also ends when its last ordinary (non-service) process ends, so each test keeps one
// ordinary program running, standing for the logged-in machine; without it killing the agent would end
// the whole session and nothing would be left to restart it.

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keyId, seal } from '../../src/agent/protocol.js';
import { newRouterIdentity, sendEnvelope } from '../agent/wire.js';
import {
  mkdirWin,
  requireWineTools,
  spawnWine,
  WINESERVER,
  WinePrefix,
  type WineProcess,
  windowsAgentDir,
} from './wine.js';

const router = newRouterIdentity();
const CONFIG = 'C:\\tg\\svc.json';
const LOG = 'C:\\tg\\svc-state\\agent.log';
const LISTENING = /LISTENING \S+:(\d+) host=win-svc key=(\S+)/g;

let wine: WinePrefix;
let agentDir: string;
let session: WineProcess | undefined;

const agentCli = (...args: string[]) =>
  wine.run([join(agentDir, 'node.exe'), WinePrefix.z(join(agentDir, 'tunguard-agent.mjs')), ...args]);
const nssm = (...args: string[]) => wine.run([join(agentDir, 'nssm.exe'), ...args]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The LISTENING lines of the service's log so far: [port, key] each. */
function listened(): [number, string][] {
  const log = wine.unix(LOG);
  if (!existsSync(log)) return [];
  return [...readFileSync(log, 'utf8').matchAll(LISTENING)].map((m) => [Number(m[1]), m[2]]);
}

async function waitForListening(count: number, timeoutMs: number): Promise<[number, string]> {
  const t0 = Date.now();
  for (;;) {
    const l = listened();
    if (l.length >= count) return l[count - 1];
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`no LISTENING line #${count} in ${timeoutMs} ms; log: ${l.length} lines`);
    await sleep(100);
  }
}

/** Unix pids of the service's node.exe (its Windows command line names the service's config). */
function agentPids(): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes('node.exe') && cmd.includes(' serve ') && cmd.includes(CONFIG)) out.push(Number(e));
    } catch {}
  }
  return out;
}

async function ping(port: number, key: string) {
  const now = Date.now();
  const cmd = {
    id: randomUUID(),
    hostId: 'win-svc',
    agentKeyId: keyId(key),
    issuedAt: now,
    expiresAt: now + 60_000,
    action: { action: 'ping' },
  };
  return sendEnvelope(port, seal('command', cmd, router.privateKey), key);
}

/** The service's state as `sc query` names it (RUNNING, STOPPED, START_PENDING, ...). */
function scState(): string {
  const q = wine.run(['sc', 'query', 'tunguard-agent']);
  return /STATE\s+:\s+\d+\s+(\w+)/.exec(q.out)?.[1] ?? `unknown: ${q.out}`;
}

/** Polls `sc query` until the service is in `state` (or the time is up): the states seen, in order. */
async function waitState(state: string, timeoutMs = 15_000): Promise<string[]> {
  const seen: string[] = [];
  const t0 = Date.now();
  for (;;) {
    const s = scState();
    if (seen.at(-1) !== s) seen.push(s);
    if (s === state || Date.now() - t0 > timeoutMs) return seen;
    await sleep(500);
  }
}

/** An ordinary Windows program that keeps the Wine session (the "logged-in machine") alive. */
function startSession(): WineProcess {
  return spawnWine(wine, [join(agentDir, 'node.exe'), '-e', 'setTimeout(() => {}, 600000)']);
}

/** Ends every Wine process of the prefix: the machine is off. */
function powerOff(): void {
  session?.proc.kill('SIGKILL');
  session = undefined;
  execFileSync(WINESERVER, ['-k'], { env: wine.env, stdio: 'ignore', timeout: 20_000 });
}

beforeAll(() => {
  requireWineTools();
  agentDir = windowsAgentDir();
  wine = WinePrefix.create();
  mkdirWin(wine, 'C:\\tg\\root');
}, 120_000);

afterEach(() => {
  agentCli('service', 'uninstall', '--config', CONFIG);
  powerOff();
});

afterAll(() => wine?.destroy());

function installService(): void {
  writeFileSync(
    wine.unix(CONFIG),
    JSON.stringify({
      hostId: 'win-svc',
      listen: { host: '127.0.0.1', port: 0 },
      stateDir: 'C:\\tg\\svc-state',
      quarantineDir: 'C:\\tg\\svc-quarantine',
      roots: ['C:\\tg\\root'],
    }),
  );
  expect(agentCli('trust-router', '--key', router.publicText, '--config', CONFIG).code).toBe(0);
  const inst = agentCli('service', 'install', '--config', CONFIG);
  expect(inst, inst.out).toMatchObject({ code: 0 });
}

describe('the agent service after a crash', () => {
  it('NSSM starts a killed agent again after its 5 s delay; the new one answers', async () => {
    session = startSession();
    installService();
    const before = listened().length;
    expect(wine.run(['sc', 'start', 'tunguard-agent']).code).toBe(0);
    const [port1, key] = await waitForListening(before + 1, 60_000);
    expect(await ping(port1, key)).toMatchObject({ ok: true, reason: 'pong' });
    const [pid] = agentPids();
    expect(pid).toBeGreaterThan(0);

    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    const [port2, key2] = await waitForListening(before + 2, 30_000);
    const back = Date.now() - t0;
    console.log(`service: agent killed, listening again after ${back} ms (AppRestartDelay 5000)`);
    expect(back).toBeGreaterThanOrEqual(5000);
    expect(key2).toBe(key); // the same agent identity, from its state dir
    expect(agentPids()).not.toContain(pid);
    expect(await ping(port2, key2)).toMatchObject({ ok: true, reason: 'pong' });
    const states = await waitState('RUNNING');
    console.log(`service: states after the restart: ${states.join(' -> ')}`);
    expect(states.at(-1)).toBe('RUNNING');
  }, 150_000);

  it('(control) with AppExit Exit, a killed agent stays down', async () => {
    session = startSession();
    installService();
    const before = listened().length;
    expect(nssm('set', 'tunguard-agent', 'AppExit', 'Default', 'Exit').code).toBe(0);
    expect(wine.run(['sc', 'start', 'tunguard-agent']).code).toBe(0);
    await waitForListening(before + 1, 60_000);
    const [pid] = agentPids();
    process.kill(pid, 'SIGKILL');
    await sleep(9000);
    expect(listened()).toHaveLength(before + 1);
    expect(agentPids()).toEqual([]);
    expect(scState()).toBe('STOPPED');
  }, 150_000);
});

describe('the agent service at boot (the start of a Wine session)', () => {
  it('the SCM starts the automatic service by itself; it answers', async () => {
    installService();
    powerOff();
    const before = listened().length;
    session = startSession(); // "boot": services.exe starts with the session
    const [port, key] = await waitForListening(before + 1, 60_000);
    expect(await ping(port, key)).toMatchObject({ ok: true, reason: 'pong' });
    const states = await waitState('RUNNING');
    console.log(`service: states after the boot: ${states.join(' -> ')}`);
    expect(states.at(-1)).toBe('RUNNING');
  }, 150_000);

  it('(control) a demand-start service stays down at boot', async () => {
    installService();
    expect(nssm('set', 'tunguard-agent', 'Start', 'SERVICE_DEMAND_START').code).toBe(0);
    powerOff();
    const before = listened().length;
    session = startSession();
    await sleep(9000);
    expect(listened()).toHaveLength(before);
    expect(agentPids()).toEqual([]);
    expect(scState()).toBe('STOPPED');
  }, 150_000);
});
