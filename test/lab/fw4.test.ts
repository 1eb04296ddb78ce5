// OpenWrt's own firewall (fw4's ruleset for the lab router, test/fixtures/fw4/lab.nft) with and
// without tunguard: every verdict must be the kernel's. Each probe runs first on the router without
// tunguard (the negative control: the kernel's own verdict, which must also be the expected one),
// then with it, after a kill -9 (fail-open) and after a restart over the dead run's state.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab, makeTempDir, sleep, startHttpServer } from './lab.js';

let lab: Lab;

/** A probe: what one kind of traffic gets from the router, as a short word. */
interface Probe {
  row: string;
  expected: string;
  run: () => Promise<string> | string;
}

/** An HTTP fetch's outcome: the server's view of the client's address, or how it failed. */
function fetch(ns: string, url: string): string {
  const r = lab.exec(ns, 'curl', ['-sS', '--max-time', '3', url]);
  if (r.code === 0) return `ok ${r.stdout.trim()}`;
  // 7: refused (a TCP reset, here fw4's `reject with tcp reset`); 28: nothing came back (dropped).
  return r.code === 7 ? 'reset' : r.code === 28 ? 'timeout' : `curl ${r.code}`;
}

function ping(ns: string, addr: string): string {
  const r = lab.exec(ns, 'ping', ['-c', '1', '-W', '2', addr]);
  if (r.code === 0) return 'reply';
  return /Unreachable/i.test(r.stdout) ? 'unreachable' : 'no reply';
}

/**
 * Sends one TCP packet with SYN and FIN set (conntrack: INVALID) from the LAN host to the WAN host,
 * and a plain SYN after it; answers what the WAN host saw of each. fw4 drops INVALID IPv4 toward
 * the WAN ("Prevent NAT leakage"): an un-NATed packet must never leave.
 */
async function invalidLeak(): Promise<string> {
  const dump = lab.execAsync(lab.ns.wan, 'timeout', [
    '4',
    'tcpdump',
    '-lnni',
    'eth0',
    '-c',
    '4',
    'tcp port 9',
  ]);
  await sleep(700);
  lab.exec(lab.ns.lan, 'hping3', ['-q', '-c', '1', '-S', '-F', '-p', '9', ADDR.wan4]);
  await sleep(300);
  lab.exec(lab.ns.lan, 'hping3', ['-q', '-c', '1', '-S', '-p', '9', ADDR.wan4]);
  const out = (await dump).stdout;
  const synFin = /Flags \[FS\]/.test(out) ? 'SYN+FIN leaked' : 'SYN+FIN dropped';
  const syn = new RegExp(`${ADDR.rtrWan4.replaceAll('.', '\\.')}\\.\\d+ > .*Flags \\[S\\]`).test(out)
    ? 'SYN masqueraded'
    : 'SYN missing';
  return `${synFin}, ${syn}`;
}

const PROBES: Probe[] = [
  {
    row: 'LAN → WAN, IPv4 (masqueraded)',
    expected: `ok ${ADDR.rtrWan4}`,
    run: () => fetch(lab.ns.lan, `http://${ADDR.wan4}:8081/whoami`),
  },
  {
    row: 'LAN → WAN, IPv6',
    expected: `ok ${ADDR.lan6}`,
    run: () => fetch(lab.ns.lan, `http://[${ADDR.wan6}]:8081/whoami`),
  },
  {
    row: 'WAN → LAN through the port forward',
    expected: `ok ${ADDR.wan4}`,
    run: () => fetch(lab.ns.wan, `http://${ADDR.rtrWan4}:8088/whoami`),
  },
  {
    row: 'NAT reflection (LAN → router WAN address:8088)',
    expected: `ok ${ADDR.rtrLan4}`,
    run: () => fetch(lab.ns.lan, `http://${ADDR.rtrWan4}:8088/whoami`),
  },
  {
    row: 'routed IPv6 inbound, a port fw4 opens',
    expected: `ok ${ADDR.wan6}`,
    run: () => fetch(lab.ns.wan, `http://[${ADDR.lanClosed6}]:8080/whoami`),
  },
  {
    row: 'unsolicited WAN → LAN, IPv4',
    expected: 'reset',
    run: () => fetch(lab.ns.wan, `http://${ADDR.lanClosed4}:8080/whoami`),
  },
  {
    row: 'unsolicited WAN → LAN, IPv6 (a port fw4 does not open)',
    expected: 'reset',
    run: () => fetch(lab.ns.wan, `http://[${ADDR.lanClosed6}]:8081/whoami`),
  },
  {
    row: 'ICMP echo WAN → LAN host fw4 does not open',
    expected: 'unreachable',
    run: () => ping(lab.ns.wan, ADDR.lanClosed4),
  },
  {
    row: 'ICMPv6 echo WAN → LAN (fw4 Allow-ICMPv6-Forward)',
    expected: 'reply',
    run: () => ping(lab.ns.wan, ADDR.lanClosed6),
  },
  { row: 'ICMP echo LAN → WAN', expected: 'reply', run: () => ping(lab.ns.lan, ADDR.wan4) },
  {
    row: 'ct state invalid LAN → WAN (fw4 drops it)',
    expected: 'SYN+FIN dropped, SYN masqueraded',
    run: invalidLeak,
  },
];

