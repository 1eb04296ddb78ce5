// The LAN follows netifd at run time: a network reload deletes br-lan and makes it again (a new
// ifindex: the steering programs attached to the old device went with it), or a device is renamed.
// There is no netifd or ubus here: `ubus` is a test double (./netifd-double.ts) printing a dump file in
// netifd's shape and an event file's lines. The lab's LAN device lan0 (a veth) is deleted and made
// again mid-run: with --lan-follow, LAN traffic crosses tunguard again within 2 s without a restart
// (the TUN's transmit counter rises with each ping, and a WAN→LAN connection is proxied). The control:
// without following, the same traffic flows (the kernel's path: fail-open) but never crosses the TUN.
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ADDR, Lab, sleep, startHttpServer, waitFor } from './lab.js';
import { parseLog } from './logfmt.js';
import { dumpInterface, netifdDouble } from './netifd-double.js';

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
  lab = undefined;
});

/** netifd's dump: the LAN interface on `lanDev`, the WAN on wan0 with the default route. */
const dump = (lanDev: string) => ({
  interface: [
    dumpInterface('lan', lanDev),
    dumpInterface('wan', 'wan0', [{ target: '0.0.0.0', mask: 0, nexthop: ADDR.wan4 }]),
  ],
});

/** Packets the kernel has handed the TUN (what the steering programs redirect to it). */
function tunPackets(l: Lab): number {
  return Number(l.run(l.ns.rtr, 'cat', ['/sys/class/net/tg0/statistics/tx_packets']));
}

