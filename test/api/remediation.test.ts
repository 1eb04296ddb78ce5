// The remediation routes through real HTTP on loopback, with a real RemediationService in a temp dir.
// One file (about 630 lines): one service and HTTP server shared by every route's cases.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, symlinkSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirOf, MAX_REPORT_FILE } from '../../src/remediation/import-file.js';
import { MAX_PROGRAM_BYTES } from '../../src/remediation/programs.js';
import { type AgentDirs, cleanup, makeDirs, type RunningAgent, startAgent } from '../agent/harness.js';
import { runCli } from '../cli/run-cli.js';
import { documentedAndServed, http, importable, startTestDaemon, type TestDaemon } from './helpers.js';

const NMAP = join(import.meta.dirname, '..', 'fixtures', 'scanners', 'defectdojo_nmap_multiple_port.xml');
const R = '/api/v1/remediation';

let d: TestDaemon;
const call = (method: string, path: string, o: Parameters<typeof http>[3] = {}) =>
  http(d.url, method, `${R}${path}`, { token: d.token, ...o });

const RULE = {
  id: 'bot-cleanup',
  kind: 'threat',
  name: 'remove the bot',
  threat: { type: 'bot', id: 'Bot-4162' },
  remedy: { fileOps: [{ name: 'bot.exe', location: '/opt/bad', op: 'quarantine' }] },
};

beforeAll(async () => {
  d = await startTestDaemon({ remediation: true });
});

afterAll(async () => {
  await d?.close();
});

