// Periodic detection through the daemon's configuration: `config detect` makes
// tunguard scan the protected hosts with the real nmap from the router namespace on a schedule, match
// the rules and queue remedies; a reload turns it on, changes it to a whole-LAN scan, and a daemon
// without nmap says so in every round.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, type ApiResult, Lab, REPO_ROOT, type TunguardProcess, waitFor } from './lab.js';
import { NGINX_LIKE_JS } from './scan.js';

const WEB_PORT = 8081;
const API = 'http://127.0.0.1:7447/api/v1/remediation';

let lab: Lab;
let tg: TunguardProcess;
let conf = '';
let token = '';

function api(method: string, path: string, body?: unknown): ApiResult {
  return lab.api(token, method, `${API}${path}`, body);
}

function writeConfig(detect: string): void {
  writeFileSync(conf, lab.config(`\nconfig detect 'detect'\n${detect}`));
}

/** The log lines from `from` on that match `re`. */
/** The messages of the daemon's log lines (logfmt: the `msg` field, unquoted) that match `re`. */
function logLines(re: RegExp, from = 0): string[] {
  return tg.output
    .slice(from)
    .split('\n')
    .map((l) => {
      const m = /\bmsg=("(?:[^"\\]|\\.)*"|\S+)/.exec(l);
      return m ? (m[1].startsWith('"') ? (JSON.parse(m[1]) as string) : m[1]) : l;
    })
    .filter((l) => re.test(l));
}

beforeAll(async () => {
  lab = Lab.create();
  conf = join(lab.stateDir, 'tunguard.conf');
  writeConfig("\toption enabled '0'\n");
  const web = lab.spawn(lab.ns.lan, process.execPath, ['-e', NGINX_LIKE_JS, ADDR.lan4, String(WEB_PORT)]);
  let webOut = '';
  web.stdout?.on('data', (d: Buffer) => {
    webOut += d.toString();
  });
  tg = lab.startTunguard(['--config', conf], false);
  await tg.ready();
  await waitFor('the API token', () => {
    try {
      token = readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
      return token.length > 0;
    } catch {
      return false;
    }
  });
  await waitFor('the web service', () => webOut.includes('listening'));
}, 30_000);

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

