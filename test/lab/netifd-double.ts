// A test double of OpenWrt's `ubus` for the lab (there is no netifd or ubusd here): on the daemon's
// PATH, `ubus call network.interface dump` prints a dump file written in netifd's shape and
// `ubus listen network.interface` is `tail -f` of an event file. test/unit/uplinks.test.ts checks the
// parsing of netifd's real field names; the real ubus ran once in cross-build/openwrt-userland.sh.
import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One interface of netifd's dump: up, with its device and routes. */
export function dumpInterface(name: string, dev: string, route: object[] = []) {
  return {
    interface: name,
    up: true,
    pending: false,
    available: true,
    l3_device: dev,
    device: dev,
    proto: name === 'lan' ? 'static' : 'dhcp',
    route,
    data: {},
  };
}

/** Installs the double in `dir`; `dump` is the first answer. */
export function netifdDouble(dir: string, dump: object) {
  const bin = join(dir, 'bin');
  const dumpFile = join(dir, 'netifd-dump.json');
  const events = join(dir, 'netifd-events');
  writeFileSync(dumpFile, JSON.stringify(dump));
  writeFileSync(events, '');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'ubus'),
    `#!/bin/sh
case "$*" in
"call network.interface dump") exec cat '${dumpFile}' ;;
"listen network.interface") exec tail -n 0 -f '${events}' ;;
esac
exit 1
`,
  );
  chmodSync(join(bin, 'ubus'), 0o755);
  return {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    /** netifd's dump is now `dump`, and it says so with an event about `iface`. */
    set(dump: object, action: string, iface: string) {
      writeFileSync(dumpFile, JSON.stringify(dump));
      appendFileSync(events, `${JSON.stringify({ 'network.interface': { action, interface: iface } })}\n`);
    },
  };
}
