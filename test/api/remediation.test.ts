// The remediation routes through real HTTP on loopback, with a real RemediationService in a temp dir.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiCommand } from '../../src/cli/commands.js';
import { http, startTestDaemon, type TestDaemon } from './helpers.js';

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
    const r = await call('POST', '/scans', { body: { path: NMAP, format: 'nmap' } });
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
      ['POST', '/scans', { body: { path: NMAP, format: 'nessus' } }, 400],
      ['POST', '/scans', { body: { path: NMAP, format: 'word' } }, 400],
      ['POST', '/scans', { body: { path: NMAP, extra: true } }, 400],
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
});

describe('remediation CLI', () => {
  /** Runs a CLI command against the test daemon; returns its exit code and output. */
  async function cli(cmd: string, args: string[]) {
    let stdout = '';
    let stderr = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((x) => {
      stdout += String(x);
      return true;
    });
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((x) => {
      stderr += String(x);
      return true;
    });
    try {
      const tokenFile = d.cp.summary().tokenFile;
      const code = await apiCommand(cmd, [...args, '--api', d.url, '--token-file', tokenFile]);
      return { code, stdout, stderr };
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }

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
    const { remediationDir } = await import('../../src/cli/run.js');
    expect(remediationDir('/etc/tunguard', undefined)).toBe('/etc/tunguard');
    expect(remediationDir('/etc/tunguard', '/tmp/tg')).toBe('/tmp/tg/durable');
    // Below a regular file: cannot be created.
    expect(remediationDir(join(d.dir, 'tunguard.conf', 'x'), '/tmp/tg')).toBe('/tmp/tg/durable');
    expect(remediationDir(d.dir, '/tmp/tg')).toBe(d.dir);
  });
});
