// One JSON dialect: every time is whole ms since the epoch (document, answers, events, CLI --json); a
// field has one type in the hosts list and the host detail; the allowlist takes the name it answers
// (`cidr`; `prefix` for one release, deprecated); every list answers total/offset/limit; enum filters
// are validated with the valid values named (API and CLI alike), listed in --help and in the OpenAPI
// document; `hosts <host>` shows at least what the list shows and says when no CVE feed is loaded.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION_STATES } from '../../src/api/deps.js';
import { ConnState } from '../../src/defense/conntable.js';
import { HOST_THREAT_TYPES } from '../../src/inventory/threat.js';
import { DISPATCH_STATUSES } from '../../src/remediation/names.js';
import { BASE_UCI, http, importable, SseReader, startTestDaemon, type TestDaemon } from './helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tunguard');
// An nmap -sV -O report (OS and service versions), unpacked to a file the daemon reads.
const NMAP_GZ = join(import.meta.dirname, '..', 'fixtures', 'scanners', 'libnmap_full_sudo6.xml.gz');
const FEED = join(import.meta.dirname, '..', 'fixtures', 'scanners', 'nvd-sample.json');

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ remediation: true });
});
afterAll(() => d?.close());

async function cli(...args: string[]) {
  const p = spawn(process.execPath, [
    BIN,
    ...args,
    '--api',
    d.url,
    '--token-file',
    d.cp.summary().tokenFile,
    '--state-dir',
    d.dir,
  ]);
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b));
  p.stderr.on('data', (b: Buffer) => (stderr += b));
  const [code] = await once(p, 'close');
  return { code, stdout, stderr };
}

describe('enum filters', () => {
  it('the connection states are the connection table states (all but free)', () => {
    const names = Object.keys(ConnState)
      .filter((k) => k !== 'FREE')
      .map((k) => k.toLowerCase().replace(/_/g, '-'));
    expect([...CONNECTION_STATES]).toEqual(names);
  });

  it('?state=bogus is refused with the valid values; a valid one is served', async () => {
    const bad = await http(d.url, 'GET', '/api/v1/connections?state=bogus', { token: d.token });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain(`expected one of ${CONNECTION_STATES.join(', ')}`);
    const ok = await http(d.url, 'GET', '/api/v1/connections?state=established', { token: d.token });
    expect(ok.status).toBe(200);
  });

  it('the OpenAPI document lists the values', async () => {
    const doc = (await http(d.url, 'GET', '/api/v1/openapi.json', { token: d.token })).json;
    const p = doc.paths['/api/v1/connections'].get.parameters.find(
      (x: { name: string }) => x.name === 'state',
    );
    expect(p.schema.enum).toEqual([...CONNECTION_STATES]);
  });

  it('--state bogus: refused with the values and a guess; --help lists them', async () => {
    const r = await cli('connections', '--state', 'establised');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `tunguard connections: --state: expected one of ${CONNECTION_STATES.join(', ')}, got 'establised' (did you mean 'established'?)\ntry 'tunguard connections --help'\n`,
    );
    expect((await cli('connections', '--help')).stdout).toContain(
      `--state s    ${CONNECTION_STATES.join(', ')}`,
    );
  });
});

/** The names of times: `at`, `since`, `until`, `firstSeen`, `lastSeen` and every `…At`. */
const TIME_NAME = /^(at|since|until|firstSeen|lastSeen|[a-z][A-Za-z]*At)$/;

/** Every [path, value] of a time-named field in a JSON value. */
function times(x: unknown, path = ''): [string, unknown][] {
  if (Array.isArray(x)) return x.flatMap((v, i) => times(v, `${path}[${i}]`));
  if (typeof x !== 'object' || x === null) return [];
  return Object.entries(x).flatMap(([k, v]) => [
    ...(TIME_NAME.test(k) && (typeof v !== 'object' || v === null)
      ? ([[`${path}.${k}`, v]] as [string, unknown][])
      : []),
    ...times(v, `${path}.${k}`),
  ]);
}

const wholeEpochMs = (v: unknown) => Number.isInteger(v) && (v as number) > 1e12 && (v as number) < 1e13;

