// The SYN gate's side of the kernel fast path's aggressive sources, against a fake of its maps: the
// suspects the kernel reports wait their grace second in a fixed ring, the marks go to the map in one
// write and to the main thread in one message a tick, they leave the map when they end (oldest first,
// a source marked again since stays), and at each ring's bound nothing is lost without a counter.
import { describe, expect, it } from 'vitest';
import { markOf, parseAttackerBatch } from '../../src/dataplane/attacker-batch.js';
import type { StageContext } from '../../src/dataplane/stage.js';
import {
  FAST_MARKS_MAX,
  GATE_COUNTERS,
  SUSPECTS_MAX,
  type SynGateSettings,
  TieredSynGate,
} from '../../src/dataplane/stages/syn-gate.js';
import type { FastPathMaps, FastSettings } from '../../src/tun/fast-path-maps.js';
import { mappedAddress } from '../../src/tun/fast-path-maps.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** 198.18.x.y (the lab's spoofed range) for n < 65536. */
const spoofed = (n: number) => Uint8Array.from([198, 18, n >> 8, n & 0xff]);

/** What the gate uses of the fast path's maps: a set of marked keys (bounded), a queue, counts. */
class FakeMaps {
  /** Marked keys, each with its end. */
  readonly marked = new Map<string, number>();
  readonly queue: Uint8Array[] = [];
  readonly counts = new Map<string, number>();
  /** Native calls that marked. */
  markCalls = 0;
  constructor(readonly capacity: number) {}
  /** The settings the gate wrote (its mode and clock with them), one entry a write. */
  readonly writes: FastSettings[] = [];
  write(s: FastSettings): void {
    this.writes.push(structuredClone(s));
  }
  read(): number {
    return 0;
  }
  completed(): void {}
  /** The kernel reports a source past the limit with `count` answered SYNs. */
  report(bytes: Uint8Array, count: number): void {
    const key = mappedAddress(bytes);
    this.queue.push(key);
    this.counts.set(hex(key), count);
  }
  popSuspect(out: Uint8Array): boolean {
    const x = this.queue.shift();
    if (!x) return false;
    out.set(x);
    return true;
  }
  sourceCount(bytes: Uint8Array): number {
    return this.counts.get(hex(mappedAddress(bytes))) ?? 0;
  }
  markAggressive(keys: Uint8Array, n: number, until: Float64Array): number {
    if (n > 0) this.markCalls++;
    let refused = 0;
    for (let i = 0; i < n; i++) {
      const k = hex(keys.subarray(16 * i, 16 * i + 16));
      if (this.marked.has(k) || this.marked.size < this.capacity) this.marked.set(k, until[i]);
      else refused++;
    }
    return refused;
  }
  clearAggressive(keys: Uint8Array, n: number): void {
    for (let i = 0; i < n; i++) this.marked.delete(hex(keys.subarray(16 * i, 16 * i + 16)));
  }
  has(bytes: Uint8Array): boolean {
    return this.marked.has(hex(mappedAddress(bytes)));
  }
  /** The end the map holds for a source's mark (the gate's clock). */
  end(bytes: Uint8Array): number | undefined {
    return this.marked.get(hex(mappedAddress(bytes)));
  }
}

const SETTINGS: SynGateSettings = {
  windowSeconds: 3,
  moderateThreshold: 1000,
  riskyThreshold: 2000,
  riskyAction: 'cookie',
  maxUnfinishedPerSource: 5,
  aggressiveHoldSeconds: 60,
  allow: [],
};

function setup(capacity = FAST_MARKS_MAX) {
  const maps = new FakeMaps(capacity);
  const settings = { keys: new Uint8Array(32), tunIfindex: 9 } as unknown as FastSettings;
  const gate = new TieredSynGate({ ...SETTINGS }, undefined, {
    maps: maps as unknown as FastPathMaps,
    settings,
    tunName: 'tg-test',
  });
  const posted: unknown[] = [];
  const counters = new Float64Array(GATE_COUNTERS.length);
  gate.bind(
    GATE_COUNTERS.map((_, k) => k),
    { post: (m: unknown) => posted.push(m) } as unknown as StageContext,
    counters,
  );
  const c = (name: (typeof GATE_COUNTERS)[number]) => counters[GATE_COUNTERS.indexOf(name)];
  /** Every mark the main thread heard of, as addresses, and how many messages carried them. */
  const heard = () => {
    const batches = posted.map((m) => parseAttackerBatch(m)).filter((b) => b !== undefined);
    return {
      messages: batches.length,
      addresses: batches.flatMap((b) => Array.from(b.unfinished, (_, k) => markOf(b, k).address)),
    };
  };
  return { gate, maps, c, heard, posted };
}

