// The bypass keys the dataplane writes must be the ones the LAN programs build from the packet
// (src/netcfg/steering-programs.ts): the layout, both families, and the queue's bounds.
import { describe, expect, it } from 'vitest';
import { BYPASS_KEY_SIZE, BypassQueue, writeKey } from '../../src/tun/flow-bypass.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('bypass keys', () => {
  it('IPv4: family, protocol, LAN then remote port (network order), addresses zero-padded', () => {
    const buf = Uint8Array.of(192, 0, 2, 2, 198, 51, 100, 2);
    const k = new Uint8Array(BYPASS_KEY_SIZE).fill(0xaa);
    writeKey(k, 0, buf, 4, 6, 0, 40000, 4, 443);
    expect(hex(k)).toBe(
      `04060000${(40000).toString(16)}01bb` + `c0000202${'00'.repeat(12)}` + `c6336402${'00'.repeat(12)}`,
    );
  });

  it('IPv6: 16-byte addresses', () => {
    const lan = [0x20, 0x01, 0x0d, 0xb8, 0, 2, ...Array(9).fill(0), 2];
    const remote = [0x20, 0x01, 0x0d, 0xb8, 0, 1, ...Array(9).fill(0), 2];
    const buf = Uint8Array.from([...lan, ...remote]);
    const k = new Uint8Array(BYPASS_KEY_SIZE);
    writeKey(k, 0, buf, 6, 17, 0, 5353, 16, 53);
    expect(hex(k.subarray(0, 8))).toBe('0611000014e90035');
    expect([...k.subarray(8, 24)]).toEqual(lan);
    expect([...k.subarray(24, 40)]).toEqual(remote);
  });
});

describe('BypassQueue', () => {
  const buf = Uint8Array.of(192, 0, 2, 2, 198, 51, 100, 2, 198, 51, 100, 3);

  it('takes nothing while disabled (no map)', () => {
    const q = new BypassQueue();
    q.add(buf, 4, 6, 0, 1000, 4, 80);
    q.remove(buf, 4, 6, 0, 1000, 4, 80);
    expect([q.addCount, q.removeCount]).toEqual([0, 0]);
  });

  it('asks once for a run of packets of one flow, again for another flow', () => {
    const q = new BypassQueue();
    q.enabled = true;
    for (let i = 0; i < 10; i++) q.add(buf, 4, 6, 0, 1000, 4, 80);
    q.add(buf, 4, 6, 0, 1000, 8, 80); // another remote address
    q.add(buf, 4, 17, 0, 1000, 8, 80); // another protocol
    expect(q.addCount).toBe(3);
    q.reset();
    expect(q.addCount).toBe(0);
  });

  it('holds at most CAPACITY requests a batch (the rest ask again with their next packet)', () => {
    const q = new BypassQueue();
    q.enabled = true;
    for (let p = 0; p < BypassQueue.CAPACITY + 50; p++) {
      q.add(buf, 4, 6, 0, 1000 + p, 4, 80);
      q.remove(buf, 4, 6, 0, 1000 + p, 4, 80);
    }
    expect(q.addCount).toBe(BypassQueue.CAPACITY);
    expect(q.removeCount).toBe(BypassQueue.CAPACITY);
  });
});