describe('times: whole ms since the epoch, everywhere', () => {
  it('the document describes every time field as Time, an integer', async () => {
    const doc = (await http(d.url, 'GET', '/api/v1/openapi.json', { token: d.token })).json;
    expect(doc.components.schemas.Time).toMatchObject({ type: 'integer', minimum: 0 });
    expect(doc.components.schemas.Time.description).toMatch(/ms since the Unix epoch/);
    const found: string[] = [];
    const walk = (x: unknown, path: string): void => {
      if (typeof x !== 'object' || x === null) return;
      const props = (x as { properties?: Record<string, unknown> }).properties;
      if (props && typeof props === 'object')
        for (const [k, v] of Object.entries(props))
          if (TIME_NAME.test(k)) {
            found.push(`${path}.${k}`);
            expect(v, `${path}.${k}`).toEqual({ $ref: '#/components/schemas/Time' });
          }
      for (const [k, v] of Object.entries(x)) walk(v, `${path}.${k}`);
    };
    walk(doc, '');
    // status, reloads, tiers, connections, attackers, hosts, dispatches, agents, audit, ...
    expect(found.length).toBeGreaterThan(25);
  });

  it('answers, events and the CLI give whole ms, also from a worker clock with fractions', async () => {
    const sse = await SseReader.open(`${d.url}/api/v1/events`, d.token);
    const frac = Date.now() + 0.375;
    d.dp.emit('event', { type: 'tier', tier: 'moderate', synsInWindow: 120, at: frac });
    d.dp.emit('event', {
      type: 'attacker',
      address: '198.51.100.9',
      holdSeconds: 30.0004,
      unfinished: 9,
      at: frac,
    });
    d.dp.emit('event', {
      type: 'conn-sync',
      upserts: [
        {
          key: '4|c6336402|40000|c0000202|80',
          ver: 4,
          client: 'c6336402',
          server: 'c0000202',
          cPort: 40000,
          sPort: 80,
          state: 2,
          updated: frac,
        },
      ],
      removes: [],
    });
    // A reload (lastReload.at) and a host with records and an audit trail.
    expect(
      (await http(d.url, 'PUT', '/api/v1/config', { token: d.token, body: { uci: BASE_UCI } })).status,
    ).toBe(200);
    const nmap = join(d.dir, 'times.xml');
    writeFileSync(nmap, gunzipSync(readFileSync(NMAP_GZ)));
    expect((await cli('scan', 'import', nmap, '--format', 'nmap')).code).toBe(0);
    const hosts = (await http(d.url, 'GET', '/api/v1/remediation/hosts', { token: d.token })).json;
    const id = hosts.items[0].id;
    const rep = await http(d.url, 'POST', `/api/v1/remediation/hosts/${encodeURIComponent(id)}/threats`, {
      token: d.token,
      body: { type: 'malware', kind: 'worm', name: 'W32.Times' },
    });
    expect(rep.status).toBe(201);

    const seen = new Set<string>();
    const check = (where: string, body: unknown) => {
      for (const [path, v] of times(body)) {
        if (v === undefined || v === null) continue;
        seen.add(path.split('.').pop() as string);
        expect(wholeEpochMs(v), `${where} ${path} = ${JSON.stringify(v)}`).toBe(true);
      }
    };
    for (const path of [
      '/api/v1/status',
      '/api/v1/tiers',
      '/api/v1/attackers',
      '/api/v1/connections',
      '/api/v1/remediation/hosts',
      `/api/v1/remediation/hosts/${encodeURIComponent(id)}`,
      '/api/v1/remediation/threats',
      '/api/v1/remediation/audit',
      '/api/v1/remediation/dispatches',
      '/api/v1/remediation/detect',
      '/api/v1/remediation/passive',
      '/api/v1/remediation/agents',
      '/api/v1/remediation/agents/pairings',
      '/api/v1/remediation/programs',
      '/api/v1/remediation/rules',
    ]) {
      const r = await http(d.url, 'GET', path, { token: d.token });
      expect(r.status, path).toBe(200);
      check(path, r.json);
    }
    for (const ev of ['tier', 'attacker', 'config', 'config-status']) await sse.next(ev);
    // Every event the stream sent (hello, tier, attacker, config, config-status, ...).
    for (const ev of sse.events) check(`event ${ev.event}`, ev.data);
    expect(sse.events.length).toBeGreaterThanOrEqual(4);
    sse.close();
    const st = JSON.parse((await cli('status', '--json')).stdout);
    check('status --json', st);
    expect(wholeEpochMs(st.startedAt)).toBe(true);
    expect(wholeEpochMs(st.config.since)).toBe(true);
    expect(wholeEpochMs(st.config.lastReload.at)).toBe(true);
    for (const name of [
      'at',
      'since',
      'startedAt',
      'markedAt',
      'expiresAt',
      'firstSeenAt',
      'updatedAt',
      'seenAt',
      'lastSeen',
    ])
      expect([...seen], name).toContain(name);
    // The text shows them for people: ISO in UTC.
    expect((await cli('status')).stdout).toMatch(/since \d{4}-\d\d-\d\d[ T]\d\d:\d\d/);
  });
});

