// Where the daemon's tc programs are attached: a TCX link where the kernel has TCX (Linux 6.6,
// OpenWrt 24.10), else a cls_bpf filter on the device's clsact qdisc.
//
// The two differ in what a dead daemon leaves. A TCX link is an fd of this process, so the kernel
// detaches it with the process, however it dies (fail-open). A cls_bpf filter stays. So in front of
// ours on each hook goes a guard: a small program that reads a deadline this process pushes forward
// every HEARTBEAT_MS and, once it has passed (the daemon dead or stuck for STALE_MS), ends the hook's
// classification with TC_ACT_OK: the packet goes on as if nothing were attached. While the heartbeat
// is fresh it returns TC_ACT_UNSPEC, "the next filter". Our programs' TCX verdicts mean the same under
// cls_bpf's direct action (TCX_NEXT = TC_ACT_UNSPEC, TCX_PASS = TC_ACT_OK, TCX_DROP = TC_ACT_SHOT,
// redirect = TC_ACT_REDIRECT), so they run unchanged.
//
// Order: TCX's "first" (in front of everything attached) and "last" become prios in a range of our
// own: the guard at PRIO_GUARD, a "first" one just below the lowest prio of ours on the hook, a
// "last" one just above the highest. A daemon's first attach on a hook deletes every prio of the
// range: what a killed predecessor left there, guard included.
import { endianness } from 'node:os';
import { closeQuietly, type TunAddon } from '../tun/addon.js';
import { Alu, Asm, FP, Helper, Jmp, MapType, ProgType, Size } from '../tun/ebpf.js';
import { NetcfgError } from './ip.js';

export type TcAttachChoice = 'auto' | 'tcx' | 'cls_bpf';
export const TC_ATTACH_CHOICES: readonly TcAttachChoice[] = ['auto', 'tcx', 'cls_bpf'];

/** The guard's prio; ours are PRIO_GUARD+1 … PRIO_LAST (tc's own default prio is 0xc000). */
export const PRIO_GUARD = 0x7400;
/** Where the first program on a hook goes: room for 15 "first" ones in front, 16 behind. */
const PRIO_SPLIT = 0x7410;
const PRIO_LAST = 0x741f;
export const HEARTBEAT_MS = 100;
export const STALE_MS = 1000;
const KTIME_GET_NS = 5;
const TC_ACT_OK = 0;
const TC_ACT_UNSPEC = -1;

let choice: TcAttachChoice = 'auto';
/** What attaching uses, once the first attach has found out. */
let inUse: 'tcx' | 'cls_bpf' | undefined;

interface Hook {
  ifindex: number;
  egress: boolean;
  /** Our filters here besides the guard: their prios by handle. */
  live: Map<number, number>;
}
interface Filter {
  hook: Hook;
  prio: number;
}
const hooks = new Map<string, Hook>();
/** Our filters by handle: negative numbers, never an fd. */
const filters = new Map<number, Filter>();
let nextHandle = -1;
let guard: { addon: TunAddon; prog: number; map: number; timer: NodeJS.Timeout } | undefined;

/** 'tcx' refuses kernels without TCX, 'cls_bpf' never tries it, 'auto' falls back. Set before attaching. */
export function chooseTcAttach(c: TcAttachChoice): void {
  if (hooks.size > 0) throw new NetcfgError('tc programs are attached already: choose before');
  choice = c;
  inUse = c === 'auto' ? undefined : c;
}

/** 'tcx' or 'cls_bpf' once something was attached; undefined before. */
export function tcAttachInUse(): 'tcx' | 'cls_bpf' | undefined {
  return inUse;
}

/**
 * Attaches `prog` at the device's ingress or egress hook, `first`: in front of what is attached
 * there (else behind it). Returns a handle for detachTc: a TCX link's fd, or a negative number.
 */
