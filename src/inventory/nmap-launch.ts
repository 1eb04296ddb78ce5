// How nmap is started: with CAP_NET_RAW only. nmap parses what scanned hosts send back, and the raw
// packets of its SYN scan and OS detection need that one capability (measured: -sV -O gives the same
// result without NET_ADMIN). A child the root daemon execs gets the daemon's whole bounding set, so
// setpriv narrows it first; narrowing the bounding set takes CAP_SETPCAP, which inside the daemon's own
// small bounding set can only take capabilities away.

import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CAP } from '../cli/privileges.js';

export interface NmapLaunch {
  file: string;
  args: string[];
  /** The program run through setpriv: its exit code 127 means it was not found. */
  viaSetpriv: boolean;
}

/** What decides the launch: this process's /proc status, its euid and where setpriv is. */
export interface LaunchEnv {
  status: () => string;
  euid: () => number;
  setpriv: () => string | undefined;
}

/** The first executable `name` on `path` (PATH's directories), if any. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

const defaultEnv: LaunchEnv = {
  status: () => readFileSync('/proc/self/status', 'utf8'),
  euid: () => process.geteuid?.() ?? -1,
  setpriv: () => findOnPath('setpriv'),
};

/** Why nmap cannot be narrowed here, or undefined when it can. */
export function narrowingBlocked(env: LaunchEnv = defaultEnv): string | undefined {
  if (env.euid() !== 0) return 'the daemon is not root';
  const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(env.status());
  if (!bnd || ((BigInt(`0x${bnd[1]}`) >> BigInt(CAP.SETPCAP)) & 1n) === 0n) return 'no CAP_SETPCAP';
  if (!env.setpriv()) return 'setpriv not found (OpenWrt: opkg install setpriv)';
  return undefined;
}

/** nmap's argv, through setpriv with CAP_NET_RAW only where it can be narrowed, else as it is. */
export function nmapLaunch(nmap: string, args: string[], env: LaunchEnv = defaultEnv): NmapLaunch {
  const setpriv = narrowingBlocked(env) === undefined ? env.setpriv() : undefined;
  if (!setpriv) return { file: nmap, args, viaSetpriv: false };
  return {
    file: setpriv,
    args: [
      '--no-new-privs',
      '--inh-caps',
      '-all',
      '--ambient-caps',
      '-all',
      '--bounding-set',
      '-all,+net_raw',
      '--',
      nmap,
      ...args,
    ],
    viaSetpriv: true,
  };
}