describe('the SYN gate and the fast path’s aggressive sources', () => {
  it('asks for a tick at once until it has given the program the tiers (early_mode); then, quiet, one at each minute (its clock)', () => {
    const { gate, maps } = setup();
    // Idle from the start: no SYN, no mark. Without the settings the program passes a flood's
    // first SYNs to the TUN until a SYN the proxy reads brings a tick.
    expect(gate.nextTickAt(5)).toBe(5);
    expect(maps.writes).toEqual([]);
    gate.tick(5);
    expect(maps.writes.length).toBe(1);
    expect(maps.writes[0].early).toEqual({
      windowMs: 2900,
      moderateAbove: 1000,
      riskyAbove: 2000,
      riskyMode: 1,
    });
    // Quiet: the next tick at the next wall-clock minute (the cookies' counter), not never.
    const toMinute = 60_001 - (Date.now() % 60_000);
    const next = gate.nextTickAt(10);
    expect(next).toBeGreaterThan(10 + toMinute - 50);
    expect(next).toBeLessThanOrEqual(10 + toMinute);
    gate.tick(next);
    expect(maps.writes.length).toBe(2);
  });

  it('judges suspects after their grace second; one map write and one message a tick', () => {
    const { gate, maps, heard } = setup();
    for (let n = 0; n < 300; n++) maps.report(spoofed(n), 6);
    // One that completed handshakes in its grace second: back under the limit.
    maps.report(spoofed(999), 6);
    gate.tick(0); // takes 256 (the rest wait in the kernel's queue)
    expect(gate.suspects.size).toBe(256);
    gate.tick(100);
    expect(gate.suspects.size).toBe(301);
    maps.counts.set(hex(mappedAddress(spoofed(999))), 5);
    gate.tick(999);
    expect(maps.marked.size, 'not before the grace second').toBe(0);
    gate.tick(1000);
    expect(maps.marked.size).toBe(256);
    expect(maps.markCalls).toBe(1);
    expect(heard().messages).toBe(1);
    gate.tick(1100);
    expect(maps.marked.size).toBe(300);
    expect(maps.markCalls).toBe(2);
    const h = heard();
    expect(h.messages).toBe(2);
    expect(h.addresses).toEqual(Array.from({ length: 300 }, (_, n) => `198.18.${n >> 8}.${n & 0xff}`));
    expect(maps.has(spoofed(999))).toBe(false);
    expect(gate.suspects.size).toBe(0);
  });

  it('clears marks from the map when they end, oldest first; a source marked again stays', () => {
    const { gate, maps } = setup();
    for (let n = 0; n < 300; n++) maps.report(spoofed(n), 6);
    gate.tick(0);
    gate.tick(100);
    gate.tick(1000); // 256 marked until 61 000
    gate.tick(1100); // 44 until 61 100
    expect(gate.fastMarks.size).toBe(300);
    expect(maps.end(spoofed(0)), 'the map holds each mark’s end').toBe(61_000);
    expect(maps.end(spoofed(299))).toBe(61_100);
    // The next tick: the first mark's end, or sooner the wall-clock minute's (the program's clock).
    expect(gate.fastMarks.headTime).toBe(61_000);
    const want = Math.min(61_000, 2000 + 60_001 - (Date.now() % 60_000));
    expect(Math.abs(gate.nextTickAt(2000) - want)).toBeLessThanOrEqual(5); // Date.now() moved on
    // Source 0 is reported again (its kernel mark was lost, say): marked anew until 91 000.
    maps.report(spoofed(0), 7);
    gate.tick(30_000);
    gate.tick(31_000);
    expect(maps.end(spoofed(0)), 'the new end, in the map at once').toBe(91_000);
    gate.tick(60_999);
    expect(maps.marked.size).toBe(300);
    gate.tick(61_000);
    expect(maps.marked.size, 'the 44 later ones and source 0').toBe(45);
    expect(maps.has(spoofed(0))).toBe(true);
    expect(maps.has(spoofed(255))).toBe(false);
    expect(maps.has(spoofed(256))).toBe(true);
    gate.tick(61_100);
    expect([...maps.marked.keys()]).toEqual([hex(mappedAddress(spoofed(0)))]);
    gate.tick(91_000);
    expect(maps.marked.size).toBe(0);
  });

  it('after the hold is shortened, a mark made since carries its own, earlier end (the ring lifts it late)', () => {
    const { gate, maps } = setup();
    maps.report(spoofed(1), 6);
    gate.tick(0);
    gate.tick(1000); // marked until 61 000
    gate.command({ type: 'settings', syn: { aggressiveHoldSeconds: 2 } });
    maps.report(spoofed(2), 6);
    gate.tick(1100);
    gate.tick(2100); // marked until 4100
    expect(maps.end(spoofed(1))).toBe(61_000);
    expect(maps.end(spoofed(2))).toBe(4100);
    gate.tick(4100);
    // Behind the older mark in the ring, the key stays in the map: its end is what the program reads.
    expect(maps.has(spoofed(2))).toBe(true);
    expect(maps.end(spoofed(2))).toBe(4100);
  });

  it('at the expiry ring’s bound: counted, the map not given what the ring cannot clear, the main thread told of all', () => {
    // A map larger than the ring: the ring is the gate's own bound.
    const { gate, maps, c, heard } = setup(FAST_MARKS_MAX + 1000);
    const total = FAST_MARKS_MAX + 100;
    for (let n = 0; n < total; n++)
      maps.report(Uint8Array.from([198, 18 + (n >> 16), (n >> 8) & 0xff, n & 0xff]), 6);
    let t = 0;
    while (maps.queue.length > 0 || gate.suspects.size > 0) {
      gate.tick(t);
      t += 100;
    }
    expect(gate.fastMarks.size).toBe(FAST_MARKS_MAX);
    expect(maps.marked.size).toBe(FAST_MARKS_MAX);
    expect(c('fast_marks_refused')).toBe(100);
    expect(heard().addresses).toHaveLength(total);
    // Every key the map holds leaves it when its mark ends (a batch a tick): none is left behind.
    for (let k = 0; k < 20; k++) gate.tick(t + 60_000 + 100 * k);
    expect(maps.marked.size).toBe(0);
    expect(gate.fastMarks.size).toBe(0);
  });

  it('clearing all marks clears the kernel’s and forgets those not sent yet', () => {
    const { gate, maps, heard } = setup();
    for (let n = 0; n < 3; n++) maps.report(spoofed(n), 6);
    gate.tick(0);
    gate.tick(1000);
    expect(maps.marked.size).toBe(3);
    // A mark made between ticks (the proxy's own count), then the API's "clear all".
    gate.sources.markCounted(spoofed(7), 0, 4, 6, 1050);
    gate.command({ type: 'attackers.clear' });
    gate.tick(1100);
    expect(maps.marked.size).toBe(0);
    expect(gate.fastMarks.size).toBe(0);
    expect(heard().addresses, 'the cleared mark never reaches the main thread').not.toContain('198.18.0.7');
  });

  it('counts what the map itself refuses (full), and clears the rest', () => {
    const { gate, maps, c } = setup(100);
    for (let n = 0; n < 150; n++) maps.report(spoofed(n), 6);
    gate.tick(0);
    gate.tick(1000);
    expect(maps.marked.size).toBe(100);
    expect(c('fast_marks_refused')).toBe(50);
    gate.tick(61_000);
    expect(maps.marked.size).toBe(0);
  });

  it('at the grace ring’s bound: the kernel’s queue waits (counted), nothing is lost', () => {
    const { gate, maps, c, heard } = setup();
    const total = SUSPECTS_MAX + 1000;
    for (let n = 0; n < total; n++)
      maps.report(Uint8Array.from([198, 18 + (n >> 16), (n >> 8) & 0xff, n & 0xff]), 6);
    // Ticks every 10 ms: 256 a tick fill the ring within its grace second.
    let t = 0;
    for (; t < 1000; t += 10) gate.tick(t);
    expect(gate.suspects.size).toBe(SUSPECTS_MAX);
    expect(maps.queue.length).toBe(1000);
    expect(c('fast_suspects_deferred')).toBeGreaterThan(0);
    while (maps.queue.length > 0 || gate.suspects.size > 0) {
      gate.tick(t);
      t += 10;
    }
    expect(heard().addresses).toHaveLength(total);
    expect(maps.marked.size).toBe(total);
  });
});
