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

describe('SourceTracker across the 2^32 wrap of its 4-byte epochs', () => {
  it('keeps counting a source whose answered handshakes straddle the wrap, and ages them out after it', () => {
    // 1 ms slots (window 8 ms): epoch = now, so the wrap comes at now = 2^32.
    const wrap = 2 ** 32;
    const { t } = tracker({ graceMs: 0, unfinishedWindowMs: 8, maxUnfinished: 2 });
    const a = src('198.51.100.9');
    expect(t.onAnswered(...a, wrap - 1)).toBe(false);
    expect(t.onAnswered(...a, wrap)).toBe(false); // its epoch is stored as 0
    expect(t.unfinished(...a, wrap)).toBe(2);
    expect(t.onAnswered(...a, wrap + 1)).toBe(true); // 3 in the window: over the limit
    const b = src('198.51.100.10');
    t.onAnswered(...b, wrap - 1);
    t.onAnswered(...b, wrap);
    expect(t.unfinished(...b, wrap + 7)).toBe(1); // the one at 2^32 - 1 has left the window
    expect(t.unfinished(...b, wrap + 8)).toBe(0);
    expect(t.unfinished(...b, wrap + 3)).toBe(0); // an earlier time than the last changes nothing
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

  it('rejects bad settings, and takes the edges', () => {
    for (const maxUnfinished of [255, -1, 1.5])
      expect(() => new SourceTracker({ maxUnfinished }), String(maxUnfinished)).toThrow(
        'maxUnfinished must be an integer 0..254',
      );
    for (const bad of [{ holdMs: -1 }, { graceMs: -1 }, { unfinishedWindowMs: 0 }, { holdMs: Number.NaN }])
      expect(() => new SourceTracker(bad), JSON.stringify(bad)).toThrow('holdMs and graceMs must be >= 0');
    expect(() => new SourceTracker({ graceMs: 9000, unfinishedWindowMs: 10_000 })).toThrow(
      'graceMs must be at most 5/8',
    );
    expect(() => new SourceTracker({ allow: ['10.0.0.1/8'] })).toThrow('host bits');
    // Edges that are allowed: no limit beyond 254, no hold, the longest grace (5/8 of the window).
    expect(new SourceTracker({ maxUnfinished: 254 }).maxUnfinished).toBe(254);
    expect(new SourceTracker({ maxUnfinished: 0, holdMs: 0, graceMs: 0 }).holdMs).toBe(0);
    expect(() => new SourceTracker({ graceMs: 6250, unfinishedWindowMs: 10_000 })).not.toThrow();
  });

  it('counts other sources while an allowlist is set, and setAllow keeps what it does not cover', () => {
    const { t } = tracker({ graceMs: 0, allow: ['192.168.1.0/24'] });
    const out = src('198.51.100.20');
    for (let i = 0; i < 6; i++) t.onAnswered(...out, 0);
    expect(t.isAggressive(...out, 1)).toBe(true);
    for (const text of ['203.0.113.5', '2001:db8:5::1', '2001:db8:6::1']) t.mark(text, 2);
    const counted = src('203.0.113.77');
    for (let i = 0; i < 3; i++) t.onAnswered(...counted, 3);
    const counted6 = src('2001:db8:5::77');
    for (let i = 0; i < 3; i++) t.onAnswered(...counted6, 3);
    t.setAllow(['203.0.113.0/24', '2001:db8:5::/48']);
    expect(t.list(4).map((x) => x.address)).toEqual(['198.51.100.20', '2001:db8:6::1']);
    expect(t.unfinished(...counted, 4)).toBe(0);
    expect(t.unfinished(...counted6, 4)).toBe(0);
    expect(t.isAggressive(...out, 4)).toBe(true);
  });

  it('lists marks in the order they were made, and only while they hold', () => {
    const { t } = tracker({ holdMs: 1000 });
    const made = [
      ['203.0.113.1', 40],
      ['198.51.100.2', 10],
      ['192.0.2.3', 30],
      ['2001:db8::4', 20],
    ] as const;
    for (const [a, at] of made) t.mark(a, at);
    expect(t.list(50).map((x) => x.address)).toEqual([
      '198.51.100.2',
      '2001:db8::4',
      '192.0.2.3',
      '203.0.113.1',
    ]);
    // A mark made at 10 holds until 1010: at 1010 it is over.
    expect(t.list(1010).map((x) => x.address)).toEqual(['2001:db8::4', '192.0.2.3', '203.0.113.1']);
  });

  it('marks a prefix given with host bits (a listed /64) and works without an onAggressive hook', () => {
    const t = new SourceTracker({ graceMs: 0, v6PrefixLen: 64 });
    expect(t.mark('2001:db8:7:8::99/64', 0)).toBe(true);
    expect(t.isAggressive(...src('2001:db8:7:8::1'), 1)).toBe(true);
    const a = src('198.51.100.9');
    for (let i = 0; i < 5; i++) t.onAnswered(...a, 0);
    expect(t.onAnswered(...a, 0)).toBe(true);
  });

  it('clear forgets the counts of an unmarked source too: counting starts over', () => {
    const { t } = tracker({ graceMs: 0 });
    const a = src('198.51.100.30');
    for (let i = 0; i < 5; i++) t.onAnswered(...a, 0);
    expect(t.clear('198.51.100.30')).toBe(false); // it was not marked
    expect(t.unfinished(...a, 1)).toBe(0);
    expect(t.onAnswered(...a, 1)).toBe(false); // 1, not 6
  });

  it('a completed handshake cancels the newest unfinished one, so the older ones still age out first', () => {
    const { t } = tracker({ graceMs: 0, unfinishedWindowMs: 8000 }); // 1 s slots
    const a = src('198.51.100.40');
    t.onAnswered(...a, 0);
    t.onAnswered(...a, 3000);
    t.onCompleted(...a, 5000); // cancels the one of t=3000
    expect(t.unfinished(...a, 5000)).toBe(1);
    expect(t.unfinished(...a, 8500)).toBe(0); // the one of t=0 left the window
  });
});
