// The SYN police's nft table (src/netcfg/syn-police.ts) when its `nft -i` dies under a running
// daemon: the loss is reported at once, and the table is built again with what it held (uplinks,
// known sources minus the aggressive ones, fast-path sets, limits, allowlist, router-local tables,
// offload guard), after a wait that doubles while nft keeps dying, up to a cap.
// The real nft, in a network namespace of its own: `nft` on PATH is a two-line script that runs
// /usr/sbin/nft there (exec all the way down, so the police's child is nft itself and SIGKILL hits it).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type GuardFamilies, type PoliceState, SynPolice } from '../../src/netcfg/syn-police.js';
import { makeTempDir, NS_PREFIX, requireTools, sleep, waitFor } from './lab.js';

const NS = `${NS_PREFIX}police-${process.pid}`;
const bin = makeTempDir('tunguard-nft-');
/** While this file exists the wrapper fails as a missing nft would (a rebuild that cannot work). */
const broken = join(bin, 'broken');
const savedPath = process.env.PATH;

const inNs = (...args: string[]) =>
  execFileSync('ip', ['netns', 'exec', NS, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const tableThere = () =>
  spawnSync('ip', ['netns', 'exec', NS, 'nft', 'list', 'table', 'inet', 'tunguard']).status === 0;

/** The police's own nft (`nft -i`; the reader's is `nft -j -i`), a child of this process. */
function policeNft(): number | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (ppid === process.pid && cmd.length === 2 && cmd[0].endsWith('nft') && cmd[1] === '-i')
        return Number(pid);
    } catch {
      /* gone meanwhile */
    }
  }
  return undefined;
}

/**
 * Every table, set, chain, rule, counter and helper, without what legitimately differs in a rebuilt
 * table: handles, counter values, and each known source's time left (checked on its own below).
 */
function ruleset(): string[] {
  const out = JSON.parse(inNs('nft', '-j', 'list', 'ruleset')) as { nftables: Record<string, unknown>[] };
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== 'object') return v;
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v))
      if (!['handle', 'packets', 'bytes', 'expires'].includes(k)) o[k] = strip(x);
    // A known source's element {elem: {val, timeout, expires}} becomes its address.
    if ('elem' in o && typeof o.elem === 'object' && o.elem && 'val' in o.elem)
      return (o.elem as { val: unknown }).val;
    return o;
  };
  return out.nftables
    .filter((o) => !('metainfo' in o))
    .map((o) => {
      const s = strip(o) as { set?: { elem?: unknown[] } };
      // A hash set lists its elements in no fixed order.
      if (s.set?.elem) s.set.elem = s.set.elem.map((e) => JSON.stringify(e)).sort();
      return JSON.stringify(s);
    })
    .sort();
}

/** ruleset() as text while nft is still adding lines: '' for a listing nft gave up on midway. */
function rulesetNow(): string {
  try {
    return ruleset().join('\n');
  } catch {
    return '';
  }
}

/** Each known source's timeout as nft holds it, s. */
function knownTimeouts(set: 'known4' | 'known6'): Record<string, number> {
  const out = JSON.parse(inNs('nft', '-j', 'list', 'set', 'inet', 'tunguard', set)) as {
    nftables: { set?: { elem?: { elem: { val: string; timeout: number } }[] } }[];
  };
  const els = out.nftables.find((o) => o.set)?.set?.elem ?? [];
  return Object.fromEntries(els.map((e) => [e.elem.val, e.elem.timeout]));
}

let police: SynPolice | undefined;

beforeAll(() => {
  requireTools(['ip', 'nft']);
  execFileSync('ip', ['netns', 'add', NS]);
  inNs('ip', 'link', 'set', 'lo', 'up');
  // The router-local tables `dup` into the TUN by name: any device will do for nft.
  inNs('ip', 'link', 'add', 'tglp-tun', 'type', 'veth', 'peer', 'name', 'tglp-peer');
  const nft = execFileSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).trim();
  writeFileSync(
    join(bin, 'nft'),
    `#!/bin/sh\n[ -e '${broken}' ] && exit 1\nexec ip netns exec '${NS}' '${nft}' "$@"\n`,
  );
  chmodSync(join(bin, 'nft'), 0o755);
  process.env.PATH = `${bin}:${savedPath}`;
});

afterEach(async () => {
  police?.teardown();
  police = undefined;
  rmSync(broken, { force: true });
  // The next police's owner table can only be made once this one's nft has gone with its table.
  await waitFor('the torn-down table gone', () => !tableThere(), 3000);
});

