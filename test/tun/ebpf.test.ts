// The eBPF assembler's encoding (against the instruction-set document's layout) and the steering
// programs through the running kernel's verifier (BPF_PROG_LOAD, as the daemon loads them).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROUTE_MARK } from '../../src/netcfg/router-local.js';
import {
  lanEgressProgram,
  lanIngressProgram,
  REINJECT_MARK,
  type SteeringProgramOptions,
  TC_ACT_REDIRECT,
  tunIngressProgram,
  uplinkEgressProgram,
} from '../../src/netcfg/steering-programs.js';
import { loadAddon } from '../../src/tun/addon.js';
import { Alu, Asm, FP, Helper, Jmp, MapType, ProgType, Size } from '../../src/tun/ebpf.js';
import { BYPASS_KEY_SIZE } from '../../src/tun/flow-bypass.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('Asm', () => {
  it('encodes opcode, registers, offset and immediate as struct bpf_insn (little-endian)', () => {
    const a = new Asm()
      .movImm(0, -1) // BPF_ALU64|BPF_MOV|BPF_K = 0xb7
      .movReg(6, 1) // BPF_ALU64|BPF_MOV|BPF_X = 0xbf, dst 6, src 1
      .load(Size.W, 2, 6, 8) // BPF_LDX|BPF_MEM|BPF_W = 0x61
      .store(Size.H, FP, -68, 7) // BPF_STX|BPF_MEM|BPF_H = 0x6b
      .storeImm(Size.DW, FP, -64, 0) // BPF_ST|BPF_MEM|BPF_DW = 0x7a
      .aluImm(Alu.AND, 3, 0x20000000) // BPF_ALU64|BPF_AND|BPF_K = 0x57
      .call(Helper.redirect) // BPF_JMP|BPF_CALL = 0x85, imm 23
      .exit(); // 0x95
    expect(hex(a.assemble())).toBe(
      [
        'b7000000ffffffff',
        'bf16000000000000',
        '6162080000000000',
        '6b7abcff00000000',
        '7a0ac0ff00000000',
        '5703000000000020',
        '8500000017000000',
        '9500000000000000',
      ].join(''),
    );
  });

  it('resolves labels to offsets from the next instruction, forward and back', () => {
    const a = new Asm()
      .label('top')
      .jmpImm(Jmp.JEQ, 1, 5, 'end') // +2
      .ja('top') // -2
      .movImm(0, 0)
      .label('end')
      .exit();
    const b = a.assemble();
    const view = new DataView(b.buffer);
    expect(b[0]).toBe(0x15); // BPF_JMP|BPF_JEQ|BPF_K
    expect(view.getInt16(2, true)).toBe(2);
    expect(view.getInt32(4, true)).toBe(5);
    expect(b[8]).toBe(0x05); // BPF_JA
    expect(view.getInt16(10, true)).toBe(-2);
  });

  it('refuses an unknown or a repeated label', () => {
    expect(() => new Asm().ja('nowhere').assemble()).toThrow(/unknown label 'nowhere'/);
    expect(() => new Asm().label('x').label('x')).toThrow(/defined twice/);
  });
});

const mac = Uint8Array.of(0x02, 0x11, 0x22, 0x33, 0x44, 0x55);
const one: SteeringProgramOptions = {
  tunIfindex: 7,
  lans: [{ ifindex: 3, mac }],
  ipv6: true,
  mark: REINJECT_MARK,
};
const three: SteeringProgramOptions = {
  tunIfindex: 9,
  lans: [3, 4, 5].map((ifindex) => ({ ifindex, mac })),
  ipv6: false,
  mark: REINJECT_MARK,
};
const PROGRAMS = { lanIngressProgram, lanEgressProgram, tunIngressProgram };