describe('remediation API', () => {
  it('needs the token', async () => {
    const r = await http(d.url, 'GET', `${R}/hosts`);
    expect(r.status).toBe(401);
  });

  it('starts empty', async () => {
    for (const p of ['/hosts', '/rules', '/threats', '/dispatches', '/agents']) {
      const r = await call('GET', p);
      expect(r.status, p).toBe(200);
      expect(r.json.items).toEqual([]);
    }
  });

  it('imports an nmap report by path and lists its hosts', async () => {
    const r = await call('POST', '/scans', { body: { path: importable(d.dir, NMAP), format: 'nmap' } });
    expect(r.status, r.text).toBe(201);
    expect(r.json.hostIds.length).toBeGreaterThan(0);
    const hosts = await call('GET', '/hosts');
    expect(hosts.status).toBe(200);
    expect(hosts.json.items.length).toBe(r.json.hostIds.length);
    const h = hosts.json.items[0];
    expect(h.risk.level).toBeTypeOf('string');
    const one = await call('GET', `/hosts/${encodeURIComponent(h.id)}`);
    expect(one.status).toBe(200);
    expect(one.json.host.id).toBe(h.id);
    expect(Array.isArray(one.json.matchedCves)).toBe(true);
    const addr = h.ipv4[0] ?? h.ipv6[0];
    if (addr) expect((await call('GET', `/hosts/${encodeURIComponent(addr)}`)).json.host.id).toBe(h.id);
    // Pages: a bounded answer whatever the store holds, with the total to page on.
    const n = hosts.json.total;
    expect(n).toBe(hosts.json.items.length);
    expect(hosts.json).toMatchObject({ offset: 0, limit: 200 });
    const first = await call('GET', '/hosts?limit=1');
    expect(first.json).toMatchObject({ total: n, offset: 0, limit: 1 });
    expect(first.json.items).toHaveLength(1);
    const rest = await call('GET', '/hosts?offset=1&limit=1000');
    expect(rest.json.items.map((x: { id: string }) => x.id)).toEqual(
      hosts.json.items.slice(1).map((x: { id: string }) => x.id),
    );
    expect((await call('GET', '/hosts?limit=5000')).status).toBe(400);
  });

  it('imports a raw XML body', async () => {
    const xml = readFileSync(NMAP, 'utf8');
    const r = await call('POST', '/scans', { raw: xml, headers: { 'content-type': 'application/xml' } });
    expect(r.status, r.text).toBe(201);
    expect(r.json.hostIds.length).toBeGreaterThan(0);
  });

  it('creates, reads, updates, exports, imports and deletes rules', async () => {
    const c = await call('POST', '/rules', { body: RULE });
    expect(c.status, c.text).toBe(201);
    expect(c.json.id).toBe('bot-cleanup');
    expect((await call('POST', '/rules', { body: RULE })).status).toBe(409);
    const list = await call('GET', '/rules');
    expect(list.json.items.map((x: { id: string }) => x.id)).toEqual(['bot-cleanup']);
    expect((await call('GET', '/rules/bot-cleanup')).json.name).toBe('remove the bot');
    const u = await call('PUT', '/rules/bot-cleanup', { body: { ...RULE, name: 'renamed' } });
    expect(u.status, u.text).toBe(200);
    expect(u.json.name).toBe('renamed');
    const ex = await call('GET', '/rules/export');
    expect(ex.status).toBe(200);
    const file = JSON.parse(ex.text);
    expect(file.rules).toHaveLength(1);
    expect((await call('DELETE', '/rules/bot-cleanup')).status).toBe(200);
    expect((await call('GET', '/rules/bot-cleanup')).status).toBe(404);
    expect((await call('DELETE', '/rules/bot-cleanup')).status).toBe(404);
    const im = await call('POST', '/rules/import', { body: file });
    expect(im.status, im.text).toBe(200);
    expect(im.json.imported).toBe(1);
    expect((await call('GET', '/rules/bot-cleanup')).status).toBe(200);
  });

  it('refuses bad input with a 4xx and a reason', async () => {
    const cases: [string, string, Parameters<typeof http>[3], number][] = [
      ['POST', '/rules', { body: { id: 'x', kind: 'nope' } }, 400],
      ['POST', '/rules', { body: { ...RULE, id: 'bad id!' } }, 400],
      ['POST', '/rules', { body: { ...RULE, extra: 1 } }, 400],
      ['POST', '/rules', { raw: 'id=x', headers: { 'content-type': 'text/plain' } }, 415],
      ['POST', '/rules', { raw: '{not json', headers: { 'content-type': 'application/json' } }, 400],
      ['PUT', '/rules/other', { body: RULE }, 400],
      ['PUT', '/rules/missing', { body: { ...RULE, id: 'missing' } }, 404],
      ['GET', '/rules/bad%20id', {}, 400],
      ['POST', '/rules/import', { body: { version: 2, rules: [] } }, 400],
      ['POST', '/rules/import', { body: { version: 1, rules: [{ id: 'x' }] } }, 400],
      ['POST', '/scans', { body: { path: 'relative/report.xml' } }, 400],
      ['POST', '/scans', { body: { path: '/tmp/../etc/passwd' } }, 400],
      ['POST', '/scans', { body: { path: '/nonexistent/report.xml' } }, 400],
      ['POST', '/scans', { body: { path: '/tmp' } }, 400],
      ['POST', '/scans', { body: { path: importable(d.dir, NMAP), format: 'nessus' } }, 400],
      ['POST', '/scans', { body: { path: importable(d.dir, NMAP), format: 'word' } }, 400],
      ['POST', '/scans', { body: { path: importable(d.dir, NMAP), extra: true } }, 400],
      ['POST', '/scans', { raw: '<nope/>', headers: { 'content-type': 'application/xml' } }, 400],
      ['POST', '/scans', { raw: '<nmaprun><host', headers: { 'content-type': 'application/xml' } }, 400],
      ['POST', '/scans', { raw: 'x', headers: { 'content-type': 'text/plain' } }, 415],
      ['POST', '/dispatch', { body: { host: '10.0.0.1' } }, 400],
      ['POST', '/dispatch', { body: { host: '10.0.0.1', ruleId: 'a', actions: [{ action: 'ping' }] } }, 400],
      ['POST', '/dispatch', { body: { host: '10.0.0.1', actions: [{ action: 'shell', cmd: 'rm' }] } }, 400],
      ['POST', '/dispatch', { body: { host: '10.0.0.1', actions: [{ action: 'ping' }] } }, 409],
      ['POST', '/dispatch', { body: { host: '10.0.0.1', ruleId: 'bot-cleanup', mode: 'fast' } }, 400],
      ['GET', '/dispatches/nope!', {}, 400],
      ['GET', '/dispatches/0b5f0e7e-0000-4000-8000-000000000000', {}, 404],
      ['GET', '/dispatches?status=odd', {}, 400],
      ['GET', '/threats?limit=0', {}, 400],
      ['GET', '/threats?type=virus', {}, 400],
      ['GET', '/hosts?x=1', {}, 400],
      ['GET', '/hosts/no-such-host', {}, 404],
      ['DELETE', '/hosts', {}, 405],
    ];
    for (const [method, path, o, status] of cases) {
      const r = await call(method, path, o);
      expect(r.status, `${method} ${path} ${JSON.stringify(o)}: ${r.text}`).toBe(status);
      expect(r.json.error, `${method} ${path}`).toBeTypeOf('string');
      expect(r.json.detail, `${method} ${path}`).toBeTypeOf('string');
    }
  });

  it('caps bodies: JSON routes small, raw XML reports up to 4 MiB', async () => {
    const big = { ...RULE, id: 'big', name: 'x'.repeat(300 * 1024) };
    expect((await call('POST', '/rules', { body: big })).status).toBe(413);
    const huge = `<nmaprun>${' '.repeat(5 << 20)}</nmaprun>`;
    const r = await call('POST', '/scans', { raw: huge, headers: { 'content-type': 'application/xml' } });
    expect(r.status).toBe(413);
  });

  it('stores a program the router sends itself, pinned by sha256; refuses bad ones and caps their size', async () => {
    const bytes = Buffer.from('MZ cleanup program');
    const body = {
      id: 'cleaner',
      location: 'cleaner.exe',
      platform: 'windows',
      content: bytes.toString('base64'),
    };
    const r = await call('POST', '/programs', { body });
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({
      id: 'cleaner',
      platform: 'windows',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    expect(r.json.content).toBeUndefined();
    expect((await call('GET', '/programs')).json.items.map((p: { id: string }) => p.id)).toEqual(['cleaner']);
    for (const bad of [
      { ...body, content: 'not base64!' },
      { ...body, id: 'a/b' },
      { ...body, platform: 'dos' },
      { ...body, extra: 1 },
      { id: 'x', location: 'y' },
    ]) {
      const b = await call('POST', '/programs', { body: bad });
      expect(b.status, `${JSON.stringify(bad)}: ${b.text}`).toBe(400);
    }
    // 2 MiB is the largest program the router keeps: one byte more is refused.
    const tooBig = { ...body, id: 'big', content: Buffer.alloc(MAX_PROGRAM_BYTES + 1).toString('base64') };
    expect((await call('POST', '/programs', { body: tooBig })).status).toBe(413);
    const justFits = { ...body, id: 'fits', content: Buffer.alloc(MAX_PROGRAM_BYTES).toString('base64') };
    expect((await call('POST', '/programs', { body: justFits })).status).toBe(201);
    expect((await call('GET', '/programs')).json.items.map((p: { id: string }) => p.id).sort()).toEqual([
      'cleaner',
      'fits',
    ]);
  });
});

describe('remediation CLI', () => {
  /** Runs a CLI command against the test daemon; returns its exit code and output. */
  const cli = (cmd: string, args: string[]) => runCli(d, cmd, args);

  it('hosts, scan import, rules, remediate', async () => {
    const imp = await cli('scan', ['import', NMAP, '--format', 'nmap']);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toMatch(/^imported .* host\(s\)/);
    const h = await cli('hosts', ['--json']);
    expect(h.code, h.stderr).toBe(0);
    const items = JSON.parse(h.stdout).items;
    expect(items.length).toBeGreaterThan(0);
    const text = await cli('hosts', []);
    expect(text.stdout).toMatch(/^HOST +ADDRESS/);
    expect(text.stdout).toMatch(new RegExp(`\\n1-${items.length} of ${items.length}\\n$`));
    // A page at a time: the CLI says how many more there are and where they start (a second report
    // makes sure there is more than one host).
    const other = join(import.meta.dirname, '..', 'fixtures', 'scanners', 'libnmap_1_os_banner_scripts.xml');
    expect((await cli('scan', ['import', other, '--format', 'nmap'])).code).toBe(0);
    const total = JSON.parse((await cli('hosts', ['--json'])).stdout).total;
    expect(total).toBeGreaterThan(1);
    const page = await cli('hosts', ['--limit', '1']);
    expect(page.code, page.stderr).toBe(0);
    expect(page.stdout.trim().split('\n')).toHaveLength(3);
    expect(page.stdout).toMatch(new RegExp(`\\n1-1 of ${total}; ${total - 1} more \\(--offset 1\\)\\n$`));
    const all = JSON.parse((await cli('hosts', ['--json'])).stdout).items;
    const second = await cli('hosts', ['--offset', '1', '--limit', '1', '--json']);
    expect(JSON.parse(second.stdout)).toMatchObject({ total, offset: 1, limit: 1 });
    expect(JSON.parse(second.stdout).items.map((x: { id: string }) => x.id)).toEqual([all[1].id]);
    await expect(cli('hosts', ['--limit', '0'])).rejects.toThrow(/--limit: expected an integer 1..1000/);
    const one = await cli('hosts', [items[0].id]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^host +/);
    const r = await cli('rules', ['--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).items.map((x: { id: string }) => x.id)).toContain('bot-cleanup');
    expect((await cli('rules', [])).stdout).toMatch(/bot-cleanup +threat/);
    // No agent is paired: the daemon refuses, the CLI says why and exits 1.
    const rem = await cli('remediate', [items[0].id, '--rule', 'bot-cleanup']);
    expect(rem.code).toBe(1);
    expect(rem.stderr).toMatch(/no paired agent/);
    const none = await cli('remediate', [items[0].id]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no rule matches/);
  });

  it('usage errors and missing files', async () => {
    await expect(cli('scan', ['import'])).rejects.toThrow(/needs a report file/);
    await expect(cli('scan', ['import', NMAP, '--format', 'pdf'])).rejects.toThrow(/--format/);
    await expect(cli('remediate', [])).rejects.toThrow(/needs a host/);
    const missing = await cli('scan', ['import', '/nonexistent/x.xml']);
    expect(missing.code).toBe(1);
  });
});

describe('where the daemon keeps the remediation store', () => {
  it('never /etc/tunguard when --state-dir is given', async () => {
    const { remediationDir } = await import('../../src/daemon/run.js');
    expect(remediationDir('/etc/tunguard', undefined)).toBe('/etc/tunguard');
    expect(remediationDir('/etc/tunguard', '/tmp/tg')).toBe('/tmp/tg/durable');
    // Below a regular file: cannot be created.
    expect(remediationDir(join(d.dir, 'tunguard.conf', 'x'), '/tmp/tg')).toBe('/tmp/tg/durable');
    expect(remediationDir(d.dir, '/tmp/tg')).toBe(d.dir);
  });
});

describe('agent pairing and the audit log', () => {
  let dirs: AgentDirs;
  let agent: RunningAgent | undefined;

  afterAll(async () => {
    await agent?.stop();
    if (dirs) cleanup(dirs);
  });

  it('pairs a real agent with a code shown on both sides', async () => {
    dirs = makeDirs('tg-api-pair-');
    agent = await startAgent(dirs, { pairing: true, hostId: 'api-code-host' });
    const p = await call('POST', '/agents/pair', {
      body: { address: '127.0.0.1', port: agent.port, routerName: 'tunguard-api' },
    });
    expect(p.status, p.text).toBe(201);
    expect(p.json).toMatchObject({ hostId: 'api-code-host', agentKey: agent.agentKey });
    expect(p.json.code).toMatch(/^\d{5}-\d{5}$/);
    const shown = await agent.waitLine(/code=(\d{5}-\d{5})$/);
    expect(shown[1]).toBe(p.json.code);
    agent.proc.stdin.write('yes\n');
    const c = await call('POST', '/agents/pair/confirm', { body: { pairingId: p.json.pairingId } });
    expect(c.status, c.text).toBe(201);
    expect(c.json).toMatchObject({ paired: true, agent: { hostId: 'api-code-host', pairedBy: 'code' } });
    // Confirmed once: the pairing is gone.
    const again = await call('POST', '/agents/pair/confirm', { body: { pairingId: p.json.pairingId } });
    expect(again.status).toBe(404);
    // The paired agent no longer accepts pairing: a conflict, with the agent's reason.
    const twice = await call('POST', '/agents/pair', { body: { address: '127.0.0.1', port: agent.port } });
    expect(twice.status, twice.text).toBe(409);
    expect(twice.json.detail).toMatch(/refused/);
    const list = await call('GET', '/agents');
    expect(list.json.items.map((a: { hostId: string }) => a.hostId)).toContain('api-code-host');
    // Another agent (unpaired) claiming the same host id cannot replace the paired one by code.
    const d3 = makeDirs('tg-api-pair3-');
    const impostor = await startAgent(d3, { pairing: true, hostId: 'api-code-host' });
    try {
      const r = await call('POST', '/agents/pair', { body: { address: '127.0.0.1', port: impostor.port } });
      expect(r.status, r.text).toBe(409);
      expect(r.json.detail).toMatch(/already has a paired agent/);
      const after = await call('GET', '/agents');
      const kept = after.json.items.find((a: { hostId: string }) => a.hostId === 'api-code-host');
      expect(kept.agentKey).toBe(agent!.agentKey);
    } finally {
      await impostor.stop();
      cleanup(d3);
    }
  });

  it('stores nothing when the admin rejects the code', async () => {
    const d2 = makeDirs('tg-api-pair2-');
    const a2 = await startAgent(d2, { pairing: true, hostId: 'api-rejected-host' });
    try {
      const p = await call('POST', '/agents/pair', { body: { address: '127.0.0.1', port: a2.port } });
      expect(p.status, p.text).toBe(201);
      const c = await call('POST', '/agents/pair/confirm', {
        body: { pairingId: p.json.pairingId, accept: false },
      });
      expect(c.status, c.text).toBe(200);
      expect(c.json).toEqual({ paired: false, reason: 'rejected by the admin' });
      const list = await call('GET', '/agents');
      expect(list.json.items.map((a: { hostId: string }) => a.hostId)).not.toContain('api-rejected-host');
    } finally {
      await a2.stop();
      cleanup(d2);
    }
  });

  it('adds a copied agent key and answers with the router key to pin on the host', async () => {
    const key = Buffer.alloc(32, 7).toString('base64url');
    const body = { hostId: 'api-key-host', address: '192.0.2.2', port: 7443, agentKey: key };
    const r = await call('POST', '/agents', { body });
    expect(r.status, r.text).toBe(201);
    expect(r.json.agent).toMatchObject({ ...body, pairedBy: 'key' });
    expect(r.json.routerKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await call('POST', '/agents', { body })).status).toBe(409);
    expect((await call('DELETE', '/agents/api-key-host')).status).toBe(200);
    expect((await call('DELETE', '/agents/api-key-host')).status).toBe(404);
    expect((await call('POST', '/agents', { body })).status).toBe(201);
    expect((await call('DELETE', '/agents/api-key-host')).status).toBe(200);
  });

  it('lists the audit log, newest last, bounded by limit and filtered by host', async () => {
    const all = await call('GET', '/audit');
    expect(all.status, all.text).toBe(200);
    const steps = all.json.items.map((e: { step: string }) => e.step);
    expect(steps).toContain('agent.pairing-started');
    expect(steps).toContain('agent.paired');
    expect(steps).toContain('agent.pairing-rejected');
    expect(steps.at(-1)).toBe('agent.removed');
    const ats = all.json.items.map((e: { at: number }) => e.at);
    expect([...ats].sort((a, b) => a - b)).toEqual(ats);
    const two = await call('GET', '/audit?limit=2');
    expect(two.json.items).toEqual(all.json.items.slice(-2));
    const host = await call('GET', '/audit?host=api-code-host');
    // (The second attempt was refused by the agent before any pairing started.)
    expect(host.json.items.map((e: { step: string }) => e.step)).toEqual([
      'agent.pairing-started',
      'agent.paired',
    ]);
  });

  it('refuses bad pairing and audit input with a 4xx and a reason', async () => {
    const key = Buffer.alloc(32, 1).toString('base64url');
    const uuid = '0b5f0e7e-0000-4000-8000-000000000000';
    const cases: [string, string, Parameters<typeof http>[3], number][] = [
      ['POST', '/agents/pair', { body: { address: '127.0.0.1' } }, 400],
      ['POST', '/agents/pair', { body: { address: '127.0.0.1', port: 0 } }, 400],
      ['POST', '/agents/pair', { body: { address: '127.0.0.1', port: 70000 } }, 400],
      ['POST', '/agents/pair', { body: { address: '127.0.0.1', port: '7443' } }, 400],
      ['POST', '/agents/pair', { body: { address: 'a b;rm -rf', port: 7443 } }, 400],
      ['POST', '/agents/pair', { body: { address: '127.0.0.1', port: 7443, extra: 1 } }, 400],
      ['POST', '/agents/pair', { body: { address: '127.0.0.1', port: 7443, routerName: 'a\nb' } }, 400],
      ['POST', '/agents/pair', { raw: 'address=x', headers: { 'content-type': 'text/plain' } }, 415],
      ['POST', '/agents/pair/confirm', { body: {} }, 400],
      ['POST', '/agents/pair/confirm', { body: { pairingId: 'not-a-uuid' } }, 400],
      ['POST', '/agents/pair/confirm', { body: { pairingId: uuid, accept: 'yes' } }, 400],
      ['POST', '/agents/pair/confirm', { body: { pairingId: uuid } }, 404],
      ['POST', '/agents', { body: { hostId: 'h', address: '192.0.2.2', port: 7443 } }, 400],
      ['POST', '/agents', { body: { hostId: 'h', address: '192.0.2.2', port: 7443, agentKey: 'x' } }, 400],
      ['POST', '/agents', { body: { hostId: 'a/b', address: '192.0.2.2', port: 7443, agentKey: key } }, 400],
      ['POST', '/agents', { body: { hostId: '', address: '192.0.2.2', port: 7443, agentKey: key } }, 400],
      ['DELETE', '/agents/nobody', {}, 404],
      ['GET', '/audit?limit=0', {}, 400],
      ['GET', '/audit?limit=x', {}, 400],
      ['GET', '/audit?limit=1&limit=2', {}, 400],
      ['GET', '/audit?dispatch=bad!', {}, 400],
      ['GET', '/audit?since=1', {}, 400],
    ];
    for (const [method, path, o, status] of cases) {
      const r = await call(method, path, o);
      expect(r.status, `${method} ${path} ${JSON.stringify(o)}: ${r.text}`).toBe(status);
      expect(r.json.error, `${method} ${path}`).toBeTypeOf('string');
      expect(r.json.detail, `${method} ${path}`).toBeTypeOf('string');
    }
  });

  it('says so when the agent cannot be reached (502, not a 5xx crash)', async () => {
    // A port nothing listens on (the pairing agent's, after it stopped).
    const d3 = makeDirs('tg-api-pair3-');
    const a3 = await startAgent(d3, { pairing: true, hostId: 'gone' });
    const port = a3.port;
    await a3.stop();
    cleanup(d3);
    const r = await call('POST', '/agents/pair', { body: { address: '127.0.0.1', port } });
    expect(r.status, r.text).toBe(502);
    expect(r.json.error).toBe('bad_gateway');
    expect(r.json.detail).toMatch(/^agent: /);
  });
});

describe('OpenAPI document with the remediation routes mounted', () => {
  type Schema = Record<string, unknown> & {
    type?: string;
    entries?: Record<string, Schema>;
    wrapped?: Schema;
    options?: unknown[];
    literal?: unknown;
    key?: string;
  };
  type Doc = Record<string, unknown> & {
    $ref?: string;
    properties?: Record<string, Doc>;
    required?: string[];
    enum?: unknown[];
    const?: unknown;
    oneOf?: Doc[];
    additionalProperties?: boolean;
  };

  it('describes every route the app serves, and nothing else', async () => {
    const r = await http(d.url, 'GET', '/api/v1/openapi.json', { token: d.token });
    expect(r.status, r.text).toBe(200);
    // Every route hono has mounted (a new undocumented route, or a documented one that is gone, fails).
    const { documented, served } = documentedAndServed(r.json, d.cp.api.app.routes);
    expect(documented).toEqual(served);
    expect(served.filter((s) => s.includes('/remediation/')).length).toBeGreaterThanOrEqual(26);
  });

  it("documents each body and query as the route's valibot schema validates it", async () => {
    const { REMEDIATION_INPUTS } = await import('../../src/api/routes/remediation.js');
    const doc = (await http(d.url, 'GET', '/api/v1/openapi.json', { token: d.token })).json;
    const resolve = (x: Doc): Doc =>
      x.$ref ? resolve(doc.components.schemas[x.$ref.replace('#/components/schemas/', '')]) : x;
    const unwrap = (s: Schema): Schema => (s.type === 'optional' && s.wrapped ? unwrap(s.wrapped) : s);
    /** Fields, required fields, enums and constants must agree. */
    const same = (where: string, val: Schema, jsonSchema: Doc): void => {
      const js = resolve(jsonSchema);
      if (val.type === 'variant') {
        const opts = (js.oneOf ?? []).map(resolve);
        expect(opts.length, where).toBe(val.options?.length);
        for (const o of val.options as Schema[]) {
          const kind = o.entries?.[val.key ?? '']?.literal;
          const match = opts.find((x) => resolve(x.properties?.[val.key ?? ''] ?? {}).const === kind);
          expect(match, `${where}: ${String(kind)}`).toBeDefined();
          same(`${where}(${String(kind)})`, o, match as Doc);
        }
        return;
      }
      const entries = val.entries;
      if (!entries) {
        const inner = unwrap(val);
        if (inner.type === 'picklist') expect(resolve(js).enum, where).toEqual(inner.options);
        if (inner.type === 'literal') expect(resolve(js).const, where).toEqual(inner.literal);
        return;
      }
      expect(Object.keys(js.properties ?? {}).sort(), where).toEqual(Object.keys(entries).sort());
      const required = Object.entries(entries)
        .filter(([, e]) => e.type !== 'optional')
        .map(([k]) => k);
      expect([...(js.required ?? [])].sort(), `${where} required`).toEqual(required.sort());
      if (val.type === 'strict_object') expect(js.additionalProperties, `${where} is strict`).toBe(false);
      for (const [k, e] of Object.entries(entries)) same(`${where}.${k}`, e, js.properties?.[k] ?? {});
    };
    const paths = doc.paths as Record<
      string,
      Record<string, Doc & { requestBody?: Doc; parameters?: Doc[] }>
    >;
    const documentedInputs = new Set<string>();
    for (const [path, ops] of Object.entries(paths)) {
      if (!path.startsWith(`${R}/`)) continue;
      for (const [method, op] of Object.entries(ops)) {
        const route = `${method.toUpperCase()} ${path.slice(R.length).replace(/\{(\w+)\}/g, ':$1')}`;
        documentedInputs.add(route);
        const inputs = REMEDIATION_INPUTS[route];
        expect(inputs, `${route} has its inputs listed in REMEDIATION_INPUTS`).toBeDefined();
        const body = (op.requestBody as { content?: Record<string, { schema: Doc }> } | undefined)?.content?.[
          'application/json'
        ]?.schema;
        expect(Boolean(body), `${route}: a JSON body is documented iff validated`).toBe(Boolean(inputs.body));
        if (inputs.body && body) same(route, inputs.body as unknown as Schema, body);
        const q = (op.parameters ?? []).filter((x) => x.in === 'query').map((x) => x.name);
        expect(q.sort(), `${route} query`).toEqual(
          Object.keys((inputs.query as unknown as Schema).entries ?? {}).sort(),
        );
      }
    }
    expect([...documentedInputs].sort()).toEqual(Object.keys(REMEDIATION_INPUTS).sort());
  });
});

describe('report and feed files named in a request', () => {
  const inDir = (name: string) => join(importDirOf(d.dir), name);
  const refusedWith = async (route: string, path: string, why: RegExp) => {
    const r = await call('POST', route, { body: { path } });
    expect(r.status, r.text).toBe(400);
    expect(r.json.detail).toMatch(why);
  };

  it('are read only from the import directory, never through a link, only regular files, size-capped', async () => {
    // Anywhere else on the router: refused, whatever the file (the token must not read /etc/shadow).
    await refusedWith('/scans', NMAP, /not a file in the import directory/);
    await refusedWith('/threats/feed', '/etc/passwd', /not a file in the import directory/);
    await refusedWith(
      '/scans',
      join(importDirOf(d.dir), 'sub', 'x.xml'),
      /not a file in the import directory/,
    );
    // A link in the import directory to a file elsewhere.
    symlinkSync(NMAP, inDir('link.xml'));
    await refusedWith('/scans', inDir('link.xml'), /symbolic link/);
    // A FIFO would block a blocking open forever; it is refused at once.
    execFileSync('mkfifo', [inDir('fifo.xml')]);
    await refusedWith('/scans', inDir('fifo.xml'), /not a regular file/);
    // Bigger than the cap (sparse: no disk used).
    const big = inDir('big.xml');
    closeSync(openSync(big, 'w'));
    truncateSync(big, MAX_REPORT_FILE + 1);
    await refusedWith('/scans', big, /at most 67108864/);
    rmSync(big);
    // (control) the same report copied into the directory is imported.
    const ok = await call('POST', '/scans', { body: { path: importable(d.dir, NMAP), format: 'nmap' } });
    expect(ok.status, ok.text).toBe(201);
  });
});

describe('remediation routes for threats, detection, remediate, pairings and the passive feed', () => {
  const FEED = join(import.meta.dirname, '..', 'fixtures', 'scanners', 'nvd-sample.json');

  it('loads an NVD feed by path, takes a malware report, and refuses bad ones', async () => {
    const f = await call('POST', '/threats/feed', { body: { path: importable(d.dir, FEED) } });
    expect(f.status, f.text).toBe(201);
    expect(f.json).toEqual({ loaded: 4 });
    expect((await call('POST', '/threats/feed', { body: { path: '/nonexistent/feed.json' } })).status).toBe(
      400,
    );
    expect((await call('POST', '/threats/feed', { body: { path: 'relative.json' } })).status).toBe(400);
    const hosts = (await call('GET', '/hosts')).json.items;
    const id = hosts[0].id as string;
    const rep = await call('POST', `/hosts/${encodeURIComponent(id)}/threats`, {
      body: { type: 'malware', kind: 'bot', name: 'Bot-4162' },
    });
    expect(rep.status, rep.text).toBe(201);
    expect(rep.json.threats).toContainEqual(
      expect.objectContaining({
        key: 'MALWARE:bot:bot-4162',
        type: 'malware',
        kind: 'bot',
        source: 'manual',
      }),
    );
    const listed = (await call('GET', '/hosts')).json.items.find((h: { id: string }) => h.id === id);
    expect(listed.threatKeys[0]).toBe('MALWARE:bot:bot-4162');
    expect(listed.risk.level).toBe('critical');
    expect(listed.evidence).toContain('manual');
    for (const [path, body, status] of [
      [`/hosts/${encodeURIComponent(id)}/threats`, { type: 'malware', kind: 'gremlin', name: 'x' }, 400],
      [`/hosts/${encodeURIComponent(id)}/threats`, { type: 'malware', kind: 'bot', name: 'a\nb' }, 400],
      [`/hosts/${encodeURIComponent(id)}/threats`, { type: 'vulnerability', kind: 'bot', name: 'x' }, 400],
      ['/hosts/192.0.2.250/threats', { type: 'malware', kind: 'bot', name: 'x' }, 404],
    ] as const) {
      const r = await call('POST', path, { body });
      expect(r.status, `${path} ${JSON.stringify(body)}: ${r.text}`).toBe(status);
    }
  });

  it('runs detection, refuses to remediate a host without an agent, and lists (no) pairings', async () => {
    const hosts = (await call('GET', '/hosts')).json.items.filter((h: { agent: boolean }) => !h.agent);
    const det = await call('POST', '/detect', { body: { hosts: [hosts[0].id, '192.0.2.250'] } });
    expect(det.status, det.text).toBe(200);
    expect(det.json).toMatchObject({ checked: 1, missing: ['192.0.2.250'] });
    const rem = await call('POST', `/hosts/${encodeURIComponent(hosts[0].id)}/remediate`, { body: {} });
    expect(rem.status, rem.text).toBe(409);
    expect(rem.json.detail).toMatch(/no paired agent/);
    expect((await call('POST', '/hosts/192.0.2.250/remediate', { body: {} })).status).toBe(404);
    expect((await call('POST', '/detect', { body: { hosts: [] } })).status).toBe(400);
    expect((await call('POST', '/detect', { body: { hosts: ['x'], lookup: 'random' } })).status).toBe(400);
    const pairings = await call('GET', '/agents/pairings');
    expect(pairings.status).toBe(200);
    expect(pairings.json.items).toEqual([]);
    // The test daemon has no dataplane samples and no lease file: no passive feed.
    expect((await call('GET', '/passive')).json).toEqual({ running: false });
  });
});