afterAll(() => {
  process.env.PATH = savedPath;
  spawnSync('ip', ['netns', 'del', NS]);
  rmSync(bin, { recursive: true, force: true });
});

const LIMITS = {
  icmp: { enabled: true, rate: 10, burst: 5 },
  udp: { enabled: true, rate: 100, burst: 20, exemptPorts: [53] },
};

/** A police with everything in its table, and the states it reports. */
async function start(restart = { firstMs: 200, maxMs: 800, stableMs: 5000 }) {
  const states: PoliceState[] = [];
  /** police.guarded as each state was said (what /status shows with it). */
  const guards: GuardFamilies[] = [];
  const logs: string[] = [];
  const clock = { now: 1_000_000 };
  police = new SynPolice((m) => logs.push(m), {
    onState: (s) => {
      states.push(s);
      if (police) guards.push(police.guarded);
    },
    restart,
    clock: () => clock.now,
  });
  await police.setup({
    wan: ['tglp-wan0'],
    rate: 1000,
    local: { tun: 'tglp-tun', ipv6: true },
    limits: LIMITS,
    allow: ['192.0.2.0/24'],
    offloadGuard: { v4: [], v6: ['2001:db8:2::/64'], helper: false },
  });
  return { states, guards, logs, clock, police };
}

async function killed(states: PoliceState[], n: number): Promise<number> {
  const pid = policeNft();
  expect(pid).toBeGreaterThan(0);
  process.kill(pid as number, 'SIGKILL');
  await waitFor(`state ${n} (the loss)`, () => states.length >= n, 2000);
  return Date.now();
}

