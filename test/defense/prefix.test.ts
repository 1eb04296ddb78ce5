// Prefix sets: CIDR parsing, normalisation, merging, and buffer matching checked against a naive matcher.
import { describe, expect, it } from 'vitest';
import { AddressSyntaxError, formatAddressAt, parseAddress, parsePrefix } from '../../src/config/net.js';
import { PrefixMatcher } from '../../src/defense/prefix.js';
import { Prng } from '../packet/helpers.js';

function bytesOf(text: string): Uint8Array {
  return parseAddress(text).bytes;
}

/** Naive reference: compare the first `bits` bits. */
function naiveIn(addr: Uint8Array, net: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const m = 0x80 >> (i & 7);
    if ((addr[i >> 3] & m) !== (net[i >> 3] & m)) return false;
  }
  return true;
}

// The parser is config/net.ts's (test/config/net.test.ts); these are the cases the matcher relies on.
describe('address and CIDR parsing', () => {
  it('parses and formats IPv4 and IPv6 (RFC 5952)', () => {
    expect([...bytesOf('192.0.2.1')]).toEqual([192, 0, 2, 1]);
    expect(formatAddressAt(bytesOf('2001:0db8:0:0:0:0:0:1'), 0, 6)).toBe('2001:db8::1');
    expect(formatAddressAt(bytesOf('::'), 0, 6)).toBe('::');
    expect(formatAddressAt(bytesOf('::ffff:192.0.2.1'), 0, 6)).toBe('::ffff:c000:201');
    expect(formatAddressAt(bytesOf('2001:db8:0:1:0:0:0:1'), 0, 6)).toBe('2001:db8:0:1::1');
    expect(formatAddressAt(bytesOf('1:0:0:2:0:0:0:3'), 0, 6)).toBe('1:0:0:2::3');
    expect(formatAddressAt(bytesOf('fe80::1:2'), 0, 6)).toBe('fe80::1:2');
  });

  it('rejects bad addresses and prefixes; the matcher names the input', () => {
    for (const bad of [
      '1.2.3',
      '1.2.3.256',
      '01.2.3.4',
      'a.b.c.d',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      'fe80::1%eth0',
      'g::1',
    ]) {
      expect(() => parseAddress(bad), bad).toThrow(AddressSyntaxError);
      expect(() => new PrefixMatcher([bad]), bad).toThrow(`'${bad}': `);
    }
    expect(() => parsePrefix('10.0.0.0/33')).toThrow('0..32');
    expect(() => parsePrefix('2001:db8::/129')).toThrow('0..128');
    expect(() => parsePrefix('10.0.0.1/8')).toThrow('network is 10.0.0.0/8');
    expect(parsePrefix('10.0.0.1/8', false).bits).toBe(8);
    expect([...parsePrefix('10.0.0.1/8', false).bytes]).toEqual([10, 0, 0, 0]);
    expect(parsePrefix('192.0.2.7').bits).toBe(32);
    expect(parsePrefix('2001:db8::7').bits).toBe(128);
  });
});

