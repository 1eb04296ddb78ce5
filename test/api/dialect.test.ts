// One JSON dialect, where this branch reached it: enum filters are validated with the valid values
// named (API and CLI alike), listed in --help and in the OpenAPI document; `hosts <host>` shows at
// least what the list shows and says when no CVE feed is loaded instead of "none".
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION_STATES } from '../../src/api/deps.js';
import { ConnState } from '../../src/defense/conntable.js';
import { http, importable, startTestDaemon, type TestDaemon } from './helpers.js';

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

describe('hosts <host>', () => {
  it('shows what the list shows (OS, MAC, software with versions, ports) and says no CVE feed is loaded', async () => {
    const nmap = join(d.dir, 'full.xml');
    writeFileSync(nmap, gunzipSync(readFileSync(NMAP_GZ)));
    const imp = await cli('scan', 'import', nmap, '--format', 'nmap');
    expect(imp.code, imp.stderr).toBe(0);
    const list = JSON.parse((await cli('hosts', '--json')).stdout).items as {
      id: string;
      os?: string;
      software: number;
      softwareList: { product: string; version?: string; port?: number }[];
    }[];
    const row = list.find((h) => h.software > 0)!;
    expect(row).toBeDefined();
    const json = JSON.parse((await cli('hosts', row.id, '--json')).stdout);
    expect(json.cveFeedLoaded).toBe(false);
    const text = (await cli('hosts', row.id)).stdout;
    if (row.os)
      expect(text).toMatch(new RegExp(`^os {10}${row.os.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
    for (const s of row.softwareList) {
      expect(text).toContain(`  ${s.product}${s.version ? ` ${s.version}` : ''}`);
      if (s.port !== undefined) expect(text).toMatch(new RegExp(`^ports .*\\b${s.port}/tcp`, 'm'));
    }
    expect(text.split('\n').filter((l) => l.startsWith('  ')).length).toBe(row.software);
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
  // Threats and the audit log are cut by `limit` while they are read from the store: counting them
  // all would read the whole store (a CVE feed is 200 000 records) on every call. Not done yet.
  const UNCOUNTED = new Set(['/api/v1/remediation/threats', '/api/v1/remediation/audit']);

  it('every list carries total, offset and limit, in the document and in the answer', async () => {
    const doc = (await http(d.url, 'GET', '/api/v1/openapi.json', { token: d.token })).json;
    const resolve = (s: { $ref?: string }) =>
      s.$ref ? doc.components.schemas[s.$ref.split('/').pop() as string] : s;
    const lists: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths as Record<string, { get?: unknown }>)) {
      // biome-ignore lint/suspicious/noExplicitAny: walking the document
      const schema = (ops.get as any)?.responses?.['200']?.content?.['application/json']?.schema;
      if (!schema || path.includes('{') || UNCOUNTED.has(path)) continue;
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
      ]),
    );
  });
});