describe('SynPolice after its nft dies', () => {
  it('says so at once and builds the table again with what it held', async () => {
    const { states, logs, clock, police } = await start();
    police.addKnown(['198.51.100.7', '198.51.100.8', '2001:db8:1::7'], clock.now);
    police.dropAggressive('198.51.100.8', clock.now + 60_000);
    police.fastNotrack(['192.0.2.0/24', '2001:db8:2::/64'], ['198.51.100.1']);
    police.setWans(['tglp-wan0', 'tglp-wan1']);
    police.setLimits({ ...LIMITS, icmp: { enabled: true, rate: 7, burst: 3 } });
    police.setAllow(['203.0.113.0/24', '2001:db8:9::/48']);
    await waitFor('the last change in the table', () => rulesetNow().includes('2001:db8:9::'));
    const before = ruleset();
    const text = before.join('\n');
    // What the rebuild must bring back is there (so the comparison below compares something).
    for (const held of ['198.51.100.7', '2001:db8:1::7', 'tglp-wan1', '198.51.100.1', '203.0.113.0'])
      expect(text).toContain(held);
    expect(text).not.toContain('198.51.100.8');
    expect(text).toContain('"rate":7');
    expect(text).toContain('"table":{"family":"ip6","name":"tunguard"');
    expect(police.status).toEqual({ installed: true, lost: 0, rebuilt: 0 });

    clock.now += 100_000; // the known sources have 500 s of their 600 left
    await killed(states, 1);
    expect(states[0]).toMatchObject({
      installed: false,
      lost: 1,
      rebuilt: 0,
      reason: 'nft exited (SIGKILL)',
    });
    expect(police.status?.installed).toBe(false);
    const said = logs.filter((l) => l.includes('syn police'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(
      /nft exited \(SIGKILL\): the tunguard nft table is gone.*rebuilding it in 0\.2 s/,
    );
    await waitFor('the table gone with its nft', () => !tableThere(), 2000);

    await waitFor('the table back', () => states.length >= 2, 3000);
    expect(states[1]).toEqual({ installed: true, lost: 1, rebuilt: 1 });
    // The known sets come last, IPv6 after IPv4.
    await waitFor('the last line of the rebuild', () => rulesetNow().includes('2001:db8:1::7'));
    expect(ruleset()).toEqual(before);
    expect(knownTimeouts('known4')).toEqual({ '198.51.100.7': 500 });
    expect(knownTimeouts('known6')).toEqual({ '2001:db8:1::7': 500 });
    expect(logs.at(-1)).toContain('table is back');
    // Still the police's own nft: the setters reach the new table.
    police.setWans(['tglp-wan2']);
    await waitFor('the new uplink', () =>
      inNs('nft', 'list', 'set', 'inet', 'tunguard', 'wans').includes('tglp-wan2'),
    );
  });

  it('reports the offload guard with its table: gone at the loss, back confirmed with the rebuild, never without it', async () => {
    const { states, guards, police } = await start();
    expect(police.guarded).toEqual({ v4: false, v6: false }); // not confirmed yet
    expect(await police.guardInstalled({ v4: false, v6: true })).toEqual({ v4: false, v6: true });
    expect(police.guarded).toEqual({ v4: false, v6: true });
    // What a /status reader sees, sampled every few ms through a loss and a rebuild.
    const seen: string[] = [];
    const sample = setInterval(() => {
      const g = police.guarded;
      seen.push(`${police.status?.installed} v4=${g.v4} v6=${g.v6}`);
    }, 2);
    try {
      await killed(states, 1);
      expect(guards[0]).toEqual({ v4: false, v6: false });
      await waitFor('the table back', () => states.length >= 2, 3000);
      expect(states[1]).toEqual({ installed: true, lost: 1, rebuilt: 1 });
      // Said back only once nft had added the guard's chain: the rebuilt guard is in that state.
      expect(guards[1]).toEqual({ v4: false, v6: true });
      expect(inNs('nft', 'list', 'chain', 'inet', 'tunguard', 'offload_guard')).toContain('@guard6');
    } finally {
      clearInterval(sample);
    }
    const distinct = [...new Set(seen)];
    expect(distinct).toContain('false v4=false v6=false');
    expect(distinct).toContain('true v4=false v6=true');
    expect(distinct.filter((s) => s.startsWith('false') && s.includes('=true'))).toEqual([]);
  });

  it('waits longer while nft keeps dying (0.2, 0.4, 0.8, 0.8 s), and from the first wait once a table lived', async () => {
    const { states, logs, clock } = await start();
    const waits: number[] = [];
    for (let n = 1; n <= 4; n++) {
      const at = await killed(states, 2 * n - 1);
      await waitFor(`rebuild ${n}`, () => states.length >= 2 * n, 3000);
      waits.push(Date.now() - at);
    }
    const said = logs.filter((l) => l.includes('rebuilding it in')).map((l) => l.match(/in ([\d.]+) s/)?.[1]);
    expect(said).toEqual(['0.2', '0.4', '0.8', '0.8']);
    // Each rebuild waited at least what was said (less a timer's slack).
    for (const [i, s] of said.entries()) expect(waits[i]).toBeGreaterThanOrEqual(Number(s) * 1000 - 20);
    // A table that lived stableMs starts from the first wait again.
    clock.now += 5000;
    await killed(states, 9);
    expect(logs.at(-1)).toContain('rebuilding it in 0.2 s');
  });

  it('keeps trying while nft cannot run, with fewer lines as the waits grow, and comes back when it can', async () => {
    const { states, logs, clock } = await start({ firstMs: 50, maxMs: 200, stableMs: 5000 });
    writeFileSync(broken, '');
    await killed(states, 1);
    await sleep(1500); // 50+100+200+200+200+200… : about 8 failed tries
    const failed = logs.filter((l) => l.includes('the rebuild failed'));
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.length).toBeLessThan(6); // the 1st, 2nd, 4th, 8th: not every try
    expect(failed[0]).toContain('trying again in 0.1 s');
    expect(police?.status).toMatchObject({
      installed: false,
      reason: expect.stringContaining('rebuild failed'),
    });
    expect(tableThere()).toBe(false);
    // A client that completes a handshake meanwhile is remembered for the table to come.
    police?.addKnown(['198.51.100.20'], clock.now);
    rmSync(broken);
    await waitFor('the table back once nft runs', () => states.length >= 2, 2000);
    expect(states[1]).toEqual({ installed: true, lost: 1, rebuilt: 1 });
    await waitFor('the known sets filled', () => '198.51.100.20' in knownTimeouts('known4'));
  });

  it('leaves the router-local tables out of a rebuild once the daemon gave up on them', async () => {
    const { states, police } = await start();
    // nft adds the router-local tables' lines after the inet table setup() waits for.
    await waitFor('the router-local tables', () =>
      inNs('nft', 'list', 'tables').includes('table ip6 tunguard'),
    );
    police.forgetLocal();
    await killed(states, 1);
    await waitFor('the table back', () => states.length >= 2, 3000);
    const tables = inNs('nft', 'list', 'tables');
    expect(tables).toContain('table inet tunguard');
    expect(tables).not.toContain('table ip tunguard');
    expect(tables).not.toContain('table ip6 tunguard');
  });

  it('builds nothing after a teardown', async () => {
    const { states } = await start({ firstMs: 300, maxMs: 300, stableMs: 5000 });
    await killed(states, 1);
    police?.teardown();
    await sleep(700);
    expect(states).toHaveLength(1);
    expect(tableThere()).toBe(false);
  });
});
