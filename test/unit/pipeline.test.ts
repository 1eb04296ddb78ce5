// The pipeline over an in-memory PacketIO: classification counters, hop restore, malformed drops,
// and 1 M fuzzed packets (with and without vnet headers) through the real pipeline code.
import { describe, expect, it } from 'vitest';
import { Pipeline, pipelineLayout } from '../../src/dataplane/pipeline.js';
import { buildStages, testStageEnv } from '../../src/dataplane/stages/index.js';
import { MemoryPacketIO } from '../../src/tun/memory.js';
import { Batch } from '../../src/tun/packet-io.js';
import { cat, Prng, refChecksum, u16, u32, zeros } from '../packet/helpers.js';

function ip4(ttl: number, proto: number, payload: number[]): Uint8Array {
  const hdr = [
    0x45,
    0,
    ...u16(20 + payload.length),
    0,
    1,
    0x40,
    0,
    ttl,
    proto,
    0,
    0,
    198,
    51,
    100,
    2,
    192,
    0,
    2,
    2,
  ];
  const c = refChecksum(hdr);
  hdr[10] = c >>> 8;
  hdr[11] = c & 0xff;
  return cat(hdr, payload);
}

function ip6(hlim: number, next: number, payload: number[]): Uint8Array {
  return cat([0x60, 0, 0, 0, ...u16(payload.length), next, hlim], zeros(15), [1], zeros(15), [2], payload);
}

const udp = [...u16(5000), ...u16(53), ...u16(12), 0, 0, 1, 2, 3, 4];
const tcpSyn = [...u16(40000), ...u16(80), ...u32(1), ...u32(0), 0x50, 0x02, ...u16(64240), 0, 0, 0, 0];

function setup(vnet: boolean) {
  const stages = buildStages([], testStageEnv());
  const layout = pipelineLayout(stages);
  const counters = new Float64Array(layout.names.length);
  const pipeline = new Pipeline(stages, layout, counters, vnet);
  const io = new MemoryPacketIO(vnet);
  const batch = new Batch(1 << 20, 256);
  const run = () => {
    io.readBatch(batch, 0, 0);
    const keep = pipeline.process(batch, 0);
    io.writeBatch(batch, keep);
    return keep;
  };
  const c = (name: string) => counters[layout.of(name)];
  return { io, run, c, layout, counters };
}

describe('pipeline', () => {
  it('writes back what passes as it came: the router’s one hop is the kernel’s (no TTL change here)', () => {
    const { io, run } = setup(false);
    const sent = [ip4(63, 17, udp), ip6(63, 17, udp), ip4(255, 17, udp)];
    io.inbox.push(...sent.map((p) => p.slice()));
    expect(run()).toBe(3);
    expect(io.written).toEqual(sent);
  });

  it('counts by family and protocol, and drops malformed packets by reason', () => {
    const { io, run, c } = setup(false);
    const badCsum = ip4(64, 6, tcpSyn);
    badCsum[10] ^= 0xff;
    const truncated = ip4(64, 6, tcpSyn).subarray(0, 30);
    io.inbox.push(ip4(64, 6, tcpSyn), ip6(64, 17, udp), badCsum, truncated, new Uint8Array([0x50, 1, 2]));
    expect(run()).toBe(2);
    expect(c('rx_packets')).toBe(5);
    expect(c('ipv4')).toBe(1);
    expect(c('ipv6')).toBe(1);
    expect(c('tcp')).toBe(1);
    expect(c('udp')).toBe(1);
    expect(c('malformed_bad_ip_csum')).toBe(1);
    expect(c('malformed_bad_total_len')).toBe(1);
    expect(c('malformed_bad_version')).toBe(1);
  });

  it('keeps the order of what passes', () => {
    const { io, run } = setup(false);
    for (let i = 0; i < 50; i++) {
      const p = ip4(64, 17, udp);
      p[4] = i; // id
      p[10] = 0;
      p[11] = 0;
      const cs = refChecksum(p.subarray(0, 20));
      p[10] = cs >>> 8;
      p[11] = cs & 0xff;
      io.inbox.push(i % 7 === 3 ? p.subarray(0, 10) : p);
    }
    run();
    const ids = io.written.map((p) => p[4]);
    expect(ids).toEqual([...Array(50).keys()].filter((i) => i % 7 !== 3));
  });

  it('survives 1 M random and mutated packets, with and without vnet headers; every packet is accounted for', () => {
    const rng = new Prng(42);
    const seeds = [
      ip4(64, 6, tcpSyn),
      ip6(64, 17, udp),
      ip4(64, 17, udp),
      ip6(64, 58, [128, 0, 0, 0, 0, 1, 0, 1]),
    ];
    for (const vnet of [false, true]) {
      const { io, run, c, layout, counters } = setup(vnet);
      const N = 500_000;
      let written = 0;
      for (let i = 0; i < N; i++) {
        let p: Uint8Array;
        const r = rng.next();
        if (r < 0.25) {
          p = new Uint8Array(rng.int(120));
          for (let k = 0; k < p.length; k++) p[k] = rng.int(256);
        } else {
          const base = seeds[rng.int(seeds.length)];
          p = vnet ? cat(zeros(10), base) : base.slice();
          const flips = rng.int(6);
          for (let k = 0; k < flips; k++) p[rng.int(p.length)] ^= 1 << rng.int(8);
          if (rng.next() < 0.2) p = p.subarray(0, rng.int(p.length));
          if (vnet && rng.next() < 0.3) for (let k = 0; k < 10; k++) p[k] = rng.int(256);
        }
        io.inbox.push(p);
        if (io.inbox.length === 256) {
          written += run();
          io.written.length = 0;
        }
      }
      written += run();
      expect(c('rx_packets')).toBe(N);
      let malformed = 0;
      layout.names.forEach((n, i) => {
        if (n.startsWith('malformed_')) malformed += counters[i];
      });
      expect(c('ipv4') + c('ipv6') + malformed).toBe(N);
      expect(written).toBe(c('ipv4') + c('ipv6'));
      expect(malformed).toBeGreaterThan(N * 0.2);
    }
  }, 120_000);
});
