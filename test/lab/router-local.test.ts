// The router's own services behind the SYN proxy (src/netcfg/router-local.ts): a TCP service on the
// router's WAN address that fw4 opens is reached through the proxy (cookies, translated segments),
// one fw4 keeps closed stays closed, pings to the router meet the ICMP limit, and a kill -9 gives
// the service back to the kernel. Each check has its control: --no-protect-router, where the
// kernel answers on its own and the proxy sees nothing. A SYN flood at the router's address is
// answered by the kernel fast path (its first SYNs at the TUN's egress, the rest at wan0's ingress)
// while a real client fetches through the proxy; the control: with --fast-path off the proxy answers it through the TUN.
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OFFLOAD_GUARD_PREF } from '../../src/netcfg/offload-guard-mark.js';
import { steeringQueue } from '../../src/tun/steering-bpf.js';
import { ADDR, Lab, makeTempDir, sleep, startHttpServer, waitFor } from './lab.js';

let lab: Lab;
const root = makeTempDir('tunguard-local-www-');
const BODY = Buffer.alloc(192 << 10);
for (let i = 0; i < BODY.length; i++) BODY[i] = (i * 2654435761) >>> 24;
const SHA = createHash('sha256').update(BODY).digest('hex');
/** Long enough at 5 MB/s that a restart lands in the middle of it. */
const LONG = randomBytes(32 << 20);
const LONG_SHA = createHash('sha256').update(LONG).digest('hex');
/** Open on the WAN by a user's rule (as "Allow-SSH-WAN" would); CLOSED has a listener fw4 rejects. */
const OPEN = 8022;
const CLOSED = 8023;
const FAST_FLOOD = join(import.meta.dirname, 'synflood_fast.py');

beforeAll(async () => {
  lab = Lab.create();
  writeFileSync(join(root, 'big.bin'), BODY);
  writeFileSync(join(root, 'long.bin'), LONG);
  lab.run(lab.ns.rtr, 'nft', [
    'insert',
    'rule',
    'inet',
    'fw4',
    'input_wan',
    'tcp',
    'dport',
    String(OPEN),
    'accept',
  ]);
  await startHttpServer(lab, lab.ns.rtr, root, OPEN, [ADDR.rtrWan4, ADDR.rtrWan6]);
  await startHttpServer(lab, lab.ns.rtr, root, CLOSED, [ADDR.rtrWan4]);
  // SYN-ACKs to the flood's spoofed benchmark-range sources go back to the wan namespace (and die there).
  lab.run(lab.ns.rtr, 'ip', ['route', 'add', '198.18.0.0/15', 'via', ADDR.wan4]);
  lab.run(lab.ns.rtr, 'ip', ['-6', 'route', 'add', '2001:db8:100::/40', 'via', ADDR.wan6]);
});

afterEach(async () => {
  await lab?.tunguard?.stop();
});

afterAll(() => {
  lab?.destroy();
});

async function start(extra: string[] = [], conf = ''): Promise<void> {
  const file = join(lab.stateDir, `tunguard-${Date.now()}.conf`);
  writeFileSync(file, lab.config(conf));
  await lab.startTunguard(['--config', file, ...extra], false).ready();
}

/** n sequential fetches from the WAN host; how many came back whole. */
function fetches(n: number, url: string, timeout = 5): number {
  const script = `ok=0; for i in $(seq ${n}); do s=$(curl -sS -g --fail --max-time ${timeout} '${url}' | sha256sum | cut -d' ' -f1); [ "$s" = "${SHA}" ] && ok=$((ok+1)); done; echo $ok`;
  return Number(lab.exec(lab.ns.wan, 'sh', ['-c', script], (n * timeout + 10) * 1000).stdout.trim());
}

