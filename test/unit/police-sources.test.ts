// The SYN police's memory of sources: known ones skip the police, aggressive marks take them out.
import { describe, expect, it } from 'vitest';
import { aggressiveKey, PoliceSources } from '../../src/netcfg/police-sources.js';

const TTL = 600_000;

describe('PoliceSources', () => {
  it('admits a source once per half timeout, and refreshes it after', () => {
    const s = new PoliceSources(100, 100, TTL);
    expect(s.admit('198.51.100.7', 0)).toBe('add');
    expect(s.admit('198.51.100.7', TTL / 2 - 1)).toBe('skip');
    expect(s.admit('198.51.100.7', TTL / 2)).toBe('refresh');
    // Past its timeout the element is gone from the set: a plain add.
    expect(s.admit('198.51.100.7', TTL / 2 + TTL)).toBe('add');
    expect(s.admit('not an address', 0)).toBe('skip');
  });

  it('a mark takes the known address out (IPv4) or every known address of the /64 (IPv6)', () => {
    const s = new PoliceSources(100, 100, TTL);
    for (const a of ['198.51.100.7', '198.51.100.8', '2001:db8:1:2::5', '2001:db8:1:2::6', '2001:db8:1:3::5'])
      s.admit(a, 0);
    expect(s.mark('198.51.100.7', 1000)).toEqual(['198.51.100.7']);
    expect(s.mark('2001:db8:1:2::/64', 1000).sort()).toEqual(['2001:db8:1:2::5', '2001:db8:1:2::6']);
    expect(s.knownCount).toBe(2);
    // Marked: not let back in until the mark ends.
    expect(s.admit('198.51.100.7', 999)).toBe('skip');
    expect(s.admit('2001:db8:1:2::9', 999)).toBe('skip');
    expect(s.admit('2001:db8:1:3::9', 999)).toBe('add');
    expect(s.admit('198.51.100.7', 1000)).toBe('add');
    // A second mark finds nothing left to take out.
    expect(s.mark('2001:db8:1:2::6', 5000)).toEqual([]);
  });

  it('keeps at most maxMarks marks under a spoofed flood, the newest ones', () => {
    const s = new PoliceSources(1000, 1000, TTL);
    s.admit('203.0.113.9', 0);
    for (let i = 0; i < 100_000; i++) s.mark(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, 10_000);
    expect(s.markCount).toBe(1000);
    expect(s.admit('198.19.134.159', 1)).toBe('skip'); // the last one marked (i = 99,999)
    expect(s.admit('198.18.0.0', 1)).toBe('add'); // the first, forgotten for the bound
    expect(s.knownCount).toBe(2);
  });

  it('keeps at most maxKnown known sources, and hands back the dropped ones still in the set', () => {
    const s = new PoliceSources(3, 10, TTL);
    for (let i = 1; i <= 5; i++) s.admit(`198.51.100.${i}`, i);
    expect(s.knownCount).toBe(3);
    expect(s.takeEvicted()).toEqual(['198.51.100.1', '198.51.100.2']);
    expect(s.takeEvicted()).toEqual([]);
    // One dropped after its timeout is not in the set any more: nothing to delete.
    s.admit('198.51.100.6', TTL + 10);
    expect(s.takeEvicted()).toEqual([]);
    // A forgotten address is not taken out by a mark (the caller already deleted it).
    expect(s.mark('198.51.100.1', 1)).toEqual([]);
    expect(s.mark('198.51.100.5', 1)).toEqual(['198.51.100.5']);
  });

  it('keys IPv4 by address and IPv6 by /64', () => {
    expect(aggressiveKey('198.51.100.7/32')).toBe('198.51.100.7');
    expect(aggressiveKey('2001:db8:1:2::5')).toBe(aggressiveKey('2001:db8:1:2:ffff::/64'));
    expect(aggressiveKey('2001:db8:1:2::5')).not.toBe(aggressiveKey('2001:db8:1:3::5'));
    expect(aggressiveKey('x')).toBeUndefined();
  });
});
