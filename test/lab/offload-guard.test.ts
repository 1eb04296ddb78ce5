// The offload guard (src/netcfg/offload-guard.ts) against the kernel. Its conntrack helper
// (src/netcfg/ct-helper.ts) needs the kernel's nfnetlink_cthelper, which this kernel lacks: the
// daemon's own guard is here the IPv6 ct mark fallback (src/netcfg/offload-guard-mark.ts), and the
// first describe shows it: proxied IPv6 connections, and only they, carry the ct mark and the
// forward-hook meta mark (nft counters, conntrack's marks); the ip -6 blackhole rule fails lookups
// with the mark and nothing else; the rule goes with a stop, and after a kill -9 matches nothing;
// proxied IPv4 gets the one warning. The helper guard's own rules are loaded beside a running daemon
// with a kernel helper standing in for tunguard's (second describe): the proxied connections of
// both families get it, LAN-opened ones do not, and it stays when the table goes. This kernel has no
// flowtables: the offload itself, with tunguard's helper, is proven in the QEMU guest
// (cross-build/qemu-test). Hardware flowtables: the detection reads the real nft.

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowtableWatch } from '../../src/netcfg/flowtables.js';
import { offloadGuardCommands } from '../../src/netcfg/offload-guard.js';
import { OFFLOAD_GUARD_MARK } from '../../src/netcfg/offload-guard-mark.js';
import { ADDR, fw4Ruleset, Lab, makeTempDir, startHttpServer, waitFor } from './lab.js';

let lab: Lab;
let fileSha = '';
const root = makeTempDir('tunguard-www-');
const RULE = '900:\tfrom all fwmark 0x40000000/0x40000000 blackhole';

beforeAll(async () => {
  lab = Lab.create();
  const data = randomBytes(4 << 20);
  writeFileSync(join(root, 'f.bin'), data);
  fileSha = createHash('sha256').update(data).digest('hex');
  await startHttpServer(lab, lab.ns.lan, root, 8080, [ADDR.lan4, ADDR.lan6]);
  await startHttpServer(lab, lab.ns.wan, root, 8081, [ADDR.wan4, ADDR.wan6]);
});

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

/** Downloads the file from `ns` and checks it arrived whole. */
function fetchWhole(ns: string, url: string): void {
  const out = lab.run(ns, 'sh', ['-c', `curl -sS --fail --max-time 20 ${url} | sha256sum`]);
  expect(out.split(' ')[0]).toBe(fileSha);
}

/** The guard chain's two counters: connections marked, packets marked at forward. */
function guardCounters(): { connections: number; packets: number } {
  const json = JSON.parse(
    lab.run(lab.ns.rtr, 'nft', ['-j', 'list', 'chain', 'inet', 'tunguard', 'offload_guard']),
  ) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
  const counts = json.nftables
    .map((o) => o.rule?.expr.find((e) => e.counter)?.counter?.packets)
    .filter((n) => n !== undefined);
  // The IPv6 rules are the chain's last two (the IPv4 helper rule, where the kernel has one, first).
  return { connections: counts.at(-2) as number, packets: counts.at(-1) as number };
}

/** conntrack's mark of each TCP entry to `dport` (of one family, or both), in the router. */
function ctMarks(dport: number, family = ''): number[] {
  const table = lab.run(lab.ns.rtr, 'cat', ['/proc/net/nf_conntrack']);
  return table
    .split('\n')
    .filter((l) => l.startsWith(family) && l.includes(' tcp ') && l.includes(` dport=${dport} `))
    .map((l) => Number(/ mark=(\d+)/.exec(l)?.[1] ?? -1));
}

/** The police's own nft (`nft -i`; the limits reader's is `nft -j -i`), a child of the daemon `ppid`. */
function policeNft(ppid: number): number | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === ppid && readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'nft\0-i\0') return Number(pid);
    } catch {
      /* gone meanwhile */
    }
  }
  return undefined;
}

