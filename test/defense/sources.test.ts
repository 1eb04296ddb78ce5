// Per-source unfinished handshakes: the "more than 5" rule, hold expiry, ageing, grace period,
// allowlist, listing and clearing.
import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/config/net.js';
import { type AggressiveEvent, type SourceOptions, SourceTracker } from '../../src/defense/sources.js';

/** The address at offset 12 of a buffer, as in an IPv4 header. */
function src(text: string): [Uint8Array, number, number] {
  const { family, bytes } = parseAddress(text);
  const buf = new Uint8Array(64);
  buf.set(bytes, 12);
  return [buf, 12, family];
}

function tracker(options: SourceOptions = {}) {
  const events: AggressiveEvent[] = [];
  const t = new SourceTracker({ seed: 1, onAggressive: (e) => events.push(e), ...options });
  return { t, events };
}

describe('SourceTracker (grace 0: every unfinished handshake counts at once)', () => {
  it('5 unfinished handshakes are not aggressive, 6 are; held for holdMs, then released', () => {
    const { t, events } = tracker({ graceMs: 0 });
    const a = src('198.51.100.7');
    for (let i = 0; i < 5; i++) expect(t.onAnswered(...a, 1000 + i)).toBe(false);
    expect(t.unfinished(...a, 1005)).toBe(5);
    expect(t.isAggressive(...a, 1005)).toBe(false);
    expect(t.onAnswered(...a, 1006)).toBe(true); // the 6th
    expect(events).toEqual([{ address: '198.51.100.7', at: 1006, until: 61_006, unfinished: 6 }]);
    expect(t.isAggressive(...a, 1007)).toBe(true);
    expect(t.isAggressive(...a, 61_005)).toBe(true);
    expect(t.list(61_005)).toEqual([
      { address: '198.51.100.7', since: 1006, until: 61_006, remainingMs: 1, unfinished: 6, drops: 2 },
    ]);
    expect(t.isAggressive(...a, 61_006)).toBe(false); // hold expired
    expect(t.list(61_006)).toEqual([]);
    // Counting started over at the mark: 5 more are fine again.
    for (let i = 0; i < 5; i++) t.onAnswered(...a, 61_010);
    expect(t.isAggressive(...a, 61_010)).toBe(false);
    expect(events.length).toBe(1);
  });

  it('completed handshakes do not count; other sources are unaffected', () => {
    const { t } = tracker({ graceMs: 0 });
    const a = src('198.51.100.7');
    const b = src('198.51.100.8');
    for (let i = 0; i < 20; i++) {
      t.onAnswered(...a, 100 + i);
      t.onCompleted(...a, 150 + i);
    }
    for (let i = 0; i < 5; i++) t.onAnswered(...a, 200);
    expect(t.isAggressive(...a, 200)).toBe(false);
    expect(t.unfinished(...a, 200)).toBe(5);
    for (let i = 0; i < 6; i++) t.onAnswered(...b, 300);
    expect(t.isAggressive(...b, 300)).toBe(true);
    expect(t.isAggressive(...a, 300)).toBe(false);
    t.onCompleted(...src('203.0.113.1'), 300); // unknown source: nothing happens
    expect(t.tracked).toBe(1); // b's counts were dropped when it was marked
  });

  it('ages unfinished handshakes out after the window, so a slow client never accumulates', () => {
    const { t } = tracker({ graceMs: 0, unfinishedWindowMs: 8000 });
    const a = src('2001:db8::7');
    // One failed handshake every 2 s for 10 minutes: at most 4 in any 8 s window.
    for (let now = 0; now < 600_000; now += 2000) {
      t.onAnswered(...a, now);
      expect(t.isAggressive(...a, now)).toBe(false);
    }
    expect(t.unfinished(...a, 600_000)).toBeLessThanOrEqual(4);
    // Six within the window do count.
    for (let i = 0; i < 6; i++) t.onAnswered(...a, 700_000 + i * 1000);
    expect(t.isAggressive(...a, 705_000)).toBe(true);
  });
});