/** A bounded flood (sendmmsg, random sources of 198.18.0.0/15) in the background. */
function flood(dst: string, port: number, rate: number, seconds: number) {
  return lab.execAsync(
    lab.ns.wan,
    'python3',
    [FAST_FLOOD, '--dst', dst, '--port', String(port), '--rate', String(rate), '--seconds', String(seconds)],
    (seconds + 20) * 1000,
  );
}

/** fw4's own SYN limit (25/s, synflood_protect) off, as a router that lets tunguard answer floods sets it. */
function fw4SynLimit(on: boolean): void {
  lab.run(lab.ns.rtr, 'nft', ['flush', 'chain', 'inet', 'fw4', 'syn_flood']);
  const rules = on
    ? [['limit', 'rate', '25/second', 'burst', '50', 'packets', 'return'], ['drop']]
    : [['return']];
  for (const r of rules) lab.run(lab.ns.rtr, 'nft', ['add', 'rule', 'inet', 'fw4', 'syn_flood', ...r]);
}

/**
 * The kernel's own rules, in every namespace: anything else makes each route lookup walk the list.
 * The IPv6 offload guard's fallback rule (src/netcfg/offload-guard-mark.ts, its own test) is not router-local's.
 */
const ALLOWED_RULE = new RegExp(
  `^((0|32766|32767):\\s+from all lookup (local|main|default)|${OFFLOAD_GUARD_PREF}:\\s+from all fwmark 0x40000000/0x40000000 blackhole)\\s*$`,
);

/** The router's policy rules beyond the kernel's own, and the routes of the table an older version used. */
function policyRouting(): { rules: string[]; table4746: string[] } {
  const lines = (fam: string, out: string) =>
    out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => `${fam} ${l.trim()}`);
  const rules: string[] = [];
  const table4746: string[] = [];
  for (const fam of ['-4', '-6']) {
    const all = lab.run(lab.ns.rtr, 'ip', [fam, 'rule']);
    rules.push(...lines(fam, all).filter((l) => !ALLOWED_RULE.test(l.slice(3))));
    // A table without routes does not exist: `ip route show` says so on stderr.
    table4746.push(...lines(fam, lab.exec(lab.ns.rtr, 'ip', [fam, 'route', 'show', 'table', '4746']).stdout));
  }
  return { rules, table4746 };
}

async function counters(): Promise<Record<string, number>> {
  return (await lab.freshStatus()).counters;
}