/** Whether this kernel can register tunguard's helper: then the daemon guards by it, not by the mark. */
const cthelper = existsSync('/sys/module/nfnetlink_cthelper');

const rules6 = () => lab.run(lab.ns.rtr, 'ip', ['-6', 'rule', 'show']);
const rules4 = () => lab.run(lab.ns.rtr, 'ip', ['-4', 'rule', 'show']);
const tableThere = () => lab.exec(lab.ns.rtr, 'nft', ['list', 'table', 'inet', 'tunguard']).code === 0;

describe.skipIf(cthelper)('offload guard without the conntrack helper: the IPv6 ct mark fallback', () => {
  it('marks proxied IPv6 connections only; LAN-opened, IPv4 and non-TCP traffic stays unmarked', async () => {
    const tg = lab.startTunguard();
    await tg.ready();
    // This kernel has no nfnetlink_cthelper (CONFIG_NF_CT_NETLINK_HELPER unset): one clear warning
    // for both families, and IPv6 by the ct mark.
    expect(tg.output).toContain('proxied IPv6 connections kept out of flow offloading (ct mark)');
    const warned = tg.output.split('\n').filter((l) => l.includes('the kernel refused the conntrack helper'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(
      "proxied IPv4 connections are not kept out of flow offloading, and proxied IPv6 ones only while the SYN police's table is there (a ct mark): the kernel refused the conntrack helper (no nfnetlink_cthelper in this kernel; opkg install kmod-nfnetlink-cthelper)",
    );
    expect(rules6()).toContain(RULE);
    expect(rules4()).not.toContain('0x40000000'); // IPv4's reverse lookup cannot fail (README)
    const status = (await lab.freshStatus()) as unknown as { flowOffload?: unknown };
    expect(status.flowOffload).toEqual({ hardwareFlowtables: [], ipv6Guarded: true, ipv4Guarded: false });
    expect(guardCounters()).toEqual({ connections: 0, packets: 0 });

    // A LAN-opened IPv6 download (the SYN comes from inside the prefix), a proxied IPv4 one, and
    // pings both ways: none of them is the guard's.
    fetchWhole(lab.ns.lan, `http://[${ADDR.wan6}]:8081/f.bin`);
    fetchWhole(lab.ns.wan, `http://${ADDR.lan4}:8080/f.bin`);
    lab.run(lab.ns.wan, 'ping', ['-6', '-c', '3', '-i', '0.2', ADDR.lan6]);
    lab.run(lab.ns.lan, 'ping', ['-6', '-c', '3', '-i', '0.2', ADDR.wan6]);
    expect(guardCounters()).toEqual({ connections: 0, packets: 0 });
    expect(ctMarks(8081).length).toBeGreaterThan(0);
    expect(ctMarks(8081).every((m) => (m & OFFLOAD_GUARD_MARK) === 0)).toBe(true);

    // The proxied IPv6 download: one connection marked, its packets both ways, and it arrives whole.
    fetchWhole(lab.ns.wan, `http://[${ADDR.lan6}]:8080/f.bin`);
    const c = guardCounters();
    expect(c.connections).toBe(1);
    expect(c.packets).toBeGreaterThan(20);
    const v6 = lab
      .run(lab.ns.rtr, 'cat', ['/proc/net/nf_conntrack'])
      .split('\n')
      .filter((l) => l.startsWith('ipv6') && l.includes(' dport=8080 '));
    expect(v6).toHaveLength(1);
    expect(Number(/ mark=(\d+)/.exec(v6[0])?.[1]) & OFFLOAD_GUARD_MARK).toBe(OFFLOAD_GUARD_MARK);
    // The IPv4 proxied connection to the same port is not marked.
    const v4 = ctMarks(8080).filter((m) => (m & OFFLOAD_GUARD_MARK) === 0);
    expect(v4).toHaveLength(1);
    console.log(`offload guard: proxied IPv6 download marked ${c.packets} packets, 1 connection`);

    // The rule answers lookups with the mark only: the router's own lookup is untouched.
    expect(lab.exec(lab.ns.rtr, 'ip', ['-6', 'route', 'get', ADDR.wan6]).code).toBe(0);
    const marked = lab.exec(lab.ns.rtr, 'ip', ['-6', 'route', 'get', ADDR.wan6, 'mark', '0x40000000']);
    expect(marked.code).not.toBe(0);
    // The router's own connection to the WAN host is unaffected.
    fetchWhole(lab.ns.rtr, `http://[${ADDR.wan6}]:8081/f.bin`);
  });

  it('goes with a stop; after kill -9 the rule stays but nothing carries the mark; a start keeps one rule', async () => {
    expect(await lab.tunguard?.stop('SIGTERM')).toBe(0);
    expect(rules6()).not.toContain('0x40000000');
    expect(tableThere()).toBe(false);

    let tg = lab.startTunguard();
    await tg.ready();
    process.kill(tg.pid, 'SIGKILL');
    await tg.wait();
    // The owner table goes with the process (its nft child exits when the pipe closes): no mark is
    // set any more, so the rule left behind matches nothing.
    await waitFor('the owner table gone after kill -9', () => !tableThere(), 5000);
    expect(rules6()).toContain(RULE);
    fetchWhole(lab.ns.wan, `http://[${ADDR.lan6}]:8080/f.bin`);

    tg = lab.startTunguard();
    await tg.ready();
    expect(
      rules6()
        .split('\n')
        .filter((l) => l.includes('0x40000000')),
    ).toEqual([RULE]);
    expect(await tg.stop('SIGTERM')).toBe(0);
    expect(rules6()).not.toContain('0x40000000');
  });

  it('marks a connection whose SYN the kernel fast path answered (no conntrack entry) at its third ACK', async () => {
    const file = join(lab.stateDir, 'fast.conf');
    writeFileSync(
      file,
      lab.config(
        "config defense 'syn'\n\toption window_seconds '60'\n\toption moderate_threshold '1'\n\toption risky_threshold '100000'\n",
      ),
    );
    const tg = lab.startTunguard(['--config', file], false);
    await tg.ready();
    try {
      await fastPathMarked();
    } finally {
      expect(await tg.stop('SIGTERM')).toBe(0);
    }
  });

  async function fastPathMarked(): Promise<void> {
    const fast = async () => (await lab.freshStatus()).counters.fast_syn_answered ?? 0;
    // Past the threshold the tier is moderate and the fast path answers the SYNs (once the daemon
    // has told it: a few fetches may go by first).
    for (let i = 0; i < 10 && (await fast()) === 0; i++)
      fetchWhole(lab.ns.wan, `http://[${ADDR.lan6}]:8080/f.bin`);
    expect(await fast()).toBeGreaterThan(0);
    const fastBefore = await fast();
    const before = guardCounters().connections;
    const marked = () => ctMarks(8080, 'ipv6').filter((m) => (m & OFFLOAD_GUARD_MARK) !== 0).length;
    const markedBefore = marked();
    fetchWhole(lab.ns.wan, `http://[${ADDR.lan6}]:8080/f.bin`);
    expect(await fast()).toBeGreaterThan(fastBefore); // this one's SYN was the fast path's
    expect(guardCounters().connections).toBe(before + 1);
    // Its conntrack entry (made by the third ACK) carries the mark.
    expect(marked()).toBe(markedBefore + 1);
  }

  it("says unguarded at once when the police's nft is killed, and guarded again once the table is rebuilt", async () => {
    const tg = lab.startTunguard();
    await tg.ready();
    type Status = {
      police?: { installed: boolean; lost: number; rebuilt: number; reason?: string };
      flowOffload?: { ipv6Guarded: boolean };
    };
    const status = () => lab.status() as unknown as Status;
    try {
      expect(((await lab.freshStatus()) as unknown as Status).police).toEqual({
        installed: true,
        lost: 0,
        rebuilt: 0,
      });
      expect(status().flowOffload?.ipv6Guarded).toBe(true);
      const pid = policeNft(tg.pid);
      expect(pid).toBeGreaterThan(0);
      process.kill(pid as number, 'SIGKILL');
      // The police and the guard flags in one snapshot: they come from one place (SynPolice.guarded).
      let snap: Status = {};
      const installed = () => {
        snap = status();
        return snap.police?.installed;
      };
      await waitFor('the status to say so', () => installed() === false, 2000);
      expect(snap.police).toEqual({
        installed: false,
        lost: 1,
        rebuilt: 0,
        reason: 'nft exited (SIGKILL)',
      });
      expect(snap.flowOffload?.ipv6Guarded).toBe(false);
      expect(tg.output.match(/nft table is gone/g)).toHaveLength(1);
      await waitFor('the table rebuilt', () => installed() === true, 5000);
      expect(snap.police).toEqual({ installed: true, lost: 1, rebuilt: 1 });
      // The first snapshot that has the table back has its guard too (status.json is written up to 1 s
      // after a change, so the order inside the rebuild is checked in test/lab/police-restart.test.ts).
      expect(snap.flowOffload?.ipv6Guarded).toBe(true);
      // And it guards: a proxied IPv6 connection is marked by the rebuilt chain.
      const before = guardCounters().connections;
      fetchWhole(lab.ns.wan, `http://[${ADDR.lan6}]:8080/f.bin`);
      expect(guardCounters().connections).toBe(before + 1);
    } finally {
      expect(await tg.stop('SIGTERM')).toBe(0);
    }
  });

  it('negative control: without the SYN proxy nothing is guarded, installed or marked', async () => {
    const tg = lab.startTunguard(['--no-synproxy']);
    await tg.ready();
    expect(tg.output).not.toContain('kept out of flow offloading');
    expect(rules6()).not.toContain('0x40000000');
    expect(lab.exec(lab.ns.rtr, 'nft', ['list', 'chain', 'inet', 'tunguard', 'offload_guard']).code).not.toBe(
      0,
    );
    fetchWhole(lab.ns.wan, `http://[${ADDR.lan6}]:8080/f.bin`);
    const status = (await lab.freshStatus()) as unknown as { flowOffload?: unknown };
    expect(status.flowOffload).toBeUndefined();
    expect(await tg.stop('SIGTERM')).toBe(0);
  });
});

describe("the helper guard's rules, with a kernel helper standing in for tunguard's", () => {
  // The rules the daemon loads when its helper is registered (offloadGuardCommands), in a table of
  // their own beside the running daemon, with the kernel's ftp helper in the object in its place
  // (the same object and rules; on these HTTP transfers its parser finds nothing to act on).
  // /proc/net/nf_conntrack does not show helpers: a probe chain after the guard counts the
  // forwarded packets whose conntrack entry has one (IPS_HELPER, 0x2000, set with the extension).
  const GUARD = 'inet tglhelper';
  // An HTTP/1.0 GET read 16 KiB at a time every 20 ms through a 32 KiB receive buffer; prints the
  // body's sha256.
  const SLOW_GET = `
import hashlib, socket, sys, time
addr, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
s.settimeout(20)
s.connect((addr, port))
s.sendall(('GET %s HTTP/1.0\\r\\n\\r\\n' % path).encode())
data = b''
while True:
    d = s.recv(16384)
    if not d:
        break
    data += d
    time.sleep(0.02)
print(hashlib.sha256(data.split(b'\\r\\n\\r\\n', 1)[1]).hexdigest())
`;
  const PROBE = 'inet tglprobe';
  const IPS_HELPER = 0x2000;
  // Each flow's packets both ways (a download's client sends few: the data comes back).
  const flows = {
    proxied6: [`ip6 daddr ${ADDR.lan6} tcp dport 8080`, `ip6 saddr ${ADDR.lan6} tcp sport 8080`],
    lanOpened6: [`ip6 daddr ${ADDR.wan6} tcp dport 8081`, `ip6 saddr ${ADDR.wan6} tcp sport 8081`],
    proxied4: [`ip daddr ${ADDR.lan4} tcp dport 8080`, `ip saddr ${ADDR.lan4} tcp sport 8080`],
  } as const;
  type Flow = keyof typeof flows;

  function nftFile(name: string, lines: string[]): void {
    const file = join(lab.stateDir, name);
    writeFileSync(file, `${lines.join('\n')}\n`);
    lab.run(lab.ns.rtr, 'nft', ['-f', file]);
  }

  /** Per flow: its forwarded packets so far, and those whose conntrack entry has a helper. */
  function probe(): Record<Flow, { all: number; helper: number }> {
    const json = JSON.parse(
      lab.run(lab.ns.rtr, 'nft', ['-j', 'list', 'chain', ...PROBE.split(' '), 'counted']),
    ) as {
      nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[];
    };
    const n = (comment: string) =>
      json.nftables
        .filter((o) => o.rule?.comment === comment)
        .reduce((sum, o) => sum + (o.rule?.expr.find((e) => e.counter)?.counter?.packets ?? 0), 0);
    const out = {} as Record<Flow, { all: number; helper: number }>;
    for (const f of Object.keys(flows) as Flow[]) out[f] = { all: n(`${f} all`), helper: n(`${f} helper`) };
    return out;
  }

  /** The guard chain's counters: IPv4 connections given the helper, IPv6 ones. */
  function guarded(): number[] {
    const json = JSON.parse(
      lab.run(lab.ns.rtr, 'nft', ['-j', 'list', 'chain', ...GUARD.split(' '), 'offload_guard']),
    ) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
    return json.nftables
      .map((o) => o.rule?.expr.find((e) => e.counter)?.counter?.packets)
      .filter((x) => x !== undefined) as number[];
  }

  it('gives the proxied IPv4 and IPv6 connections the helper, not LAN-opened ones; it stays when the table goes', async () => {
    const tg = lab.startTunguard();
    await tg.ready();
    try {
      const guard = offloadGuardCommands(GUARD, {
        helper: true,
        v4: ['192.0.2.0/24'],
        v6: ['2001:db8:2::/64'],
      }).map((l) => l.replace('type "tunguard"', 'type "ftp"'));
      expect(guard.filter((l) => l.includes('type "ftp"'))).toHaveLength(1);
      nftFile('guard.nft', [`add table ${GUARD}`, ...guard]);
      nftFile('probe.nft', [
        `add table ${PROBE}`,
        `add chain ${PROBE} counted { type filter hook forward priority 10; policy accept; }`,
        ...(Object.entries(flows) as [Flow, readonly string[]][]).flatMap(([f, ways]) =>
          ways.flatMap((match) => [
            `add rule ${PROBE} counted ${match} counter comment "${f} all"`,
            `add rule ${PROBE} counted ${match} ct status & ${IPS_HELPER} != 0 counter comment "${f} helper"`,
          ]),
        ),
      ]);

      fetchWhole(lab.ns.lan, `http://[${ADDR.wan6}]:8081/f.bin`);
      fetchWhole(lab.ns.wan, `http://[${ADDR.lan6}]:8080/f.bin`);
      fetchWhole(lab.ns.wan, `http://${ADDR.lan4}:8080/f.bin`);
      const p = probe();
      console.log(`helper guard: ${JSON.stringify(p)}, guard rules ${JSON.stringify(guarded())}`);
      // One connection each given the helper, on its first packet; every packet of it has it.
      expect(guarded()).toEqual([1, 1]);
      expect(p.proxied6.helper).toBeGreaterThan(20);
      expect(p.proxied6.helper).toBe(p.proxied6.all);
      expect(p.proxied4.helper).toBeGreaterThan(20);
      expect(p.proxied4.helper).toBe(p.proxied4.all);
      // The LAN opened this one (from inside the prefix): never given the helper.
      expect(p.lanOpened6.all).toBeGreaterThan(20);
      expect(p.lanOpened6.helper).toBe(0);

      // A proxied IPv6 download held open while the guard's table goes (as when the police's nft
      // dies): its entry keeps the helper. One begun after it has none.
      const t0 = Date.now();
      // Read slowly through a small receive buffer: the transfer takes seconds, not one burst.
      const slow = lab.execAsync(
        lab.ns.wan,
        'python3',
        ['-c', SLOW_GET, ADDR.lan6, '8080', '/f.bin'],
        30_000,
      );
      const before = probe().proxied6;
      await waitFor('the held download under way', () => probe().proxied6.helper > before.helper + 20, 5000);
      lab.run(lab.ns.rtr, 'nft', ['delete', 'table', ...GUARD.split(' ')]);
      const gone = probe().proxied6;
      await waitFor('packets after the table went', () => probe().proxied6.all > gone.all + 50, 5000);
      const held = await slow;
      expect(held.code, held.stderr).toBe(0);
      expect(held.stdout.trim()).toBe(fileSha);
      const after = probe().proxied6;
      expect(after.all - gone.all).toBeGreaterThan(50);
      expect(after.helper - gone.helper).toBe(after.all - gone.all);
      fetchWhole(lab.ns.wan, `http://[${ADDR.lan6}]:8080/f.bin`);
      const fresh = probe().proxied6;
      console.log(
        `helper guard, held download (${Date.now() - t0} ms): before ${JSON.stringify(before)}, table gone at ${JSON.stringify(gone)}, done ${JSON.stringify(after)}; a new one after: ${JSON.stringify(fresh)}`,
      );
      expect(fresh.all - after.all).toBeGreaterThan(20);
      expect(fresh.helper).toBe(after.helper);
    } finally {
      lab.exec(lab.ns.rtr, 'nft', ['delete', 'table', ...GUARD.split(' ')]);
      lab.exec(lab.ns.rtr, 'nft', ['delete', 'table', ...PROBE.split(' ')]);
      expect(await tg.stop('SIGTERM')).toBe(0);
    }
  });
});

describe('hardware flowtable detection with the real nft', () => {
  const NS = `tg-ft-${process.pid}`;
  const inNs = ['ip', 'netns', 'exec', NS, 'nft'];
  const list = () =>
    new Promise<string | undefined>((resolve) => {
      try {
        resolve(execFileSync(inNs[0], [...inNs.slice(1), 'list', 'flowtables'], { encoding: 'utf8' }));
      } catch {
        resolve(undefined);
      }
    });

  it('reads no hardware flowtable from fw4 without one, and one from a flowtable with flags offload', async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    try {
      execFileSync('ip', [
        'netns',
        'exec',
        NS,
        'ip',
        'link',
        'add',
        'lan0',
        'type',
        'veth',
        'peer',
        'name',
        'wan0',
      ]);
      const seen: string[][] = [];
      const w = new FlowtableWatch({
        intervalMs: 0,
        list,
        onChange: (hw) => seen.push(hw.map((f) => f.name)),
      });
      execFileSync(inNs[0], [...inNs.slice(1), '-f', '-'], { input: fw4Ruleset('lab') });
      await w.poll();
      expect(seen).toEqual([[]]);
      // fw4's flow_offloading_hw: a flowtable with `flags offload`. This kernel (no nf_flow_table)
      // refuses every flowtable; the QEMU guest's kernel loads one and the daemon's warning is
      // checked there.
      const hw =
        'table inet hw {\n flowtable ft {\n  hook ingress priority 0\n  devices = { lan0, wan0 }\n  flags offload\n }\n}\n';
      let loaded = true;
      try {
        execFileSync(inNs[0], [...inNs.slice(1), '-f', '-'], { input: hw, stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (err) {
        loaded = false;
        console.log(
          `hardware flowtable refused by this kernel: ${
            String((err as { stderr?: Buffer }).stderr)
              .trim()
              .split('\n')[0]
          }`,
        );
      }
      await w.poll();
      expect(seen).toEqual(loaded ? [[], ['ft']] : [[]]);
    } finally {
      execFileSync('ip', ['netns', 'del', NS]);
    }
  });
});
