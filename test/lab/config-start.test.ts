// A real daemon started on a config file with a typo: it comes up with its defenses on (the SYN proxy
// answers SYNs from the WAN side itself), the status names the problem and what runs instead, and a
// fixed file is taken on SIGHUP. Then a daemon whose log pipe is closed keeps running.
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAST_GOOD_FILE } from '../../src/daemon/start-config.js';
import { ADDR, Lab, REPO_ROOT, sleep, waitFor } from './lab.js';

const BIN = join(REPO_ROOT, 'bin', 'tunguard');
let lab: Lab;
let conf: string;
let good: string;

/** The CLI in the router's namespace. */
function cli(args: string[]) {
  return lab.exec(lab.ns.rtr, process.execPath, [BIN, ...args], 20_000);
}

beforeAll(() => {
  lab = Lab.create();
  conf = join(lab.stateDir, 'tunguard.conf');
  good = lab.config(
    "\nconfig defense 'syn'\n\toption moderate_threshold '100'\n\toption risky_threshold '400'\n",
  );
});

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

describe('a typo in the config file at start', () => {
  beforeAll(() => writeFileSync(conf, good.replace('moderate_threshold', 'modrate_threshold')));

  it('(control) the file is refused by config check', () => {
    const r = cli(['config', 'check', conf]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown option 'modrate_threshold'.*did you mean 'moderate_threshold'/);
  });

  it('the daemon comes up protecting, says so loudly, and the status names the problem', async () => {
    const tg = lab.startTunguard(['--config', conf], false);
    await tg.ready();
    expect(tg.output).toMatch(
      /^tunguard: level=error event=config msg="config: ERROR: .*tunguard\.conf has errors; running on the file without its bad lines .*modrate_threshold.*" in_force=file-without-errors/m,
    );
    // A second daemon on the same WAN is refused before it changes anything; the first runs on.
    const second = cli(['run', '--config', conf, '--tun', 'tg9']);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      `tunguard: level=error event=exit msg="another tunguard (pid ${tg.pid}) already steers wan0; refusing to start a second one" code=1 error=error\n`,
    );
    expect(tg.proc.exitCode).toBeNull();
    // Defenses on: SYNs from the WAN side are answered by the SYN proxy (cookies), not the LAN host.
    const before = (await lab.freshStatus()).counters.synproxy_cookie_sent ?? 0;
    lab.exec(lab.ns.wan, 'hping3', ['-q', '-S', '-p', '80', '-i', 'u10000', '-c', '20', ADDR.lan4], 20_000);
    const after = (await lab.freshStatus()).counters.synproxy_cookie_sent ?? 0;
    expect(after - before).toBeGreaterThanOrEqual(15);
    // The rest of the file holds: its risky threshold, not the default.
    const t = JSON.parse(cli(['tiers', '--json', '--config', conf]).stdout);
    expect(t.thresholds.risky).toBe(400);

    const s = JSON.parse(cli(['status', '--json', '--config', conf]).stdout);
    expect(s.config).toMatchObject({ path: conf, inForce: 'file-without-errors' });
    expect(s.config.problems.join('\n')).toMatch(/line \d+: unknown option 'modrate_threshold'/);
    const text = cli(['status', '--config', conf]).stdout;
    expect(text).toMatch(/ERROR: the file is not in force: running on the file without its bad lines/);
    // status.json (what LuCI reads) says the same.
    expect(lab.status()).toMatchObject({ config: { inForce: 'file-without-errors' } });

    // Fixed and reloaded: the file is in force, the problem gone.
    writeFileSync(conf, good);
    tg.proc.kill('SIGHUP');
    await waitFor('the reload', () => tg.output.includes('reload: '));
    const fixed = JSON.parse(cli(['status', '--json', '--config', conf]).stdout).config;
    expect(fixed).toMatchObject({ inForce: 'file', problems: [], lastReload: { result: 'applied' } });
    expect(await tg.stop()).toBe(0);
  });

  it('a restart on a broken file runs on the last good configuration', async () => {
    writeFileSync(conf, good.replace("'400'", "'4o0'"));
    const tg = lab.startTunguard(['--config', conf], false);
    await tg.ready();
    expect(tg.output).toMatch(/running on the last good configuration/);
    const s = JSON.parse(cli(['status', '--json', '--config', conf]).stdout);
    expect(s.config.inForce).toBe('last-good');
    expect(JSON.parse(cli(['tiers', '--json', '--config', conf]).stdout).thresholds.risky).toBe(400);
    expect(await tg.stop()).toBe(0);
  });
});

