// How nmap is started: through setpriv with CAP_NET_RAW alone where the daemon can narrow it (root,
// CAP_SETPCAP in its bounding set, setpriv on PATH), else as it is, with the reason. The real launch
// is checked by running the same argv on a program that prints its own /proc status.

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
  setpriv: () => '/usr/bin/setpriv',
  ...over,
});

describe('nmap launch', () => {
  it('goes through setpriv with only NET_RAW when root holds SETPCAP and setpriv is there', () => {
    const l = nmapLaunch('nmap', ['-sV', '--', '192.0.2.1'], env({}));
    expect(l).toEqual({
      file: '/usr/bin/setpriv',
      args: [
        '--no-new-privs',
        '--inh-caps',
        '-all',
        '--ambient-caps',
        '-all',
        '--bounding-set',
        '-all,+net_raw',
        '--',
        'nmap',
        '-sV',
        '--',
        '192.0.2.1',
      ],
      viaSetpriv: true,
    });
  });

  it('runs nmap as it is, and says why, without SETPCAP, without setpriv or when not root', () => {
    const cases: [Partial<LaunchEnv>, string][] = [
      [{ status: () => bnd(daemonCaps) }, 'no CAP_SETPCAP'],
      [{ setpriv: () => undefined }, 'setpriv not found (OpenWrt: opkg install setpriv)'],
      [{ euid: () => 1000 }, 'the daemon is not root'],
    ];
    for (const [over, why] of cases) {
      expect(narrowingBlocked(env(over))).toBe(why);
      expect(nmapLaunch('nmap', ['-sV'], env(over))).toEqual({
        file: 'nmap',
        args: ['-sV'],
        viaSetpriv: false,
      });
    }
  });

  it('really leaves the program CAP_NET_RAW alone (this test runs as root); control: unnarrowed it has more', () => {
    const statusOf = (l: { file: string; args: string[] }) => {
      const r = spawnSync(l.file, l.args, { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const f = (n: string) => BigInt(`0x${new RegExp(`^${n}:\\s*(\\S+)$`, 'm').exec(r.stdout)?.[1]}`);
      return {
        eff: f('CapEff'),
        prm: f('CapPrm'),
        bnd: f('CapBnd'),
        nnp: /^NoNewPrivs:\s*1$/m.test(r.stdout),
      };
    };
    const raw = 1n << BigInt(CAP.NET_RAW);
    const narrowed = nmapLaunch('cat', ['/proc/self/status']);
    expect(narrowed.viaSetpriv).toBe(true);
    expect(statusOf(narrowed)).toEqual({ eff: raw, prm: raw, bnd: raw, nnp: true });
    const direct = nmapLaunch('cat', ['/proc/self/status'], env({ status: () => bnd(daemonCaps) }));
    expect(statusOf(direct).eff & ~raw).not.toBe(0n);
  });
});