describe('one type per field in the hosts list and the host detail', () => {
  it('os, software and threats are arrays of records in both; the summary names its best guess and counts', async () => {
    const list = (await http(d.url, 'GET', '/api/v1/remediation/hosts', { token: d.token })).json
      .items as Record<string, unknown>[];
    expect(list.length).toBeGreaterThan(0);
    let compared = 0;
    for (const row of list) {
      const detail = (
        await http(d.url, 'GET', `/api/v1/remediation/hosts/${encodeURIComponent(row.id as string)}`, {
          token: d.token,
        })
      ).json;
      for (const [k, v] of Object.entries(row)) {
        const other = k in detail.host ? detail.host[k] : detail[k];
        if (other === undefined || v === undefined) continue;
        const kind = (x: unknown) => (Array.isArray(x) ? 'array' : x === null ? 'null' : typeof x);
        expect(kind(v), `${row.id} ${k}`).toBe(kind(other));
        compared++;
      }
      expect(Array.isArray(row.software)).toBe(true);
      expect(row.softwareCount).toBe(detail.host.software.length);
      if (row.osName) expect(detail.host.os.map((o: { name?: string }) => o.name)).toContain(row.osName);
      expect(row).not.toHaveProperty('os');
      expect(row).not.toHaveProperty('threats');
    }
    expect(compared).toBeGreaterThan(list.length * 5);
  });
});

describe('the allowlist takes the name it answers', () => {
  const post = (body: unknown) => http(d.url, 'POST', '/api/v1/allowlist', { token: d.token, body });

  it('cidr in, cidr out; no Deprecation header', async () => {
    const r = await post({ cidr: '203.0.113.64/26', comment: 'dialect' });
    expect(r.status).toBe(201);
    expect(r.json.entry.cidr).toBe('203.0.113.64/26');
    expect(r.headers.get('deprecation')).toBeNull();
    const list = (await http(d.url, 'GET', '/api/v1/allowlist', { token: d.token })).json;
    expect(list.items.map((i: { cidr: string }) => i.cidr)).toContain('203.0.113.64/26');
  });

  it('prefix (the old name) still works this release, answered with a Deprecation header', async () => {
    const r = await post({ prefix: '203.0.113.128/26' });
    expect(r.status).toBe(201);
    expect(r.json.entry.cidr).toBe('203.0.113.128/26');
    expect(r.headers.get('deprecation')).toMatch(/^@\d+$/);
  });

  it('both names, or neither, or an unknown field: refused, nothing added', async () => {
    const before = (await http(d.url, 'GET', '/api/v1/allowlist', { token: d.token })).json.total;
    const both = await post({ cidr: '203.0.113.192/26', prefix: '203.0.113.192/26' });
    expect(both.status).toBe(400);
    expect(JSON.stringify(both.json)).toContain('expected the field cidr');
    expect((await post({ comment: 'x' })).status).toBe(400);
    const unknown = await post({ cidr: '203.0.113.192/26', net: 'x' });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.json)).toContain('unknown field (known: cidr, comment)');
    expect((await http(d.url, 'GET', '/api/v1/allowlist', { token: d.token })).json.total).toBe(before);
  });

  it('the CLI sends cidr (no Deprecation in its path)', async () => {
    const r = await cli('allow', 'add', '198.51.100.128/25', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).entry.cidr).toBe('198.51.100.128/25');
  });
});