describe('a listen address of the WAN device in the file', () => {
  it('is left out at start: the API listens on the rest, never on the WAN side, and the status says why', async () => {
    const wanConf = good.replace(
      "\tlist listen '127.0.0.1:7447'",
      `\tlist listen '127.0.0.1:7447'\n\tlist listen '${ADDR.rtrWan4}:7447'`,
    );
    expect(wanConf).toContain(`${ADDR.rtrWan4}:7447`); // (control) the bad line is there
    writeFileSync(conf, wanConf);
    rmSync(join(lab.stateDir, LAST_GOOD_FILE), { force: true }); // no copy to fall back on
    const tg = lab.startTunguard(['--config', conf], false);
    await tg.ready();
    const s = JSON.parse(cli(['status', '--json', '--config', conf]).stdout);
    expect(s.config.inForce).toBe('file-without-errors');
    expect(s.config.problems.join('\n')).toMatch(/198\.51\.100\.1:7447 is an address of the WAN device wan0/);
    expect(lab.status()).toMatchObject({ api: { listening: ['127.0.0.1:7447'] } });
    const wan = lab.exec(lab.ns.wan, 'curl', [
      '-sS',
      '--max-time',
      '3',
      `http://${ADDR.rtrWan4}:7447/healthz`,
    ]);
    expect(wan.code).not.toBe(0);
    expect(await tg.stop()).toBe(0);
  });
});

describe('the daemon with its log pipe closed', () => {
  it('keeps running and steering after `| head -1` has exited, and stops cleanly', async () => {
    writeFileSync(conf, good);
    rmSync(join(lab.stateDir, 'status.json'), { force: true }); // the last daemon's
    const out = join(lab.stateDir, 'head.out');
    const p = lab.spawn(lab.ns.rtr, 'sh', [
      '-c',
      `'${process.execPath}' '${BIN}' run --config '${conf}' 2>&1 | head -1 > '${out}'`,
    ]);
    // head exits after the first line; the daemon goes on writing log lines into the closed pipe.
    await waitFor(
      'the first status.json',
      () => {
        try {
          return lab.status().pid > 0;
        } catch {
          return false;
        }
      },
      15_000,
    );
    const pid = lab.status().pid;
    await sleep(1500);
    lab.exec(lab.ns.wan, 'ping', ['-c', '3', '-i', '0.2', ADDR.lan4]); // traffic, and tier log lines
    process.kill(pid, 'SIGHUP'); // a reload logs more lines into the closed pipe
    await sleep(500);
    expect(
      readFileSync(out, 'utf8')
        .split('\n')
        .filter((l) => l).length,
    ).toBe(1);
    process.kill(pid, 0); // still alive (throws ESRCH otherwise)
    const t0 = statSync(join(lab.stateDir, 'status.json')).mtimeMs;
    // status.json is rewritten when something changed: more traffic.
    lab.exec(lab.ns.wan, 'ping', ['-c', '2', '-i', '0.2', ADDR.lan4]);
    await sleep(2500);
    expect(statSync(join(lab.stateDir, 'status.json')).mtimeMs).toBeGreaterThan(t0); // still written
    process.kill(pid, 'SIGTERM');
    await waitFor('the daemon to stop', () => p.exitCode !== null, 10_000);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
