// Risk tiers: exact thresholds, the sliding window, half-open counts, hysteresis, events.
import { describe, expect, it } from 'vitest';
import { Tier, type TierEvent, TierTracker } from '../../src/defense/tiers.js';

function tracker(extra: ConstructorParameters<typeof TierTracker>[0] = {}) {
  const events: TierEvent[] = [];
  const t = new TierTracker({ onChange: (e) => events.push(e), ...extra });
  return { t, events };
}

function syns(t: TierTracker, n: number, now: number): void {
  for (let i = 0; i < n; i++) t.onSyn(now);
}

describe('TierTracker', () => {
  it('uses the thresholds exactly: 100 normal, 101 moderate, 300 moderate, 301 risky', () => {
    const { t, events } = tracker();
    syns(t, 100, 1000);
    expect(t.synCount).toBe(100);
    expect(t.tier).toBe(Tier.NORMAL);
    expect(t.onSyn(1000)).toBe(Tier.MODERATE); // 101
    expect(t.tierName).toBe('moderate');
    syns(t, 199, 1050);
    expect(t.synCount).toBe(300);
    expect(t.tier).toBe(Tier.MODERATE);
    expect(t.onSyn(1100)).toBe(Tier.RISKY); // 301
    expect(events.map((e) => [e.fromName, e.toName, e.synCount, e.at])).toEqual([
      ['normal', 'moderate', 101, 1000],
      ['moderate', 'risky', 301, 1100],
    ]);
  });

  it('slides the window: SYNs leave it windowMs after their bucket, and the tier falls back', () => {
    const { t, events } = tracker();
    syns(t, 301, 1000); // bucket [1000, 1100)
    expect(t.tier).toBe(Tier.RISKY);
    expect(t.update(3999.9)).toBe(Tier.RISKY);
    expect(t.synCount).toBe(301);
    expect(t.update(4000)).toBe(Tier.NORMAL);
    expect(t.synCount).toBe(0);
    expect(events.map((e) => `${e.fromName}>${e.toName}@${e.at}`)).toEqual([
      'normal>moderate@1000',
      'moderate>risky@1000',
      'risky>normal@4000',
    ]);
  });

  it('steps down through moderate as buckets age out', () => {
    const { t, events } = tracker();
    syns(t, 150, 0);
    syns(t, 151, 1500); // 301: risky
    expect(t.tier).toBe(Tier.RISKY);
    expect(t.update(2999)).toBe(Tier.RISKY);
    expect(t.update(3000)).toBe(Tier.MODERATE); // the 150 of t=0 left: 151
    expect(t.synCount).toBe(151);
    expect(t.update(4500)).toBe(Tier.NORMAL);
    expect(events.map((e) => e.toName)).toEqual(['moderate', 'risky', 'moderate', 'normal']);
  });

  it('counts a steady rate over the window: 40 SYN/s is normal, 50/s moderate, 110/s risky', () => {
    for (const [rate, tier] of [
      [33, Tier.NORMAL],
      [50, Tier.MODERATE],
      [110, Tier.RISKY],
    ] as const) {
      const { t } = tracker();
      const step = 1000 / rate;
      for (let now = 0; now < 10_000; now += step) t.onSyn(now);
      expect(t.tier).toBe(tier);
      expect(Math.abs(t.synCount - rate * 3)).toBeLessThanOrEqual(rate * 0.1 + 1);
    }
  });

  it('keeps the half-open estimate: answered minus completed in the window', () => {
    const { t } = tracker();
    for (let i = 0; i < 10; i++) {
      t.onSyn(100);
      t.onAnswered(100);
    }
    for (let i = 0; i < 7; i++) t.onCompleted(200);
    expect(t.halfOpen).toBe(3);
    expect(t.answeredCount).toBe(10);
    expect(t.completedCount).toBe(7);
    t.update(3100); // the answers left, the completions (bucket 200) are still in
    expect(t.halfOpen).toBe(0);
    t.update(3200);
    expect(t.completedCount).toBe(0);
  });

  it('applies hysteresis only when stepping down, and takes configured thresholds and window', () => {
    const { t, events } = tracker({
      moderateThreshold: 10,
      riskyThreshold: 20,
      hysteresis: 5,
      windowMs: 1000,
    });
    syns(t, 21, 0);
    expect(t.tier).toBe(Tier.RISKY);
    syns(t, 16, 600); // t=0 bucket leaves at 1000: 16 remain, inside the band (15, 20]
    expect(t.update(1000)).toBe(Tier.RISKY);
    expect(t.synCount).toBe(16);
    syns(t, 8, 1500); // 24
    expect(t.update(1600)).toBe(Tier.MODERATE); // the 16 of t=600 left: 8 is below moderate but in (5, 10]
    expect(t.synCount).toBe(8);
    expect(t.update(2500)).toBe(Tier.NORMAL); // 0
    syns(t, 11, 2600);
    expect(t.tier).toBe(Tier.MODERATE); // up: exact threshold
    expect(events.map((e) => e.toName)).toEqual(['moderate', 'risky', 'moderate', 'normal', 'moderate']);
    t.setThresholds(100, 300, 0);
    expect(t.update(2600)).toBe(Tier.NORMAL);
  });

  it('steps down exactly at the edge of the hysteresis band', () => {
    const { t } = tracker({ moderateThreshold: 10, riskyThreshold: 20, hysteresis: 5, windowMs: 1000 });
    syns(t, 21, 0);
    expect(t.tier).toBe(Tier.RISKY);
    syns(t, 15, 500); // after t=0 leaves: 15, the band's lower edge (20 - 5): out of it
    expect(t.update(1000)).toBe(Tier.MODERATE);
    const { t: u } = tracker({ moderateThreshold: 10, riskyThreshold: 20, hysteresis: 5, windowMs: 1000 });
    syns(u, 11, 0);
    expect(u.tier).toBe(Tier.MODERATE);
    syns(u, 6, 500); // 6: still above 10 - 5
    expect(u.update(1000)).toBe(Tier.MODERATE);
    syns(u, 5, 1700); // the 6 of t=500 leave at 1500: 5, the band's edge
    expect(u.update(1700)).toBe(Tier.NORMAL);
  });

  it('refuses a window or bucket that is not positive, and thresholds out of order', () => {
    for (const bad of [{ windowMs: 0 }, { bucketMs: 0 }, { windowMs: -1 }, { windowMs: Number.NaN }])
      expect(() => new TierTracker(bad), JSON.stringify(bad)).toThrow(
        'tier window and bucket must be > 0 ms',
      );
    expect(() => new TierTracker({ windowMs: 1, bucketMs: 1 })).not.toThrow();
    const t = new TierTracker();
    for (const [m, r, h] of [
      [-1, 5, 0],
      [6, 5, 0],
      [1, 5, -1],
      [Number.NaN, 5, 0],
    ])
      expect(() => t.setThresholds(m, r, h), `${m} ${r} ${h}`).toThrow('0 <= moderate <= risky');
    // The edges are allowed: moderate 0, moderate = risky, no hysteresis.
    t.setThresholds(0, 0, 0);
    expect([t.moderateThreshold, t.riskyThreshold]).toEqual([0, 0]);
    t.setThresholds(7, 9, 2);
    expect([t.moderateThreshold, t.riskyThreshold]).toEqual([7, 9]);
    expect(t.snapshot()).toMatchObject({ moderateThreshold: 7, riskyThreshold: 9 });
  });

  it('tolerates time standing still or going back, and long gaps', () => {
    const { t } = tracker();
    syns(t, 5, 10_000);
    syns(t, 5, 9_000); // counted in the current bucket
    expect(t.synCount).toBe(10);
    t.update(1e12);
    expect(t.synCount).toBe(0);
    expect(() => new TierTracker({ moderateThreshold: 300, riskyThreshold: 100 })).toThrow();
  });
});

