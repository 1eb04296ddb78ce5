// The capabilities the daemon runs with. It needs few: NET_ADMIN (the TUN, routes, nft, TCX links),
// BPF and PERFMON (loading the tc programs that steer LAN traffic and the fast path; PERFMON lets the
// verifier accept their packet-pointer arithmetic), NET_RAW (the DHCP fingerprint socket, nmap's
// OS detection) and SETPCAP (only to start nmap with NET_RAW alone: src/inventory/nmap-launch.ts).
// procd starts it with only these (openwrt/files/tunguard.capabilities.json) and no_new_privs; Node
// cannot drop capabilities itself, so this module checks what it was given: one missing is a clear
// error at start, more than these is said in the log.

import { readFileSync } from 'node:fs';

/** Capability numbers (linux/capability.h). */
export const CAP = { SETPCAP: 8, NET_ADMIN: 12, NET_RAW: 13, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;
type CapName = keyof typeof CAP;

/** Kernels before 5.8 have no CAP_BPF/CAP_PERFMON: there BPF needs SYS_ADMIN. */
const BPF_SPLIT_LAST_CAP = CAP.BPF;

const WHY: Record<CapName, string> = {
  NET_ADMIN: 'the TUN device, routes, nft and the TCX links (or cls_bpf filters)',
  BPF: 'loading the tc programs that steer LAN traffic',
  PERFMON: "the tc programs' packet-pointer arithmetic (the verifier refuses it without)",
  SYS_ADMIN: 'BPF on a kernel older than 5.8 (no CAP_BPF there)',
  NET_RAW: 'DHCP fingerprints of LAN hosts and nmap OS detection',
  SETPCAP: 'starting nmap with CAP_NET_RAW only (it can take capabilities away, never add)',
};

export interface Privileges {
  effective: bigint;
  noNewPrivs: boolean;
  /** Capabilities without which the daemon cannot steer traffic. */
  required: CapName[];
  /** Wanted for a feature that is left out without it. */
  optional: CapName[];
}

const has = (set: bigint, c: CapName) => ((set >> BigInt(CAP[c])) & 1n) === 1n;

/** Reads CapEff and NoNewPrivs from a /proc/<pid>/status text. */
export function parseStatus(status: string): { effective: bigint; noNewPrivs: boolean } {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (!eff) throw new Error('no CapEff line in /proc/self/status');
  return { effective: BigInt(`0x${eff[1]}`), noNewPrivs: /^NoNewPrivs:\s*1$/m.test(status) };
}

export function readPrivileges(
  status = readFileSync('/proc/self/status', 'utf8'),
  lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8')),
): Privileges {
  const { effective, noNewPrivs } = parseStatus(status);
  const required: CapName[] =
    lastCap >= BPF_SPLIT_LAST_CAP ? ['NET_ADMIN', 'BPF', 'PERFMON'] : ['NET_ADMIN', 'SYS_ADMIN'];
  return { effective, noNewPrivs, required, optional: ['NET_RAW', 'SETPCAP'] };
}

/** Names of the capabilities set in `mask`, without the CAP_ prefix. */
export function capNames(mask: bigint): string[] {
  const byBit = new Map<number, string>(Object.entries(CAP).map(([n, b]) => [b, n]));
  const out: string[] = [];
  for (let b = 0; b < 64; b++) if ((mask >> BigInt(b)) & 1n) out.push(byBit.get(b) ?? `#${b}`);
  return out;
}

/**
 * Throws when a required capability is missing (saying which, and what for); otherwise returns the log
 * lines for what is held: an optional one missing, or more than needed.
 */
export function checkPrivileges(p: Privileges): string[] {
  const missing = p.required.filter((c) => !has(p.effective, c));
  if (missing.length > 0)
    throw new Error(
      `missing capabilit${missing.length > 1 ? 'ies' : 'y'} ${missing.map((c) => `CAP_${c} (${WHY[c]})`).join(', ')}; ` +
        'run tunguard as root, or through its init script (procd: /etc/capabilities/tunguard.json)',
    );
  const lines: string[] = [];
  // (without SETPCAP, nmap-launch.ts's narrowingBlocked says what nmap runs with instead)
  for (const c of p.optional)
    if (!has(p.effective, c) && c !== 'SETPCAP')
      lines.push(`privileges: no CAP_${c}: ${WHY[c]} are left out`);
  const needed = [...p.required, ...p.optional].reduce((m, c) => m | (1n << BigInt(CAP[c])), 0n);
  const extra = p.effective & ~needed;
  if (extra !== 0n)
    lines.push(
      `privileges: running with ${capNames(extra).length} capabilities more than needed; procd's capabilities file (/etc/capabilities/tunguard.json) keeps only ${capNames(needed).join(', ')}`,
    );
  else
    lines.push(
      `privileges: capabilities ${capNames(p.effective).join(', ')}; no_new_privs ${p.noNewPrivs ? 'on' : 'off'}`,
    );
  return lines;
}
