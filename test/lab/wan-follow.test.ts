// The WAN follows netifd at run time: the WAN veth is deleted and a differently named one takes its
// place mid-run; netifd's interface dump changes with it. There is no netifd or ubus here: `ubus` is
// a test double on the daemon's PATH that prints a dump file in netifd's shape
// (test/unit/uplinks.test.ts checks the parsing). Traffic through tunguard resumes within 2 s without
// a restart, and the SYN police follows the new device (its set of WAN names, and SYNs arriving on
// the new device counted by its rule). The control: without --wan-follow the police keeps the old
// name and never sees a SYN of the new uplink.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ADDR, Lab, sleep, waitFor } from './lab.js';

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
  lab = undefined;
});

/** netifd's dump with one uplink, `dev`, up with a default route (and the LAN). */
function dump(dev: string): string {
  const iface = (name: string, d: string, route: object[]) => ({
    interface: name,
    up: true,
    pending: false,
    available: true,
    l3_device: d,
    device: d,
    proto: name === 'lan' ? 'static' : 'dhcp',
    route,
    data: {},
  });
  return JSON.stringify({
    interface: [
      iface('lan', 'lan0', []),
      iface(dev === 'wan0' ? 'wan' : 'wwan', dev, [
        { target: '0.0.0.0', mask: 0, nexthop: ADDR.wan4, source: `${ADDR.rtrWan4}/32` },
      ]),
    ],
  });
}

/** Deletes wan0 and gives the router a new uplink, wwan0, with the same addresses. */
function swapWan(l: Lab): void {
  const { rtr, wan } = l.ns;
  l.run(rtr, 'ip', ['link', 'del', 'wan0']);
  l.run(rtr, 'ip', ['link', 'add', 'wwan0', 'type', 'veth', 'peer', 'name', 'tgswap', 'netns', wan]);
  l.run(wan, 'ip', ['link', 'set', 'tgswap', 'name', 'eth0']);
  l.run(wan, 'ip', ['link', 'set', 'eth0', 'up']);
  l.run(rtr, 'ip', ['link', 'set', 'wwan0', 'up']);
  l.run(wan, 'ip', ['addr', 'add', `${ADDR.wan4}/24`, 'dev', 'eth0']);
  l.run(rtr, 'ip', ['addr', 'add', `${ADDR.rtrWan4}/24`, 'dev', 'wwan0']);
  l.run(wan, 'ip', ['route', 'add', 'default', 'via', ADDR.rtrWan4]);
}

/** Packets the police's last rule (the rate limit) has seen drop, and the WAN names in its set. */
function police(l: Lab): { dropped: number; wans: string } {
  const chain = l.run(l.ns.rtr, 'nft', ['list', 'chain', 'inet', 'tunguard', 'syn_police']);
  const m = /limit rate over .* counter packets (\d+)/.exec(chain);
  const set = l.run(l.ns.rtr, 'nft', ['list', 'set', 'inet', 'tunguard', 'wans']);
  return { dropped: Number(m?.[1] ?? NaN), wans: /elements = \{([^}]*)\}/.exec(set)?.[1]?.trim() ?? '' };
}

async function run(follow: boolean) {
  lab = Lab.create({ firewall: 'none' });
  const bin = join(lab.stateDir, 'bin');
  const dumpFile = join(lab.stateDir, 'netifd-dump.json');
  writeFileSync(dumpFile, dump('wan0'));
  // The ubus test double: `ubus call network.interface dump` prints the dump file.
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'ubus'),
    `#!/bin/sh\n[ "$*" = "call network.interface dump" ] || exit 1\nexec cat '${dumpFile}'\n`,
  );
  chmodSync(join(bin, 'ubus'), 0o755);
  const tg = lab.startTunguard(['--syn-police', '50', ...(follow ? ['--wan-follow'] : [])], true, {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
  });
  await tg.ready();
  expect(police(lab).wans).toBe('"wan0"');
  lab.run(lab.ns.wan, 'ping', ['-c', '1', '-W', '1', ADDR.lan4]);

  swapWan(lab);
  writeFileSync(dumpFile, dump('wwan0'));
  const t0 = Date.now();
  // Traffic through tunguard resumes: a ping from the new uplink reaches the LAN host.
  let pinged = false;
  while (!pinged && Date.now() - t0 < 2000) {
    pinged = lab.exec(lab.ns.wan, 'ping', ['-c', '1', '-W', '1', ADDR.lan4]).code === 0;
    if (!pinged) await sleep(50);
  }
  const resumedMs = Date.now() - t0;
  // 600 SYNs at 2 000/s from the new uplink: the police (50/s) drops most of them, if it looks there.
  if (follow) await waitFor('the police on wwan0', () => police(lab!).wans === '"wwan0"', 2000);
  const before = police(lab).dropped;
  lab.exec(lab.ns.wan, 'hping3', ['-q', '-S', '-p', '8080', '-i', 'u500', '-c', '600', ADDR.lan4], 30_000);
  const dropped = police(lab).dropped - before;
  return { pinged, resumedMs, dropped, tg, alive: tg.proc.exitCode === null, after: Date.now() - t0 };
}

describe('the WAN follows netifd', () => {
  it('a new uplink under another name: traffic within 2 s, the SYN police moves to it, no restart', async () => {
    const r = await run(true);
    console.log(
      `wan swap: traffic again after ${r.resumedMs} ms; police on wwan0 dropped ${r.dropped}/600 SYNs`,
    );
    expect(r.pinged).toBe(true);
    expect(r.resumedMs).toBeLessThan(2000);
    expect(r.alive).toBe(true);
    // Read once the daemon's output has reached us (the flood ran synchronously in this process).
    const line = "wan: netifd's uplinks are now wwan0 (were wan0): the SYN police follows";
    await waitFor('the uplink log line', () => r.tg.output.includes(line), 2000);
    expect(r.tg.output.match(/steering up/g)?.length).toBe(1); // no restart
    expect(r.dropped).toBeGreaterThan(300);
  }, 60_000);

  it('the control: without --wan-follow the police never sees the new uplink', async () => {
    const r = await run(false);
    expect(r.pinged).toBe(true);
    expect(police(lab!).wans).toBe('"wan0"');
    expect(r.dropped).toBe(0);
  }, 60_000);
});
