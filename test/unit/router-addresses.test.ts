// The router's own addresses (src/netcfg/router-addresses.ts): the list read from getifaddrs (checked
// against `ip -j addr` on this machine's real devices), the grace a vanished address gets, and the
// watch that applies each change once, in order, and retries a failed one.
import { execFileSync } from 'node:child_process';
import type { NetworkInterfaceInfo } from 'node:os';
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  addressDiff,
  type InterfaceAddresses,
  nextAddresses,
  RouterAddressWatch,
  routerAddresses,
} from '../../src/netcfg/router-addresses.js';

function addr(address: string, cidrBits = address.includes(':') ? 64 : 24): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  const base = { address, mac: '02:00:00:00:00:01', internal: false, cidr: `${address}/${cidrBits}` };
  return v6
    ? {
        ...base,
        family: 'IPv6',
        netmask: 'ffff:ffff:ffff:ffff::',
        scopeid: address.startsWith('fe80') ? 2 : 0,
      }
    : { ...base, family: 'IPv4', netmask: '255.255.255.0' };
}

const IFACES: InterfaceAddresses = {
  lo: [
    { ...addr('127.0.0.1', 8), internal: true },
    { ...addr('::1', 128), internal: true },
  ],
  wan0: [
    addr('198.51.100.1'),
    addr('198.51.100.7'),
    addr('169.254.3.4', 16),
    addr('2001:db8:1::1'),
    addr('fe80::1'),
    addr('febf::1'),
  ],
  wwan0: [addr('203.0.113.9'), addr('2001:db8:9::9'), addr('198.51.100.1')],
  lan0: [addr('192.0.2.1')],
};

describe('routerAddresses', () => {
  it("lists the uplinks' global addresses as host prefixes, sorted, without loopback or link-local", () => {
    expect(routerAddresses(['wan0'], true, IFACES)).toEqual([
      '198.51.100.1/32',
      '198.51.100.7/32',
      '2001:db8:1::1/128',
    ]);
    // Two uplinks: one list, an address both hold once; the LAN's are never in it.
    expect(routerAddresses(['wan0', 'wwan0'], true, IFACES)).toEqual([
      '198.51.100.1/32',
      '198.51.100.7/32',
      '2001:db8:1::1/128',
      '2001:db8:9::9/128',
      '203.0.113.9/32',
    ]);
    expect(routerAddresses(['wan0'], false, IFACES)).toEqual(['198.51.100.1/32', '198.51.100.7/32']);
    // A device that is gone (or has no carrier: getifaddrs leaves it out) has none.
    expect(routerAddresses(['usb0', 'lo'], true, IFACES)).toEqual([]);
  });

  it("gives for this machine's devices what `ip -j addr show scope global` says they have", () => {
    const real = networkInterfaces();
    const devs = Object.keys(real).filter((d) => d !== 'lo');
    expect(devs.length, 'this machine has a device with an address').toBeGreaterThan(0);
    for (const dev of devs) {
      const info = JSON.parse(
        execFileSync('ip', ['-j', 'addr', 'show', 'dev', dev, 'scope', 'global'], { encoding: 'utf8' }) ||
          '[]',
      ) as { addr_info?: { local?: string; family?: string }[] }[];
      const want = info
        .flatMap((i) => i.addr_info ?? [])
        .filter((a) => a.local !== undefined && !a.local.startsWith('169.254.'))
        .map((a) => `${a.local}/${a.family === 'inet' ? 32 : 128}`)
        .sort();
      expect(routerAddresses([dev], true, real), dev).toEqual(want);
    }
  });
});

describe('nextAddresses', () => {
  it('takes a new address at once and lets one go after `grace` polls missing in a row', () => {
    const missing = new Map<string, number>();
    const a = '198.51.100.1/32';
    const b = '198.51.100.7/32';
    let now = nextAddresses([a], [a, b], missing, 2);
    expect(now).toEqual([a, b]);
    // b missing once: kept; back again: the count starts over.
    now = nextAddresses(now, [a], missing, 2);
    expect(now).toEqual([a, b]);
    now = nextAddresses(now, [a, b], missing, 2);
    expect(now).toEqual([a, b]);
    now = nextAddresses(now, [a], missing, 2);
    expect(now).toEqual([a, b]);
    now = nextAddresses(now, [a], missing, 2);
    expect(now).toEqual([a]);
    expect(missing.size).toBe(0);
    // grace 1: gone at the first poll that misses it.
    expect(nextAddresses([a, b], [b], new Map(), 1)).toEqual([b]);
  });

  it('says what was added and removed', () => {
    expect(addressDiff(['a', 'b'], ['b', 'c'])).toEqual({ added: ['c'], removed: ['a'] });
    expect(addressDiff([], [])).toEqual({ added: [], removed: [] });
  });
});