describe('SourceTracker (default grace)', () => {
  it('does not mark a client opening many connections at once while its ACKs are on the way', () => {
    const { t } = tracker();
    const a = src('192.0.2.50');
    for (let i = 0; i < 12; i++) {
      expect(t.isAggressive(...a, 1000)).toBe(false);
      t.onAnswered(...a, 1000);
    }
    for (let i = 0; i < 12; i++) t.onCompleted(...a, 1300); // 300 ms RTT
    expect(t.isAggressive(...a, 5000)).toBe(false);
  });

  it('marks 6 handshakes that stay unfinished once the grace period has passed (5 never)', () => {
    const { t, events } = tracker();
    const a = src('192.0.2.51');
    const b = src('192.0.2.52');
    for (let i = 0; i < 6; i++) t.onAnswered(...a, 1000);
    for (let i = 0; i < 5; i++) t.onAnswered(...b, 1000);
    expect(t.isAggressive(...a, 1500)).toBe(false); // in flight
    // Slots are 10 s / 8 = 1250 ms; 1000 ms grace rounds to "answered at least one slot ago".
    expect(t.isAggressive(...a, 3750)).toBe(true);
    expect(t.isAggressive(...b, 3750)).toBe(false);
    expect(t.isAggressive(...b, 9000)).toBe(false);
    expect(events.map((e) => [e.address, e.unfinished])).toEqual([['192.0.2.51', 6]]);
  });
});

describe('SourceTracker allowlist, API and limits', () => {
  it('never marks nor tracks allowlisted sources', () => {
    const { t, events } = tracker({ graceMs: 0, allow: ['192.168.1.0/24', 'fd00::/8'] });
    for (const text of ['192.168.1.10', 'fd00::1']) {
      const a = src(text);
      for (let i = 0; i < 50; i++) expect(t.onAnswered(...a, 100)).toBe(false);
      expect(t.isAggressive(...a, 100)).toBe(false);
    }
    expect(t.tracked).toBe(0);
    expect(t.mark('192.168.1.10', 0)).toBe(false);
    expect(events).toEqual([]);
  });

  it('setAllow forgets marks and counts of newly allowlisted sources', () => {
    const { t } = tracker({ graceMs: 0 });
    const a = src('10.1.2.3');
    const b = src('10.9.9.9');
    for (let i = 0; i < 6; i++) t.onAnswered(...a, 0);
    for (let i = 0; i < 3; i++) t.onAnswered(...b, 0);
    expect(t.isAggressive(...a, 1)).toBe(true);
    t.setAllow(['10.1.0.0/16', '10.9.9.9']);
    expect(t.isAggressive(...a, 2)).toBe(false);
    expect(t.tracked).toBe(0);
    expect(t.list(2)).toEqual([]);
  });

  it('lists, marks by hand, clears one and clears all', () => {
    const { t } = tracker({ graceMs: 0, holdMs: 1000, v6PrefixLen: 64 });
    expect(t.mark('203.0.113.9', 10)).toBe(true);
    expect(t.mark('2001:db8:1:2::99', 20, 5000)).toBe(true);
    // With /64 keys, another address of the same /64 is the same source.
    expect(t.isAggressive(...src('2001:db8:1:2::1'), 30)).toBe(true);
    expect(t.isAggressive(...src('2001:db8:1:3::1'), 30)).toBe(false);
    expect(t.list(30).map((x) => [x.address, x.until])).toEqual([
      ['203.0.113.9', 1010],
      ['2001:db8:1:2::/64', 5000],
    ]);
    expect(t.list(2000).map((x) => x.address)).toEqual(['2001:db8:1:2::/64']);
    expect(t.clear('2001:db8:1:2::/64')).toBe(true);
    expect(t.clear('2001:db8:1:2::/64')).toBe(false);
    expect(t.isAggressive(...src('2001:db8:1:2::1'), 40)).toBe(false);
    t.mark('203.0.113.10', 50);
    t.clearAll();
    expect(t.list(60)).toEqual([]);
    expect(t.markCount).toBe(0);
    expect(() => t.mark('not an address', 0)).toThrow();
  });

  it('keeps its tables at their fixed capacity whatever the number of sources', () => {
    const { t } = tracker({ capacity: 1000, maxAggressive: 100, graceMs: 0, maxUnfinished: 0 });
    expect(t.capacity).toBe(1024);
    expect(t.markCapacity).toBe(128);
    const buf = new Uint8Array(16);
    for (let i = 0; i < 50_000; i++) {
      buf[0] = 10;
      buf[1] = i >> 16;
      buf[2] = i >> 8;
      buf[3] = i;
      t.onAnswered(buf, 0, 4, i); // maxUnfinished 0: every source is marked at once
    }
    expect(t.markCount).toBeLessThanOrEqual(128);
    expect(t.tracked).toBeLessThanOrEqual(1024);
    expect(t.markEvictions).toBeGreaterThan(40_000);
    // The most recent marks are the ones kept.
    expect(t.isAggressive(buf, 0, 4, 50_000)).toBe(true);
  });

  it('rejects bad settings', () => {
    expect(() => new SourceTracker({ maxUnfinished: 255 })).toThrow();
    expect(() => new SourceTracker({ graceMs: 9000, unfinishedWindowMs: 10_000 })).toThrow();
    expect(() => new SourceTracker({ allow: ['10.0.0.1/8'] })).toThrow('host bits');
  });
});
