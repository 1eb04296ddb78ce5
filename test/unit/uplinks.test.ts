// uplinkDevices over netifd's `ubus call network.interface dump` answers. The dumps are test doubles
// written in netifd's shape (the keys a 24.10 router prints; no ubus runs here): the travel router's
// uplinks (wan, wwan, usb0 tethering, LTE), which are up with a default route.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lanDevicesOf, lanLinks, linkNames } from '../../src/netcfg/lan.js';
import { NetifdWatch, UplinkWatch, uplinkDevices, uplinksNow } from '../../src/netcfg/uplinks.js';

/** One interface of a dump, as netifd prints it (the fields uplinkDevices reads, and company). */
function iface(name: string, dev: string, up: boolean, routes: { target: string; mask: number }[]) {
  return {
    interface: name,
    up,
    pending: false,
    available: true,
    autostart: true,
    dynamic: false,
    l3_device: dev,
    proto: name === 'lan' ? 'static' : 'dhcp',
    device: dev,
    metric: 0,
    'ipv4-address': [],
    route: routes.map((r) => ({ ...r, nexthop: '192.0.2.1', source: '0.0.0.0/0' })),
    data: {},
  };
}
const DEFAULT4 = { target: '0.0.0.0', mask: 0 };
const DEFAULT6 = { target: '::', mask: 0 };

describe('uplinkDevices', () => {
  it('the interfaces that are up with a default route: hotel Wi-Fi and LTE at once, sorted', () => {
    const dump = {
      interface: [
        iface('lan', 'br-lan', true, [{ target: '198.18.0.0', mask: 24 }]),
        iface('wan', 'eth1', false, []),
        iface('wwan', 'phy0-sta0', true, [DEFAULT4]),
        iface('lte', 'wwan0', true, [DEFAULT6]),
        iface('usb', 'usb0', true, []),
      ],
    };
    expect(uplinkDevices(dump)).toEqual(['phy0-sta0', 'wwan0']);
  });

  it('a PPP uplink is its l3_device; names that are no device names are ignored', () => {
    const ppp = { ...iface('wan', 'eth1', true, [DEFAULT4]), l3_device: 'pppoe-wan' };
    const odd = iface('x', 'a b;rm', true, [DEFAULT4]);
    expect(uplinkDevices({ interface: [ppp, odd] })).toEqual(['pppoe-wan']);
  });

  it('refuses what is not a dump', () => {
    expect(() => uplinkDevices({})).toThrow(/not a network.interface dump/);
    expect(() => uplinkDevices(null)).toThrow(/not a network.interface dump/);
    expect(uplinkDevices({ interface: [] })).toEqual([]);
  });
});

describe('lanDevicesOf / lanLinks', () => {
  it("the devices of netifd's LAN interfaces that are up: br-lan and a guest bridge, not the WAN", () => {
    const dump = {
      interface: [
        iface('lan', 'br-lan', true, []),
        iface('guest', 'br-guest', true, []),
        iface('iot', 'br-iot', false, []),
        iface('wan', 'eth1', true, [DEFAULT4]),
      ],
    };
    expect(lanDevicesOf(dump, ['lan'])).toEqual(['br-lan']);
    expect(lanDevicesOf(dump, ['lan', 'guest', 'iot'])).toEqual(['br-guest', 'br-lan']);
    expect(lanDevicesOf({ interface: [iface('lan', 'a b;rm', true, [])] }, ['lan'])).toEqual([]);
    expect(() => lanDevicesOf({}, ['lan'])).toThrow(/not a network.interface dump/);
  });

  it('a device made again under its name is a new key (its ifindex); one not there is left out', () => {
    const sys = mkdtempSync(join(tmpdir(), 'tunguard-sysnet-'));
    try {
      const dev = (name: string, ifindex: number) => {
        mkdirSync(join(sys, name), { recursive: true });
        writeFileSync(join(sys, name, 'ifindex'), `${ifindex}\n`);
      };
      dev('br-lan', 7);
      const before = lanLinks(['br-lan', 'br-gone'], sys);
      expect(before).toEqual(['br-lan#7']);
      dev('br-lan', 12);
      expect(lanLinks(['br-lan'], sys)).toEqual(['br-lan#12']);
      expect(linkNames(['br-lan#12', 'lan1#3'])).toEqual(['br-lan', 'lan1']);
    } finally {
      rmSync(sys, { recursive: true, force: true });
    }
  });
});

/** netifd's dump and event stream as files: `cat` prints the dump, `tail -f` follows the events. */
function doubles() {
  const dir = mkdtempSync(join(tmpdir(), 'tunguard-uplinks-'));
  const dump = join(dir, 'dump.json');
  const events = join(dir, 'events');
  const set = (devs: string[]) =>
    writeFileSync(dump, JSON.stringify({ interface: devs.map((d) => iface(d, d, true, [DEFAULT4])) }));
  set(['wan0']);
  writeFileSync(events, '');
  return { dir, dump, events, set };
}

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!ok() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
  return ok();
}