describe('scheduled detection from config detect', () => {
  it('is off by default, and a round without hosts is refused with the reason', () => {
    expect(api('GET', '/detect').json).toEqual({ scheduled: false, running: false });
    const r = api('POST', '/detect', {});
    expect(r.status, r.text).toBe(400);
    expect(r.json).toMatchObject({
      error: 'bad_request',
      detail: expect.stringMatching(/^no hosts given and no detection configured/),
    });
  });

  it('turned on by a reload: scans the protected host with nmap, matches a rule, queues the remedy', async () => {
    const rule = api('POST', '/rules', {
      kind: 'environment',
      id: 'lab-old-nginx',
      environment: { software: 'nginx', softwareVersions: ['1.18.0'] },
      remedy: { fileOps: [{ name: 'dropper.sh', location: '/srv', op: 'delete' }] },
    });
    expect(rule.status, rule.text).toBe(201);
    writeConfig(
      `\toption enabled '1'\n\tlist protected_host '${ADDR.lan4}'\n\toption interval '60'\n` +
        `\toption scan_ports '${WEB_PORT}'\n\toption scan_timeout '60'\n`,
    );
    const from = tg.output.length;
    process.kill(tg.pid, 'SIGHUP');
    await waitFor('the reload', () => logLines(/reload: .*applied: detect/, from).length > 0);
    expect(logLines(/detect: every/, from)).toEqual([
      expect.stringMatching(
        /detect: every 60 s, 1 protected host\(s\), nmap scan first; first round in 5 s$/,
      ),
    ]);
    // The first round runs 5 s later: a real nmap -sV -O of the host's service port.
    await waitFor('the first round', () => logLines(/detect: checked/, from).length > 0, 60_000);
    expect(logLines(/detect: checked/, from)[0]).toMatch(
      /detect: checked 1 host\(s\); scanned 1; queued 1 remedy\(ies\)$/,
    );
    const st = api('GET', '/detect').json;
    expect(st).toMatchObject({
      scheduled: true,
      intervalSeconds: 60,
      protectedHosts: [ADDR.lan4],
      scan: true,
      scanLan: false,
      running: false,
    });
    expect(st.last.trigger).toBe('schedule');
    expect(st.last.report).toMatchObject({ scanned: 1, checked: 1, missing: [] });
    expect(st.nextRunAt - st.last.startedAt).toBeGreaterThanOrEqual(59_000);
    // The CLI shows the same (it finds the API through the state dir, as on the router).
    const cli = lab.exec(lab.ns.rtr, process.execPath, [
      join(REPO_ROOT, 'bin', 'tunguard'),
      'detect',
      '--state-dir',
      lab.stateDir,
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(
      new RegExp(
        `^schedule: every 60 s: ${ADDR.lan4.replaceAll('.', '\\.')}, nmap scan first\nnext round: .+\nlast round \\(schedule\\): .+ s: checked 1, scanned 1, queued 1, skipped 0\n$`,
      ),
    );
    const host = api('GET', `/hosts/${ADDR.lan4}`).json.host;
    expect(
      host.software.map((s: { product: string; version: string; port: number }) => [
        s.product,
        s.version,
        s.port,
      ]),
    ).toContainEqual(['nginx', '1.18.0', WEB_PORT]);
    const dispatches = api('GET', '/dispatches').json.items;
    expect(dispatches).toHaveLength(1);
    expect(dispatches[0]).toMatchObject({
      id: st.last.report.queued[0],
      ruleId: 'lab-old-nginx',
      trigger: 'detection',
    });
    // "Now" from the API starts the configured round (a scan takes a while: 202, then GET /detect);
    // the open dispatch is not queued twice.
    const now = api('POST', '/detect', {});
    expect(now.status, now.text).toBe(202);
    expect(now.json).toMatchObject({ scheduled: true, running: true });
    let last = st.last;
    await waitFor(
      'the round asked for',
      () => {
        last = api('GET', '/detect').json.last;
        return last.trigger === 'api';
      },
      60_000,
    );
    expect(last.report).toMatchObject({ scanned: 1, checked: 1, queued: [] });
    expect(last.report.skipped).toEqual([
      { hostId: host.id, ruleId: 'lab-old-nginx', why: 'already queued' },
    ]);
  }, 90_000);

  it("with scan_lan sweeps the LAN's IPv4 prefix and checks every host found", async () => {
    writeConfig(
      `\toption enabled '1'\n\toption scan_lan '1'\n\toption interval '60'\n` +
        `\toption scan_ports '${WEB_PORT}'\n\toption scan_timeout '90'\n\toption scan_max_rate '300'\n`,
    );
    const from = tg.output.length;
    process.kill(tg.pid, 'SIGHUP');
    await waitFor('the reload', () => logLines(/detect: every/, from).length > 0);
    expect(logLines(/detect: every/, from)[0]).toMatch(
      /detect: every 60 s, the LAN \(192\.0\.2\.0\/24\), nmap scan first; first round in 5 s$/,
    );
    await waitFor('the LAN round', () => logLines(/detect: checked/, from).length > 0, 100_000);
    const line = logLines(/detect: checked/, from)[0];
    // The LAN host (and the router's own LAN address, which nmap also finds) are checked; the
    // remedy for the LAN host is already queued.
    const m = /detect: checked (\d+) host\(s\); scanned (\d+); queued 0 remedy\(ies\); skipped 1$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(m?.[1])).toBe(Number(m?.[2]));
    expect(api('GET', '/detect').json).toMatchObject({ scheduled: true, scanLan: true, protectedHosts: [] });
  }, 120_000);

  it('without nmap on the router, every round says so (and still checks what the inventory knows)', async () => {
    expect(await tg.stop()).toBe(0);
    writeConfig(
      `\toption enabled '1'\n\tlist protected_host '${ADDR.lan4}'\n\toption scan_ports '${WEB_PORT}'\n`,
    );
    // ip and nft live in /usr/sbin, nmap in /usr/bin: this PATH has the first and not the second.
    tg = lab.startTunguard(['--config', conf], false, { ...process.env, PATH: '/usr/sbin:/sbin' });
    await tg.ready();
    await waitFor('the first round', () => logLines(/detect: checked/).length > 0, 30_000);
    expect(logLines(/detect: checked/)[0]).toMatch(
      /detect: checked 1 host\(s\); scanned 0; queued 0 remedy\(ies\); skipped 1; scan failed: nmap not found \("nmap"\): install it \(OpenWrt: opkg install nmap\)$/,
    );
  }, 60_000);
});
