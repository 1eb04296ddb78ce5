// loadProgramPair: two programs of one object, the maps shared; each failure names its program and
// leaves no fd open. The real addon, the real objects, loaded into the running kernel.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadProgramPair } from '../../src/netcfg/bpf-pair.js';
import { loadAddon } from '../../src/tun/addon.js';
import { XLATE_OBJECT, XLATE_TO_CLIENT_SECTION, XLATE_TO_SERVER_SECTION } from '../../src/tun/xlate-map.js';

const addon = loadAddon();
const openFds = () => readdirSync('/proc/self/fd').length;

describe('loadProgramPair', () => {
  it('loads both programs over one set of maps', () => {
    const p = loadProgramPair(
      addon,
      XLATE_OBJECT,
      [XLATE_TO_SERVER_SECTION, XLATE_TO_CLIENT_SECTION],
      ['a', 'b'],
    );
    try {
      expect(p.first.prog).toBeGreaterThan(0);
      expect(p.second).toBeGreaterThan(0);
      expect(p.second).not.toBe(p.first.prog);
      expect(p.first.maps.size).toBeGreaterThan(0);
    } finally {
      for (const fd of [p.first.prog, p.second, ...p.first.maps.values()]) addon.close(fd);
    }
  });

  it('a missing second program is named, and the first one’s fds are closed', () => {
    const before = openFds();
    expect(() =>
      loadProgramPair(
        addon,
        XLATE_OBJECT,
        [XLATE_TO_SERVER_SECTION, 'tc/nowhere'],
        ['the first', 'the second'],
      ),
    ).toThrow(/^cannot load the second: /);
    expect(openFds()).toBe(before);
  });

  it('a missing object is named as the first program', () => {
    expect(() => loadProgramPair(addon, 'nosuch', ['tc', 'tc'], ['the first', 'the second'])).toThrow(
      /^cannot load the first: /,
    );
  });
});