describe('hosts <host>', () => {
  it('shows what the list shows (OS, MAC, software with versions, ports) and says no CVE feed is loaded', async () => {
    const nmap = join(d.dir, 'full.xml');
    writeFileSync(nmap, gunzipSync(readFileSync(NMAP_GZ)));
    const imp = await cli('scan', 'import', nmap, '--format', 'nmap');
    expect(imp.code, imp.stderr).toBe(0);
    const list = JSON.parse((await cli('hosts', '--json')).stdout).items as {
      id: string;
      osName?: string;
      softwareCount: number;
      software: { product: string; version?: string; port?: number }[];
    }[];
    const row = list.find((h) => h.softwareCount > 0)!;
    expect(row).toBeDefined();
    const json = JSON.parse((await cli('hosts', row.id, '--json')).stdout);
    expect(json.cveFeedLoaded).toBe(false);
    const text = (await cli('hosts', row.id)).stdout;
    if (row.osName)
      expect(text).toMatch(new RegExp(`^os {10}${row.osName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
    for (const s of row.software) {
      expect(text).toContain(`  ${s.product}${s.version ? ` ${s.version}` : ''}`);
      if (s.port !== undefined) expect(text).toMatch(new RegExp(`^ports .*\\b${s.port}/tcp`, 'm'));
    }
    expect(text.split('\n').filter((l) => l.startsWith('  ')).length).toBe(row.softwareCount);
    expect(text).toMatch(/^mac {9}/m);
    expect(text).toMatch(/^cves {8}unknown: no CVE feed is loaded/m);
  });

  it('(control) with a feed loaded, an unmatched host says "none match"', async () => {
    const f = await http(d.url, 'POST', '/api/v1/remediation/threats/feed', {
      token: d.token,
      body: { path: importable(d.dir, FEED) },
    });
    expect(f.status).toBe(201);
    const list = JSON.parse((await cli('hosts', '--json')).stdout).items as { id: string; threats: number }[];
    const id = list[0].id;
    const json = JSON.parse((await cli('hosts', id, '--json')).stdout);
    expect(json.cveFeedLoaded).toBe(true);
    const text = (await cli('hosts', id)).stdout;
    expect(text).not.toMatch(/no CVE feed is loaded/);
    expect(text).toMatch(/^cves {8}(none$|CVE-)/m);
  });
});

describe('list answers', () => {
  it('every list carries total, offset and limit, in the document and in the answer', async () => {
    const doc = (await http(d.url, 'GET', '/api/v1/openapi.json', { token: d.token })).json;
    const resolve = (s: { $ref?: string }) =>
      s.$ref ? doc.components.schemas[s.$ref.split('/').pop() as string] : s;
    const lists: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths as Record<string, { get?: unknown }>)) {
      // biome-ignore lint/suspicious/noExplicitAny: walking the document
      const schema = (ops.get as any)?.responses?.['200']?.content?.['application/json']?.schema;
      if (!schema || path.includes('{')) continue;
      const s = resolve(schema);
      if (!s.properties?.items) continue;
      lists.push(path);
      expect(Object.keys(s.properties), path).toEqual(expect.arrayContaining(['total', 'offset', 'limit']));
      const r = await http(d.url, 'GET', path, { token: d.token });
      expect(r.status, path).toBe(200);
      expect(r.json, path).toMatchObject({
        total: expect.any(Number),
        offset: 0,
        limit: r.json.limit === null ? null : expect.any(Number),
      });
      expect(r.json.total, path).toBeGreaterThanOrEqual(r.json.items.length);
    }
    expect(lists).toEqual(
      expect.arrayContaining([
        '/api/v1/tiers',
        '/api/v1/attackers',
        '/api/v1/connections',
        '/api/v1/allowlist',
        '/api/v1/remediation/hosts',
        '/api/v1/remediation/rules',
        '/api/v1/remediation/dispatches',
        '/api/v1/remediation/threats',
        '/api/v1/remediation/audit',
      ]),
    );
  });

  it('threats: total counts them all (and changes with a new record); offset and limit cut in key order', async () => {
    const get = async (q = '') =>
      (await http(d.url, 'GET', `/api/v1/remediation/threats${q}`, { token: d.token })).json;
    const all = await get('?limit=10000');
    expect(all.total).toBe(all.items.length);
    expect(all.total).toBeGreaterThan(3);
    const page = await get('?offset=1&limit=2');
    expect(page).toMatchObject({ total: all.total, offset: 1, limit: 2 });
    expect(page.items).toEqual(all.items.slice(1, 3));
    const malware = await get('?type=malware');
    expect(malware.total).toBe(all.items.filter((t: { type: string }) => t.type === 'malware').length);
    const id = (await http(d.url, 'GET', '/api/v1/remediation/hosts', { token: d.token })).json.items[0].id;
    await http(d.url, 'POST', `/api/v1/remediation/hosts/${encodeURIComponent(id)}/threats`, {
      token: d.token,
      body: { type: 'malware', kind: 'worm', name: 'W32.Counted' },
    });
    expect((await get()).total).toBe(all.total + 1);
    expect((await get('?type=malware')).total).toBe(malware.total + 1);
  });

  it('audit: total counts the matching entries; offset skips the newest, the page is in time order', async () => {
    const get = async (q = '') =>
      (await http(d.url, 'GET', `/api/v1/remediation/audit${q}`, { token: d.token })).json;
    const all = await get('?limit=10000');
    expect(all.total).toBe(all.items.length);
    expect(all.total).toBeGreaterThan(3);
    const page = await get('?offset=1&limit=2');
    expect(page).toMatchObject({ total: all.total, offset: 1, limit: 2 });
    expect(page.items).toEqual(all.items.slice(-3, -1));
    const host = all.items.find((e: { hostId?: string }) => e.hostId).hostId;
    const mine = await get(`?host=${encodeURIComponent(host)}&offset=1&limit=1`);
    const hostAll = all.items.filter((e: { hostId?: string }) => e.hostId === host);
    expect(mine.total).toBe(hostAll.length);
    expect(mine.items).toEqual(hostAll.slice(-2, -1));
  });
});

describe('more enum filters', () => {
  it('?type and ?status refused with the valid values; listed in the document', async () => {
    const t = await http(d.url, 'GET', '/api/v1/remediation/threats?type=bogus', { token: d.token });
    expect(t.status).toBe(400);
    expect(JSON.stringify(t.json)).toContain('expected vulnerability, malware or finding');
    const s = await http(d.url, 'GET', '/api/v1/remediation/dispatches?status=bogus', { token: d.token });
    expect(s.status).toBe(400);
    expect(JSON.stringify(s.json)).toContain(
      `${DISPATCH_STATUSES.slice(0, -1).join(', ')} or ${DISPATCH_STATUSES.at(-1)}`,
    );
    const doc = (await http(d.url, 'GET', '/api/v1/openapi.json', { token: d.token })).json;
    const param = (path: string, name: string) =>
      doc.paths[path].get.parameters.find((x: { name: string }) => x.name === name).schema.enum;
    expect(param('/api/v1/remediation/threats', 'type')).toEqual([...HOST_THREAT_TYPES]);
    expect(param('/api/v1/remediation/dispatches', 'status')).toEqual([...DISPATCH_STATUSES]);
  });

  it('--status, --mode, --family, --format: refused with the values and a guess; --help lists them', async () => {
    const cases: [string[], string][] = [
      [
        ['dispatches', '--status', 'faild'],
        `--status: expected one of ${DISPATCH_STATUSES.join(', ')}, got 'faild' (did you mean 'failed'?)`,
      ],
      [['connections', '--family', '5'], "--family: expected one of 4, 6, got '5' (did you mean '4'?)"],
      [
        ['remediate', 'h', '--mode', 'progam'],
        "--mode: expected one of auto, program, reference, file-op, got 'progam' (did you mean 'program'?)",
      ],
      [
        ['scan', 'import', '/nonexistent', '--format', 'nmpa'],
        "--format: expected one of auto, nmap, nessus, openvas, got 'nmpa' (did you mean 'nmap'?)",
      ],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0], args.join(' ')).toBe(`tunguard ${args[0]}: ${msg}`);
    }
    expect((await cli('dispatches', '--help')).stdout).toContain(
      `--status s     ${DISPATCH_STATUSES.join(', ')}`,
    );
  });
});
