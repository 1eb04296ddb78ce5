// virtio-net header: little-endian fields, clearing, and standalone validation.
import { describe, expect, it } from 'vitest';
import {
  GsoType,
  VNET_HDR_LEN,
  VnetFlags,
  vnetClear,
  vnetComputeHdrLen,
  vnetCsumOffset,
  vnetCsumStart,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
  vnetHdrLen,
  vnetSetCsumOffset,
  vnetSetCsumStart,
  vnetSetFlags,
  vnetSetGsoSize,
  vnetSetGsoType,
  vnetSetHdrLen,
  vnetValidate,
  vnetWrite,
} from '../../src/packet/index.js';
import { tcp, udp, v4, v6, vnet } from './helpers.js';

describe('vnet fields', () => {
  it('constants', () => {
    expect(VNET_HDR_LEN).toBe(10);
    expect(VnetFlags).toEqual({ NEEDS_CSUM: 1, DATA_VALID: 2 });
    expect(GsoType).toEqual({ NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, UDP_L4: 5, ECN: 0x80 });
  });

  it('reads little-endian fields at an offset', () => {
    const b = new Uint8Array([9, 9, 1, 0x81, 0x36, 0x00, 0xa8, 0x05, 0x14, 0x00, 0x10, 0x00, 9]);
    expect(vnetFlags(b, 2)).toBe(1);
    expect(vnetGsoType(b, 2)).toBe(0x81);
    expect(vnetHdrLen(b, 2)).toBe(0x36);
    expect(vnetGsoSize(b, 2)).toBe(0x05a8);
    expect(vnetCsumStart(b, 2)).toBe(0x14);
    expect(vnetCsumOffset(b, 2)).toBe(0x10);
  });

  it('writers round-trip and clear zeroes exactly 10 bytes', () => {
    const b = new Uint8Array(14).fill(0xee);
    vnetSetFlags(b, 2, 1);
    vnetSetGsoType(b, 2, 4);
    vnetSetHdrLen(b, 2, 0x1234);
    vnetSetGsoSize(b, 2, 1448);
    vnetSetCsumStart(b, 2, 40);
    vnetSetCsumOffset(b, 2, 16);
    expect([...b]).toEqual([0xee, 0xee, 1, 4, 0x34, 0x12, 0xa8, 0x05, 40, 0, 16, 0, 0xee, 0xee]);
    vnetWrite(b, 2, 2, 0, 0, 0, 0, 0);
    expect([...b]).toEqual([0xee, 0xee, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xee]);
    b.fill(0xee);
    vnetClear(b, 2);
    expect([...b]).toEqual([0xee, 0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xee]);
  });
});

describe('vnetValidate / vnetComputeHdrLen', () => {
  const t4 = v4(
    { proto: 6 },
    tcp({ opts: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], payload: new Array(3000).fill(1) }),
  );
  const u6 = v6({ proto: 17 }, udp(new Array(100).fill(2)));
  const cases: [string, Uint8Array, boolean, number][] = [
    ['no offload', vnet(t4), true, -1],
    ['csum only', vnet(t4, 1, 0, 0, 0, 20, 16), true, -1],
    ['TSO4, hdr_len lies', vnet(t4, 1, 1, 9999, 1448, 20, 16), true, 52],
    ['TSO4 + ECN', vnet(t4, 1, 0x81, 0, 1448, 20, 16), true, 52],
    ['USO', vnet(u6, 1, 5, 0, 50, 40, 6), true, 48],
    ['data valid', vnet(t4, 2), true, -1],
    ['unknown gso type 2', vnet(t4, 1, 2, 0, 1448, 20, 16), false, -1],
    ['unknown gso type 6', vnet(t4, 1, 6, 0, 1448, 20, 16), false, -1],
    ['ECN without GSO', vnet(t4, 0, 0x80), false, -1],
    ['GSO with size 0', vnet(t4, 1, 1, 0, 0, 20, 16), false, 52],
    ['csum field past end', vnet(t4, 1, 0, 0, 0, t4.length - 17, 16), false, -1],
    ['csum_start past end', vnet(t4, 1, 0, 0, 0, 0xffff, 16), false, -1],
    ['csum_offset past end', vnet(t4, 1, 0, 0, 0, 20, 0xffff), false, -1],
    [
      'TSO with csum_start at the end: no room for doff',
      vnet(t4, 1, 1, 0, 1448, t4.length - 18, 16),
      false,
      -1,
    ],
  ];
  it.each(cases)('%s', (_n, b, ok, hdrLen) => {
    expect(vnetValidate(b, 0, b.length - 10)).toBe(ok);
    expect(vnetComputeHdrLen(b, 0, b.length - 10)).toBe(hdrLen);
  });

  it('TSO doff pointing past the packet', () => {
    const small = v4({ proto: 6 }, tcp());
    const b = vnet(small, 1, 1, 0, 1448, 20, 16);
    b[10 + 20 + 12] = 0xf0; // doff 15 = 60 bytes, only 20 present
    expect(vnetValidate(b, 0, b.length - 10)).toBe(false);
    b[10 + 20 + 12] = 0x40; // doff 4 < 5
    expect(vnetValidate(b, 0, b.length - 10)).toBe(false);
  });
});
