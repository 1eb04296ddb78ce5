// A small eBPF assembler: the programs tunguard loads are built here, in TypeScript, from the
// instruction set (Documentation/bpf/standardization/instruction-set.rst), so neither a compiler
// nor an ELF loader is needed on the router. Jumps name labels; assemble() resolves them and
// returns the `struct bpf_insn[]` bytes the kernel's verifier checks at load time.

/** Registers: r0 return value, r1-r5 arguments (clobbered by calls), r6-r9 kept, r10 frame pointer. */
export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
export const FP: Reg = 10;

/** Access sizes of loads and stores. */
export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;
export type Size = (typeof Size)[keyof typeof Size];

/** ALU operations. */
export const Alu = { ADD: 0x00, SUB: 0x10, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70, MOV: 0xb0 } as const;
export type Alu = (typeof Alu)[keyof typeof Alu];

/** Conditional jumps. */
export const Jmp = { JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40, JNE: 0x50, JLT: 0xa0 } as const;
export type Jmp = (typeof Jmp)[keyof typeof Jmp];

const LDX = 0x01;
const ST = 0x02;
const STX = 0x03;
const JMP = 0x05;
const ALU64 = 0x07;
const MEM = 0x60;
const SRC_K = 0x00;
const SRC_X = 0x08;
const CALL = 0x80;
const EXIT = 0x90;
const JA = 0x00;
/** BPF_LD | BPF_DW | BPF_IMM: the two-slot 64-bit immediate load. */
export const LD_IMM64 = 0x18;
/** src_reg of LD_IMM64 saying the immediate is a map fd. */
export const PSEUDO_MAP_FD = 1;

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** A jump's target, resolved by assemble(). */
  target?: string;
}

export class Asm {
  private readonly insns: Insn[] = [];
  private readonly labels = new Map<string, number>();

  private emit(code: number, dst: number, src: number, off: number, imm: number, target?: string): this {
    this.insns.push({ code, dst, src, off, imm, target });
    return this;
  }

  /** Marks the next instruction as `name`. */
  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`ebpf: label '${name}' defined twice`);
    this.labels.set(name, this.insns.length);
    return this;
  }

  /** dst = imm (64-bit, imm sign-extended from 32 bits). */
  movImm(dst: Reg, imm: number): this {
    return this.emit(ALU64 | Alu.MOV | SRC_K, dst, 0, 0, imm | 0);
  }

  movReg(dst: Reg, src: Reg): this {
    return this.emit(ALU64 | Alu.MOV | SRC_X, dst, src, 0, 0);
  }

  aluImm(op: Alu, dst: Reg, imm: number): this {
    return this.emit(ALU64 | op | SRC_K, dst, 0, 0, imm | 0);
  }

  aluReg(op: Alu, dst: Reg, src: Reg): this {
    return this.emit(ALU64 | op | SRC_X, dst, src, 0, 0);
  }

  /** dst = the map of fd `fd` (a 64-bit immediate the kernel replaces with the map at load time). */
  loadMap(dst: Reg, fd: number): this {
    this.emit(LD_IMM64, dst, PSEUDO_MAP_FD, 0, fd | 0);
    return this.emit(0, 0, 0, 0, 0); // the immediate's upper half (two instruction slots)
  }

  /** dst = *(size *)(src + off) */
  load(size: Size, dst: Reg, src: Reg, off: number): this {
    return this.emit(LDX | MEM | size, dst, src, off, 0);
  }

  /** *(size *)(dst + off) = src */
  store(size: Size, dst: Reg, off: number, src: Reg): this {
    return this.emit(STX | MEM | size, dst, src, off, 0);
  }

  /** *(size *)(dst + off) = imm */
  storeImm(size: Size, dst: Reg, off: number, imm: number): this {
    return this.emit(ST | MEM | size, dst, 0, off, imm | 0);
  }

  /** if (dst <op> imm) goto target */
  jmpImm(op: Jmp, dst: Reg, imm: number, target: string): this {
    return this.emit(JMP | op | SRC_K, dst, 0, 0, imm | 0, target);
  }

  /** if (dst <op> src) goto target */
  jmpReg(op: Jmp, dst: Reg, src: Reg, target: string): this {
    return this.emit(JMP | op | SRC_X, dst, src, 0, 0, target);
  }

  ja(target: string): this {
    return this.emit(JMP | JA, 0, 0, 0, 0, target);
  }

  /**
   * Any instruction by its opcode, for those without a method here (32-bit ALU, the legacy packet
   * loads of socket filters); `target`: a jump's label.
   */
  op(code: number, dst = 0, src = 0, imm = 0, target?: string): this {
    return this.emit(code, dst, src, 0, imm | 0, target);
  }

  /** Calls a kernel helper by its number (include/uapi/linux/bpf.h, `BPF_FUNC_*`). */
  call(helper: number): this {
    return this.emit(JMP | CALL, 0, 0, 0, helper);
  }

  exit(): this {
    return this.emit(JMP | EXIT, 0, 0, 0, 0);
  }

  /** Number of instructions so far. */
  get length(): number {
    return this.insns.length;
  }

  /** The program as `struct bpf_insn[]` (little-endian, as x86, arm and aarch64 OpenWrt run). */
  assemble(): Uint8Array {
    const out = new Uint8Array(this.insns.length * 8);
    const view = new DataView(out.buffer);
    this.insns.forEach((ins, i) => {
      let off = ins.off;
      if (ins.target !== undefined) {
        const to = this.labels.get(ins.target);
        if (to === undefined) throw new Error(`ebpf: jump to unknown label '${ins.target}'`);
        off = to - (i + 1);
        if (off < -32768 || off > 32767) throw new Error(`ebpf: jump to '${ins.target}' too far`);
      }
      view.setUint8(i * 8, ins.code);
      view.setUint8(i * 8 + 1, (ins.dst & 0xf) | ((ins.src & 0xf) << 4));
      view.setInt16(i * 8 + 2, off, true);
      view.setInt32(i * 8 + 4, ins.imm, true);
    });
    return out;
  }
}

/** Kernel helper numbers used by tunguard's programs (include/uapi/linux/bpf.h). */
export const Helper = {
  mapLookupElem: 1,
  skbStoreBytes: 9,
  redirect: 23,
  skbLoadBytes: 26,
  skbChangeHead: 43,
  fibLookup: 69,
  redirectNeigh: 152,
} as const;

/** Program types (enum bpf_prog_type). */
export const ProgType = { SOCKET_FILTER: 1, SCHED_CLS: 3 } as const;

/** Map types (enum bpf_map_type). */
export const MapType = { HASH: 1, ARRAY: 2, PERCPU_ARRAY: 6, LRU_HASH: 9, LPM_TRIE: 11 } as const;
