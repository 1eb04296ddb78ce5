// The defense modules' own defaults are the config's: a tracker or limiter built without options
// behaves as the shipped configuration says (thresholds 100/300, 5 unfinished handshakes, the rates).
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/index.js';
import { ICMP_DEFAULTS, UDP_DEFAULTS } from '../../src/defense/ratelimit.js';
import { SourceTracker } from '../../src/defense/sources.js';
import { Tier, TierTracker } from '../../src/defense/tiers.js';

const { syn } = defaultConfig().defense;
const { icmp, udp } = defaultConfig().ratelimit;

describe('defaults shared by the config and the defense modules', () => {
  it('TierTracker: the window and the moderate and risky thresholds', () => {
    const t = new TierTracker();
    expect(t.windowMs).toBe(syn.windowSeconds * 1000);
    const tiers: Tier[] = [];
    for (let n = 1; n <= syn.riskyThreshold + 1; n++) tiers[n] = t.onSyn(1000);
    expect(tiers[syn.moderateThreshold]).toBe(Tier.NORMAL);
    expect(tiers[syn.moderateThreshold + 1]).toBe(Tier.MODERATE);
    expect(tiers[syn.riskyThreshold]).toBe(Tier.MODERATE);
    expect(tiers[syn.riskyThreshold + 1]).toBe(Tier.RISKY);
  });

  it('SourceTracker: unfinished handshakes before a source is aggressive, and how long it stays marked', () => {
    const s = new SourceTracker();
    expect(s.maxUnfinished).toBe(syn.maxUnfinishedPerSource);
    expect(s.holdMs).toBe(syn.aggressiveHoldSeconds * 1000);
  });

  it('RateLimits: the ICMP and UDP rates, bursts and exempt ports', () => {
    const { errorRate: _r, errorBurst: _b, ...icmpLimits } = ICMP_DEFAULTS;
    expect(icmpLimits).toEqual(icmp);
    expect(UDP_DEFAULTS).toEqual(udp);
  });
});