async function verdicts(): Promise<string[]> {
  const out: string[] = [];
  for (const p of PROBES) out.push(await p.run());
  return out;
}

let kernel: string[] = [];
let withTunguard: string[] = [];
let counters: { before: Record<string, number>; after: Record<string, number> };

beforeAll(async () => {
  lab = Lab.create({ firewall: 'lab' });
  const root = makeTempDir('tunguard-fw4-');
  writeFileSync(join(root, 'f'), 'x');
  await startHttpServer(lab, lab.ns.lan, root, 8080, [ADDR.lan4, ADDR.lanClosed4, ADDR.lanClosed6]);
  // Something listens on the closed port too: only the firewall can refuse the connection there.
  await startHttpServer(lab, lab.ns.lan, root, 8081, [ADDR.lanClosed6]);
  await startHttpServer(lab, lab.ns.wan, root, 8081, [ADDR.wan4, ADDR.wan6]);
  kernel = await verdicts();
  const tg = lab.startTunguard();
  await tg.ready();
  const before = (await lab.freshStatus()).counters;
  withTunguard = await verdicts();
  counters = { before, after: (await lab.freshStatus()).counters };
  const table = PROBES.map((p, i) => `| ${p.row} | ${kernel[i]} | ${withTunguard[i]} |`).join('\n');
  console.log(`| | kernel + fw4 | tunguard + fw4 |\n|---|---|---|\n${table}`);
}, 180_000);

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

describe('fw4 verdicts with tunguard', () => {
  it.each(PROBES.map((p, i) => [p.row, i] as const))('%s: as the kernel decides', (_row, i) => {
    expect(kernel[i]).toBe(PROBES[i].expected);
    expect(withTunguard[i]).toBe(kernel[i]);
  });

  it('proxies what fw4 lets in and never answers a SYN fw4 rejects', () => {
    const d = (k: string) => counters.after[k] - counters.before[k];
    // The port forward, the reflected fetch and the opened IPv6 port: each a proxied connection.
    expect(d('synproxy_conn_established')).toBeGreaterThanOrEqual(2);
    // Every SYN tunguard saw from outside was one fw4 accepted: the rejected ones never reached it.
    expect(d('synproxy_cookie_sent')).toBe(d('synproxy_cookie_valid'));
    // The LAN's own connections were counted, not proxied.
    expect(d('synproxy_outbound_syn')).toBeGreaterThanOrEqual(2);
  });

  it('fails open: after kill -9 the verdicts are the kernel’s within 1 s', async () => {
    const tg = lab.tunguard ?? lab.startTunguard();
    process.kill(tg.pid, 'SIGKILL');
    await tg.wait();
    const t0 = Date.now();
    let first = '';
    while (Date.now() - t0 < 5000) {
      first = fetch(lab.ns.lan, `http://${ADDR.wan4}:8081/whoami`);
      if (first.startsWith('ok')) break;
    }
    const ms = Date.now() - t0;
    console.log(`fail-open: LAN → WAN answered ${ms} ms after kill -9`);
    expect(first).toBe(`ok ${ADDR.rtrWan4}`);
    expect(ms).toBeLessThan(1000);
    expect(await verdicts()).toEqual(kernel);
  }, 120_000);

  it('restarts over the dead run’s state with the same verdicts (and another tun_name)', async () => {
    const tg = lab.startTunguard(['--tun', 'tgalt0']);
    await tg.ready();
    expect(lab.tcx('tgalt0')).toEqual({ ingress: 1, egress: 1 }); // the SYN fast path for the router's own services
    expect(lab.tcx('lan0')).toEqual({ ingress: 2, egress: 3 }); // the steering, the kernel translation (both ways), and the SYN fast path
    expect(await verdicts()).toEqual(kernel);
    expect(await tg.stop()).toBe(0);
  }, 120_000);

  it('on fw4’s stock configuration (one port forward, nothing else open) too', async () => {
    lab.loadFirewall('stock');
    const stock: Probe[] = [
      PROBES[0],
      PROBES[1],
      PROBES[2],
      {
        ...PROBES[6],
        row: 'WAN → the LAN host the lab rules would open',
        run: () => fetch(lab.ns.wan, `http://${ADDR.lan4}:8080/whoami`),
      },
      { ...PROBES[9], row: 'ICMPv6 echo WAN → LAN' },
    ];
    const run = async () => {
      const out: string[] = [];
      for (const p of stock) out.push(await p.run());
      return out;
    };
    const bare = await run();
    const tg = lab.startTunguard();
    await tg.ready();
    const withTg = await run();
    expect(await tg.stop()).toBe(0);
    console.log(stock.map((p, i) => `| ${p.row} | ${bare[i]} | ${withTg[i]} |`).join('\n'));
    expect(bare).toEqual(stock.map((p) => p.expected));
    expect(withTg).toEqual(bare);
  }, 120_000);
});
