// A generated corpus of bad input sent over raw HTTP (no client-side normalisation): wrong types, huge
// bodies, bad JSON, wrong media types, path tricks, unicode. Every answer must be a 4xx with a JSON
// {error, detail} that gives a reason; never a 5xx, never a stack trace.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_UCI, startTestDaemon, type TestDaemon } from './helpers.js';

let d: TestDaemon;

beforeAll(async () => {
  d = await startTestDaemon();
});

afterAll(async () => {
  await d?.close();
});

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send no Authorization header. */
  noAuth?: boolean;
}

function raw(c: Case): Promise<{ status: number; body: string; type: string }> {
  const u = new URL(d.url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = Object.fromEntries(
      Object.entries(c.headers ?? {}).map(([k, v]) => [k, v.replace('@TOKEN@', d.token)]),
    );
    if (!c.noAuth && headers.authorization === undefined) headers.authorization = `Bearer ${d.token}`;
    if (c.body !== undefined && headers['transfer-encoding'] === undefined)
      headers['content-length'] = Buffer.byteLength(c.body);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method: c.method,
        // Raw bytes other than printable ASCII cannot go on the request line: send them percent-encoded.
        path: c.path.replace(/[^\x21-\x7e]/gu, (ch) => encodeURIComponent(ch)),
        headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (x: Buffer) => chunks.push(x));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            type: String(res.headers['content-type'] ?? ''),
          }),
        );
      },
    );
    req.on('error', reject);
    if (c.body !== undefined) req.write(c.body);
    req.end();
  });
}

const JSON_H = { 'content-type': 'application/json' };