describe('RouterAddressWatch', () => {
  /** A watch over a mutable copy of IFACES that never polls by itself (the test calls check()). */
  function watch(initialDevs: string[], apply: (now: string[], prev: string[]) => Promise<void> | void) {
    const ifaces: InterfaceAddresses = structuredClone(IFACES);
    const logs: string[] = [];
    const w = new RouterAddressWatch({
      devices: initialDevs,
      ipv6: true,
      initial: routerAddresses(initialDevs, true, ifaces),
      intervalMs: 3_600_000,
      grace: 2,
      apply,
      log: (m) => logs.push(m),
      read: () => ifaces,
      events: null,
    });
    return { w, ifaces, logs };
  }

  /** A watch whose address events are the lines `script` (sh) prints; counts the reads. */
  function evented(script: string, intervalMs: number) {
    const ifaces: InterfaceAddresses = structuredClone(IFACES);
    const logs: string[] = [];
    const calls: string[][] = [];
    let reads = 0;
    const w = new RouterAddressWatch({
      devices: ['wan0'],
      ipv6: true,
      initial: routerAddresses(['wan0'], true, ifaces),
      intervalMs,
      grace: 2,
      apply: (now) => {
        calls.push(now);
      },
      log: (m) => logs.push(m),
      read: () => {
        reads++;
        return ifaces;
      },
      events: ['sh', '-c', script],
    });
    return { w, ifaces, logs, calls, reads: () => reads };
  }

  it('reads the addresses when an event line comes, not every interval (control: no events, a read every interval)', async () => {
    // The event command: quiet for 600 ms, one line, then quiet (like `ip -o monitor address`).
    const e = evented('sleep 0.6; echo "3: wan0    inet 198.51.100.9/24 scope global wan0"; sleep 30', 100);
    await new Promise((r) => setTimeout(r, 400));
    expect(e.w.listening).toBe(true);
    expect(e.reads(), 'no read while no event came').toBe(0);
    e.ifaces.wan0?.push(addr('198.51.100.9'));
    await new Promise((r) => setTimeout(r, 600));
    expect(e.reads(), 'one read, for the event').toBe(1);
    expect(e.calls.at(-1)).toContain('198.51.100.9/32');
    // A vanished address is looked at again every interval until its grace is over, without events.
    e.ifaces.wan0 = e.ifaces.wan0?.filter((a) => a.address !== '198.51.100.9');
    await e.w.check();
    expect(e.w.addresses, 'missing once: still protected').toContain('198.51.100.9/32');
    await new Promise((r) => setTimeout(r, 350));
    expect(e.w.addresses, 'gone after the grace, at the next interval').not.toContain('198.51.100.9/32');
    const settled = e.reads();
    await new Promise((r) => setTimeout(r, 400));
    expect(e.reads(), 'then quiet again').toBe(settled);
    await e.w.stop();
    // The control: the same watch without events reads every 100 ms.
    let polls = 0;
    const q = new RouterAddressWatch({
      devices: ['wan0'],
      ipv6: true,
      initial: [],
      intervalMs: 100,
      grace: 2,
      apply: () => {},
      log: () => {},
      read: () => {
        polls++;
        return {};
      },
      events: null,
    });
    await new Promise((r) => setTimeout(r, 550));
    expect(polls).toBeGreaterThanOrEqual(4);
    await q.stop();
  });

  it('reads every interval while its event command is gone, and says so once', async () => {
    const e = evented('exit 3', 100);
    await new Promise((r) => setTimeout(r, 500));
    expect(e.w.listening).toBe(false);
    expect(e.reads()).toBeGreaterThanOrEqual(2);
    expect(e.logs).toEqual(['router addresses: no address events (sh exited 3); reading them every 100 ms']);
    await e.w.stop();
  });

  it('applies each change once (old → new), follows a new uplink at once, and nothing while nothing changes', async () => {
    const calls: [string[], string[]][] = [];
    const { w, ifaces } = watch(['wan0'], (now, prev) => {
      calls.push([now, prev]);
    });
    await w.check();
    expect(calls).toEqual([]);
    ifaces.wan0?.push(addr('198.51.100.9'));
    await w.check();
    await w.check();
    expect(calls).toEqual([
      [
        ['198.51.100.1/32', '198.51.100.7/32', '198.51.100.9/32', '2001:db8:1::1/128'],
        ['198.51.100.1/32', '198.51.100.7/32', '2001:db8:1::1/128'],
      ],
    ]);
    // The uplink changes to wwan0: its addresses come at once, wan0's after the grace.
    calls.length = 0;
    await w.setDevices(['wwan0']);
    expect(calls.at(-1)?.[0]).toEqual([
      '198.51.100.1/32',
      '198.51.100.7/32',
      '198.51.100.9/32',
      '2001:db8:1::1/128',
      '2001:db8:9::9/128',
      '203.0.113.9/32',
    ]);
    await w.check();
    expect(w.addresses).toEqual(['198.51.100.1/32', '2001:db8:9::9/128', '203.0.113.9/32']);
    expect(calls).toHaveLength(2);
    await w.stop();
  });

  it('runs one change at a time: a check during a slow change reads again after it', async () => {
    let release: () => void = () => {};
    const calls: string[][] = [];
    const { w, ifaces } = watch(['wan0'], async (now) => {
      calls.push(now);
      if (calls.length === 1) await new Promise<void>((r) => (release = r));
    });
    ifaces.wan0?.push(addr('198.51.100.9'));
    const first = w.check();
    await Promise.resolve();
    ifaces.wan0?.push(addr('198.51.100.10'));
    const second = w.check();
    expect(calls).toHaveLength(1);
    release();
    await first;
    await second;
    // The second read ran after the first change was in force, with both new addresses.
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toHaveLength(2);
    expect(calls[1]).toContain('198.51.100.10/32');
    expect(w.addresses).toContain('198.51.100.10/32');
    await w.stop();
  });

  it('keeps the old list when a change fails, says so once, and tries again at the next poll', async () => {
    let fail = true;
    const { w, ifaces, logs } = watch(['wan0'], () => {
      if (fail) throw new Error('the dataplane workers did not apply it within 5000 ms');
    });
    const before = [...w.addresses];
    ifaces.wan0?.push(addr('198.51.100.9'));
    await w.check();
    await w.check();
    expect(w.addresses).toEqual(before);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/router addresses: cannot change to .*198\.51\.100\.9\/32.*within 5000 ms/);
    fail = false;
    await w.check();
    expect(w.addresses).toContain('198.51.100.9/32');
    await w.stop();
  });
});