export function attachTc(
  addon: TunAddon,
  prog: number,
  ifindex: number,
  egress: boolean,
  first = false,
  name = 'tunguard',
): number {
  if (inUse !== 'cls_bpf') {
    try {
      const link = addon.tcxAttach(prog, ifindex, egress, first);
      inUse = 'tcx';
      return link;
    } catch (err) {
      // A kernel without TCX knows no such attach type: EINVAL, before anything is attached.
      if (choice !== 'auto' || inUse === 'tcx' || (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      inUse = 'cls_bpf';
    }
  }
  const hook = openHook(addon, ifindex, egress);
  const prios = [...hook.live.values()];
  const prio = first
    ? (prios.length > 0 ? Math.min(...prios) : PRIO_SPLIT + 1) - 1
    : (prios.length > 0 ? Math.max(...prios) : PRIO_SPLIT - 1) + 1;
  if (prio <= PRIO_GUARD || prio > PRIO_LAST)
    throw new NetcfgError(`no cls_bpf prio left on ifindex ${ifindex} ${egress ? 'egress' : 'ingress'}`);
  addon.tcFilter(ifindex, egress, prio, prog, name);
  const handle = nextHandle--;
  filters.set(handle, { hook, prio });
  hook.live.set(handle, prio);
  return handle;
}

/** Detaches what attachTc returned (or closes any other fd); the last filter of a hook takes its guard. */
export function detachTc(addon: Pick<TunAddon, 'close' | 'tcFilter'>, handle: number): void {
  const f = filters.get(handle);
  if (f === undefined) {
    closeQuietly(addon, handle);
    return;
  }
  filters.delete(handle);
  const { hook } = f;
  hook.live.delete(handle);
  quietly(() => addon.tcFilter(hook.ifindex, hook.egress, f.prio, -1));
  if (hook.live.size > 0) return;
  quietly(() => addon.tcFilter(hook.ifindex, hook.egress, PRIO_GUARD, -1));
  hooks.delete(key(hook.ifindex, hook.egress));
  if (hooks.size === 0 && guard) {
    clearInterval(guard.timer);
    closeQuietly(addon, guard.prog);
    closeQuietly(addon, guard.map);
    guard = undefined;
  }
}

function key(ifindex: number, egress: boolean): string {
  return `${ifindex}/${egress ? 'egress' : 'ingress'}`;
}

function quietly(f: () => unknown): void {
  try {
    f();
  } catch {
    /* the device is gone, and its filters with it */
  }
}

/** The hook's state; on first use, what a dead daemon left is deleted and the guard put in front. */
function openHook(addon: TunAddon, ifindex: number, egress: boolean): Hook {
  const k = key(ifindex, egress);
  let hook = hooks.get(k);
  if (hook) return hook;
  const g = startGuard(addon);
  for (let prio = PRIO_GUARD; prio <= PRIO_LAST; prio++) addon.tcFilter(ifindex, egress, prio, -1);
  addon.tcFilter(ifindex, egress, PRIO_GUARD, g.prog, 'tunguard_guard');
  hook = { ifindex, egress, live: new Map() };
  hooks.set(k, hook);
  return hook;
}

const KEY0 = new Uint8Array(4);
const deadline = new Uint8Array(8);
const deadlineView = new DataView(deadline.buffer);
const LITTLE = endianness() === 'LE';

/** Pushes the guard's deadline to STALE_MS from now (CLOCK_MONOTONIC, as bpf_ktime_get_ns). */
function beat(addon: TunAddon, map: number): void {
  deadlineView.setBigUint64(0, process.hrtime.bigint() + BigInt(STALE_MS) * 1_000_000n, LITTLE);
  addon.bpfMapWrite(map, KEY0, 4, 1, deadline, false);
}

function startGuard(addon: TunAddon): NonNullable<typeof guard> {
  if (guard) return guard;
  const map = addon.bpfMapCreate(MapType.ARRAY, 4, 8, 1, 0, 'tg_heartbeat');
  let prog: number;
  try {
    beat(addon, map);
    prog = addon.bpfLoad(ProgType.SCHED_CLS, guardProgram(map));
  } catch (err) {
    closeQuietly(addon, map);
    throw new NetcfgError(`cannot load the cls_bpf heartbeat guard: ${(err as Error).message}`);
  }
  const timer = setInterval(() => quietly(() => beat(addon, map)), HEARTBEAT_MS);
  timer.unref();
  guard = { addon, prog, map, timer };
  return guard;
}

/**
 * The guard: TC_ACT_UNSPEC (on to our filters) while the deadline in `map` is ahead of
 * bpf_ktime_get_ns(), TC_ACT_OK (the packet goes on untouched) once it has passed or is missing.
 */
export function guardProgram(map: number): Uint8Array {
  return new Asm()
    .storeImm(Size.W, FP, -4, 0)
    .movReg(2, FP)
    .aluImm(Alu.ADD, 2, -4)
    .loadMap(1, map)
    .call(Helper.mapLookupElem)
    .jmpImm(Jmp.JEQ, 0, 0, 'open')
    .load(Size.DW, 6, 0, 0)
    .call(KTIME_GET_NS)
    .jmpReg(Jmp.JGT, 0, 6, 'open')
    .movImm(0, TC_ACT_UNSPEC)
    .exit()
    .label('open')
    .movImm(0, TC_ACT_OK)
    .exit()
    .assemble();
}

/** The guard's map, for the tests (undefined while nothing is attached by cls_bpf). */
export function guardFds(): { prog: number; map: number } | undefined {
  return guard && { prog: guard.prog, map: guard.map };
}
