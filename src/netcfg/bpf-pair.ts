// Two tc programs of one eBPF object that share its maps (one per hook: the fast path's LAN-egress
// and uplink programs, the translation's two directions). The first creates the maps, the second
// uses them; a failure says which program and why, and leaves no fd behind.
import type { TunAddon } from '../tun/addon.js';
import { BpfObjectError, type LoadedProgram, loadBpfObject, readBpfObject } from '../tun/bpf-object.js';
import { ProgType } from '../tun/ebpf.js';
import { NetcfgError } from './ip.js';

export interface ProgramPair {
  /** The first program, with the maps (the caller owns them, and both programs). */
  first: LoadedProgram;
  /** The second program's fd. */
  second: number;
}

/**
 * Loads `sections[0]` then `sections[1]` of `object`. `what` names both in errors: "cannot load
 * <what[0]>: <why>", "cannot load <what[1]>: <why>". `sizes`: map sizes instead of the object's.
 */
export function loadProgramPair(
  addon: TunAddon,
  object: string,
  sections: readonly [string, string],
  what: readonly [string, string],
  sizes: Readonly<Record<string, number>> = {},
): ProgramPair {
  let first: LoadedProgram;
  try {
    first = loadBpfObject(addon, readBpfObject(object, sections[0]), ProgType.SCHED_CLS, sizes);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      err instanceof BpfObjectError
        ? e.message
        : `${e.message}${e.code === 'EPERM' ? ' (needs CAP_BPF and CAP_NET_ADMIN)' : ''}`;
    throw new NetcfgError(`cannot load ${what[0]}: ${why}`);
  }
  try {
    const second = loadBpfObject(
      addon,
      readBpfObject(object, sections[1]),
      ProgType.SCHED_CLS,
      {},
      first.maps,
    ).prog;
    return { first, second };
  } catch (err) {
    for (const fd of [first.prog, ...first.maps.values()]) addon.close(fd);
    throw new NetcfgError(`cannot load ${what[1]}: ${(err as Error).message}`);
  }
}
