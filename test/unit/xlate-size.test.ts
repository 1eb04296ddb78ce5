// The kernel translation's map size: the daemon's own unless a lab test asks for a smaller one through
// TUNGUARD_TEST_XLATE_CONNS (test/lab/xlate.test.ts fills a 4-entry map); never larger, never a guess.
import { describe, expect, it } from 'vitest';
import { XLATE_CONNS_ENV, xlateMapSize } from '../../src/netcfg/xlate.js';
import { XLATE_MAX_CONNS } from '../../src/tun/xlate-map.js';

describe('xlateMapSize', () => {
  it('is XLATE_MAX_CONNS (32768) unless the test variable is set', () => {
    expect(XLATE_MAX_CONNS).toBe(32768);
    expect(xlateMapSize({})).toBe(32768);
    expect(xlateMapSize({ [XLATE_CONNS_ENV]: '' })).toBe(32768);
  });

  it('takes a smaller size, 1 up to the daemon’s own', () => {
    expect(xlateMapSize({ [XLATE_CONNS_ENV]: '4' })).toBe(4);
    expect(xlateMapSize({ [XLATE_CONNS_ENV]: '1' })).toBe(1);
    expect(xlateMapSize({ [XLATE_CONNS_ENV]: '32768' })).toBe(32768);
  });

  it('refuses anything else with the variable and the range in the message', () => {
    for (const bad of ['0', '32769', '100000', '-4', '4.5', '0x10', ' 4', 'four'])
      expect(() => xlateMapSize({ [XLATE_CONNS_ENV]: bad }), bad).toThrow(
        /TUNGUARD_TEST_XLATE_CONNS: expected an integer 1\.\.32768, got/,
      );
  });
});
