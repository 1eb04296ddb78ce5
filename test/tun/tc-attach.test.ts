// tc programs attached without TCX (src/netcfg/tc-attach.ts), in the running kernel: cls_bpf
// filters in the order TCX would run them, behind the heartbeat guard; the guard run on a packet
// (BPF_PROG_TEST_RUN) with a fresh and a stale deadline; what a dead daemon left is cleared.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attachTc,
  chooseTcAttach,
  detachTc,
  guardFds,
  HEARTBEAT_MS,
  PRIO_GUARD,
  STALE_MS,
  tcAttachInUse,
} from '../../src/netcfg/tc-attach.js';
import { loadAddon } from '../../src/tun/addon.js';
import { type OpenedTun, openTun } from '../../src/tun/device.js';
import { Asm, ProgType } from '../../src/tun/ebpf.js';

const addon = loadAddon();
let tun: OpenedTun;
let ifindex: number;
let prog: number;

beforeAll(() => {
  chooseTcAttach('cls_bpf');
  tun = openTun({ name: 'tgclstest%d', queues: 1, offloads: false, mtu: 1500, txqueuelen: 100 }, addon);
  ifindex = Number(readFileSync(`/sys/class/net/${tun.name}/ifindex`, 'utf8'));
  prog = addon.bpfLoad(ProgType.SCHED_CLS, new Asm().movImm(0, -1).exit().assemble());
});
afterAll(() => {
  addon.close(prog);
  for (const fd of tun?.fds ?? []) addon.close(fd);
});

/** The filters at the device's hook as tc lists them: [prio, name], in the order they run. */
function filters(egress: boolean): [number, string][] {
  const r = spawnSync('tc', ['filter', 'show', 'dev', tun.name, egress ? 'egress' : 'ingress'], {
    encoding: 'utf8',
  });
  if (r.error) throw new Error(`tc: ${r.error.message} (apt-get install iproute2)`);
  const out: [number, string][] = [];
  for (const m of r.stdout.matchAll(/pref (\d+) bpf .*handle 0x1 (\S+) direct-action/g))
    out.push([Number(m[1]), m[2]]);
  return out;
}

/** The guard's verdict on a small packet. */
function guardVerdict(): number {
  const g = guardFds();
  if (!g) throw new Error('no guard loaded');
  const ctx = new Uint8Array(192);
  new DataView(ctx.buffer).setUint32(40, ifindex, true);
  const [ret] = addon.bpfTestRun(g.prog, new Uint8Array(64), new Uint8Array(128), ctx, 1);
  return ret | 0;
}

