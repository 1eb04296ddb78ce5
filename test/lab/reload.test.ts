// A SIGHUP reload changes what the dataplane workers do, option by option: each case measures the
// workers' behaviour before the reload (the negative control) and after it, never the config store.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab, makeTempDir, sleep, startHttpServer, waitFor } from './lab.js';
import { synsFrom } from './syns.js';

let lab: Lab;
const root = makeTempDir('tunguard-www-');
const FLOOD = join(import.meta.dirname, 'synflood.py');
let conf: string;

beforeAll(async () => {
  lab = Lab.create();
  writeFileSync(join(root, 'small.bin'), Buffer.alloc(1024, 1));
  await startHttpServer(lab, lab.ns.lan, root, 8080, [ADDR.lan4]);
  // SYN-ACKs to the spoofed benchmark-range sources go back to the wan namespace (and die there).
  lab.run(lab.ns.rtr, 'ip', ['route', 'add', '198.18.0.0/15', 'via', ADDR.wan4]);
  conf = join(lab.stateDir, 'reload.conf');
});

afterEach(async () => {
  await lab?.tunguard?.stop();
});

afterAll(() => {
  lab?.destroy();
});

const syn = (opts: string) => `config defense 'syn'\n${opts}`;

async function start(synOpts: string): Promise<void> {
  writeFileSync(conf, lab.config(syn(synOpts)));
  await lab.startTunguard(['--config', conf], false).ready();
}

/** Rewrites the config, sends SIGHUP, waits for the reload line; returns it. */
async function reload(synOpts: string): Promise<string> {
  const tg = lab.tunguard!;
  const before = (tg.output.match(/reload: /g) ?? []).length;
  writeFileSync(conf, lab.config(syn(synOpts)));
  process.kill(tg.pid, 'SIGHUP');
  await waitFor('the reload', () => (tg.output.match(/reload: /g) ?? []).length > before);
  // Commands reach the workers at their next tick (≤ 100 ms).
  await sleep(300);
  return (
    tg.output
      .split('\n')
      .filter((l) => /reload: /.test(l))
      .at(-1) ?? ''
  );
}

/** SYNs dropped as an aggressive source's: by the proxy, or before it by the kernel fast path. */
const dropped = async () => {
  const c = (await lab.freshStatus()).counters;
  return (c.drop_syn_aggressive ?? 0) + (c.drop_fast_syn_aggressive ?? 0);
};
const marked = (src: string) =>
  new RegExp(`aggressive source ${src.replaceAll('.', '\\.')}`).test(lab.tunguard!.output);

describe('SIGHUP reload reaches the workers', () => {
  it('max_unfinished_per_source: 4 unfinished handshakes are fine at 5, aggressive at 2', async () => {
    await start('');
    synsFrom(lab, '198.18.9.1', 4);
    await sleep(2500); // unfinished after the 1 s grace
    synsFrom(lab, '198.18.9.1', 1);
    await sleep(300);
    expect(marked('198.18.9.1')).toBe(false); // negative control: the start value (5)
    const line = await reload("\toption max_unfinished_per_source '2'\n");
    expect(line).toMatch(/applied: .*defense\.syn/);
    synsFrom(lab, '198.18.9.2', 4);
    await sleep(2500);
    synsFrom(lab, '198.18.9.2', 1);
    await waitFor('the mark', () => marked('198.18.9.2'), 3000);
  }, 60_000);

  it('aggressive_hold_seconds: a marked source is still dropped after 4 s at 60 s, let through at 2 s', async () => {
    await start("\toption max_unfinished_per_source '1'\n");
    /** Marks `src`, waits 4 s, sends 3 SYNs: how many of them the aggressive mark dropped. */
    const droppedAfterHold = async (src: string) => {
      synsFrom(lab, src, 3);
      await sleep(2500);
      synsFrom(lab, src, 1);
      await waitFor(`the mark of ${src}`, () => marked(src), 3000);
      await sleep(4000);
      const before = await dropped();
      synsFrom(lab, src, 3);
      return (await dropped()) - before;
    };
    expect(await droppedAfterHold('198.18.9.3')).toBe(3); // negative control: the default hold (60 s)
    const line = await reload(
      "\toption max_unfinished_per_source '1'\n\toption aggressive_hold_seconds '2'\n",
    );
    expect(line).toMatch(/applied: .*defense\.syn/);
    expect(await droppedAfterHold('198.18.9.4')).toBe(0);
  }, 60_000);

  it('window_seconds: 150 SYNs leave the tier moderate for 20 s, not for 3 s', async () => {
    /** 150 SYNs in ~1 s from many sources, then the tier 4 s later (0 normal, 1 moderate). */
    const tierAfterBurst = async () => {
      const r = await lab.execAsync(lab.ns.wan, 'python3', [FLOOD, ADDR.lan4, '8080', '150', '1'], 15_000);
      expect(Number(r.stdout)).toBeGreaterThan(120);
      await waitFor('moderate', () => /tier normal -> moderate/.test(lab.tunguard!.output), 3000);
      await sleep(4000);
      return (await lab.freshStatus()).counters.gauge_tier;
    };
    await start("\toption moderate_threshold '100'\n");
    expect(await tierAfterBurst()).toBe(0); // negative control: the default 3 s window has emptied
    await lab.tunguard!.stop();
    await start("\toption moderate_threshold '100'\n");
    const line = await reload("\toption moderate_threshold '100'\n\toption window_seconds '20'\n");
    expect(line).toMatch(/applied: .*defense\.syn/);
    expect(await tierAfterBurst()).toBe(1);
  }, 90_000);

  it('reports syn_cache_size as needing a restart instead of applied', async () => {
    await start('');
    const line = await reload("\toption syn_cache_size '1024'\n");
    expect(line).toMatch(/needs a restart: defense\.syn\.syn_cache_size/);
    expect(line).not.toMatch(/applied: .*defense\.syn/);
  }, 30_000);
});
