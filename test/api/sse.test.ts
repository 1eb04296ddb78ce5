// The event stream: hello, counters each second with rates, dataplane events, filters, the client limit,
// and the guarantee that a client that stops reading only loses its own oldest events.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseReader, startTestDaemon, type TestDaemon } from './helpers.js';

let d: TestDaemon;

beforeAll(async () => {
  d = await startTestDaemon({ sse: { queueLimit: 64, maxClients: 4 } });
});

afterAll(async () => {
  await d?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('GET /api/v1/events', () => {
  it('greets with the status, then sends counters each second with per-second rates', async () => {
    const s = await SseReader.open(`${d.url}/api/v1/events`, d.token);
    try {
      expect(s.status).toBe(200);
      const hello = await s.next('hello');
      expect(hello.data.status.version).toBe('0.0.0-test');
      expect(hello.data.queueLimit).toBe(64);
      const timer = setInterval(() => d.dp.bump('icmp', 50), 50);
      try {
        const first = await s.next('counters', 2500);
        const second = await s.next('counters', 2500, s.events.indexOf(first) + 1);
        expect(second.data.at - first.data.at).toBeGreaterThan(800);
        expect(second.data.at - first.data.at).toBeLessThan(1300);
        expect(second.data.rates.icmp).toBeGreaterThan(500);
        expect(second.data.rates.icmp).toBeLessThan(1500);
        expect(second.data.counters.icmp).toBeGreaterThan(0);
        expect(second.data).toHaveProperty('dropRates');
        expect(second.data.tier).toBeNull();
      } finally {
        clearInterval(timer);
      }
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
      await tiers.next('tier');
      await sleep(1200);
      expect(new Set(tiers.events.map((e) => e.event))).toEqual(new Set(['hello', 'tier']));
    } finally {
      all.close();
      tiers.close();
    }
  });

  it('refuses more than maxClients streams with a 503, and forgets closed clients', async () => {
    await sleep(100);
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
    for (let i = 0; i < 50 && d.cp.api.hub.stats().clients > 0; i++) await sleep(20);
    expect(d.cp.api.hub.stats().clients).toBe(0);
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
    await sleep(100);
    const pad = 'x'.repeat(16 * 1024);
    const N = 1000; // 16 MB in all: far more than the socket buffers hold
    let maxPublishMs = 0;
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      d.cp.bus.publish({
        type: 'config',
        at: Date.now(),
        applied: [pad],
        pendingRestart: [String(i)],
        source: 'api',
      });
      maxPublishMs = Math.max(maxPublishMs, performance.now() - t0);
      if (i % 20 === 19) await new Promise((r) => setImmediate(r));
    }
    const last = await fast.next('config', 5000, 0).then(async () => {
      for (let i = 0; i < 100; i++) {
        const l = fast.events.filter((e) => e.event === 'config').at(-1);
        if (l?.data.pendingRestart[0] === String(N - 1)) return l;
        await sleep(50);
      }
      return fast.events.filter((e) => e.event === 'config').at(-1);
    });
    expect(last?.data.pendingRestart[0]).toBe(String(N - 1)); // the reading client got the newest
    const perClient = d.cp.api.hub.clientStats();
    const slowStats = perClient.find((c) => c.dropped > N / 3);
    expect(slowStats, JSON.stringify(perClient)).toBeDefined();
    expect(slowStats!.queued).toBeLessThanOrEqual(64);
    expect(d.cp.api.hub.stats().dropped).toBeGreaterThan(N / 3);
    expect(maxPublishMs).toBeLessThan(20);
    console.log(
      `sse: ${N} × 16 KiB events; slow client dropped ${slowStats!.dropped}, queue ${slowStats!.queued}/64; fast client got ${fast.events.length - 1}; max publish ${maxPublishMs.toFixed(2)} ms`,
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
    for (let i = 0; i < 100 && !notice; i++) await sleep(50);
    expect(JSON.parse(notice || '{}').count).toBeGreaterThan(100);
    slow.destroy();
    fast.close();
  });
});
