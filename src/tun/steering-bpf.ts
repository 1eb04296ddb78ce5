// The queue selector of a multi-queue TUN, as an eBPF program (TUNSETSTEERINGEBPF): every packet
// the kernel sends into the TUN goes to queue hash(remote address) mod queues, where the remote
// address is the source unless the source is inside a LAN prefix, then the destination. So:
// - both directions of a connection meet in one worker (its connection table has the whole flow);
// - every SYN of one WAN source reaches the same worker, whatever its ports, so the per-source
//   count of unfinished handshakes (the "aggressive" rule) is not split between workers;
// - an IPv6 source is hashed by its /64, the unit the source tracker counts in.
// The kernel's default (a 4-tuple hash) keeps flows together but spreads one source's SYNs.
// Packet bytes are read with legacy BPF_LD|BPF_ABS relative to the network header (SKF_NET_OFF):
// allowed in socket filters, and no map or helper is needed.

import { type PrefixBytes, parsePrefix } from '../config/net.js';
import { Asm } from './ebpf.js';

/** Where the network header starts for BPF_ABS loads (include/uapi/linux/filter.h SKF_NET_OFF). */
const NET = -0x100000;

// Opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const LD_ABS_B = 0x30;
const LD_ABS_W = 0x20;
const ALU32_RSH_K = 0x74;
const ALU32_AND_K = 0x54;
const ALU32_XOR_X = 0xac;
const ALU32_MUL_K = 0x24;
const ALU32_MOV_X = 0xbc;
const ALU32_MOV_K = 0xb4;
const ALU64_MOV_X = 0xbf;
const JMP32_JEQ_K = 0x16;
const JMP32_JNE_K = 0x56;
const JMP_JA = 0x05;
const EXIT = 0x95;

/** A LAN prefix as the program compares it: up to two 32-bit words (IPv6 past /64 is cut to /64). */
export interface SteeringPrefix {
  family: 4 | 6;
  /** Network words, host order as BPF_ABS loads them (big-endian read). */
  words: number[];
  masks: number[];
}

/** Parses 'a.b.c.d/n' and IPv6 'x::/n' into comparison words (throws on anything else). */
export function steeringPrefix(cidr: string): SteeringPrefix {
  let p: PrefixBytes;
  try {
    if (!cidr.includes('/')) throw new Error('no prefix length');
    // Host bits are masked off below, as the kernel's own route prefixes would be.
    p = parsePrefix(cidr.trim(), false);
  } catch {
    throw new Error(`steering: bad prefix '${cidr}'`);
  }
  const { bytes, bits } = p;
  const nWords = p.family === 4 ? 1 : 2;
  const words: number[] = [];
  const masks: number[] = [];
  for (let w = 0; w < nWords; w++) {
    const b = Math.max(0, Math.min(32, bits - w * 32));
    const mask = b === 0 ? 0 : (0xffffffff << (32 - b)) >>> 0;
    const word =
      ((bytes[w * 4] << 24) | (bytes[w * 4 + 1] << 16) | (bytes[w * 4 + 2] << 8) | bytes[w * 4 + 3]) >>> 0;
    words.push((word & mask) >>> 0);
    masks.push(mask);
  }
  return { family: p.family, words, masks };
}

// Registers: r6 = skb (BPF_ABS wants it there), r0 = load results, r7/r8 = source/destination key
// words, r9 = scratch for the prefix tests.
/**
 * The program: hash of the remote address (IPv4: the address; IPv6: its /64) folded to 16 bits
 * (tun keeps the return value as a u16, then takes it modulo the queue count).
 */
export function steeringProgram(lanPrefixes: readonly string[]): Uint8Array {
  const prefixes = lanPrefixes.map(steeringPrefix);
  const a = new Asm();
  a.op(ALU64_MOV_X, 6, 1);
  a.op(LD_ABS_B, 0, 0, NET);
  a.op(ALU32_RSH_K, 0, 0, 4);
  a.op(JMP32_JEQ_K, 0, 0, 6, 'v6');
  a.op(JMP32_JNE_K, 0, 0, 4, 'zero');
  // IPv4: r7 = saddr, r8 = daddr.
  a.op(LD_ABS_W, 0, 0, NET + 12).op(ALU32_MOV_X, 7, 0);
  a.op(LD_ABS_W, 0, 0, NET + 16).op(ALU32_MOV_X, 8, 0);
  prefixes
    .filter((p) => p.family === 4)
    .forEach((p) => {
      a.op(ALU32_MOV_X, 9, 7).op(ALU32_AND_K, 9, 0, p.masks[0]).op(JMP32_JEQ_K, 9, 0, p.words[0], 'dst');
    });
  a.op(JMP_JA, 0, 0, 0, 'src');
  // IPv6: r7 = the source's /64 folded to one word, r8 the destination's; a LAN test needs both words
  // of a prefix, so each test reloads the source's words (r0) before folding.
  a.label('v6');
  prefixes
    .filter((p) => p.family === 6)
    .forEach((p, i) => {
      const next = `v6-next-${i}`;
      a.op(LD_ABS_W, 0, 0, NET + 8)
        .op(ALU32_AND_K, 0, 0, p.masks[0])
        .op(JMP32_JNE_K, 0, 0, p.words[0], next);
      a.op(LD_ABS_W, 0, 0, NET + 12)
        .op(ALU32_AND_K, 0, 0, p.masks[1])
        .op(JMP32_JNE_K, 0, 0, p.words[1], next);
      a.op(JMP_JA, 0, 0, 0, 'dst6');
      a.label(next);
    });
  a.op(LD_ABS_W, 0, 0, NET + 8).op(ALU32_MOV_X, 7, 0);
  a.op(LD_ABS_W, 0, 0, NET + 12).op(ALU32_XOR_X, 7, 0);
  a.op(JMP_JA, 0, 0, 0, 'src');
  a.label('dst6');
  a.op(LD_ABS_W, 0, 0, NET + 24).op(ALU32_MOV_X, 8, 0);
  a.op(LD_ABS_W, 0, 0, NET + 28).op(ALU32_XOR_X, 8, 0);
  a.label('dst');
  a.op(ALU32_MOV_X, 0, 8).op(JMP_JA, 0, 0, 0, 'mix');
  a.label('src');
  a.op(ALU32_MOV_X, 0, 7);
  // Fold: multiply by the golden-ratio constant, keep the high 16 bits (they mix all 32).
  a.label('mix');
  a.op(ALU32_MUL_K, 0, 0, 0x9e3779b1).op(ALU32_RSH_K, 0, 0, 16).op(EXIT);
  a.label('zero');
  a.op(ALU32_MOV_K, 0, 0, 0).op(EXIT);
  return a.assemble();
}

/** The queue the program picks, computed in JS the same way (tests, and the lab's own checks). */
export function steeringQueue(remoteKey: number, queues: number): number {
  return (Math.imul(remoteKey, 0x9e3779b1) >>> 16) % queues;
}