/** Deletes lan0 (its peer in the LAN host goes with it) and makes the link again, as a reload does. */
function recreateLan(l: Lab): void {
  const { rtr, lan } = l.ns;
  l.run(rtr, 'ip', ['link', 'del', 'lan0']);
  l.run(rtr, 'ip', ['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'tglanB', 'netns', lan]);
  l.run(lan, 'ip', ['link', 'set', 'tglanB', 'name', 'eth0']);
  for (const [ns, dev] of [
    [lan, 'eth0'],
    [rtr, 'lan0'],
  ])
    l.run(ns, 'ip', ['link', 'set', dev, 'up']);
  l.run(rtr, 'ip', ['addr', 'add', `${ADDR.rtrLan4}/24`, 'dev', 'lan0']);
  l.run(rtr, 'ip', ['-6', 'addr', 'add', `${ADDR.rtrLan6}/64`, 'dev', 'lan0', 'nodad']);
  // A prefix the start LAN did not have: the daemon says it is not protected until a restart.
  l.run(rtr, 'ip', ['addr', 'add', '198.18.9.1/24', 'dev', 'lan0']);
  l.run(lan, 'ip', ['addr', 'add', `${ADDR.lan4}/24`, 'dev', 'eth0']);
  l.run(lan, 'ip', ['-6', 'addr', 'add', `${ADDR.lan6}/64`, 'dev', 'eth0', 'nodad']);
  l.run(lan, 'ip', ['route', 'add', 'default', 'via', ADDR.rtrLan4]);
  l.run(lan, 'ip', ['-6', 'route', 'add', 'default', 'via', ADDR.rtrLan6]);
}

/** One ping WAN → LAN host: whether it was answered, and whether the TUN carried it. */
function ping(l: Lab): { answered: boolean; viaTun: boolean } {
  const before = tunPackets(l);
  const answered = l.exec(l.ns.wan, 'ping', ['-c', '1', '-W', '1', ADDR.lan4]).code === 0;
  const crossed = tunPackets(l) - before;
  if (crossed > 0) seenDeltas.push(crossed);
  // Steered, the request crosses the TUN at the LAN's egress and the reply at its ingress: two
  // packets. One alone is something else the router sent the proxy (a neighbour solicitation).
  return { answered, viaTun: crossed >= 2 };
}
/** What each ping that moved the TUN's counter moved it by (printed by the control). */
const seenDeltas: number[] = [];

/** WAN → LAN connections the SYN proxy completed. */
async function proxied(l: Lab): Promise<number> {
  return (await l.freshStatus()).counters.synproxy_conn_established ?? 0;
}

function curl(l: Lab): boolean {
  return (
    l.exec(l.ns.wan, 'curl', ['-s', '-o', '/dev/null', '--max-time', '3', `http://${ADDR.lan4}:8080/whoami`])
      .code === 0
  );
}

/** Starts tunguard (following the LAN or not), re-creates lan0, and says how LAN traffic came back. */
async function run(follow: boolean) {
  lab = Lab.create({ firewall: 'none' });
  const n = netifdDouble(lab.stateDir, dump('lan0'));
  await startHttpServer(lab, lab.ns.lan, lab.stateDir, 8080, ['0.0.0.0']);
  const tg = lab.startTunguard(follow ? ['--lan-follow'] : [], true, n.env);
  await tg.ready();
  // Before: the LAN's traffic crosses the TUN.
  expect(ping(lab)).toEqual({ answered: true, viaTun: true });
  const ifindex0 = lab.run(lab.ns.rtr, 'cat', ['/sys/class/net/lan0/ifindex']).trim();
  const links0 = bpfLinks(tg.pid);

  seenDeltas.length = 0; // from here on: what the re-created LAN's pings moved
  recreateLan(lab);
  n.set(dump('lan0'), 'ifup', 'lan');
  const t0 = Date.now();
  expect(lab.run(lab.ns.rtr, 'cat', ['/sys/class/net/lan0/ifindex']).trim()).not.toBe(ifindex0);
  // Pings until one crosses the TUN (or 3 s): the first answered one and the first through tunguard.
  let answeredMs: number | undefined;
  let viaTunMs: number | undefined;
  while (viaTunMs === undefined && Date.now() - t0 < 3000) {
    const p = ping(lab);
    if (p.answered) answeredMs ??= Date.now() - t0;
    if (p.answered && p.viaTun) viaTunMs = Date.now() - t0;
    else await sleep(50);
  }
  const established0 = await proxied(lab);
  const connected = curl(lab);
  const established = (await proxied(lab)) - established0;
  return {
    tg,
    netifd: n,
    answeredMs,
    viaTunMs,
    connected,
    established,
    alive: tg.proc.exitCode === null,
    links: [links0, bpfLinks(tg.pid)],
  };
}

/** BPF links the process holds open (a link on a deleted device stays until its fd is closed). */
function bpfLinks(pid: number): number {
  const dir = `/proc/${pid}/fd`;
  return readdirSync(dir).filter((fd) => {
    try {
      return readlinkSync(join(dir, fd)) === 'anon_inode:bpf_link';
    } catch {
      return false;
    }
  }).length;
}

describe('the LAN follows netifd', () => {
  it('lan0 deleted and made again: LAN traffic crosses tunguard again within 2 s, no restart', async () => {
    const r = await run(true);
    console.log(
      `lan re-created: answered after ${r.answeredMs} ms, through tunguard after ${r.viaTunMs} ms; ${r.established} proxied`,
    );
    expect(r.viaTunMs).toBeDefined();
    expect(r.viaTunMs).toBeLessThan(2000);
    expect(r.connected).toBe(true);
    expect(r.established).toBeGreaterThanOrEqual(1);
    expect(r.alive).toBe(true);
    // The links on the deleted device were closed, not kept: as many as before (none leak per
    // re-creation).
    expect(r.links[0]).toBeGreaterThan(0);
    expect(r.links[1]).toBe(r.links[0]);
    const out = r.tg.output;
    expect(out.match(/steering up/g)?.length).toBe(1); // no restart
    expect(out).toMatch(
      /event=lan msg="lan: netifd's LAN is now lan0#\d+ \(was lan0#\d+\): steering attached again" devices=lan0/,
    );

    // A rename (the ifindex stays, the name changes): netifd names lan1, and it is steered as lan1.
    const l = lab!;
    l.run(l.ns.rtr, 'ip', ['link', 'set', 'lan0', 'name', 'lan1']);
    r.netifd.set(dump('lan1'), 'update', 'lan');
    await waitFor('the rename seen', () => /LAN is now lan1#/.test(r.tg.output), 3000);
    expect(ping(l)).toEqual({ answered: true, viaTun: true });
    expect(r.tg.output.match(/steering up/g)?.length).toBe(1);
    // The LAN's lines are stable logfmt like the rest (./log-lines.test.ts); the new prefix is named.
    const lanLines = parseLog(r.tg.output).filter((x) => x.event === 'lan');
    expect(lanLines.filter((x) => x.devices).map((x) => x.devices)).toEqual(['lan0', 'lan1']);
    expect(lanLines.filter((x) => x.unprotected).map((x) => x.unprotected)).toEqual([
      '198.18.9.0/24',
      '198.18.9.0/24',
    ]);
  }, 60_000);

  it('the control: without --lan-follow the LAN traffic flows on the kernel path, never through tunguard', async () => {
    const r = await run(false);
    console.log(
      `lan re-created, not followed: answered after ${r.answeredMs} ms, through tunguard: ${r.viaTunMs}; TUN moves ${seenDeltas.join(',')}`,
    );
    expect(r.answeredMs).toBeLessThan(2000); // fail-open: the kernel forwards it
    expect(r.viaTunMs).toBeUndefined();
    expect(r.connected).toBe(true);
    expect(r.established).toBe(0);
    expect(r.tg.output).not.toMatch(/LAN is now/);
  }, 60_000);

  it('starts on the LAN netifd names, not the configured device; control: without following it cannot', async () => {
    lab = Lab.create({ firewall: 'none' });
    const n = netifdDouble(lab.stateDir, dump('lan0'));
    const tg = lab.startTunguard(['--wan', 'wan0', '--lan', 'tgnolan0', '--lan-follow'], false, n.env);
    await tg.ready();
    expect(tg.output).toMatch(/steering up: lan0 <-> tg0/);
    expect(ping(lab)).toEqual({ answered: true, viaTun: true });
    await tg.stop();
    const control = lab.startTunguard(['--wan', 'wan0', '--lan', 'tgnolan0'], false, n.env);
    expect(await control.wait()).not.toBe(0);
    expect(control.output).toMatch(/tgnolan0/);
  }, 60_000);
});
