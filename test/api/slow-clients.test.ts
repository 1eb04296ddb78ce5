// 300 slow clients (headers never finished) against the API's 256 connection slots: a real client
// still gets its answer at once, and the slow ones are cut at the headers timeout (10 s), not later.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestDaemon, type TestDaemon } from './helpers.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.close();
});

describe('slow clients', () => {
  it('300 slow sockets: a real client is answered, and the slow ones are closed by the headers timeout', async () => {
    const { hostname, port } = new URL(d.url);
    const slow: Socket[] = [];
    let closed = 0;
    await Promise.all(
      Array.from(
        { length: 300 },
        () =>
          new Promise<void>((resolve) => {
            const s = connect({ host: hostname, port: Number(port) }, () => {
              // Headers begun, never finished, one more byte now and then (a slowloris).
              s.write('GET /api/v1/status HTTP/1.1\r\nHost: x\r\n');
              resolve();
            });
            const drip = setInterval(() => s.writable && s.write('X'), 1000);
            s.on('error', () => {});
            s.on('close', () => {
              clearInterval(drip);
              closed++;
              resolve();
            });
            slow.push(s);
          }),
      ),
    );
    try {
      const t0 = Date.now();
      const r = await http(d.url, 'GET', '/api/v1/status', { token: d.token });
      expect(r.status).toBe(200);
      expect(Date.now() - t0).toBeLessThan(2000);
      // The real client took a slot from a slow one; the rest go at the headers timeout (10 s).
      const t1 = Date.now();
      while (closed < 300 && Date.now() - t1 < 14_000) await new Promise((res) => setTimeout(res, 200));
      expect(closed).toBe(300);
    } finally {
      for (const s of slow) s.destroy();
    }
  }, 30_000);
});
