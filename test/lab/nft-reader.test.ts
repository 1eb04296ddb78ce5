// The long-lived `nft -j -i` that reads the kernel limits' counters (src/netcfg/nft-reader.ts),
// against the real nft in a network namespace of its own: answers stay in step through errors,
// a lost child is replaced, and one nft answers many questions (the point of it).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NftReader } from '../../src/netcfg/nft-reader.js';

const NS = `tg-nftr-${process.pid}`;
const nft = (...args: string[]) =>
  execFileSync('ip', ['netns', 'exec', NS, 'nft', ...args], { stdio: 'pipe' });
const counterOf = (line: string | undefined) =>
  (JSON.parse(line ?? '{}').nftables ?? []).find((o: { counter?: unknown }) => o.counter)?.counter as
    | { name: string; packets: number }
    | undefined;

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', NS]);
  nft('add', 'table', 'inet', 't');
  nft('add', 'counter', 'inet', 't', 'c1', '{', 'packets', '7', 'bytes', '700', '}');
});

afterAll(() => {
  execFileSync('ip', ['netns', 'del', NS]);
});

describe('NftReader', () => {
  it('answers each question with its own line, through errors, with one nft for many questions', async () => {
    const reader = new NftReader(['ip', 'netns', 'exec', NS, 'nft', '-j', '-i']);
    try {
      expect(counterOf(await reader.ask('list counters table inet t'))).toMatchObject({
        name: 'c1',
        packets: 7,
      });
      const first = (reader as unknown as { child?: { pid?: number } }).child?.pid;
      for (let i = 0; i < 20; i++)
        expect(counterOf(await reader.ask('list counters table inet t'))?.packets).toBe(7);
      // Still the same nft after 20 more questions (no spawn per read).
      expect((reader as unknown as { child?: { pid?: number } }).child?.pid).toBe(first);
      // Negative control: a table that is not there gets no answer, and the child is replaced…
      expect(await reader.ask('list counters table inet nothere')).toBeUndefined();
      // …so the next answer is the next question's own, not a late line of the failed one.
      nft('reset', 'counters', 'table', 'inet', 't');
      expect(counterOf(await reader.ask('list counters table inet t'))?.packets).toBe(0);
      // A second question while one waits is not queued behind it.
      const [a, b] = await Promise.all([
        reader.ask('list counters table inet t'),
        reader.ask('list counters table inet t'),
      ]);
      expect(counterOf(a)?.name).toBe('c1');
      expect(b).toBeUndefined();
    } finally {
      reader.close();
    }
  });

  it('replaces an nft that died, and answers undefined when nft cannot run at all', async () => {
    const reader = new NftReader(['ip', 'netns', 'exec', NS, 'nft', '-j', '-i']);
    try {
      expect(counterOf(await reader.ask('list counters table inet t'))?.name).toBe('c1');
      const child = (reader as unknown as { child?: { kill(s: string): void } }).child;
      child?.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      expect(counterOf(await reader.ask('list counters table inet t'))?.name).toBe('c1');
    } finally {
      reader.close();
    }
    const missing = new NftReader(['/nonexistent/nft', '-j', '-i'], 500);
    expect(await missing.ask('list counters table inet t')).toBeUndefined();
    missing.close();
  });
});
