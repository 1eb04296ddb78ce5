// The event stream: hello, counters each second with rates, dataplane events, filters, the client limit,
// and the guarantee that a client that stops reading only loses its own oldest events.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SseReader, startTestDaemon, type TestDaemon } from './helpers.js';

let d: TestDaemon;

beforeAll(async () => {
  d = await startTestDaemon({ sse: { queueLimit: 64, maxClients: 4 } });
});

afterAll(async () => {
  await d?.close();
});

/** Waits until the hub counts `n` streams (they register when their request is handled). */
const clientsAre = (n: number) => vi.waitFor(() => expect(d.cp.api.hub.stats().clients).toBe(n));

describe('GET /api/v1/events', () => {
  it('greets with the status, then sends counters each second with per-second rates', async () => {
    const s = await SseReader.open(`${d.url}/api/v1/events`, d.token);
    try {
      expect(s.status).toBe(200);
      const hello = await s.next('hello');
      expect(hello.data.status.version).toBe('0.0.0-test');
      expect(hello.data.queueLimit).toBe(64);
      const first = await s.next('counters', 2500);
      d.dp.bump('icmp', 700); // after the first sample, before the second
      const second = await s.next('counters', 2500, s.events.indexOf(first) + 1);
      // Timers never fire early: at least a second apart (a busy machine may make it more).
      expect(second.data.at - first.data.at).toBeGreaterThanOrEqual(990);
      expect(second.data.intervalSeconds).toBeCloseTo((second.data.at - first.data.at) / 1000, 6);
      expect(second.data.counters.icmp - first.data.counters.icmp).toBe(700);
      expect(second.data.rates.icmp).toBeCloseTo(700 / second.data.intervalSeconds, 6);
      expect(second.data).toHaveProperty('dropRates');
      expect(second.data.tier).toBeNull();
    } finally {
      s.close();
    }
  });

  it('forwards tier changes and attacker marks as they happen, and honours ?types=', async () => {
    const all = await SseReader.open(`${d.url}/api/v1/events`, d.token);
    const tiers = await SseReader.open(`${d.url}/api/v1/events?types=tier`, d.token);
    try {
      await all.next('hello');
      await tiers.next('hello');
      d.dp.emit('event', { type: 'tier', tier: 'risky', synsInWindow: 900 });
      d.dp.emit('event', {
        type: 'attacker',
        action: 'mark',
        address: '198.51.100.50',
        holdSeconds: 30,
        unfinished: 8,
      });
      const t = await all.next('tier');
      expect(t.data).toMatchObject({ type: 'tier', to: 'risky', synsInWindow: 900 });
      const a = await all.next('attacker');
      expect(a.data.attacker).toMatchObject({ address: '198.51.100.50', unfinished: 8 });
      const firstTier = await tiers.next('tier');
      // Once the full stream has had a counters event, a second tier change closes the window: every
      // event published before it has reached the filtered stream too, or was filtered out.
      const counters = await all.next('counters', 2500);
      d.dp.emit('event', { type: 'tier', tier: 'normal', synsInWindow: 0 });
      await all.next('tier', 3000, all.events.indexOf(counters) + 1);
      await tiers.next('tier', 3000, tiers.events.indexOf(firstTier) + 1);
      expect(tiers.events.map((e) => e.event)).toEqual(['hello', 'tier', 'tier']);
    } finally {
      all.close();
      tiers.close();
    }
  });

  it('refuses more than maxClients streams with a 503, and forgets closed clients', async () => {
    await clientsAre(0);
    const open = await Promise.all([1, 2, 3, 4].map(() => SseReader.open(`${d.url}/api/v1/events`, d.token)));
    try {
      expect(open.map((s) => s.status)).toEqual([200, 200, 200, 200]);
      const fifth = await fetch(`${d.url}/api/v1/events`, {
        headers: { authorization: `Bearer ${d.token}` },
      });
      expect(fifth.status).toBe(503);
      expect(await fifth.json()).toMatchObject({ error: 'too_many_clients' });
    } finally {
      for (const s of open) s.close();
    }
    await clientsAre(0);
  });

  it('a client that stops reading loses only its own oldest events; nobody waits for it', async () => {
    // The slow client: a raw socket that sends the request and then never reads.
    const u = new URL(d.url);
    const slow = connect(Number(u.port), u.hostname);
    await new Promise<void>((r) => slow.once('connect', () => r()));
    slow.write(
      `GET /api/v1/events?types=config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.token}\r\n\r\n`,
    );
    slow.pause();
    const fast = await SseReader.open(`${d.url}/api/v1/events?types=config`, d.token);
    await fast.next('hello');
    await clientsAre(2);
    const pad = 'x'.repeat(16 * 1024);
    const N = 1000; // 16 MB in all: far more than the socket buffers hold
    for (let i = 0; i < N; i++) {
      d.cp.bus.publish({
        type: 'config',
        at: Date.now(),
        applied: [pad],
        pendingRestart: [String(i)],
        source: 'api',
      });
      if (i % 20 === 19) await new Promise((r) => setImmediate(r));
    }
    // The reading client gets the newest.
    await vi.waitFor(
      () =>
        expect(fast.events.filter((e) => e.event === 'config').at(-1)?.data.pendingRestart[0]).toBe(
          String(N - 1),
        ),
      { timeout: 5000, interval: 50 },
    );
    const perClient = d.cp.api.hub.clientStats();
    const slowStats = perClient.find((c) => c.dropped > N / 3);
    expect(slowStats, JSON.stringify(perClient)).toBeDefined();
    expect(slowStats!.queued).toBeLessThanOrEqual(64);
    expect(d.cp.api.hub.stats().dropped).toBeGreaterThan(N / 3);
    console.log(
      `sse: ${N} × 16 KiB events; slow client dropped ${slowStats!.dropped}, queue ${slowStats!.queued}/64; fast client got ${fast.events.length - 1}`,
    );
    // When the slow client reads again, it is told how many it lost.
    let notice = '';
    let tail = '';
    slow.setEncoding('utf8');
    slow.on('data', (x: string) => {
      const m = /event: dropped\ndata: (\{"count":\d+\})/.exec(tail + x);
      if (m) notice ||= m[1];
      tail = x.slice(-100);
    });
    slow.resume();
    await vi.waitFor(() => expect(notice).not.toBe(''), { timeout: 5000, interval: 50 });
    expect(JSON.parse(notice).count).toBeGreaterThan(100);
    slow.destroy();
    fast.close();
  });
});
