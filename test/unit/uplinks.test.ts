// uplinkDevices over netifd's `ubus call network.interface dump` answers. The dumps are test doubles
// written in netifd's shape (the keys a 24.10 router prints; no ubus runs here): the travel router's
// uplinks (wan, wwan, usb0 tethering, LTE), which are up with a default route.
import { describe, expect, it } from 'vitest';
import { uplinkDevices } from '../../src/netcfg/uplinks.js';

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
