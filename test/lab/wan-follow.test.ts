// The WAN follows netifd at run time: the WAN veth is deleted and a differently named one takes its
// place mid-run; netifd's interface dump changes with it. There is no netifd or ubus here: `ubus` is
// a test double on the daemon's PATH that prints a dump file in netifd's shape
// (test/unit/uplinks.test.ts checks the parsing). Traffic through tunguard resumes within 2 s without
// a restart, and the SYN police follows the new device (its set of WAN names, and SYNs arriving on
// the new device counted by its rule). The control: without --wan-follow the police keeps the old
// name and never sees a SYN of the new uplink. The double also plays `ubus listen network.interface`
// (tail -f of an event file the test appends netifd's ifup/ifdown events to).
// More: at start the daemon takes netifd's uplink, not the configured device (control: without
// --wan-follow an absent configured WAN stops the start); and with two uplinks, a proxied connection on
// the one that stays keeps flowing when the other disappears (control: the one on the lost uplink stops).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ADDR, Lab, makeTempDir, sleep, startHttpServer, waitFor } from './lab.js';
import { dumpInterface, netifdDouble } from './netifd-double.js';

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
  lab = undefined;
});

/** netifd's dump with the uplinks `devs` (each up with a default route), and the LAN. */
function dump(...devs: string[]) {
  return {
    interface: [
      dumpInterface('lan', 'lan0'),
      ...devs.map((dev) =>
        dumpInterface(dev === 'wan0' ? 'wan' : dev === 'usb0' ? 'usb' : 'wwan', dev, [
          { target: '0.0.0.0', mask: 0, nexthop: ADDR.wan4, source: `${ADDR.rtrWan4}/32` },
        ]),
      ),
    ],
  };
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
  return {
    dropped: Number(m?.[1] ?? NaN),
    wans: (/elements = \{([^}]*)\}/.exec(set)?.[1] ?? '').replace(/\s+/g, ' ').trim(),
  };
}

/** The ubus test double (./netifd-double.ts) with the uplinks `devs`. */
function netifd(l: Lab, ...devs: string[]) {
  const double = netifdDouble(l.stateDir, dump(...devs));
  return {
    env: double.env,
    /** netifd now has these uplinks, and says so with an event. */
    set: (action: string, ...now: string[]) => double.set(dump(...now), action, 'wan'),
  };
}

/**
 * 3 fetches from the wan host of a service on the router's WAN address (started on first use):
 * how many came back whole, and how many the proxy carried (its valid third ACKs). From a second
 * address of the wan host: its first one flooded SYNs just before and is an aggressive source now.
 */
async function routerFetches(l: Lab): Promise<{ ok: number; proxied: number }> {
  const client = '198.51.100.3';
  l.run(l.ns.wan, 'ip', ['addr', 'replace', `${client}/24`, 'dev', 'eth0']);
  const root = makeTempDir('tunguard-wanfollow-www-');
  writeFileSync(join(root, 'f.bin'), Buffer.alloc(64 << 10, 7));
  await startHttpServer(l, l.ns.rtr, root, 8022, [ADDR.rtrWan4]);
  const valid = async () => (await l.freshStatus()).counters.synproxy_cookie_valid ?? 0;
  const before = await valid();
  const script = `ok=0; for i in 1 2 3; do n=$(curl -sS --fail --max-time 5 --interface ${client} http://${ADDR.rtrWan4}:8022/f.bin | wc -c); [ "$n" = ${64 << 10} ] && ok=$((ok+1)); done; echo $ok`;
  const ok = Number(l.exec(l.ns.wan, 'sh', ['-c', script], 30_000).stdout.trim());
  return { ok, proxied: (await valid()) - before };
}