describe('UplinkWatch', () => {
  it('asks again at once on a netifd event (the poll is only the fallback)', async () => {
    const d = doubles();
    const seen: string[][] = [];
    const logs: string[] = [];
    const w = new UplinkWatch(['wan0'], {
      command: ['cat', d.dump],
      events: ['tail', '-n', '0', '-f', d.events],
      intervalMs: 60_000, // no poll during this test: only the event can tell the watch
      onChange: (devs) => seen.push(devs),
      log: (m) => logs.push(m),
    });
    try {
      await new Promise((r) => setTimeout(r, 300)); // tail is reading
      d.set(['usb0', 'wan0']);
      const t0 = Date.now();
      appendFileSync(d.events, '{ "network.interface": { "action": "ifup", "interface": "usb" } }\n');
      expect(await until(() => seen.length > 0, 3000)).toBe(true);
      console.log(`uplink event → change: ${Date.now() - t0} ms`);
      expect(seen).toEqual([['usb0', 'wan0']]);
      expect(w.devices).toEqual(['usb0', 'wan0']);
      expect(logs).toEqual([]);
    } finally {
      w.stop();
      rmSync(d.dir, { recursive: true, force: true });
    }
  });

  it('the control: without events the same change waits for the next poll', async () => {
    const d = doubles();
    const seen: string[][] = [];
    const w = new UplinkWatch(['wan0'], {
      command: ['cat', d.dump],
      events: null,
      intervalMs: 60_000,
      onChange: (devs) => seen.push(devs),
      log: () => {},
    });
    try {
      d.set(['usb0', 'wan0']);
      appendFileSync(d.events, '{ "network.interface": { "action": "ifup" } }\n');
      expect(await until(() => seen.length > 0, 1500)).toBe(false);
      await w.poll();
      expect(seen).toEqual([['usb0', 'wan0']]);
    } finally {
      w.stop();
      rmSync(d.dir, { recursive: true, force: true });
    }
  });

  it('asks for no dump while the events come (each is a process); without a listener every interval', async () => {
    const d = doubles();
    const counted = join(d.dir, 'asked');
    writeFileSync(counted, '');
    const dump = ['sh', '-c', `echo >> ${counted}; cat ${d.dump}`];
    const asked = () => readFileSync(counted, 'utf8').length;
    const watch = (events: readonly string[] | null) =>
      new UplinkWatch(['wan0'], {
        command: dump,
        events,
        intervalMs: 100,
        onChange: () => {},
        log: () => {},
      });
    const listening = watch(['tail', '-n', '0', '-f', d.events]);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      expect(asked(), 'no dump in a second of listening').toBe(0);
      appendFileSync(d.events, '{ "network.interface": { "action": "ifup" } }\n');
      expect(await until(() => asked() === 1, 2000), 'an event asks at once').toBe(true);
    } finally {
      listening.stop();
    }
    writeFileSync(counted, '');
    const polling = watch(null);
    try {
      expect(await until(() => asked() >= 5, 2000), 'the control: a dump every 100 ms').toBe(true);
    } finally {
      polling.stop();
      rmSync(d.dir, { recursive: true, force: true });
    }
  });

  it('a missing event source is said once and the poll goes on; uplinksNow says why it has none', async () => {
    const d = doubles();
    const logs: string[] = [];
    const w = new UplinkWatch(['wan0'], {
      command: ['cat', d.dump],
      events: [join(d.dir, 'no-ubus'), 'listen'],
      intervalMs: 60_000,
      onChange: () => {},
      log: (m) => logs.push(m),
    });
    try {
      expect(await until(() => logs.length > 0, 2000)).toBe(true);
      expect(logs[0]).toMatch(/^netifd: no events \(.*ENOENT.*\); asking every 60000 ms$/);
      d.set(['wwan0']);
      await w.poll();
      expect(w.devices).toEqual(['wwan0']);
      expect(uplinksNow(['cat', d.dump])).toEqual({ devices: ['wwan0'] });
      writeFileSync(d.dump, JSON.stringify({ interface: [iface('lan', 'br-lan', true, [])] }));
      expect(uplinksNow(['cat', d.dump])).toEqual({
        devices: [],
        error: 'no interface is up with a default route',
      });
      expect(uplinksNow([join(d.dir, 'no-ubus')]).error).toMatch(/ENOENT/);
    } finally {
      w.stop();
      rmSync(d.dir, { recursive: true, force: true });
    }
  });

  it('one dump for two followers; a change that throws is said once and tried again at the next poll', async () => {
    const d = doubles();
    const logs: string[] = [];
    const wans: string[][] = [];
    let refuse = true;
    const lans: string[][] = [];
    const lanOf = (dump: unknown) => lanDevicesOf(dump, ['lan']);
    const w = new NetifdWatch(
      [
        { read: uplinkDevices, initial: ['wan0'], onChange: (now) => wans.push(now) },
        {
          read: lanOf,
          initial: ['br-lan'],
          onChange: (now) => {
            if (refuse) throw new Error('lan: cannot steer br-lan2');
            lans.push(now);
          },
        },
      ],
      { command: ['cat', d.dump], events: null, intervalMs: 60_000, log: (m) => logs.push(m) },
    );
    try {
      writeFileSync(
        d.dump,
        JSON.stringify({
          interface: [iface('wwan', 'wwan0', true, [DEFAULT4]), iface('lan', 'br-lan2', true, [])],
        }),
      );
      await w.poll();
      await w.poll();
      expect(wans).toEqual([['wwan0']]);
      expect(lans).toEqual([]);
      expect(logs).toEqual(['lan: cannot steer br-lan2']); // twice refused, said once
      expect(w.keys(1)).toEqual(['br-lan']);
      refuse = false;
      await w.poll();
      expect(lans).toEqual([['br-lan2']]);
      expect(w.keys(1)).toEqual(['br-lan2']);
    } finally {
      w.stop();
      rmSync(d.dir, { recursive: true, force: true });
    }
  });
});
