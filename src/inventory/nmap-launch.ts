// How nmap is started: with CAP_NET_RAW only. nmap parses what scanned hosts send back, and the raw
// packets of its SYN scan and OS detection need that one capability (measured: -sV -O gives the same
// result without NET_ADMIN). A child the root daemon execs gets the daemon's whole bounding set, so
// capsh drops the rest from it first; that takes CAP_SETPCAP, which inside the daemon's own small
// bounding set can only take capabilities away. (Not setpriv: it sets PR_SET_KEEPCAPS, which ujail
// has locked, so under procd it fails before running anything.)

import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CAP } from '../cli/privileges.js';

export interface NmapLaunch {
  file: string;
  args: string[];
  /** Run through capsh with CAP_NET_RAW alone. */
  narrowed: boolean;
}

/** What decides the launch: this process's /proc status, its euid, the kernel's last capability and
 *  where capsh is. */
export interface LaunchEnv {
  status: () => string;
  euid: () => number;
  lastCap: () => number;
  capsh: () => string | undefined;
}

const executable = (file: string) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** `name` itself when it is a path, else the first executable `name` on PATH's directories. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) return executable(name) ? name : undefined;
  return path
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, name))
    .find(executable);
}

const defaultEnv: LaunchEnv = {
  status: () => readFileSync('/proc/self/status', 'utf8'),
  euid: () => process.geteuid?.() ?? -1,
  lastCap: () => Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8')),
  capsh: () => findOnPath('capsh'),
};

/** Why nmap cannot be narrowed here, or undefined when it can. */
export function narrowingBlocked(env: LaunchEnv = defaultEnv): string | undefined {
  if (env.euid() !== 0) return 'the daemon is not root';
  const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(env.status());
  if (!bnd || ((BigInt(`0x${bnd[1]}`) >> BigInt(CAP.SETPCAP)) & 1n) === 0n) return 'no CAP_SETPCAP';
  if (!env.capsh()) return 'capsh not found (OpenWrt: opkg install libcap-bin)';
  return undefined;
}

/** nmap's argv, through capsh with CAP_NET_RAW only where it can be narrowed, else as it is. */
export function nmapLaunch(nmap: string, args: string[], env: LaunchEnv = defaultEnv): NmapLaunch {
  const capsh = narrowingBlocked(env) === undefined ? env.capsh() : undefined;
  const path = findOnPath(nmap);
  if (!capsh || !path) return { file: nmap, args, narrowed: false };
  // By number: the kernel may know capabilities capsh's libcap has no name for.
  const drop: number[] = [];
  for (let c = 0; c <= env.lastCap(); c++) if (c !== CAP.NET_RAW) drop.push(c);
  // An empty inheritable set empties the ambient one too. capsh's `--` runs its shell (OpenWrt's
  // build: /bin/sh) with the rest, every capsh version alike; nmap and its arguments reach it as
  // positional parameters, never as shell text.
  return {
    file: capsh,
    args: [`--drop=${drop.join(',')}`, '--inh=', '--', '-c', 'exec "$0" "$@"', path, ...args],
    narrowed: true,
  };
}
