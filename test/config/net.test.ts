// Address syntax: IPv4/IPv6 parsing cross-checked against node:net, canonical forms, prefixes, listen.
import { isIPv4, isIPv6 } from 'node:net';
import { describe, expect, test } from 'vitest';
import { AddressSyntaxError, formatAddress, parseCidr, parseListen } from '../../src/config/index.js';
import { parseIPv4, parseIPv6 } from '../../src/config/net.js';
import { mulberry32, pick } from './helpers.js';

describe('IPv6', () => {
  const canonical: Array<[string, string]> = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8::0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['fe80:0:0:0:1:0:0:0', 'fe80::1:0:0:0'],
    ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
  ];
  test.each(canonical)('%s → %s', (input, out) => {
    expect(isIPv6(input)).toBe(true);
    expect(formatAddress(parseIPv6(input))).toBe(out);
  });

  const bad = [
    '',
    ':',
    ':::',
    '1::2::3',
    '12345::',
    'g::',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7::8',
    ':1::',
    '1::2:',
    '::1.2.3',
    '::1.2.3.256',
    '1.2.3.4::',
    ':1.2.3.4',
  ];
  test.each(bad)('refuses %j (as node:net does)', (input) => {
    expect(isIPv6(input)).toBe(false);
    expect(() => parseIPv6(input)).toThrow(AddressSyntaxError);
  });

  test('random addresses: formatted canonically, parsed back (node:net agrees)', () => {
    const rand = mulberry32(6);
    for (let n = 0; n < 2000; n++) {
      // Mostly zero groups, so '::' placement gets exercised.
      const bytes = new Uint8Array(16).map(() => (rand() < 0.6 ? 0 : Math.floor(rand() * 256)));
      const text = formatAddress(bytes);
      expect(isIPv6(text), text).toBe(true);
      expect(parseIPv6(text)).toEqual(bytes);
      expect(text).not.toMatch(/(^|:)0[0-9a-f]/);
    }
  });

  test('random strings: valid exactly when node:net says so', () => {
    const rand = mulberry32(7);
    const chars = [...'0123456789abcdefABCDEF:.', ':', ':', '0'];
    for (let n = 0; n < 5000; n++) {
      const len = 1 + Math.floor(rand() * 20);
      const text = Array.from({ length: len }, () => pick(rand, chars)).join('');
      let ok = true;
      try {
        parseIPv6(text);
      } catch {
        ok = false;
      }
      expect(ok, text).toBe(isIPv6(text));
    }
  });

  test('refuses zone ids (node:net takes them)', () => {
    expect(() => parseIPv6('fe80::1%eth0')).toThrow(/zone ids/);
  });
});

describe('IPv4', () => {
  test.each(['0.0.0.0', '192.168.1.1', '255.255.255.255', '10.0.0.9'])('accepts %s', (input) => {
    expect(formatAddress(parseIPv4(input))).toBe(input);
  });
  test.each(['1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.-4', '1..2.3', ' 1.2.3.4', '1.2.3.4 ', '0x1.2.3.4'])(
    'refuses %j',
    (input) => {
      expect(isIPv4(input)).toBe(false);
      expect(() => parseIPv4(input)).toThrow(AddressSyntaxError);
    },
  );
  test('refuses leading zeros (octal in some parsers)', () => {
    expect(() => parseIPv4('010.0.0.1')).toThrow(/leading zeros/);
  });
});

describe('parseCidr', () => {
  const good: Array<[string, string, 4 | 6, number]> = [
    ['10.0.0.0/8', '10.0.0.0/8', 4, 8],
    ['192.168.1.10', '192.168.1.10/32', 4, 32],
    ['0.0.0.0/0', '0.0.0.0/0', 4, 0],
    ['172.16.0.0/12', '172.16.0.0/12', 4, 12],
    ['FD00::/8', 'fd00::/8', 6, 8],
    ['2001:db8::/32', '2001:db8::/32', 6, 32],
    ['2001:db8::1', '2001:db8::1/128', 6, 128],
    ['::/0', '::/0', 6, 0],
    ['2001:db8:0:0:8000::/65', '2001:db8:0:0:8000::/65', 6, 65],
  ];
  test.each(good)('%s → %s', (input, cidr, family, bits) => {
    expect(parseCidr(input)).toMatchObject({ cidr, family, bits });
  });

  const bad: Array<[string, string]> = [
    ['10.0.0.1/8', 'host bits set (the network is 10.0.0.0/8)'],
    ['10.0.0.0/33', 'prefix length must be 0..32'],
    ['10.0.0.0/', 'prefix length must be 0..32'],
    ['10.0.0.0/08', 'prefix length must be 0..32'],
    ['10.0.0.0/-1', 'prefix length must be 0..32'],
    ['10.0.0.0/8/8', 'prefix length must be 0..32'],
    ['fd00::1/64', 'host bits set (the network is fd00::/64)'],
    ['fd00::/129', 'prefix length must be 0..128'],
    ['localhost', 'not an IPv4 or IPv6 address'],
    ['', 'not an IPv4 or IPv6 address'],
    ['10.0.0/8', 'an IPv4 address has four dot-separated numbers'],
  ];
  test.each(bad)('refuses %j: %s', (input, message) => {
    expect(() => parseCidr(input)).toThrow(message);
  });
});

describe('parseListen', () => {
  test.each([
    ['127.0.0.1:7447', { family: 4, host: '127.0.0.1', port: 7447 }],
    ['[::1]:80', { family: 6, host: '::1', port: 80 }],
    ['[0:0::0]:65535', { family: 6, host: '::', port: 65535 }],
    ['192.168.1.1:1', { family: 4, host: '192.168.1.1', port: 1 }],
  ])('%s', (input, expected) => {
    expect(parseListen(input)).toEqual(expected);
  });
  test.each([
    ['127.0.0.1', 'expected address:port'],
    ['localhost:80', 'expected address:port'],
    ['::1:80', 'expected address:port'],
    ['127.0.0.1:0', 'the port must be 1..65535'],
    ['127.0.0.1:65536', 'the port must be 1..65535'],
    ['127.0.0.1:080', 'the port must be 1..65535'],
    ['[fe80::1%br-lan]:80', 'zone ids'],
    ['300.0.0.1:80', 'more than 255'],
  ])('refuses %j', (input, message) => {
    expect(() => parseListen(input)).toThrow(message);
  });
});