describe('tiers shared by several workers', () => {
  it('decides on the sum of all workers while each keeps its own counts', () => {
    const sab = new SharedArrayBuffer(3 * 2 * 4);
    const w = [0, 1, 2].map((index) => new TierTracker({ share: { sab, index, workers: 3 } }));
    const alone = new TierTracker();
    // 120 SYNs on each of three workers: 360 in all (risky); 120 alone is moderate.
    for (let i = 0; i < 120; i++) {
      for (const t of w) {
        t.onSyn(10 + i);
        t.onAnswered(10 + i);
      }
      alone.onSyn(10 + i);
    }
    for (const t of w) t.update(200);
    expect(alone.tier).toBe(Tier.MODERATE);
    expect(w.map((t) => t.tier)).toEqual([Tier.RISKY, Tier.RISKY, Tier.RISKY]);
    expect(w.map((t) => t.synCount)).toEqual([120, 120, 120]);
    expect(w[1].totalSynCount).toBe(360);
    expect(w[2].totalHalfOpen).toBe(360);
    // One worker completing its handshakes lowers the shared half-open count, part by part.
    for (let i = 0; i < 20; i++) w[0].onCompleted(300);
    expect(w[1].totalHalfOpen).toBe(340);
    expect(w[2].totalHalfOpen).toBe(340);
    for (let i = 0; i < 100; i++) w[0].onCompleted(300);
    expect(w[1].totalHalfOpen).toBe(240);
    // The window slides on every worker: after one round each has published its empty window, and
    // at the next (their next tick) all see the empty sum and fall back to normal.
    for (const t of w) t.update(10_000);
    for (const t of w) t.update(10_100);
    expect(w.map((t) => t.tier)).toEqual([Tier.NORMAL, Tier.NORMAL, Tier.NORMAL]);
    expect(w[0].totalSynCount).toBe(0);
  });
});
