// Every line the daemon writes in a lab run is a stable logfmt line a remote syslog or Loki can parse
// (./logfmt.ts reads them by the grammar, not by our formatter): the start, the API, a SYN flood's tier
// changes, a paired agent that goes away and comes back (agent_check 1 s: status.json and /metrics
// count it unreachable meanwhile), a refused and an applied reload, the stop, and the refusals of a
// second daemon and of a bad flag. The controls: the old "tunguard run: ..." error form, a stack over
// several lines, and an unquoted message do not parse (test/cli/log.test.ts has more).
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AgentDirs, buildAgent, cleanup, makeDirs, writeAgentConfig } from '../agent/harness.js';
import { ADDR, Lab, waitFor } from './lab.js';
import { parseLog, parseLogLine } from './logfmt.js';

const AGENT_PORT = 7443;
const API = 'http://127.0.0.1:7447/api/v1';
const FLOOD = join(import.meta.dirname, 'synflood.py');

/** The first run of `n` characters of `secret` that `text` holds, if any. */
function secretPiece(text: string, secret: string, n = 6): string | undefined {
  for (let i = 0; i + n <= secret.length; i++)
    if (text.includes(secret.slice(i, i + n))) return secret.slice(i, i + n);
  return undefined;
}

let lab: Lab | undefined;
let dirs: AgentDirs | undefined;
afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
  if (dirs) cleanup(dirs);
});