describe('PrefixMatcher', () => {
  it('matches up to the last address of a range and not one past it, in every IPv6 word', () => {
    const m = new PrefixMatcher([' 10.0.0.0/25 ', '2001:db8::5', '2001:db8:0:0:1:2::/96', '2001:db8:9::/64']);
    expect(m.empty).toBe(false);
    expect(new PrefixMatcher([]).empty).toBe(true);
    const yes = [
      '10.0.0.0',
      '10.0.0.127',
      '2001:db8::5',
      '2001:db8::1:2:0:0',
      '2001:db8::1:2:ffff:ffff',
      '2001:db8:9::ffff',
    ];
    const no = [
      '9.255.255.255',
      '10.0.0.128',
      '11.0.0.1',
      '2001:db8::4',
      '2001:db8::6',
      '2001:db8::1:1:ffff:ffff',
      '2001:db8::1:3:0:0',
      '2001:db8:8:ffff:ffff:ffff:ffff:ffff',
      '2001:db8:a::',
      '2001:db9::',
    ];
    for (const a of yes) expect(m.has(a), a).toBe(true);
    for (const a of no) expect(m.has(a), a).toBe(false);
  });

  it('matches IPv4 and IPv6 addresses read from a buffer at an offset', () => {
    const m = new PrefixMatcher(['10.0.0.0/8', '192.168.1.0/24', '2001:db8:1::/48', '203.0.113.7']);
    const buf = new Uint8Array(64);
    const at = (text: string, off: number) => {
      const { family, bytes } = parseAddress(text);
      buf.set(bytes, off);
      return m.matches(buf, off, family);
    };
    expect(at('10.255.255.255', 3)).toBe(true);
    expect(at('11.0.0.0', 3)).toBe(false);
    expect(at('9.255.255.255', 3)).toBe(false);
    expect(at('192.168.1.200', 7)).toBe(true);
    expect(at('192.168.2.1', 7)).toBe(false);
    expect(at('203.0.113.7', 0)).toBe(true);
    expect(at('203.0.113.8', 0)).toBe(false);
    expect(at('2001:db8:1:ffff::1', 20)).toBe(true);
    expect(at('2001:db8:2::1', 20)).toBe(false);
    // The families are separate: 10.0.0.1's bytes as the start of an IPv6 address do not match.
    expect(at('a00:1::', 20)).toBe(false);
    expect(m.has('10.1.2.3')).toBe(true);
    expect(m.prefixes).toEqual(['10.0.0.0/8', '192.168.1.0/24', '2001:db8:1::/48', '203.0.113.7/32']);
  });

  it('handles /0, the address space edges, overlaps and adjacency', () => {
    const all = new PrefixMatcher(['0.0.0.0/0', '::/0']);
    expect(all.has('255.255.255.255')).toBe(true);
    expect(all.has('0.0.0.0')).toBe(true);
    expect(all.has('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(true);
    const m = new PrefixMatcher(['10.0.0.0/9', '10.128.0.0/9', '10.1.0.0/16', '255.255.255.255/32']);
    expect(m.has('10.200.0.1')).toBe(true);
    expect(m.has('11.0.0.0')).toBe(false);
    expect(m.has('255.255.255.255')).toBe(true);
    expect(m.has('255.255.255.254')).toBe(false);
    const empty = new PrefixMatcher([]);
    expect(empty.empty).toBe(true);
    expect(empty.has('10.0.0.1')).toBe(false);
    expect(empty.has('::1')).toBe(false);
  });

  it('agrees with a naive matcher on random prefixes and addresses', () => {
    const rng = new Prng(7);
    for (let round = 0; round < 20; round++) {
      const nets: { v: 4 | 6; b: Uint8Array; bits: number }[] = [];
      const texts: string[] = [];
      for (let k = 0; k < 30; k++) {
        const v = rng.int(2) === 0 ? 4 : 6;
        const len = v === 4 ? 4 : 16;
        const bits = rng.int(len * 8 + 1);
        // Few distinct high bytes so that prefixes overlap and nest.
        const b = rng.bytes(len);
        b[0] = rng.int(3);
        const p = parsePrefix(`${formatAddressAt(b, 0, v)}/${bits}`, false);
        nets.push({ v, b: p.bytes, bits });
        texts.push(`${formatAddressAt(p.bytes, 0, v)}/${bits}`);
      }
      const m = new PrefixMatcher(texts);
      for (let q = 0; q < 2000; q++) {
        const v = rng.int(2) === 0 ? 4 : 6;
        const a = rng.bytes(v === 4 ? 4 : 16);
        a[0] = rng.int(3);
        // Sometimes an address right at a network's start or end.
        if (q % 5 === 0) {
          const n = nets[rng.int(nets.length)];
          if (n.v === v) a.set(n.b);
        }
        const want = nets.some((n) => n.v === v && naiveIn(a, n.b, n.bits));
        expect(m.matches(a, 0, v)).toBe(want);
      }
    }
  });
});
