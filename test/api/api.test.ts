// The API through real HTTP on loopback: every route, auth, errors, config writes, allowlist, reload.
// One file (about 610 lines): the routes share one daemon started once; a split would start it per file.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pinnedFetch } from '../../src/cli/pinned-fetch.js';
import { BASE_UCI, documentedAndServed, http, startTestDaemon, type TestDaemon } from './helpers.js';

let d: TestDaemon;
const get = (path: string, token: string | undefined = d.token) => http(d.url, 'GET', path, { token });

beforeAll(async () => {
  d = await startTestDaemon();
});

afterAll(async () => {
  await d?.close();
});

/** Every route the app serves, with a request that should succeed. */
const ROUTES: [string, string, unknown?][] = [
  ['GET', '/metrics'],
  ['GET', '/api/v1/openapi.json'],
  ['GET', '/api/v1/status'],
  ['GET', '/api/v1/tiers'],
  ['GET', '/api/v1/ratelimit'],
  ['GET', '/api/v1/connections'],
  ['GET', '/api/v1/attackers'],
  ['DELETE', '/api/v1/attackers'],
  ['DELETE', '/api/v1/attackers/198.51.100.9'],
  ['GET', '/api/v1/config'],
  ['PUT', '/api/v1/config', { uci: BASE_UCI }],
  ['POST', '/api/v1/config/check', { uci: BASE_UCI }],
  ['GET', '/api/v1/allowlist'],
  ['POST', '/api/v1/allowlist', { cidr: '203.0.113.0/24' }],
  ['DELETE', '/api/v1/allowlist/203.0.113.0/24'],
  ['DELETE', '/api/v1/allowlist/192.0.2.77'],
  ['GET', '/api/v1/events'],
];