function corpus(): Case[] {
  const cases: Case[] = [];
  const add = (c: Case) => cases.push(c);

  // Query strings: wrong types, ranges, repeats, unknown parameters, unicode.
  const badInts = [
    '',
    'abc',
    '-1',
    '0',
    '1001',
    '1e3',
    '0x10',
    '١٢',
    '10.5',
    '%2010',
    'NaN',
    'Infinity',
    '99999999999999999999',
    '%00',
    '1%0A',
  ];
  for (const route of ['/api/v1/tiers', '/api/v1/attackers']) {
    for (const x of badInts) add({ name: `${route} limit=${x}`, method: 'GET', path: `${route}?limit=${x}` });
    add({ name: `${route} repeated limit`, method: 'GET', path: `${route}?limit=1&limit=2` });
    add({ name: `${route} unknown param`, method: 'GET', path: `${route}?lmit=5` });
  }
  for (const x of ['-1', 'x', '10000001', '1.5'])
    add({ name: `offset=${x}`, method: 'GET', path: `/api/v1/connections?offset=${x}` });
  for (const x of ['0', '65536', 'http', '-80', '80,443'])
    add({ name: `port=${x}`, method: 'GET', path: `/api/v1/connections?port=${x}` });
  for (const x of ['ESTABLISHED', 'a'.repeat(40), "'%3B%20drop", '%F0%9F%92%A5', '1abc', ''])
    add({ name: `state=${x}`, method: 'GET', path: `/api/v1/connections?state=${x}` });
  for (const x of ['5', 'ipv4', '4.0', ''])
    add({ name: `family=${x}`, method: 'GET', path: `/api/v1/connections?family=${x}` });
  const badPrefixes = [
    '300.1.1.1',
    '10.0.0.1/8',
    'fe80::1%25eth0',
    '192.0.2.0/33',
    '2001:db8::/129',
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    '::ffff:1.2.3.4/200',
    'a'.repeat(500),
    '%F0%9F%92%A5',
    '%E2%80%AE1.2.3.4',
    '1.2.3.4/',
    '/24',
    '1.2.3.4/-1',
    'localhost',
    '2001:db8:::1',
  ];
  for (const p of badPrefixes) {
    add({ name: `src=${p.slice(0, 20)}`, method: 'GET', path: `/api/v1/connections?src=${p}` });
    add({ name: `dst=${p.slice(0, 20)}`, method: 'GET', path: `/api/v1/connections?dst=${p}` });
  }
  for (const route of ['/api/v1/status', '/api/v1/ratelimit', '/api/v1/config', '/api/v1/allowlist'])
    add({ name: `${route} unknown param`, method: 'GET', path: `${route}?x=1` });
  for (const t of ['nope', 'tier,,nope', '', ',', 'TIER', 'counters;tier', 'x'.repeat(300)])
    add({ name: `events types=${t.slice(0, 20)}`, method: 'GET', path: `/api/v1/events?types=${t}` });

  // Path parameters and path tricks.
  for (const a of [
    '1.2.3.4%2F32',
    '..%2F..%2Fetc%2Fpasswd',
    '%2e%2e',
    '%ZZ',
    '%F0%9F%92%A5',
    'a'.repeat(3000),
    '1.2.3.4%00',
    '999.1.1.1',
    'fe80::1%25lo',
    '%C0%AF',
    '%E2%80%8B1.2.3.4',
    '%201.2.3.4',
  ])
    add({ name: `attacker ${a.slice(0, 20)}`, method: 'DELETE', path: `/api/v1/attackers/${a}` });
  for (const [a, b] of [
    ['1.2.3.4', 'abc'],
    ['1.2.3.4', '33'],
    ['1.2.3.0', '-1'],
    ['1.2.3.0', '024'],
    ['1.2.3.4', '24'],
    ['x', '24'],
    ['2001:db8::1', '64'],
    ['%2e%2e', '%2e%2e'],
    ['1.2.3.0', '%F0%9F%92%A5'],
  ])
    add({ name: `allow del ${a}/${b}`, method: 'DELETE', path: `/api/v1/allowlist/${a}/${b}` });
  for (const p of [
    '/api/v1/allowlist/1.2.3.4/24/extra',
    '/api/v1/status/..%2f..%2fmetrics',
    '/api/v1//status',
    '/api/v1/status%00',
    '/api/v1/status/',
    '/api/v2/status',
    '/api/v1/STATUS',
    '/api/v1/%2e%2e/metrics',
    '/api/v1/config/check/../../../etc/passwd',
    '/api/v1/config%2fcheck',
    `/api/v1/${'x'.repeat(8000)}`,
    '/api/v1/status?%ZZ=1',
    '/api/v1/events?types=%ZZ',
    '/api/v1/attackers?limit=%FF',
    '/nope',
    '/.env',
    '/metrics/',
  ])
    add({ name: `path ${p.slice(0, 40)}`, method: 'GET', path: p });

  // Methods a route does not take.
  for (const [m, p] of [
    ['POST', '/api/v1/status'],
    ['PUT', '/api/v1/tiers'],
    ['DELETE', '/api/v1/config'],
    ['PATCH', '/api/v1/allowlist'],
    ['POST', '/api/v1/events'],
    ['PUT', '/api/v1/attackers'],
    ['POST', '/metrics'],
    ['GET', '/api/v1/config/check'],
  ])
    add({ name: `${m} ${p}`, method: m, path: p, body: m === 'GET' ? undefined : '{}', headers: JSON_H });

  // JSON bodies: bad JSON, wrong types, unknown fields, unicode, huge.
  const allowBodies = [
    '{',
    '[',
    'null',
    '"x"',
    '1',
    'true',
    '',
    '{"prefix":1}',
    '{"prefix":null}',
    '{"prefix":true}',
    '{"prefix":{}}',
    '{"prefix":["1.2.3.4"]}',
    '{"prefix":""}',
    '{"prefix":"1.2.3.4","extra":1}',
    '{"prefix":"1.2.3.4","comment":5}',
    '{"prefix":"1.2.3.4","comment":"a\\u0000b"}',
    '{"prefix":"1.2.3.4","comment":"line\\nbreak"}',
    `{"prefix":"1.2.3.4","comment":"${'c'.repeat(201)}"}`,
    '{"__proto__":{"prefix":"1.2.3.4"}}',
    '{"constructor":{"prototype":{}}}',
    '{"prefix":"1.2.3.4",}',
    "{'prefix':'1.2.3.4'}",
    '{"prefix":"1.2.3.4"}}',
    '{"prefix":"\\ud800"}',
    '{"prefix":"１.２.３.４"}',
    '{"prefix":"1.2.3.4\\u202e"}',
    '{"Prefix":"1.2.3.4"}',
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
    `{"prefix":"${'9'.repeat(10000)}"}`,
    'NaN',
    '{"prefix":"10.0.0.1/8"}',
    '{"prefix":"0.0.0.0/-0"}',
    '\u00ef\u00bb\u00bf{"prefix":"1.2.3.4"}',
  ];
  for (const b of allowBodies)
    add({
      name: `allow body ${b.slice(0, 30)}`,
      method: 'POST',
      path: '/api/v1/allowlist',
      body: b,
      headers: JSON_H,
    });
  add({
    name: 'allow body invalid utf-8',
    method: 'POST',
    path: '/api/v1/allowlist',
    body: Buffer.from([0x7b, 0x22, 0x70, 0xff, 0xfe, 0x22, 0x7d]),
    headers: JSON_H,
  });
  add({
    name: 'allow body 1 MiB',
    method: 'POST',
    path: '/api/v1/allowlist',
    body: `{"prefix":"${'1'.repeat(1 << 20)}"}`,
    headers: JSON_H,
  });
  add({
    name: 'allow body chunked 100 KiB',
    method: 'POST',
    path: '/api/v1/allowlist',
    body: `{"comment":"${'x'.repeat(100 << 10)}"}`,
    headers: { ...JSON_H, 'transfer-encoding': 'chunked' },
  });
  for (const type of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonx',
    'json',
    'application/xml',
  ])
    add({
      name: `allow content-type ${type}`,
      method: 'POST',
      path: '/api/v1/allowlist',
      body: '{"prefix":"1.2.3.4"}',
      headers: { 'content-type': type },
    });
  add({ name: 'allow no content-type', method: 'POST', path: '/api/v1/allowlist', body: 'prefix=1.2.3.4' });

  const uciBodies: [string, string][] = [
    ['uci number', '{"uci":1}'],
    ['uci null', '{"uci":null}'],
    ['uci missing', '{}'],
    ['uci array', '{"uci":["config x"]}'],
    ['uci extra field', `{"uci":${JSON.stringify(BASE_UCI)},"force":true}`],
    ['uci syntax error', JSON.stringify({ uci: "config tunguard 'main\n" })],
    ['uci unknown section', JSON.stringify({ uci: "config bogus 'x'\n" })],
    ['uci control char', JSON.stringify({ uci: "config tunguard 'main'\n\toption wan_device 'w\u0001'\n" })],
    ['uci unicode device', JSON.stringify({ uci: "config tunguard 'main'\n\toption wan_device 'wän0'\n" })],
    ['uci bidi', JSON.stringify({ uci: "config tunguard 'main'\n\toption wan_device '\u202ewan0'\n" })],
    ['uci bad threshold', JSON.stringify({ uci: "config defense 'syn'\n\toption risky_threshold '-1'\n" })],
    [
      'uci thresholds crossed',
      JSON.stringify({ uci: "config defense 'syn'\n\toption moderate_threshold '500'\n" }),
    ],
    ['uci bad listen', JSON.stringify({ uci: "config api 'api'\n\tlist listen 'localhost:80'\n" })],
    [
      'uci relative token file',
      JSON.stringify({ uci: "config api 'api'\n\toption token_file 'api.token'\n" }),
    ],
    ['uci bad allow', JSON.stringify({ uci: "config allow\n\tlist prefix '10.0.0.1/8'\n" })],
    ['uci empty allow', JSON.stringify({ uci: "config allow 'x'\n\toption comment 'none'\n" })],
    ['uci 300 KiB', JSON.stringify({ uci: `# ${'x'.repeat(300 << 10)}\n` })],
    ['uci 250 KiB of unicode', JSON.stringify({ uci: `# ${'é'.repeat(130 << 10)}\n` })],
  ];
  for (const [name, body] of uciBodies) {
    add({ name: `PUT ${name}`, method: 'PUT', path: '/api/v1/config', body, headers: JSON_H });
    add({ name: `check ${name}`, method: 'POST', path: '/api/v1/config/check', body, headers: JSON_H });
  }
  for (const m of ['"nope"', 'W/"x"', 'x'.repeat(200)])
    add({
      name: `If-Match ${m.slice(0, 10)}`,
      method: 'PUT',
      path: '/api/v1/config',
      body: JSON.stringify({ uci: BASE_UCI }),
      headers: { ...JSON_H, 'if-match': m },
    });

  // Auth header oddities.
  for (const h of [
    `Bearer ${'x'.repeat(4000)}`,
    'Bearer  ',
    'Bearer a b',
    'Token abc',
    'Bearer @TOKEN@ extra',
    'Bearer \u00e9\u00e9',
  ])
    add({
      name: `auth ${h.slice(0, 15)}`,
      method: 'GET',
      path: '/api/v1/status',
      headers: { authorization: Buffer.from(h, 'utf8').toString('latin1') },
    });
  add({
    name: 'no auth on config',
    method: 'PUT',
    path: '/api/v1/config',
    body: '{"uci":""}',
    headers: JSON_H,
    noAuth: true,
  });
  return cases;
}

