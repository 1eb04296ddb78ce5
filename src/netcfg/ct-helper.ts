// The conntrack helper that keeps proxied connections (IPv4 and IPv6) out of fw4's flowtable.
//
// fw4's `flow offload` (nft_flow_offload_eval) skips every conntrack entry that has a helper
// extension, whatever the helper is. So the kernel is given a user-space helper through
// nfnetlink_cthelper (native/tun.c ctHelper), registered *disabled*: for a disabled user-space helper
// the kernel's hook (nfnl_userspace_cthelper) accepts every packet as it is, queues nothing and reads
// no payload. It opens no expectation, unlike the kernel's own helpers (ftp, sip, ...), which parse
// payload and open pinholes and are never used here. The police table's `ct helper` object names it
// and the offload guard sets it on a proxied connection's first packet (src/netcfg/offload-guard.ts).
//
// Lifetime: the nft object holds the helper, so it is deleted after the police table (the kernel
// says EBUSY until the table's objects are freed, which it may do a moment after the table goes).
// After a kill -9 it stays registered, disabled and unused, and the next start takes it over.
// Deleting it leaves the extension on the entries that had it: they stay out of offloading. Which
// connections get it, and what happens without it: src/netcfg/offload-guard.ts.
import { existsSync } from 'node:fs';
import type { TunAddon } from '../tun/addon.js';

/** The helper's name in the kernel (at most 15 bytes). */
export const CT_HELPER_NAME = 'tunguard';
/** The police table's `ct helper` object that refers to it. */
export const CT_HELPER_OBJECT = 'tg-proxied';

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;
const FAMILIES = [AF_INET, AF_INET6] as const;

/**
 * What the daemon says when the kernel cannot register it; `proxied`: the families the proxy
 * translates (IPv4 is then unguarded, IPv6 falls back to the ct mark, src/netcfg/offload-guard-mark.ts).
 */
export function ctHelperMissing(reason: string, proxied: { v4: boolean; v6: boolean }): string {
  const what = [
    proxied.v4 ? 'proxied IPv4 connections are not kept out of flow offloading' : '',
    proxied.v6
      ? `proxied IPv6 ${proxied.v4 ? 'ones' : 'connections'} only while the SYN police's table is there (a ct mark)`
      : '',
  ]
    .filter(Boolean)
    .join(', and ');
  return `${what}: the kernel refused the conntrack helper (${reason}; opkg install kmod-nfnetlink-cthelper)`;
}

type HelperAddon = Pick<TunAddon, 'ctHelper'>;

/**
 * Registers the helper for IPv4 and IPv6 TCP; returns undefined when done, else why not (the kernel
 * lacks nfnetlink_cthelper, most often). Nothing stays half registered.
 */
export function registerCtHelper(addon: HelperAddon, moduleDir = '/sys/module'): string | undefined {
  try {
    for (const family of FAMILIES) addon.ctHelper(true, CT_HELPER_NAME, family, IPPROTO_TCP);
    return undefined;
  } catch (err) {
    void removeCtHelper(addon);
    const e = err as NodeJS.ErrnoException;
    // nfnetlink answers EINVAL for a subsystem it does not have.
    if (e.code === 'EINVAL' && !existsSync(`${moduleDir}/nfnetlink_cthelper`))
      return 'no nfnetlink_cthelper in this kernel';
    return e.message;
  }
}

/** Deletes the helper (both families); true when none is left. Retries while the kernel says EBUSY. */
export async function removeCtHelper(addon: HelperAddon, tries = 50): Promise<boolean> {
  let left = false;
  for (const family of FAMILIES) {
    for (let i = 0; ; i++) {
      try {
        addon.ctHelper(false, CT_HELPER_NAME, family, IPPROTO_TCP);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EINVAL') break; // none there, or no such subsystem
        if (code !== 'EBUSY' || i + 1 >= tries) {
          left = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  return !left;
}