describe('auth', () => {
  it('answers /healthz and the dashboard without a token', async () => {
    const h = await get('/healthz', undefined);
    expect(h.status).toBe(200);
    expect(h.json).toEqual({ ok: true });
    const page = await get('/', undefined);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const js = await get('/dashboard.js', undefined);
    expect(js.status).toBe(200);
  });

  it('refuses every other route without a token, with a wrong token, and with a bad scheme', async () => {
    for (const [method, path, body] of ROUTES) {
      const variants: Record<string, string>[] = [
        {},
        { authorization: 'Bearer wrong-token-0123456789abcdef0123456789abcdef' },
        { authorization: `Bearer ${d.token}x` },
        { authorization: `Basic ${d.token}` },
        { authorization: 'Bearer' },
        { authorization: `Bearer ${d.token.slice(0, -1)}` },
      ];
      for (const headers of variants) {
        const r = await http(d.url, method, path, { body, headers });
        expect(r.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(r.json.error).toBe('unauthorized');
        expect(r.json.detail).toMatch(/token/);
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="tunguard"/);
        expect(r.text).not.toContain(d.token);
      }
    }
  });

  it('accepts the token with any case of the scheme', async () => {
    const r = await http(d.url, 'GET', '/api/v1/status', { headers: { authorization: `bearer ${d.token}` } });
    expect(r.status).toBe(200);
  });

  it('keeps the token in a 0600 file and never logs it', () => {
    const file = join(d.dir, 'api.token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(d.token);
    expect(d.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((d as unknown as { logs: string[] }).logs.join('\n')).not.toContain(d.token);
  });
});

describe('routes', () => {
  it('GET /status: tier and halfOpen are null with a note until the defense stage reports', async () => {
    d.dp.bump('rx_packets', 10);
    d.dp.bump('malformed_truncated', 2);
    const r = await get('/api/v1/status');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ tier: null, halfOpen: null, version: '0.0.0-test' });
    expect(r.json.counters.rx_packets).toBe(10);
    expect(r.json.drops).toEqual({ malformed_truncated: 2, malformed_bad_version: 0 });
    expect(r.json.uptimeSeconds).toBeGreaterThan(4);
    expect(r.json.notes.tier).toMatch(/not reported/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('reports tiers, half-open and attackers from dataplane events (and the defense modules own shapes)', async () => {
    d.dp.emit('event', { type: 'tier', tier: 'normal', synsInWindow: 0, at: 5 });
    d.dp.emit('event', {
      type: 'tier',
      at: Date.now(),
      from: 'normal',
      to: 'moderate',
      synCount: 150,
      halfOpen: 42,
    });
    d.dp.emit('event', { type: 'gauges', halfOpen: 7 });
    d.dp.emit('event', { type: 'nonsense', x: 1 });
    d.dp.emit('event', 'not an object');
    const s = await get('/api/v1/status');
    expect(s.json.tier).toBe('moderate');
    expect(s.json.halfOpen).toBe(7);
    expect(s.json.notes).toBeUndefined();
    const t = await get('/api/v1/tiers?limit=10');
    expect(t.json.current).toBe('moderate');
    expect(t.json.items.map((i: { to: string }) => i.to)).toEqual(['moderate', 'normal']);
    expect(t.json.items[0]).toMatchObject({ from: 'normal', to: 'moderate', synsInWindow: 150 });
    expect(t.json.items[0].at).toBeGreaterThan(1e12);
    expect(t.json.thresholds).toEqual({ windowSeconds: 3, moderate: 100, risky: 300 });
    expect(t.json.note).toBeUndefined();
    const limited = await get('/api/v1/tiers?limit=1');
    expect(limited.json.items).toHaveLength(1);

    // The SYN gate's own shape (src/dataplane/stages/syn-gate.ts): no action, wall-clock at/until.
    const now = Date.now();
    d.dp.emit('event', {
      type: 'attacker',
      address: '198.51.100.66',
      at: now,
      until: now + 60_000,
      unfinished: 9,
    });
    d.dp.emit('event', {
      type: 'attacker',
      action: 'mark',
      address: '2001:db8:1:2::/64',
      holdSeconds: 60,
      unfinished: 6,
    });
    const a = await get('/api/v1/attackers');
    expect(a.json.total).toBe(2);
    expect(a.json.items[0]).toMatchObject({
      address: '198.51.100.66',
      family: 4,
      unfinished: 9,
      reason: 'unfinished-handshakes',
    });
    expect(a.json.items[0].expiresAt - a.json.items[0].markedAt).toBe(60_000);
    const m = await get('/metrics');
    expect(m.text).toMatch(/^tunguard_attackers 2$/m);
    expect(m.text).toMatch(/^tunguard_dataplane_events_ignored_total 2$/m);
    expect(m.text).toMatch(/^tunguard_tier\{tier="moderate"\} 1$/m);
  });

  it('takes tier and half-open from the SYN gate gauges when the counters have them', async () => {
    d.dp.values.gauge_tier = 2;
    d.dp.values.gauge_half_open = 333;
    d.dp.values.drop_syn_risky = 12;
    try {
      const s = await get('/api/v1/status');
      expect(s.json).toMatchObject({ tier: 'risky', halfOpen: 333 });
      expect(s.json.drops.drop_syn_risky).toBe(12);
      expect(s.json.drops).not.toHaveProperty('gauge_tier');
      expect((await get('/api/v1/tiers')).json.current).toBe('risky');
      const m = await get('/metrics');
      expect(m.text).toMatch(/^# TYPE tunguard_dataplane_half_open gauge$/m);
      expect(m.text).toMatch(/^tunguard_dataplane_half_open\{worker="0"\} 333$/m);
    } finally {
      delete d.dp.values.gauge_tier;
      delete d.dp.values.gauge_half_open;
      delete d.dp.values.drop_syn_risky;
    }
  });

  it('DELETE /attackers/:address clears one (404 if not marked), DELETE /attackers clears all', async () => {
    d.dp.emit('event', { type: 'attacker', action: 'mark', address: '198.51.100.67', holdSeconds: 60 });
    const one = await http(d.url, 'DELETE', '/api/v1/attackers/198.51.100.67', { token: d.token });
    expect(one.status).toBe(200);
    expect(one.json).toEqual({ cleared: 1, dataplaneNotified: true });
    expect(d.dp.commands.at(-1)).toEqual({ type: 'attackers.clear', address: '198.51.100.67' });
    const again = await http(d.url, 'DELETE', '/api/v1/attackers/198.51.100.67', { token: d.token });
    expect(again.status).toBe(404);
    expect(again.json).toEqual({ error: 'not_found', detail: '198.51.100.67 is not marked' });
    const all = await http(d.url, 'DELETE', '/api/v1/attackers', { token: d.token });
    expect(all.status).toBe(200);
    expect((await get('/api/v1/attackers')).json.total).toBe(0);
  });

  it('GET /connections: from conn-sync reports, paged and filtered', async () => {
    const empty = await get('/api/v1/connections');
    expect(empty.json).toMatchObject({ items: [], total: 0, offset: 0, limit: 50 });
    expect(empty.json.note).toMatch(/no SYN proxy/);
    const upserts = Array.from({ length: 30 }, (_, i) => ({
      key: `4|c6336402|${40000 + i}|c0000202|${i % 2 ? 80 : 443}`,
      ver: 4,
      client: 'c6336402',
      server: 'c0000202',
      cPort: 40000 + i,
      sPort: i % 2 ? 80 : 443,
      state: i < 25 ? 2 : 3,
      updated: Date.now(),
      isnC: 1,
    }));
    upserts.push({
      key: '6|20010db8000100000000000000000002|5555|20010db8000200000000000000000002|22',
      ver: 6,
      client: '20010db8000100000000000000000002',
      server: '20010db8000200000000000000000002',
      cPort: 5555,
      sPort: 22,
      state: 2,
      updated: Date.now(),
      isnC: 1,
    });
    d.dp.emit('event', { type: 'conn-sync', upserts, removes: [] });
    d.dp.emit('event', { type: 'conn-sync', upserts: [], removes: [upserts[0].key] });
    const all = await get('/api/v1/connections?limit=1000');
    expect(all.json.total).toBe(30);
    expect(all.json.note).toBeUndefined();
    expect(all.json.items[0]).toMatchObject({
      family: 6,
      src: '2001:db8:1::2',
      dst: '2001:db8:2::2',
      dport: 22,
      state: 'established',
    });
    const page = await get('/api/v1/connections?offset=10&limit=5');
    expect(page.json.items).toHaveLength(5);
    expect(page.json).toMatchObject({ offset: 10, limit: 5, total: 30 });
    expect((await get('/api/v1/connections?port=80')).json.total).toBe(15);
    expect((await get('/api/v1/connections?state=fin-wait')).json.total).toBe(5);
    expect((await get('/api/v1/connections?family=6')).json.total).toBe(1);
    expect((await get('/api/v1/connections?src=198.51.100.0/24')).json.total).toBe(29);
    expect((await get('/api/v1/connections?dst=2001:db8:2::/48')).json.total).toBe(1);
    expect((await get('/api/v1/connections?src=203.0.113.0/24')).json.total).toBe(0);
  });

  it('GET /ratelimit: configured limits, not enforced while no rate-limit counters exist', async () => {
    const r = await get('/api/v1/ratelimit');
    expect(r.json.enforced).toBe(false);
    expect(r.json.icmp).toMatchObject({ enabled: true, rate: 100, burst: 100, perSourceRate: 50 });
    expect(r.json.udp).toMatchObject({ rate: 200, exemptPorts: [53] });
    expect(r.json.note).toMatch(/not enforced/);
    d.dp.values.drop_icmp_rate_global = 5;
    const e = await get('/api/v1/ratelimit');
    expect(e.json.enforced).toBe(true);
    expect(e.json.icmp.dropped).toEqual({ drop_icmp_rate_global: 5 });
    delete d.dp.values.drop_icmp_rate_global;
  });

  it('GET /metrics: Prometheus text', async () => {
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.text).toMatch(/^# TYPE tunguard_dataplane_rx_packets_total counter$/m);
    expect(r.text).toMatch(/^tunguard_dataplane_rx_packets_total\{worker="0"\} 10$/m);
    expect(r.text).toMatch(/^tunguard_api_responses_total\{code="200"\} \d+$/m);
    // Every line is a comment or `name{labels} value`.
    for (const line of r.text.trimEnd().split('\n'))
      expect(line).toMatch(
        /^(# (HELP|TYPE) [a-z0-9_]+ .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfNa]+)$/,
      );
  });

  it('GET /api/v1/openapi.json describes exactly the routes the app has', async () => {
    const r = await get('/api/v1/openapi.json');
    expect(r.json.openapi).toBe('3.1.0');
    const { documented, served } = documentedAndServed(r.json, d.cp.api.app.routes);
    expect(documented).toEqual(served);
    for (const [method, path] of ROUTES) {
      const p = path.replace(/\/(198\.51\.100\.9|192\.0\.2\.77|203\.0\.113\.0\/24)$/, '');
      expect(
        [...served].some((s) => s.startsWith(`${method} ${p}`)),
        `${method} ${path}`,
      ).toBe(true);
    }
  });

  it('answers 404 for unknown paths and 405 (with Allow) for a wrong method, as JSON', async () => {
    const nf = await get('/api/v1/nope');
    expect(nf.status).toBe(404);
    expect(nf.json).toEqual({ error: 'not_found', detail: 'no such resource' });
    const mna = await http(d.url, 'PATCH', '/api/v1/config', { token: d.token, body: {} });
    expect(mna.status).toBe(405);
    expect(mna.headers.get('allow')).toBe('GET, PUT');
    expect(mna.json.error).toBe('method_not_allowed');
  });

  it('keeps CORS off by default', async () => {
    const r = await http(d.url, 'GET', '/api/v1/status', {
      token: d.token,
      headers: { origin: 'http://192.0.2.1' },
    });
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    const pre = await http(d.url, 'OPTIONS', '/api/v1/status', { headers: { origin: 'http://192.0.2.1' } });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('config', () => {
  it('GET /config: the text, the parsed config, an etag', async () => {
    const r = await get('/api/v1/config');
    expect(r.json).toMatchObject({ path: d.configPath, persisted: true, pendingRestart: [] });
    expect(r.json.uci).toBe(readFileSync(d.configPath!, 'utf8'));
    expect(r.json.config.defense.syn.moderateThreshold).toBe(100);
    expect(r.headers.get('etag')).toBe(r.json.etag);
  });

  it('POST /config/check validates without applying', async () => {
    const good = await http(d.url, 'POST', '/api/v1/config/check', {
      token: d.token,
      body: { uci: BASE_UCI },
    });
    expect(good.json).toEqual({ valid: true, issues: [], warnings: [] });
    const bad = await http(d.url, 'POST', '/api/v1/config/check', {
      token: d.token,
      body: { uci: "config defense 'syn'\n\toption risky_threshold 'lots'\n" },
    });
    expect(bad.status).toBe(200);
    expect(bad.json.valid).toBe(false);
    expect(bad.json.issues[0]).toMatchObject({ line: 2 });
    expect(bad.json.issues[0].message).toMatch(/risky_threshold/);
  });

  it('PUT /config persists atomically, applies, reports what needs a restart; bad config is a 422 with lines', async () => {
    const before = await get('/api/v1/config');
    const uci = BASE_UCI.replace("'100'", "'120'").replace(
      "list lan_device 'lan0'",
      "list lan_device 'lan0'\n\toption queues '2'",
    );
    const r = await http(d.url, 'PUT', '/api/v1/config', {
      token: d.token,
      body: { uci },
      headers: { 'if-match': before.json.etag },
    });
    expect(r.status).toBe(200);
    expect(r.json.pendingRestart).toEqual(['main.queues']);
    expect(r.json.notApplied).toEqual([]);
    expect(r.json.applied).toContain('defense.syn');
    // Applied means the workers' stages run with it, not only the config store.
    expect(d.dp.gate.tiers.moderateThreshold).toBe(120);
    expect(readFileSync(d.configPath!, 'utf8')).toBe(uci);
    expect((await get('/api/v1/tiers')).json.thresholds.moderate).toBe(120);

    const stale = await http(d.url, 'PUT', '/api/v1/config', {
      token: d.token,
      body: { uci },
      headers: { 'if-match': before.json.etag },
    });
    expect(stale.status).toBe(412);
    expect(stale.json.error).toBe('precondition_failed');

    const bad = await http(d.url, 'PUT', '/api/v1/config', {
      token: d.token,
      body: { uci: `${uci}\nconfig ratelimit 'icmp'\n\toption rate 'fast'\n\toption burts '5'\n` },
    });
    expect(bad.status).toBe(422);
    expect(bad.json.error).toBe('invalid_config');
    expect(bad.json.issues.map((i: { line: number }) => i.line)).toEqual([14, 15]);
    expect(bad.json.issues[1].message).toMatch(/unknown option 'burts'/);
    expect(readFileSync(d.configPath!, 'utf8')).toBe(uci); // untouched

    const back = await http(d.url, 'PUT', '/api/v1/config', { token: d.token, body: { uci: BASE_UCI } });
    expect(back.status).toBe(200);
    expect(back.json.pendingRestart).toEqual([]);
  });

  it('every SYN and rate-limit option a reload reports applied reaches the stages; the rest needs a restart', async () => {
    const syn = (o: string) => `${BASE_UCI}\toption ${o}\n`;
    const gate = () => d.dp.gate;
    const proxy = () =>
      d.dp.stages.find((s) => s.constructor.name === 'SynProxyStage') as unknown as {
        opts: { idleMs: number };
      };
    const limits = () =>
      (
        d.dp.stages.find((s) => s.constructor.name === 'RateLimitStage') as unknown as {
          settings: { icmp: { rate: number }; udp: { perSourceRate: number } };
        }
      ).settings;
    const cases: [string, () => unknown, unknown][] = [
      ['window_seconds 7', () => gate().tiers.windowMs, 7000],
      ['max_unfinished_per_source 9', () => gate().sources.maxUnfinished, 9],
      ['aggressive_hold_seconds 17', () => gate().sources.holdMs, 17_000],
      ["risky_action 'drop'", () => gate().settings.riskyAction, 'drop'],
      ['risky_threshold 333', () => gate().tiers.riskyThreshold, 333],
      ['connection_idle_seconds 600', () => proxy().opts.idleMs, 600_000],
    ];
    try {
      for (const [opt, read, want] of cases) {
        expect(read(), opt).not.toEqual(want);
        const r = await http(d.url, 'PUT', '/api/v1/config', { token: d.token, body: { uci: syn(opt) } });
        expect(r.status, r.text).toBe(200);
        expect(r.json.applied, opt).toContain('defense.syn');
        expect(r.json.pendingRestart, opt).toEqual([]);
        expect(read(), opt).toEqual(want);
        await http(d.url, 'PUT', '/api/v1/config', { token: d.token, body: { uci: BASE_UCI } });
      }
      const rl = await http(d.url, 'PUT', '/api/v1/config', {
        token: d.token,
        body: {
          uci: `${BASE_UCI}\nconfig ratelimit 'icmp'\n\toption rate '77'\n\nconfig ratelimit 'udp'\n\toption per_source_rate '33'\n`,
        },
      });
      expect(rl.json.applied).toEqual(expect.arrayContaining(['ratelimit.icmp', 'ratelimit.udp']));
      expect(limits().icmp.rate).toBe(77);
      expect(limits().udp.perSourceRate).toBe(33);
      // What the workers cannot change while running is reported as needing a restart, not as applied.
      for (const [opt, part] of [
        ['syn_cache_size 1024', 'defense.syn.syn_cache_size'],
        ["proxy_inbound '0'", 'defense.syn.proxy_inbound'],
      ]) {
        const r = await http(d.url, 'PUT', '/api/v1/config', { token: d.token, body: { uci: syn(opt) } });
        expect(r.json.applied, opt).not.toContain('defense.syn');
        expect(r.json.pendingRestart, opt).toEqual([part]);
      }
    } finally {
      await http(d.url, 'PUT', '/api/v1/config', { token: d.token, body: { uci: BASE_UCI } });
    }
  });

  it('turns CORS on when the config says so', async () => {
    const uci = `${BASE_UCI}\nconfig api 'api'\n\toption cors '1'\n`;
    const r = await http(d.url, 'PUT', '/api/v1/config', { token: d.token, body: { uci } });
    expect(r.json.applied).toContain('api.cors');
    const pre = await http(d.url, 'OPTIONS', '/api/v1/status', { headers: { origin: 'http://192.0.2.1' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    const g = await http(d.url, 'GET', '/api/v1/status', {
      token: d.token,
      headers: { origin: 'http://192.0.2.1' },
    });
    expect(g.headers.get('access-control-allow-origin')).toBe('*');
    await http(d.url, 'PUT', '/api/v1/config', { token: d.token, body: { uci: BASE_UCI } });
  });
});

describe('allowlist', () => {
  it('adds into its own section, keeps the comments of the file, refuses duplicates quietly', async () => {
    const r = await http(d.url, 'POST', '/api/v1/allowlist', {
      token: d.token,
      body: { cidr: '2001:db8:0:0::/64', comment: "admin's laptop" },
    });
    expect(r.status).toBe(201);
    expect(r.json.entry).toEqual({
      cidr: '2001:db8::/64',
      family: 6,
      section: 'allow_2001_db8___64',
      comment: "admin's laptop",
    });
    const text = readFileSync(d.configPath!, 'utf8');
    expect(text).toContain('# an admin host');
    expect(text).toContain("config allow 'allow_2001_db8___64'");
    const dup = await http(d.url, 'POST', '/api/v1/allowlist', {
      token: d.token,
      body: { cidr: '2001:db8::/64' },
    });
    expect(dup.status).toBe(200);
    expect(dup.json.changed).toBe(false);
    const list = await get('/api/v1/allowlist');
    expect(list.json.items.map((i: { cidr: string }) => i.cidr)).toEqual(['192.0.2.10/32', '2001:db8::/64']);
    expect((await get('/api/v1/config')).json.config.allow.map((p: { cidr: string }) => p.cidr)).toEqual([
      '192.0.2.10/32',
      '2001:db8::/64',
    ]);
  });

  it('removes by path (address, or address/bits), from the main section or an allow section', async () => {
    const v6 = await http(d.url, 'DELETE', '/api/v1/allowlist/2001:db8::/64', { token: d.token });
    expect(v6.status).toBe(200);
    expect(v6.json.entry.cidr).toBe('2001:db8::/64');
    expect(readFileSync(d.configPath!, 'utf8')).not.toContain('allow_2001_db8___64');
    const host = await http(d.url, 'DELETE', '/api/v1/allowlist/192.0.2.10', { token: d.token });
    expect(host.status).toBe(200);
    const text = readFileSync(d.configPath!, 'utf8');
    expect(text).toContain('# an admin host');
    expect(text).not.toContain('192.0.2.10');
    const gone = await http(d.url, 'DELETE', '/api/v1/allowlist/192.0.2.10/32', { token: d.token });
    expect(gone.status).toBe(404);
    expect(gone.json.detail).toBe('192.0.2.10/32 is not on the allowlist');
    const bad = await http(d.url, 'DELETE', '/api/v1/allowlist/192.0.2.1/24', { token: d.token });
    expect(bad.status).toBe(400);
    expect(bad.json.detail).toMatch(/host bits set/);
  });
});

describe('reload (SIGHUP path)', () => {
  it('applies a good file, refuses a bad one and keeps the old configuration', async () => {
    writeFileSync(d.configPath!, BASE_UCI.replace("'300'", "'400'"));
    const ok = await d.cp.reload();
    expect(ok.ok).toBe(true);
    expect((await get('/api/v1/tiers')).json.thresholds.risky).toBe(400);
    writeFileSync(d.configPath!, "config defense 'syn'\n\toption risky_threshold '50'\n");
    const bad = await d.cp.reload();
    expect(bad.ok).toBe(false);
    expect(bad.error).toMatch(/line 2: option risky_threshold: 50 must be above moderate_threshold/);
    expect((await get('/api/v1/tiers')).json.thresholds.risky).toBe(400);
    expect((d as unknown as { logs: string[] }).logs.some((l) => /reload refused/.test(l))).toBe(true);
    writeFileSync(d.configPath!, BASE_UCI);
    expect((await d.cp.reload()).ok).toBe(true);
  });

  it('re-reads a rotated token on reload', async () => {
    const old = d.token;
    const fresh = 'R'.repeat(43);
    writeFileSync(join(d.dir, 'api.token'), `${fresh}\n`, { mode: 0o600 });
    await d.cp.reload();
    expect((await get('/api/v1/status', old)).status).toBe(401);
    expect((await get('/api/v1/status', fresh)).status).toBe(200);
    writeFileSync(join(d.dir, 'api.token'), `${old}\n`);
    await d.cp.reload();
  });
});

describe('token_file', () => {
  it('takes a token_file only directly in the state or config directory, and never through a link', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'tg-token-victim-'));
    const victim = join(outside, 'shadow');
    writeFileSync(victim, 'root:x:0:0\n');
    chmodSync(victim, 0o644);
    try {
      // Through the API (what LuCI Settings calls): outside the directories is a 422, nothing changes.
      const away = `${BASE_UCI}\nconfig api 'api'\n\toption token_file '${victim}'\n`;
      const put = await http(d.url, 'PUT', '/api/v1/config', { token: d.token, body: { uci: away } });
      expect(put.status, put.text).toBe(422);
      expect(put.text).toMatch(/token_file .* must lie directly in/);
      expect(statSync(victim).mode & 0o777).toBe(0o644);
      // In the state directory but a link to the victim: refused when applied, the old token still works.
      symlinkSync(victim, join(d.dir, 'link.token'));
      const linked = `${BASE_UCI}\nconfig api 'api'\n\toption token_file '${join(d.dir, 'link.token')}'\n`;
      writeFileSync(d.configPath!, linked);
      const r = await d.cp.reload();
      expect(JSON.stringify(r)).toMatch(/symbolic link/);
      expect(statSync(victim).mode & 0o777).toBe(0o644);
      expect(readFileSync(victim, 'utf8')).toBe('root:x:0:0\n');
      expect((await get('/api/v1/status')).status).toBe(200);
    } finally {
      writeFileSync(d.configPath!, BASE_UCI);
      await d.cp.reload();
      rmSync(join(d.dir, 'link.token'), { force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('listeners', () => {
  it('refuses a listen address of the WAN device and a wildcard given on the command line', async () => {
    const uci = `${BASE_UCI}\nconfig api 'api'\n\tlist listen '127.0.0.1:7449'\n`;
    const x = await startTestDaemon({ uci, wanDevice: 'lo', override: null });
    try {
      expect(x.url).toBe('');
      expect(x.cp.summary().error).toMatch(/127\.0\.0\.1:7449 is an address of the WAN device lo/);
      // And through the API path: a config naming a WAN address is a 422.
      const check = x.store.check(uci);
      expect(check.valid).toBe(false);
      expect(check.issues[0].line).toBe(13);
    } finally {
      await x.close();
    }
  });

  it('moves listeners on reload without dropping the unchanged one', async () => {
    const port = 20000 + (process.pid % 20000);
    const uci = (ports: number[]) =>
      `${BASE_UCI}\nconfig api 'api'\n${ports.map((p) => `\tlist listen '127.0.0.1:${p}'\n`).join('')}`;
    const x = await startTestDaemon({ uci: uci([port]), override: null });
    try {
      expect(x.url).toBe(`http://127.0.0.1:${port}`);
      expect((await http(x.url, 'GET', '/healthz')).status).toBe(200);
      writeFileSync(x.configPath!, uci([port, port + 1]));
      const r = await x.cp.reload();
      expect(r.result?.applied).toContain('api.listen');
      expect((await http(`http://127.0.0.1:${port + 1}`, 'GET', '/healthz')).status).toBe(200);
      expect((await http(x.url, 'GET', '/healthz')).status).toBe(200);
      const info = JSON.parse(readFileSync(join(x.dir, 'api.json'), 'utf8'));
      expect(info.urls).toEqual([`http://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`]);
      expect(info.tokenFile).toBe(join(x.dir, 'api.token'));
      // A wildcard in the file is explicit: allowed, with a warning in the log.
      writeFileSync(x.configPath!, `${uci([port])}\tlist listen '0.0.0.0:${port + 2}'\n`);
      expect((await x.cp.reload()).ok).toBe(true);
      expect(
        (x as unknown as { logs: string[] }).logs.some((l) => /WARNING: listening on 0\.0\.0\.0/.test(l)),
      ).toBe(true);
      // Not loopback, so TLS only: plain HTTP gets no answer; HTTPS with the published pin does.
      await expect(fetch(`http://127.0.0.1:${port + 2}/healthz`)).rejects.toThrow();
      const pinned = JSON.parse(readFileSync(join(x.dir, 'api.json'), 'utf8')).tlsFingerprint;
      expect(pinned).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      const tlsRes = await pinnedFetch(`https://127.0.0.1:${port + 2}/healthz`, {}, pinned);
      expect(await tlsRes.text()).toBe('{"ok":true}');
      // Through the API: the answer to the PUT that moves the listener still arrives on the old one.
      const put = await http(x.url, 'PUT', '/api/v1/config', {
        token: x.token,
        body: { uci: uci([port + 3]) },
      });
      expect(put.status).toBe(200);
      expect(put.json.applied).toContain('api.listen');
      expect((await http(`http://127.0.0.1:${port + 3}`, 'GET', '/healthz')).status).toBe(200);
      // The old listener closes once the answer is out.
      await vi.waitFor(() => expect(fetch(`${x.url}/healthz`)).rejects.toThrow(), { timeout: 5000 });
    } finally {
      await x.close();
    }
  });
});