describe('the steering programs in the running kernel', () => {
  const addon = loadAddon();

  it.each(
    Object.entries(PROGRAMS).flatMap(
      ([name, build]) =>
        [
          [name, '1 LAN, IPv6', build, one],
          [name, '3 LANs, IPv4 only', build, three],
        ] as const,
    ),
  )('%s (%s) passes the verifier', (_name, _what, build, opts) => {
    const fd = addon.bpfLoad(ProgType.SCHED_CLS, build(opts));
    expect(fd).toBeGreaterThan(2);
    addon.close(fd);
  });

  it.each(Object.entries(PROGRAMS))('%s with the bypass map passes the verifier', (_name, build) => {
    const map = addon.bpfMapCreate(MapType.LRU_HASH, BYPASS_KEY_SIZE, 4, 64);
    try {
      for (const opts of [one, three]) {
        const fd = addon.bpfLoad(ProgType.SCHED_CLS, build({ ...opts, bypassMap: map }));
        expect(fd).toBeGreaterThan(2);
        addon.close(fd);
      }
    } finally {
      addon.close(map);
    }
  });

  it('a map carries the name it was given, as bpftool shows it: cut to 15 bytes, characters the kernel refuses made _', () => {
    const names = (): string[] =>
      (
        JSON.parse(execFileSync('bpftool', ['map', 'show', '-j'], { encoding: 'utf8' })) as {
          name?: string;
        }[]
      ).map((m) => m.name ?? '');
    const map = addon.bpfMapCreate(MapType.ARRAY, 4, 4, 1, 0, 'tg-test.name_longer_than_15');
    try {
      expect(names()).toContain('tg_test.name_lo');
    } finally {
      addon.close(map);
    }
    // Control: no name given, none shown (and the closed map is gone).
    const plain = addon.bpfMapCreate(MapType.ARRAY, 4, 4, 1);
    try {
      expect(names()).not.toContain('tg_test.name_lo');
    } finally {
      addon.close(plain);
    }
    expect(() => addon.bpfMapCreate(MapType.ARRAY, 4, 4, 1, 0, 7 as unknown as string)).toThrow(
      /name\?: string/,
    );
  });

  it('the bypass map holds what is written, and no more than its size (LRU)', () => {
    const map = addon.bpfMapCreate(MapType.LRU_HASH, BYPASS_KEY_SIZE, 4, 64);
    try {
      const keys = new Uint8Array(200 * BYPASS_KEY_SIZE);
      for (let i = 0; i < 200; i++) keys[i * BYPASS_KEY_SIZE + 8] = i; // 200 distinct flows
      expect(addon.bpfMapWrite(map, keys, BYPASS_KEY_SIZE, 3, new Uint8Array(4), false)).toBe(0);
      expect(addon.bpfMapCount(map, BYPASS_KEY_SIZE)).toBe(3);
      expect(addon.bpfMapWrite(map, keys, BYPASS_KEY_SIZE, 1, new Uint8Array(4), true)).toBe(0);
      expect(addon.bpfMapCount(map, BYPASS_KEY_SIZE)).toBe(2);
      addon.bpfMapWrite(map, keys, BYPASS_KEY_SIZE, 200, new Uint8Array(4), false);
      expect(addon.bpfMapCount(map, BYPASS_KEY_SIZE)).toBeLessThanOrEqual(64);
      // Deleting what is not there is refused, not an error.
      const gone = new Uint8Array(BYPASS_KEY_SIZE).fill(0xee);
      expect(addon.bpfMapWrite(map, gone, BYPASS_KEY_SIZE, 1, new Uint8Array(4), true)).toBe(1);
    } finally {
      addon.close(map);
    }
  });

  it('a program the verifier refuses fails with its log (the loader accepts nothing blindly)', () => {
    // Reads the packet's mark but returns without setting r0: "R0 !read_ok".
    const bad = new Asm().load(Size.W, 2, 1, 8).exit().assemble();
    expect(() => addon.bpfLoad(ProgType.SCHED_CLS, bad)).toThrow(/BPF_PROG_LOAD.*R0 !read_ok/s);
  });

  it('every LAN device is tested by the LAN ingress program (LAN to LAN stays in the kernel)', () => {
    // One `if r2 == ifindex` (0x15, dst r2) per LAN device.
    const b = lanIngressProgram(three);
    const view = new DataView(b.buffer);
    const tested: number[] = [];
    for (let i = 0; i < b.length; i += 8)
      if (b[i] === 0x15 && (b[i + 1] & 0xf) === 2) tested.push(view.getInt32(i + 4, true));
    expect(tested).toEqual([3, 4, 5]);
  });

  it('the uplink egress program sends a marked packet to the TUN, mark taken off, and passes the rest', () => {
    const fd = addon.bpfLoad(ProgType.SCHED_CLS, uplinkEgressProgram({ tunIfindex: 7, mark: ROUTE_MARK }));
    try {
      // An Ethernet frame with an IPv4 header; the program reads none of it.
      const frame = new Uint8Array(14 + 20);
      frame.set([0x08, 0x00, 0x45], 12);
      const run = (mark: number) => {
        const ctx = new Uint8Array(192);
        const dv = new DataView(ctx.buffer);
        dv.setUint32(8, mark, true);
        dv.setUint32(40, 1, true); // lo: the run needs a device
        const [ret] = addon.bpfTestRun(fd, frame, new Uint8Array(128), ctx, 1);
        return { ret, mark: dv.getUint32(8, true) };
      };
      // Other bits of the mark (fw4's, the offload guard's) stay as they were.
      expect(run((ROUTE_MARK | 0x3f01) >>> 0)).toEqual({ ret: TC_ACT_REDIRECT, mark: 0x3f01 });
      expect(run(ROUTE_MARK)).toEqual({ ret: TC_ACT_REDIRECT, mark: 0 });
      expect(run(0x3f01)).toEqual({ ret: -1, mark: 0x3f01 }); // TCX_NEXT
      expect(run(0)).toEqual({ ret: -1, mark: 0 });
    } finally {
      addon.close(fd);
    }
  });
});