async function run(follow: boolean) {
  lab = Lab.create({ firewall: 'none' });
  const n = netifd(lab, 'wan0');
  const tg = lab.startTunguard(['--syn-police', '50', ...(follow ? ['--wan-follow'] : [])], true, n.env);
  await tg.ready();
  expect(police(lab).wans).toBe('"wan0"');
  lab.run(lab.ns.wan, 'ping', ['-c', '1', '-W', '1', ADDR.lan4]);

  swapWan(lab);
  n.set('ifup', 'wwan0');
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
    // The router's protected addresses follow: wwan0 has only the IPv4 one.
    await waitFor(
      "the router's addresses on wwan0",
      () => /router addresses: .* -> 198\.51\.100\.1\/32 \(uplinks wwan0\)/.test(r.tg.output),
      4000,
    );
    // The router's own service on the new uplink is proxied: its tables and the uplink egress
    // program (which carries the router's answers to the proxy) followed.
    expect(await routerFetches(lab!)).toEqual({ ok: 3, proxied: 3 });
    // The SYN fast path's uplink program followed too: at wwan0's ingress (wan0 went with its link).
    await waitFor('the uplink program on wwan0', () => lab!.tcx('wwan0').ingress === 1, 2000);
  }, 60_000);

  it('the control: without --wan-follow the police never sees the new uplink', async () => {
    const r = await run(false);
    expect(r.pinged).toBe(true);
    expect(police(lab!).wans).toBe('"wan0"');
    expect(r.dropped).toBe(0);
    // The router's own service on the new uplink answers for itself (the control of the check above).
    expect(await routerFetches(lab!)).toEqual({ ok: 3, proxied: 0 });
    expect(lab!.tcx('wwan0').ingress).toBe(0); // nothing followed it there
  }, 60_000);

  it('starts on the uplink netifd names, not the configured device; control: without following it cannot', async () => {
    lab = Lab.create({ firewall: 'none' });
    const n = netifd(lab, 'wan0');
    const tg = lab.startTunguard(['--wan', 'tgnowan0', '--lan', 'lan0', '--wan-follow'], false, n.env);
    await tg.ready();
    expect(police(lab).wans).toBe('"wan0"');
    expect(lab.exec(lab.ns.wan, 'ping', ['-c', '1', '-W', '1', ADDR.lan4]).code).toBe(0);
    await tg.stop();
    const control = lab.startTunguard(['--wan', 'tgnowan0', '--lan', 'lan0'], false, n.env);
    expect(await control.wait()).not.toBe(0);
    expect(control.output).toMatch(/tgnowan0/);
  }, 60_000);

  it('two uplinks: a proxied connection on the one that stays keeps flowing when the other disappears', async () => {
    lab = Lab.create({ firewall: 'none' });
    const { rtr, wan, lan } = lab.ns;
    // The second uplink, usb0 (USB tethering): its own link and lab prefix into the WAN side; the WAN
    // host sends what comes from 198.18.7.2 back over it.
    lab.run(rtr, 'ip', ['link', 'add', 'usb0', 'type', 'veth', 'peer', 'name', 'tgusb', 'netns', wan]);
    lab.run(wan, 'ip', ['link', 'set', 'tgusb', 'name', 'eth1']);
    lab.run(wan, 'ip', ['link', 'set', 'eth1', 'up']);
    lab.run(rtr, 'ip', ['link', 'set', 'usb0', 'up']);
    lab.run(wan, 'ip', ['addr', 'add', '198.18.7.2/24', 'dev', 'eth1']);
    lab.run(rtr, 'ip', ['addr', 'add', '198.18.7.1/24', 'dev', 'usb0']);
    lab.run(wan, 'ip', ['route', 'add', 'default', 'via', '198.18.7.1', 'dev', 'eth1', 'table', '7']);
    lab.run(wan, 'ip', ['rule', 'add', 'from', '198.18.7.2', 'table', '7']);
    const n = netifd(lab, 'usb0', 'wan0');
    const tg = lab.startTunguard(['--wan-follow'], true, n.env);
    await tg.ready();
    expect(police(lab).wans).toBe('"usb0", "wan0"');
    // The router's own addresses on both uplinks are protected from the start.
    expect(tg.output).toContain(
      "the router's own services proxied (198.18.7.1/32, 198.51.100.1/32, 2001:db8:1::1/128)",
    );
    const echo = lab.spawn(lan, process.execPath, [
      '-e',
      `require('net').createServer((s) => s.pipe(s)).listen(9009, '${ADDR.lan4}', () => console.log('listening'))`,
    ]);
    let echoOut = '';
    echo.stdout?.on('data', (d: Buffer) => {
      echoOut += d.toString();
    });
    await waitFor('the echo server', () => echoOut.includes('listening'));
    const established0 = (await lab.freshStatus()).counters.synproxy_conn_established ?? 0;
    // A line every 100 ms for 6 s; each echo is printed with its time (ms since the client's start).
    const client = (from: string) => {
      const p = lab!.spawn(wan, process.execPath, [
        '-e',
        `const t0 = Date.now(); let n = 0;
         const s = require('net').connect({ host: '${ADDR.lan4}', port: 9009, localAddress: '${from}' });
         s.on('data', (d) => { for (const l of d.toString().split('\\n').filter(Boolean)) console.log('echo', l, Date.now() - t0); });
         s.on('error', (e) => console.log('error', e.code));
         const t = setInterval(() => s.write('tick' + n++ + '\\n'), 100);
         setTimeout(() => { clearInterval(t); console.log('end', Date.now() - t0); process.exit(0); }, 6000);`,
      ]);
      let out = '';
      p.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const done = new Promise<void>((r) => p.once('exit', () => r()));
      return { done, out: () => out, t0: Date.now() };
    };
    const stays = client(ADDR.wan4); // over wan0
    const goes = client('198.18.7.2'); // over usb0
    await sleep(2000);
    // usb0 is unplugged: its link goes, netifd's dump loses it and it says so.
    const cut = Date.now();
    lab.run(rtr, 'ip', ['link', 'del', 'usb0']);
    n.set('ifdown', 'wan0');
    await waitFor('the police without usb0', () => police(lab!).wans === '"wan0"', 2000);
    await Promise.all([stays.done, goes.done]);
    const echoes = (c: ReturnType<typeof client>) =>
      [...c.out().matchAll(/^echo tick\d+ (\d+)$/gm)].map((m) => c.t0 + Number(m[1]));
    const kept = echoes(stays);
    const lost = echoes(goes);
    console.log(
      `two uplinks: on wan0 ${kept.filter((t) => t > cut).length} echoes after usb0 went, on usb0 ${lost.filter((t) => t > cut + 500).length}`,
    );
    // The connection on wan0 went on: echoes until its end, never a pause of a second.
    expect(kept.filter((t) => t > cut).length).toBeGreaterThanOrEqual(30); // ~4 s at 10 a second
    expect(kept.filter((t) => t > cut + 3000).length).toBeGreaterThanOrEqual(5);
    const gaps = kept.slice(1).map((t, i) => t - kept[i]);
    expect(Math.max(...gaps)).toBeLessThan(1000);
    expect(stays.out()).not.toMatch(/^error/m);
    // The control: the one on usb0 did flow, then stopped with its uplink.
    expect(lost.filter((t) => t < cut).length).toBeGreaterThan(5);
    expect(lost.filter((t) => t > cut + 500)).toEqual([]);
    // Both went through the SYN proxy; the daemon never restarted.
    const established = (await lab.freshStatus()).counters.synproxy_conn_established ?? 0;
    expect(established - established0).toBeGreaterThanOrEqual(2);
    expect(tg.output.match(/steering up/g)?.length).toBe(1);
    expect(tg.output).toContain("wan: netifd's uplinks are now wan0 (were usb0, wan0)");
    // …and usb0's is no longer protected once it has gone (its address events come at once, so this
    // may be before netifd's event has taken usb0 off the uplinks).
    await waitFor(
      "the router's addresses without usb0's",
      () => /-> 198\.51\.100\.1\/32, 2001:db8:1::1\/128 \(uplinks (usb0, )?wan0\)/.test(tg.output),
      4000,
    );
  }, 60_000);

  it("the API keeps off the uplinks as they change: a listener on a new uplink's address is closed", async () => {
    lab = Lab.create({ firewall: 'none' });
    const { rtr } = lab.ns;
    // The admin listens on 198.18.7.1 too, an address of usb0, which is no uplink at start.
    lab.run(rtr, 'ip', ['link', 'add', 'usb0', 'type', 'veth', 'peer', 'name', 'tgusb', 'netns', lab.ns.wan]);
    lab.run(rtr, 'ip', ['addr', 'add', '198.18.7.1/24', 'dev', 'usb0']);
    lab.run(rtr, 'ip', ['link', 'set', 'usb0', 'up']);
    const conf = join(lab.stateDir, 'tunguard.conf');
    writeFileSync(
      conf,
      lab
        .config()
        .replace(
          "\tlist listen '127.0.0.1:7447'",
          "\tlist listen '127.0.0.1:7447'\n\tlist listen '198.18.7.1:7447'",
        ),
    );
    const n = netifd(lab, 'wan0');
    const tg = lab.startTunguard(['--config', conf, '--wan-follow'], false, n.env);
    await tg.ready();
    const token = readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
    const answers = (host: string) =>
      lab!.exec(rtr, 'curl', [
        '-sS',
        '-m',
        '2',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-k', // a LAN listener is HTTPS with the daemon's own certificate (test/lab/api.test.ts pins it)
        '-H',
        `Authorization: Bearer ${token}`,
        `${host === '127.0.0.1' ? 'http' : 'https'}://${host}:7447/api/v1/status`,
      ]).stdout;
    await waitFor('the API on 198.18.7.1', () => answers('198.18.7.1') === '200', 5000);
    // usb0 becomes an uplink (USB tethering plugged in): that listener closes, the loopback one stays.
    n.set('ifup', 'usb0', 'wan0');
    const warning = 'api: WARNING: 198.18.7.1:7447 is now an address of an uplink (usb0, wan0): closing it';
    await waitFor('the warning', () => tg.output.includes(warning), 3000);
    await waitFor('the listener closed', () => answers('198.18.7.1') !== '200', 3000);
    expect(answers('127.0.0.1')).toBe('200');
    // A reload with that listen address is refused, naming the uplink.
    tg.proc.kill('SIGHUP');
    await waitFor(
      'the refused reload',
      () => /198\.18\.7\.1:7447 is an address of the WAN device usb0/.test(tg.output),
      5000,
    );
    expect(answers('198.18.7.1')).not.toBe('200');
  }, 60_000);
});