describe("the daemon's log lines", () => {
  it('every line of a lab run parses as logfmt with level, event and msg first; agent reachability is counted', async () => {
    lab = Lab.create();
    const l = lab;
    const conf = join(l.stateDir, 'tunguard.conf');
    const text = l.config("\nconfig detect 'detect'\n\toption agent_check '1'\n");
    writeFileSync(conf, text);
    const tg = l.startTunguard(['--config', conf], false);
    await tg.ready();
    await waitFor('the API token', () => existsSync(join(l.stateDir, 'api.token')));
    const token = readFileSync(join(l.stateDir, 'api.token'), 'utf8').trim();

    // A real agent on the LAN host, paired by a copied key.
    dirs = makeDirs('tg-lab-log-');
    const agentMain = buildAgent();
    const agentConf = writeAgentConfig(dirs, 'lan-host', { host: ADDR.lan4, port: AGENT_PORT });
    const agentKey = l.run(l.ns.lan, process.execPath, [agentMain, 'show-key', '--config', agentConf]).trim();
    const paired = l.api(token, 'POST', `${API}/remediation/agents`, {
      hostId: 'lan-host',
      address: ADDR.lan4,
      port: AGENT_PORT,
      agentKey,
    });
    expect(paired.status, paired.text).toBe(201);
    l.run(l.ns.lan, process.execPath, [
      agentMain,
      'trust-router',
      '--key',
      paired.json.routerKey,
      '--config',
      agentConf,
    ]);
    const serve = () => {
      const p: ChildProcess = l.spawn(l.ns.lan, process.execPath, [
        agentMain,
        'serve',
        '--config',
        agentConf,
      ]);
      let out = '';
      p.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      return { p, up: () => out.includes('LISTENING') };
    };
    let agent = serve();
    await waitFor('the agent', agent.up);
    const agents = () => l.status() as unknown as { agents?: { paired: number; unreachable: number } };
    await waitFor(
      'the agent reached',
      () => agents().agents?.paired === 1 && agents().agents?.unreachable === 0,
      5000,
    );

    // The agent goes away: within a few pings the status, /metrics and the log say so.
    agent.p.kill('SIGTERM');
    await waitFor('the agent unreachable', () => agents().agents?.unreachable === 1, 6000);
    const metrics = l.run(l.ns.rtr, 'curl', [
      '-sS',
      '-H',
      `Authorization: Bearer ${token}`,
      'http://127.0.0.1:7447/metrics',
    ]);
    expect(metrics).toMatch(/^tunguard_agents_unreachable 1$/m);
    expect(metrics).toMatch(/^tunguard_agents_paired 1$/m);
    agent = serve();
    await waitFor('the agent back', () => agents().agents?.unreachable === 0, 6000);
    agent.p.kill('SIGTERM');

    // A SYN flood: tier changes.
    await l.execAsync(l.ns.wan, 'python3', [FLOOD, ADDR.lan4, '8080', '250', '2'], 15_000);
    await waitFor('a tier change', () => /event=tier /.test(tg.output), 5000);
    // A reload refused, then one applied.
    writeFileSync(conf, `${text}\tOption bogus\n`);
    tg.proc.kill('SIGHUP');
    await waitFor('the refused reload', () => /reload.*refused/i.test(tg.output), 5000);
    writeFileSync(conf, text.replace("agent_check '1'", "agent_check '2'"));
    tg.proc.kill('SIGHUP');
    await waitFor('the applied reload', () => /reload.*applied/i.test(tg.output), 5000);
    // A second daemon, and a bad flag: refused, each in one line of the same form.
    const bin = join(process.cwd(), 'bin', 'tunguard');
    const second = l.exec(l.ns.rtr, process.execPath, [bin, 'run', '--config', conf, '--tun', 'tg9']);
    const flag = l.exec(l.ns.rtr, process.execPath, [bin, 'run', '--wna', 'x']);
    // The same second daemon as procd starts it: syslog's tag names it, its lines do not.
    const tagged = l.exec(l.ns.rtr, 'env', [
      'TUNGUARD_LOG_TAGGED=1',
      process.execPath,
      bin,
      'run',
      '--config',
      conf,
      '--tun',
      'tg9',
    ]);
    expect(await tg.stop()).toBe(0);

    const lines = parseLog(tg.output);
    const events = new Set(lines.map((r) => r.event));
    console.log(`log lines: ${lines.length}, events: ${[...events].filter(Boolean).sort().join(' ')}`);
    expect(lines.length).toBeGreaterThan(12);
    for (const e of ['start', 'api', 'remediation', 'agent', 'tier', 'reload', 'stop', 'exit'])
      expect(events, e).toContain(e);
    const gone = lines.find((r) => r.event === 'agent' && r.reachable === 'false');
    expect(gone).toMatchObject({ level: 'warn', host: 'lan-host', reason: expect.any(String) });
    expect(lines.find((r) => r.event === 'agent' && r.reachable === 'true')).toMatchObject({
      host: 'lan-host',
    });
    expect(lines.find((r) => r.event === 'tier')).toMatchObject({ from: 'normal', to: expect.any(String) });
    expect(lines.at(-1)).toMatchObject({ level: 'info', event: 'exit', code: '0', msg: 'stopped' });
    for (const r of [second, flag]) {
      expect(r.code).not.toBe(0);
      const [line] = parseLog(r.stderr);
      expect(line).toMatchObject({ level: 'error', event: 'exit', code: String(r.code) });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(parseLog(second.stdout).length).toBeGreaterThan(0);
    const untagged = (tagged.stdout + tagged.stderr).trim().split('\n');
    expect(untagged.length).toBeGreaterThan(1);
    for (const line of untagged) expect(parseLogLine(`tunguard: ${line}`)).toHaveProperty('level');
    expect(untagged.at(-1)).toMatch(/^level=error event=exit /);
    // Secrets never in the log: no piece of the API token (6 characters, as the demo once printed).
    // The control: the same search finds a piece in a line that quotes one.
    const all = tg.output + second.stdout + second.stderr + flag.stderr;
    expect(secretPiece(all, token)).toBeUndefined();
    expect(secretPiece(`token in ${l.stateDir}: ${token.slice(0, 6)}…`, token)).toBe(token.slice(0, 6));
    // The controls: what the daemon wrote before this change does not parse.
    expect(() => parseLogLine("tunguard run: unknown option '--wna'")).toThrow(/prefix/);
    expect(() => parseLog('tunguard: level=error msg=failed stack="Error: x\n    at y"')).toThrow(
      /unterminated/,
    );
    expect(() => parseLogLine('tunguard: level=info msg=tier normal -> risky')).toThrow();
  }, 90_000);
});