describe('bad-input corpus', () => {
  const cases = corpus();

  it(`has at least 200 generated cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(200);
  });

  it('answers every case with a 4xx and a JSON reason, never a 5xx or a stack trace', async () => {
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    for (const c of cases) {
      let r: Awaited<ReturnType<typeof raw>>;
      try {
        r = await raw(c);
      } catch (err) {
        failures.push(`${c.name}: ${(err as Error).message}`);
        continue;
      }
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      let body: { error?: unknown; detail?: unknown; valid?: unknown; issues?: unknown[] } | undefined;
      try {
        body = JSON.parse(r.body);
      } catch {}
      // /config/check answers a check: 200 with valid=false and the issues is its way of saying no.
      const checked =
        r.status === 200 &&
        c.path === '/api/v1/config/check' &&
        body?.valid === false &&
        (body.issues?.length ?? 0) > 0;
      const ok =
        checked ||
        (r.status >= 400 &&
          r.status < 500 &&
          /application\/json/.test(r.type) &&
          typeof body?.error === 'string' &&
          typeof body?.detail === 'string' &&
          (body.detail as string).length > 3 &&
          !/at .*\.(js|ts):\d+/.test(r.body));
      if (!ok) failures.push(`${c.name}: ${r.status} ${r.body.slice(0, 200)}`);
    }
    console.log(
      `corpus: ${cases.length} cases, statuses ${[...statuses]
        .sort((a, b) => a[0] - b[0])
        .map(([s, n]) => `${s}×${n}`)
        .join(' ')}`,
    );
    expect(failures).toEqual([]);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    // The daemon still answers and nothing was changed by the corpus.
    const after = await raw({ name: 'status', method: 'GET', path: '/api/v1/status' });
    expect(after.status).toBe(200);
  });
});
