// How nmap is started: through capsh with CAP_NET_RAW alone where the daemon can narrow it (root,
// CAP_SETPCAP in its bounding set, capsh on PATH), else as it is, with the reason. The real launch
// is checked by running the same argv on a program that prints its own /proc status, also with the
// securebits ujail locks (under which setpriv, the first choice, failed).

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CAP } from '../../src/cli/privileges.js';
import { type LaunchEnv, narrowingBlocked, nmapLaunch } from '../../src/inventory/nmap-launch.js';

const bnd = (caps: number[]) =>
  `CapBnd:\t${caps
    .reduce((m, c) => m | (1n << BigInt(c)), 0n)
    .toString(16)
    .padStart(16, '0')}\n`;
const daemonCaps = [CAP.NET_ADMIN, CAP.NET_RAW, CAP.BPF, CAP.PERFMON];
const env = (over: Partial<LaunchEnv>): LaunchEnv => ({
  status: () => bnd([...daemonCaps, CAP.SETPCAP]),
  euid: () => 0,
  lastCap: () => 40,
  capsh: () => '/usr/sbin/capsh',
  ...over,
});

describe('nmap launch', () => {
  it('goes through capsh with every capability but NET_RAW dropped when root holds SETPCAP', () => {
    const l = nmapLaunch('/bin/true', ['-sV', '--', '192.0.2.1'], env({}));
    const drop = [...Array(41).keys()].filter((c) => c !== CAP.NET_RAW).join(',');
    expect(l).toEqual({
      file: '/usr/sbin/capsh',
      args: [`--drop=${drop}`, '--inh=', '--', '-c', 'exec "$0" "$@"', '/bin/true', '-sV', '--', '192.0.2.1'],
      narrowed: true,
    });
    // A missing nmap is not wrapped: spawning it fails with ENOENT, which the scan reports as such.
    expect(nmapLaunch('/nonexistent/nmap', [], env({})).narrowed).toBe(false);
  });

  it('runs nmap as it is, and says why, without SETPCAP, without capsh or when not root', () => {
    const cases: [Partial<LaunchEnv>, string][] = [
      [{ status: () => bnd(daemonCaps) }, 'no CAP_SETPCAP'],
      [{ capsh: () => undefined }, 'capsh not found (OpenWrt: opkg install libcap-bin)'],
      [{ euid: () => 1000 }, 'the daemon is not root'],
    ];
    for (const [over, why] of cases) {
      expect(narrowingBlocked(env(over))).toBe(why);
      expect(nmapLaunch('nmap', ['-sV'], env(over))).toEqual({
        file: 'nmap',
        args: ['-sV'],
        narrowed: false,
      });
    }
  });

  it("really leaves the program CAP_NET_RAW alone (this test runs as root), under ujail's locked securebits too; control: unnarrowed it has more", () => {
    // ujail locks KEEP_CAPS, NO_SETUID_FIXUP and NOROOT (at 0) before it execs the daemon.
    const locked = [
      'setpriv',
      '--securebits',
      '+keep_caps_locked,+no_setuid_fixup_locked,+noroot_locked',
      '--',
    ];
    const statusOf = (l: { file: string; args: string[] }, prefix: string[] = []) => {
      const argv = [...prefix, l.file, ...l.args];
      const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const f = (n: string) => BigInt(`0x${new RegExp(`^${n}:\\s*(\\S+)$`, 'm').exec(r.stdout)?.[1]}`);
      return { eff: f('CapEff'), prm: f('CapPrm'), bnd: f('CapBnd'), inh: f('CapInh'), amb: f('CapAmb') };
    };
    const raw = 1n << BigInt(CAP.NET_RAW);
    const only = { eff: raw, prm: raw, bnd: raw, inh: 0n, amb: 0n };
    const narrowed = nmapLaunch('cat', ['/proc/self/status']);
    expect(narrowed.narrowed).toBe(true);
    expect(statusOf(narrowed)).toEqual(only);
    expect(statusOf(narrowed, locked)).toEqual(only);
    // Arguments reach the program as they are, never as shell text.
    const echo = nmapLaunch('printf', ['%s|', 'a b', '$(touch /nonexistent/x)', '"q\'', '-c']);
    expect(spawnSync(echo.file, echo.args, { encoding: 'utf8' }).stdout).toBe(
      'a b|$(touch /nonexistent/x)|"q\'|-c|',
    );
    // Control: setpriv (this module's first version) fails under those locked bits before running cat.
    const setpriv = spawnSync(
      locked[0],
      [...locked.slice(1), 'setpriv', '--bounding-set', '-all,+net_raw', '--', 'true'],
      {
        encoding: 'utf8',
      },
    );
    expect(setpriv.status).not.toBe(0);
    expect(setpriv.stderr).toMatch(/keep process capabilities failed/);
    const direct = nmapLaunch('cat', ['/proc/self/status'], env({ status: () => bnd(daemonCaps) }));
    expect(statusOf(direct).eff & ~raw).not.toBe(0n);
  });
});
