// The eBPF queue selector, run by a small interpreter of the instructions it uses (the kernel runs
// the same bytes in test/lab/defense.test.ts and failopen.test.ts): both directions of a flow and
// every packet of one remote source (IPv4 address, IPv6 /64) get the same value.
import { describe, expect, it } from 'vitest';
import { steeringPrefix, steeringProgram, steeringQueue } from '../../src/tun/steering-bpf.js';
import { tcp, v4, v6 } from '../packet/helpers.js';

const NET = -0x100000;

/** Runs the program on an L3 packet (what the TUN's selector sees); returns r0 as a u16, like tun. */
function run(prog: Uint8Array, pkt: Uint8Array): number {
  const v = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const r = new Array<number>(11).fill(0);
  const load = (off: number, size: number) => {
    const at = off - NET;
    if (at < 0 || at + size > pkt.length) throw new Error('load out of packet');
    let x = 0;
    for (let i = 0; i < size; i++) x = x * 256 + pkt[at + i];
    return x >>> 0;
  };
  for (let pc = 0, steps = 0; steps < 1000; pc++, steps++) {
    const code = v.getUint8(pc * 8);
    const regs = v.getUint8(pc * 8 + 1);
    const dst = regs & 15;
    const src = regs >> 4;
    const off = v.getInt16(pc * 8 + 2, true);
    const imm = v.getInt32(pc * 8 + 4, true);
    switch (code) {
      case 0xbf:
        r[dst] = r[src];
        break; // mov64 reg (only r6 = r1 here)
      case 0x30:
        r[0] = load(imm, 1);
        break;
      case 0x20:
        r[0] = load(imm, 4);
        break;
      case 0x74:
        r[dst] = r[dst] >>> imm;
        break;
      case 0x54:
        r[dst] = (r[dst] & imm) >>> 0;
        break;
      case 0xac:
        r[dst] = (r[dst] ^ r[src]) >>> 0;
        break;
      case 0x24:
        r[dst] = Math.imul(r[dst], imm) >>> 0;
        break;
      case 0xbc:
        r[dst] = r[src] >>> 0;
        break;
      case 0xb4:
        r[dst] = imm >>> 0;
        break;
      case 0x16:
        if (r[dst] >>> 0 === imm >>> 0) pc += off;
        break;
      case 0x56:
        if (r[dst] >>> 0 !== imm >>> 0) pc += off;
        break;
      case 0x05:
        pc += off;
        break;
      case 0x95:
        return r[0] & 0xffff;
      default:
        throw new Error(`opcode ${code.toString(16)} not expected`);
    }
  }
  throw new Error('no exit');
}

const a4 = (s: string) => s.split('.').map(Number);
const a6 = (s: string) => {
  const out: number[] = [];
  const [h, t] = s.split('::');
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  const groups = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  for (const g of groups) out.push(Number.parseInt(g, 16) >> 8, Number.parseInt(g, 16) & 255);
  return out;
};
const p4 = (src: string, dst: string, sport = 1000, dport = 80) =>
  v4({ src: a4(src), dst: a4(dst) }, tcp({ sport, dport }));
const p6 = (src: string, dst: string, sport = 1000, dport = 80) =>
  v6({ src: a6(src), dst: a6(dst), proto: 6 }, tcp({ sport, dport }));

describe('eBPF queue selector', () => {
  const prog = steeringProgram(['192.0.2.0/24', '10.0.0.0/8', '2001:db8:2::/64']);

  it('keys IPv4 by the remote address: both directions, every port of a source', () => {
    const inbound = run(prog, p4('198.51.100.7', '192.0.2.2', 1234, 80));
    expect(run(prog, p4('192.0.2.2', '198.51.100.7', 80, 1234))).toBe(inbound);
    expect(run(prog, p4('198.51.100.7', '192.0.2.3', 999, 22))).toBe(inbound); // another LAN host
    expect(run(prog, p4('10.1.2.3', '198.51.100.7', 5, 6))).toBe(inbound); // the second LAN prefix
    expect(inbound).toBe(steeringQueue(0xc6336407, 1 << 16));
    // Different sources spread (over 4 queues, 256 sources reach every queue).
    const queues = new Set<number>();
    for (let i = 0; i < 256; i++) queues.add(run(prog, p4(`198.18.0.${i}`, '192.0.2.2')) % 4);
    expect(queues.size).toBe(4);
  });

  it('keys IPv6 by the remote /64', () => {
    const inbound = run(prog, p6('2001:db8:1::2', '2001:db8:2::2'));
    expect(run(prog, p6('2001:db8:2::2', '2001:db8:1::2', 80, 1000))).toBe(inbound);
    expect(run(prog, p6('2001:db8:1::99', '2001:db8:2::5'))).toBe(inbound); // same /64
    expect(run(prog, p6('2001:db8:1:1::2', '2001:db8:2::2'))).not.toBe(inbound);
  });

  it('without LAN prefixes keys by the source; other packets go to queue 0', () => {
    const bare = steeringProgram([]);
    expect(run(bare, p4('198.51.100.7', '192.0.2.2'))).toBe(run(bare, p4('198.51.100.7', '192.0.2.9')));
    const junk = p4('198.51.100.7', '192.0.2.2');
    junk[0] = 0x55; // IP version 5
    expect(run(prog, junk)).toBe(0);
  });

  it('parses prefixes strictly', () => {
    expect(steeringPrefix('192.0.2.0/24')).toEqual({ family: 4, words: [0xc0000200], masks: [0xffffff00] });
    expect(steeringPrefix('2001:db8:2::/48').masks).toEqual([0xffffffff, 0xffff0000]);
    for (const bad of ['192.0.2.0', '192.0.2.0/33', '300.0.0.0/8', '2001:db8::1::/64', 'x/1'])
      expect(() => steeringPrefix(bad)).toThrow(/bad prefix/);
  });
});