describe("the router's own services", () => {
  it('a service fw4 opens on the WAN address is reached through the proxy (IPv4 and IPv6); the control is not', async () => {
    const seen: Record<string, { ok4: number; ok6: number; cookies: number; valid: number }> = {};
    let routing: ReturnType<typeof policyRouting> | undefined;
    for (const mode of ['on', 'off'] as const) {
      await start(mode === 'on' ? [] : ['--no-protect-router']);
      if (mode === 'on') expect(lab.tunguard?.output).toMatch(/the router's own services proxied/);
      else expect(lab.tunguard?.output).not.toMatch(/router's own services/);
      const ok4 = fetches(5, `http://${ADDR.rtrWan4}:${OPEN}/big.bin`);
      const ok6 = fetches(3, `http://[${ADDR.rtrWan6}]:${OPEN}/big.bin`);
      if (mode === 'on') routing = policyRouting();
      const c = await counters();
      seen[mode] = {
        ok4,
        ok6,
        cookies: c.synproxy_cookie_sent ?? 0,
        valid: c.synproxy_cookie_valid ?? 0,
      };
      await lab.tunguard?.stop();
    }
    console.log(`router's own service: ${JSON.stringify(seen)}; policy routing: ${JSON.stringify(routing)}`);
    // The router's answers reach the proxy without a policy rule: any rule makes every route lookup
    // of the router (each forwarded packet, each fast-path fib lookup) walk the rule list.
    expect(routing).toEqual({ rules: [], table4746: [] });
    expect(seen.on.ok4).toBe(5);
    expect(seen.on.ok6).toBe(3);
    // Every connection's handshake was the proxy's: a cookie answered, a valid third ACK.
    expect(seen.on.valid).toBeGreaterThanOrEqual(8);
    // The control: the same fetches work, and the proxy never saw them.
    expect(seen.off.ok4).toBe(5);
    expect(seen.off.ok6).toBe(3);
    expect(seen.off.cookies).toBe(0);
    expect(seen.off.valid).toBe(0);
  }, 90_000);

  for (const fam of [4, 6] as const) {
    const dst = fam === 4 ? ADDR.rtrWan4 : ADDR.rtrWan6;
    const url = `http://${fam === 4 ? dst : `[${dst}]`}:${OPEN}/big.bin`;
    // IPv4 the full length; IPv6 shorter (the same path, the other family's parsing and route).
    const n = fam === 4 ? 20 : 5;
    const seconds = fam === 4 ? 8 : 5;
    it(`IPv${fam}: a SYN flood at the router's address is answered in the kernel while ${n}/${n} fetches pass the proxy whole; off: the proxy answers it`, async () => {
      fw4SynLimit(false);
      const results: Record<string, Record<string, number>> = {};
      try {
        for (const mode of ['auto', 'off'] as const) {
          // A low SYN police rate: SYNs the fast path answers for the router skip it in the fast tiers.
          await start(['--fast-path', mode, '--syn-police', mode === 'auto' ? '5000' : '0']);
          if (mode === 'auto')
            expect(lab.tunguard?.output).toMatch(/SYN fast path in the kernel \(the router's own/);
          else expect(lab.tunguard?.output).not.toMatch(/SYN fast path/);
          const f = flood(dst, OPEN, 20_000, seconds);
          await sleep(1500);
          const ok = fetches(n, url, 10);
          const sent = JSON.parse((await f).stdout).sent as number;
          const c = await counters();
          results[mode] = {
            ok,
            sent,
            fast: c.fast_syn_answered ?? 0,
            uplink: c.fast_syn_answered_uplink ?? 0,
            proxy: c.synproxy_cookie_sent ?? 0,
            valid: c.synproxy_cookie_valid ?? 0,
            tier: c.gauge_tier ?? 0,
          };
          await lab.tunguard?.stop();
        }
      } finally {
        fw4SynLimit(true);
      }
      console.log(`IPv${fam} flood at the router's address: ${JSON.stringify(results)}`);
      const on = results.auto;
      const off = results.off;
      expect(on.ok).toBe(n);
      // The kernel answers almost all of it (the proxy only the normal tier's SYNs before the first
      // tick saw the flood; the SYN police's 5 000/s did not hold it back), and the fetches' third
      // ACKs still reach the proxy, which checks them.
      expect(on.fast).toBeGreaterThan(0.8 * on.sent);
      // Most of it at wan0's ingress, before routing and the copy into the TUN, once the TUN's hook
      // has answered the pair's first SYN (fw4's input chain accepted it).
      expect(on.uplink).toBeGreaterThan(0.7 * on.sent);
      expect(on.proxy).toBeLessThan(0.2 * on.sent);
      expect(on.valid).toBeGreaterThanOrEqual(n);
      // The control: the proxy answers it through the TUN, the kernel none.
      expect(off.fast).toBe(0);
      expect(off.proxy).toBeGreaterThan(0.5 * off.sent);
    }, 120_000);
  }

  it('an address the uplink gets at run time is proxied (the fast path answers a flood at it) and no longer once gone; control: --no-router-follow', async () => {
    const NEW4 = '198.51.100.7';
    const NEW6 = '2001:db8:1::7';
    const { rtr, wan } = lab.ns;
    // Parked on the router's lo (not an uplink): the router holds them, the kernel answers for them
    // unproxied. The wan host routes them to the router whichever device holds them.
    const park = (dev: string) => {
      lab.run(rtr, 'ip', ['addr', 'add', `${NEW4}/32`, 'dev', dev]);
      lab.run(rtr, 'ip', ['-6', 'addr', 'add', `${NEW6}/128`, 'dev', dev, 'nodad']);
    };
    const unpark = (dev: string) => {
      lab.run(rtr, 'ip', ['addr', 'del', `${NEW4}/32`, 'dev', dev]);
      lab.run(rtr, 'ip', ['-6', 'addr', 'del', `${NEW6}/128`, 'dev', dev]);
    };
    const key = (a: string) => a.split('.').reduce((k, b) => ((k << 8) | Number(b)) >>> 0, 0);
    expect(steeringQueue(key(NEW4), 2), 'the new address hashes to the other queue').not.toBe(
      steeringQueue(key(ADDR.wan4), 2),
    );
    park('lo');
    lab.run(wan, 'ip', ['route', 'add', `${NEW4}/32`, 'via', ADDR.rtrWan4]);
    lab.run(wan, 'ip', ['-6', 'route', 'add', `${NEW6}/128`, 'via', ADDR.rtrWan6]);
    await startHttpServer(lab, rtr, root, OPEN, [NEW4, NEW6]);
    /** One fetch per family (3 for IPv4): how many came back whole, and the proxy's valid third ACKs. */
    const probe = async () => {
      const before = (await counters()).synproxy_cookie_valid ?? 0;
      const ok =
        fetches(3, `http://${NEW4}:${OPEN}/big.bin`) + fetches(1, `http://[${NEW6}]:${OPEN}/big.bin`);
      return { ok, proxied: ((await counters()).synproxy_cookie_valid ?? 0) - before };
    };
    const seen: Record<string, Record<string, number>> = {};
    fw4SynLimit(false);
    try {
      for (const mode of ['follow', 'control'] as const) {
        // Two queues: the router's answers from 198.51.100.7 go to the client's worker only once the
        // queue selector knows the address (unselected, they would hash to the other queue).
        await start([
          '--syn-police',
          '5000',
          '--queues',
          '2',
          ...(mode === 'control' ? ['--no-router-follow'] : []),
        ]);
        const parked = await probe();
        // A transfer from the address that stays, slow enough to span the adding and the removal.
        const long = lab.execAsync(wan, 'sh', [
          '-c',
          `curl -sS --fail --limit-rate 1500K --max-time 60 http://${ADDR.rtrWan4}:${OPEN}/long.bin | sha256sum`,
        ]);
        let longDone = false;
        void long.then(() => {
          longDone = true;
        });
        unpark('lo');
        park('wan0');
        if (mode === 'follow')
          await waitFor('the new addresses followed', () =>
            /router addresses: .* -> 198\.51\.100\.1\/32, 198\.51\.100\.7\/32, 2001:db8:1::1\/128, 2001:db8:1::7\/128/.test(
              lab.tunguard?.output ?? '',
            ),
          );
        else await sleep(2500);
        const added = await probe();
        // A 3 s flood at the new address: the kernel fast path answers it once the tier rises.
        const c0 = await counters();
        const sent = JSON.parse((await flood(NEW4, OPEN, 20_000, 3)).stdout).sent as number;
        const c1 = await counters();
        unpark('wan0');
        park('lo');
        if (mode === 'follow')
          await waitFor(
            'the removed addresses let go',
            () =>
              /router addresses: .*2001:db8:1::7\/128 -> 198\.51\.100\.1\/32, 2001:db8:1::1\/128 /.test(
                lab.tunguard?.output ?? '',
              ),
            6000,
          );
        else await sleep(3500);
        const spanned = !longDone;
        const removed = await probe();
        const longSha = (await long).stdout.split(' ')[0];
        seen[mode] = {
          parkedOk: parked.ok,
          parkedProxied: parked.proxied,
          addedOk: added.ok,
          addedProxied: added.proxied,
          sent,
          fast: (c1.fast_syn_answered ?? 0) - (c0.fast_syn_answered ?? 0),
          removedOk: removed.ok,
          removedProxied: removed.proxied,
          longSpanned: Number(spanned),
          longWhole: Number(longSha === LONG_SHA),
        };
        await lab.tunguard?.stop();
      }
    } finally {
      fw4SynLimit(true);
      unpark('lo');
      lab.run(wan, 'ip', ['route', 'del', `${NEW4}/32`]);
      lab.run(wan, 'ip', ['-6', 'route', 'del', `${NEW6}/128`]);
    }
    console.log(`router address added and removed at run time: ${JSON.stringify(seen)}`);
    const f = seen.follow;
    const c = seen.control;
    // Reachable in every phase; proxied only while on the uplink, and only when followed.
    for (const m of [f, c]) {
      expect(m.parkedOk).toBe(4);
      expect(m.addedOk).toBe(4);
      expect(m.removedOk).toBe(4);
      expect(m.parkedProxied).toBe(0);
      expect(m.removedProxied).toBe(0);
      // The connection to the address that stayed was not disturbed by the changes around it.
      expect(m.longSpanned).toBe(1);
      expect(m.longWhole).toBe(1);
    }
    expect(f.addedProxied).toBeGreaterThanOrEqual(4);
    expect(f.fast).toBeGreaterThan(0.5 * f.sent);
    // The control: the new address stays the kernel's, the flood at it unanswered by the fast path.
    expect(c.addedProxied).toBe(0);
    expect(c.fast).toBe(0);
  }, 120_000);

  it('a port fw4 keeps closed stays closed: never answered by the proxy', async () => {
    await start();
    const before = (await counters()).synproxy_cookie_sent ?? 0;
    const r = lab.exec(lab.ns.wan, 'curl', [
      '-sS',
      '--max-time',
      '3',
      `http://${ADDR.rtrWan4}:${CLOSED}/big.bin`,
    ]);
    const after = (await counters()).synproxy_cookie_sent ?? 0;
    expect(r.code).not.toBe(0);
    expect(after - before).toBe(0);
    // The open port next to it, in the same run, is answered (the check above can fail).
    expect(fetches(1, `http://${ADDR.rtrWan4}:${OPEN}/big.bin`)).toBe(1);
    expect((await counters()).synproxy_cookie_sent ?? 0).toBeGreaterThan(after);
  }, 60_000);

  it('pings to the router meet the ICMP limit; without the protection they do not', async () => {
    const conf =
      "config ratelimit 'icmp'\n\toption rate '100'\n\toption burst '20'\n\toption per_source_rate '0'\n";
    const drops: Record<string, number> = {};
    for (const mode of ['on', 'off'] as const) {
      await start(mode === 'on' ? [] : ['--no-protect-router'], conf);
      lab.exec(lab.ns.wan, 'hping3', ['-q', '--icmp', '-i', 'u1000', '-c', '3000', ADDR.rtrWan4], 30_000);
      drops[mode] = (await counters()).drop_icmp_rate_global ?? 0;
      await lab.tunguard?.stop();
    }
    console.log(`pings to the router dropped by the ICMP limit: ${JSON.stringify(drops)}`);
    expect(drops.on).toBeGreaterThan(1000);
    expect(drops.off).toBe(0);
  }, 90_000);

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`a transfer from the router's service keeps going across a daemon restart (${signal})`, async () => {
      await start();
      const dl = lab.execAsync(lab.ns.wan, 'sh', [
        '-c',
        // A slow reader: the transfer is still running when the daemon restarts.
        `curl -sS --fail --limit-rate 5M --max-time 40 http://${ADDR.rtrWan4}:${OPEN}/long.bin | sha256sum`,
      ]);
      let done = false;
      void dl.then(() => {
        done = true;
      });
      await sleep(1500); // established, and written to the connection store (1 s)
      if (done) console.log(`finished before the restart: ${JSON.stringify(await dl)}`);
      expect(done).toBe(false);
      const old = lab.tunguard!;
      process.kill(old.pid, signal);
      await old.wait();
      await start();
      expect(lab.tunguard?.output).toMatch(/restored [1-9]\d* proxied connection/);
      const r = await dl;
      expect(r.stdout.split(' ')[0]).toBe(LONG_SHA);
      expect(r.code).toBe(0);
    }, 60_000);
  }

  it('kill -9 gives the service back to the kernel within a second', async () => {
    await start();
    expect(fetches(1, `http://${ADDR.rtrWan4}:${OPEN}/big.bin`)).toBe(1);
    lab.tunguard?.proc.kill('SIGKILL');
    await lab.tunguard?.wait();
    await sleep(1000);
    const tables = lab.run(lab.ns.rtr, 'nft', ['list', 'tables']);
    expect(tables).not.toMatch(/ip tunguard/);
    expect(fetches(3, `http://${ADDR.rtrWan4}:${OPEN}/big.bin`)).toBe(3);
  }, 60_000);

  it('over an uplink without an Ethernet header (a TUN carried over UDP, as WireGuard): proxied fetches come back whole; control: --no-protect-router', async () => {
    const { rtr, wan } = lab.ns;
    const UP = 'up0';
    const RTR4 = '198.19.255.1';
    const RTR6 = '2001:db8:ff::1';
    const relays: ChildProcess[] = [];
    const fw4Handles: string[] = [];
    /** Inserts an fw4 rule and keeps its handle, to take it out afterwards. */
    const fw4Rule = (chain: string, rule: string[]) => {
      const out = lab.run(rtr, 'nft', [
        '--echo',
        '--handle',
        'insert',
        'rule',
        'inet',
        'fw4',
        chain,
        ...rule,
      ]);
      fw4Handles.push(`${chain} ${/# handle (\d+)/.exec(out)?.[1]}`);
    };
    const seen: Record<string, Record<string, number>> = {};
    try {
      const ends = {
        [rtr]: [RTR4, '198.19.255.2', ADDR.rtrWan4, ADDR.wan4],
        [wan]: ['198.19.255.2', RTR4, ADDR.wan4, ADDR.rtrWan4],
      };
      for (const ns of [rtr, wan]) {
        const [mine, , local, peer] = ends[ns];
        lab.run(ns, 'ip', ['tuntap', 'add', 'dev', UP, 'mode', 'tun']);
        lab.run(ns, 'ip', ['link', 'set', UP, 'mtu', '1420', 'up']);
        lab.run(ns, 'ip', ['addr', 'add', `${mine}/30`, 'dev', UP]);
        lab.run(ns, 'ip', [
          '-6',
          'addr',
          'add',
          `${ns === rtr ? RTR6 : '2001:db8:ff::2'}/64`,
          'dev',
          UP,
          'nodad',
        ]);
        const relay = lab.spawn(ns, 'python3', [
          join(import.meta.dirname, 'l3relay.py'),
          '--tun',
          UP,
          '--local',
          `${local}:51820`,
          '--peer',
          `${peer}:51820`,
          '--seconds',
          '120',
        ]);
        relays.push(relay);
        await new Promise<void>((resolve, reject) => {
          relay.stdout?.once('data', () => resolve());
          relay.once('exit', (code) => reject(new Error(`l3relay exited (${code})`)));
        });
      }
      // The carrier's datagrams, and the service on the uplink's address, as a WireGuard uplink's zone would.
      fw4Rule('input_wan', ['udp', 'dport', '51820', 'accept']);
      fw4Rule('input', ['iifname', UP, 'tcp', 'dport', String(OPEN), 'accept']);
      await startHttpServer(lab, rtr, root, OPEN, [RTR4, RTR6]);
      expect(lab.run(rtr, 'cat', [`/sys/class/net/${UP}/type`]).trim()).toBe('65534'); // ARPHRD_NONE: no link layer
      // A LAN host behind it, for the SYN fast path's uplink program (bpf/synproxy.c) at up0's ingress.
      fw4Rule('forward', ['iifname', UP, 'ip', 'daddr', ADDR.lan4, 'tcp', 'dport', '8080', 'accept']);
      lab.run(wan, 'ip', ['route', 'add', `${ADDR.lan4}/32`, 'dev', UP]);
      /** 20 SYNs from the wan end of up0 to the LAN host: SYN-ACKs back, and how many up0's ingress answered. */
      const probe = async () => {
        const c0 = await counters();
        const r = lab.exec(wan, 'hping3', ['-S', '-p', '8080', '-i', 'u20000', '-c', '20', ADDR.lan4]);
        const c1 = await counters();
        return {
          synAcks: (r.stdout.match(/flags=SA/g) ?? []).length,
          atUplink: (c1.fast_syn_answered_uplink ?? 0) - (c0.fast_syn_answered_uplink ?? 0),
          tier: c1.gauge_tier ?? -1,
        };
      };
      // A 10 s window: the tier read after the probe (a status write up to 2 s later) still holds the
      // flood's SYNs (with the default 3 s it had let them go, and the read said normal).
      const conf = "config defense 'syn'\n\toption moderate_threshold '40'\n\toption window_seconds '10'\n";
      for (const mode of ['on', 'off'] as const) {
        await start(
          ['--wan', UP, '--syn-police', '0', ...(mode === 'on' ? [] : ['--no-protect-router'])],
          conf,
        );
        const ok4 = fetches(3, `http://${RTR4}:${OPEN}/big.bin`);
        const ok6 = fetches(2, `http://[${RTR6}]:${OPEN}/big.bin`);
        const c = await counters();
        seen[mode] = { ok4, ok6, valid: c.synproxy_cookie_valid ?? 0, cookies: c.synproxy_cookie_sent ?? 0 };
        seen[mode].uplinkPrograms = lab.tcx(UP).ingress;
        if (mode === 'on') {
          // Past the moderate threshold (from many sources: one would be marked aggressive): the
          // fast path answers, the first SYN at lan0's egress teaches the pair.
          await flood(ADDR.lan4, 8080, 300, 1);
          await sleep(1200);
        }
        // The control ('off', normal tier): the proxy answers, the uplink program passes.
        const p = await probe();
        seen[mode] = { ...seen[mode], l3SynAcks: p.synAcks, l3AtUplink: p.atUplink, l3Tier: p.tier };
        await lab.tunguard?.stop();
      }
    } finally {
      for (const r of relays) r.kill();
      for (const h of fw4Handles) {
        const [chain, handle] = h.split(' ');
        lab.exec(rtr, 'nft', ['delete', 'rule', 'inet', 'fw4', chain, 'handle', handle]);
      }
      for (const ns of [rtr, wan]) lab.exec(ns, 'ip', ['link', 'del', UP]);
    }
    console.log(`over an L3 uplink: ${JSON.stringify(seen)}`);
    expect(seen.on.ok4).toBe(3);
    expect(seen.on.ok6).toBe(2);
    expect(seen.on.valid).toBeGreaterThanOrEqual(5);
    expect(seen.off.ok4).toBe(3);
    expect(seen.off.ok6).toBe(2);
    expect(seen.off.cookies).toBe(0);
    // The uplink program at up0's ingress, told its header length is 0: its SYN-ACKs (IP alone) arrive.
    expect(seen.on.uplinkPrograms).toBe(1);
    expect(seen.on.l3Tier).toBeGreaterThan(0);
    expect(seen.on.l3SynAcks).toBeGreaterThanOrEqual(19);
    expect(seen.on.l3AtUplink).toBeGreaterThanOrEqual(15);
    expect(seen.off.l3SynAcks).toBeGreaterThanOrEqual(19);
    expect(seen.off.l3AtUplink).toBe(0);
  }, 120_000);
});