describe('tc programs as cls_bpf filters (no TCX)', () => {
  it("run in TCX's order behind the guard: 'first' in front of what is there, the others behind; the last detach takes the guard", () => {
    const a = attachTc(addon, prog, ifindex, false, false, 'tg_a');
    const b = attachTc(addon, prog, ifindex, false, true, 'tg_b');
    const c = attachTc(addon, prog, ifindex, false, false, 'tg_c');
    const d = attachTc(addon, prog, ifindex, false, true, 'tg_d');
    const e = attachTc(addon, prog, ifindex, true, false, 'tg_e');
    try {
      expect(tcAttachInUse()).toBe('cls_bpf');
      expect(addon.tcxCount(ifindex, false)).toBe(0);
      expect([a, b, c, d, e].every((h) => h < 0)).toBe(true);
      expect(filters(false).map(([, n]) => n)).toEqual(['tunguard_guard', 'tg_d', 'tg_b', 'tg_a', 'tg_c']);
      expect(filters(false)[0][0]).toBe(PRIO_GUARD);
      expect(filters(true).map(([, n]) => n)).toEqual(['tunguard_guard', 'tg_e']);
      detachTc(addon, b);
      detachTc(addon, e);
      expect(filters(false).map(([, n]) => n)).toEqual(['tunguard_guard', 'tg_d', 'tg_a', 'tg_c']);
      expect(filters(true)).toEqual([]);
    } finally {
      for (const h of [a, b, c, d, e]) detachTc(addon, h);
    }
    expect(filters(false)).toEqual([]);
    expect(guardFds()).toBeUndefined();
  });

  it('a hook holds 31 of ours besides the guard, and a program detached and attached again takes no new room', () => {
    const kept = attachTc(addon, prog, ifindex, false, false, 'tg_kept');
    const handles: number[] = [];
    try {
      for (let i = 0; i < 100; i++) detachTc(addon, attachTc(addon, prog, ifindex, false, true, 'tg_again'));
      expect(filters(false).map(([, n]) => n)).toEqual(['tunguard_guard', 'tg_kept']);
      for (let i = 0; i < 15; i++) handles.push(attachTc(addon, prog, ifindex, false, true, `tg_f${i}`));
      for (let i = 0; i < 15; i++) handles.push(attachTc(addon, prog, ifindex, false, false, `tg_l${i}`));
      expect(filters(false)).toHaveLength(32);
      expect(() => attachTc(addon, prog, ifindex, false, true, 'tg_over')).toThrow(/no cls_bpf prio left/);
      expect(() => attachTc(addon, prog, ifindex, false, false, 'tg_over')).toThrow(/no cls_bpf prio left/);
      expect(filters(false)).toHaveLength(32);
      const names = filters(false).map(([, n]) => n);
      expect(names.slice(0, 3)).toEqual(['tunguard_guard', 'tg_f14', 'tg_f13']);
      expect(names.slice(-2)).toEqual(['tg_l13', 'tg_l14']);
    } finally {
      for (const h of [kept, ...handles]) detachTc(addon, h);
    }
    expect(filters(false)).toEqual([]);
  });

  it('the guard sends packets on to our filters while the heartbeat is fresh, and lets them pass once it is stale', async () => {
    const h = attachTc(addon, prog, ifindex, false, false, 'tg_a');
    try {
      expect(guardVerdict()).toBe(-1); // TC_ACT_UNSPEC: the next filter
      // A deadline already past, as a daemon that stopped beating leaves it.
      const g = guardFds();
      if (!g) throw new Error('no guard loaded');
      const past = new Uint8Array(8);
      new DataView(past.buffer).setBigUint64(0, process.hrtime.bigint() - 1_000_000n, true);
      addon.bpfMapWrite(g.map, new Uint8Array(4), 4, 1, past, false);
      expect(guardVerdict()).toBe(0); // TC_ACT_OK: the packet goes on untouched
      // This process still beats: the next beat puts the deadline STALE_MS ahead again.
      await new Promise((r) => setTimeout(r, 2 * HEARTBEAT_MS));
      expect(guardVerdict()).toBe(-1);
      const value = new Uint8Array(8);
      addon.bpfMapRead(g.map, new Uint8Array(4), value);
      const ahead = Number(new DataView(value.buffer).getBigUint64(0, true) - process.hrtime.bigint()) / 1e6;
      expect(ahead).toBeGreaterThan(STALE_MS - 2 * HEARTBEAT_MS - 50);
      expect(ahead).toBeLessThanOrEqual(STALE_MS);
    } finally {
      detachTc(addon, h);
    }
  });

  it("a daemon's first attach on a hook deletes what a dead one left in tunguard's prios, and nothing else", () => {
    // As a killed daemon leaves them: a guard and a filter in tunguard's range, and someone else's.
    addon.tcFilter(ifindex, false, PRIO_GUARD, prog, 'tunguard_guard');
    addon.tcFilter(ifindex, false, PRIO_GUARD + 0x1f, prog, 'tg_stale');
    addon.tcFilter(ifindex, false, 0xc000, prog, 'not_ours');
    try {
      expect(filters(false).map(([, n]) => n)).toEqual(['tunguard_guard', 'tg_stale', 'not_ours']);
      const h = attachTc(addon, prog, ifindex, false, false, 'tg_new');
      expect(filters(false).map(([, n]) => n)).toEqual(['tunguard_guard', 'tg_new', 'not_ours']);
      detachTc(addon, h);
      expect(filters(false).map(([, n]) => n)).toEqual(['not_ours']);
    } finally {
      addon.tcFilter(ifindex, false, 0xc000, -1);
    }
    // Deleting what is not there says so.
    expect(addon.tcFilter(ifindex, false, 0xc000, -1)).toBe(false);
    expect(() => addon.tcFilter(ifindex, false, 0, prog)).toThrow(/prio 1-65535/);
  });
});
