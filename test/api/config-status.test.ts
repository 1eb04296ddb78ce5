// The status tells the truth about the configuration: the file and its checksum, a refused reload with
// its reasons, settings waiting for a restart (status JSON, /api/v1/status, the CLI's text, an SSE
// event); and a file with errors at start never stops the daemon: it runs on the last good
// configuration, else on the file without its bad lines, else on the defaults, and says so.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseListen } from '../../src/config/index.js';
import { salvageConfig } from '../../src/config/salvage.js';
import { ConfigStore } from '../../src/daemon/config-store.js';
import { ControlPlane } from '../../src/daemon/control.js';
import { LAST_GOOD_FILE, startConfig } from '../../src/daemon/start-config.js';
import { BASE_UCI, FakeDataplane, http, SseReader, startTestDaemon, type TestDaemon } from './helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tunguard');
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
/** BASE_UCI with a typo in an option name on line 9 (moderate_threshold). */
const TYPO = BASE_UCI.replace('moderate_threshold', 'modrate_threshold');

async function cliStatus(d: TestDaemon, json: boolean): Promise<string> {
  const args = [BIN, 'status', '--api', d.url, '--token-file', d.cp.summary().tokenFile];
  const p = spawn(process.execPath, json ? [...args, '--json'] : args);
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b));
  await once(p, 'close');
  return out;
}

describe('status: the configuration in force and its reloads', () => {
  let d: TestDaemon;
  let sse: SseReader;
  beforeAll(async () => {
    d = await startTestDaemon();
    sse = await SseReader.open(`${d.url}/api/v1/events?types=config-status`, d.token);
  });
  afterAll(async () => {
    sse?.close();
    await d?.close();
  });
  const status = async () => (await http(d.url, 'GET', '/api/v1/status', { token: d.token })).json;

  it('names the file and the checksum of what is in force; no reload yet', async () => {
    const c = (await status()).config;
    expect(c).toMatchObject({ path: d.configPath, inForce: 'file', problems: [], lastReload: null });
    expect(c.sha256).toBe(sha(readFileSync(d.configPath!, 'utf8')));
    const text = await cliStatus(d, false);
    expect(text).toContain(`config      ${d.configPath}, sha256 ${c.sha256.slice(0, 16)}`);
    expect(text).toMatch(/^reload {6}none since the start$/m);
  });

  it('a refused reload: status (API, CLI text and JSON) and an SSE event say why; the old config stays', async () => {
    const before = (await status()).config.sha256;
    writeFileSync(d.configPath!, TYPO);
    expect((await d.cp.reload()).ok).toBe(false);
    const c = (await status()).config;
    expect(c.sha256).toBe(before);
    expect(c.lastReload).toMatchObject({ trigger: 'sighup', result: 'refused' });
    expect(c.lastReload.problems.join('\n')).toMatch(/line 9: .*modrate_threshold/);
    expect(c.problems).toEqual(c.lastReload.problems);
    expect(Date.now() - c.lastReload.at).toBeLessThan(10_000);
    const ev = await sse.next('config-status');
    expect(ev.data.config.lastReload.result).toBe('refused');
    const text = await cliStatus(d, false);
    expect(text).toMatch(/^reload {6}\S+ \S+ \(sighup\) refused \(the configuration in force stays\)$/m);
    expect(text).toMatch(/line 9: .*modrate_threshold/);
    expect(JSON.parse(await cliStatus(d, true)).config.lastReload.result).toBe('refused');
  });

  it('a good reload clears the problem; a restart-only setting is listed as pending', async () => {
    const seen = sse.events.length;
    writeFileSync(
      d.configPath!,
      BASE_UCI.replace("list lan_device 'lan0'", "list lan_device 'lan0'\n\toption queues '2'"),
    );
    expect((await d.cp.reload()).ok).toBe(true);
    const c = (await status()).config;
    expect(c.problems).toEqual([]);
    expect(c.lastReload).toMatchObject({ result: 'applied', trigger: 'sighup', changed: ['main.queues'] });
    expect(c.pendingRestart).toEqual(['main.queues']);
    expect(c.sha256).toBe(sha(readFileSync(d.configPath!, 'utf8')));
    expect((await sse.next('config-status', 3000, seen)).data.config.lastReload.result).toBe('applied');
    expect(await cliStatus(d, false)).toMatch(/^restart {5}needed to apply main\.queues/m);
    // The good file is kept for a start on a broken one.
    const kept = JSON.parse(readFileSync(join(d.dir, LAST_GOOD_FILE), 'utf8'));
    expect(kept).toMatchObject({ path: d.configPath, text: readFileSync(d.configPath!, 'utf8') });
    // 0600, as saveLastGood says it keeps the copy.
    expect(statSync(join(d.dir, LAST_GOOD_FILE)).mode & 0o777).toBe(0o600);
  });
});

describe('a file with errors at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tunguard-start-'));
  const path = join(dir, 'tunguard.conf');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('(control) the file really is refused', () => {
    writeFileSync(path, TYPO);
    expect(() => ConfigStore.fromFile(path)).toThrow(/line 9: .*modrate_threshold/);
  });

  it('runs on the file without its bad lines: the rest of the file holds, the typo takes its default', () => {
    rmSync(join(dir, LAST_GOOD_FILE), { force: true });
    writeFileSync(path, TYPO.replace("'300'", "'500'"));
    const s = startConfig(path, dir);
    expect(s.fallback?.inForce).toBe('file-without-errors');
    expect(s.fallback?.problems.join('\n')).toMatch(/line 9: .*modrate_threshold/);
    const syn = s.store.config.defense.syn;
    expect(syn.riskyThreshold).toBe(500);
    expect(syn.moderateThreshold).toBe(ConfigStore.fromDefaults().config.defense.syn.moderateThreshold);
    expect(s.store.config.allow.map((p) => p.cidr)).toEqual(['192.0.2.10/32']);
    expect(readFileSync(path, 'utf8')).toBe(TYPO.replace("'300'", "'500'")); // the file is untouched
  });

  it('a bad section header leaves out its whole section; nothing usable left → undefined', () => {
    const t = "config tunguard 'main'\n\toption queues '2'\n\nconfig bogus 'x'\n\toption a 'b'\n";
    const s = salvageConfig(t, 'x.conf');
    expect(s?.loaded.config.main.queues).toBe(2);
    expect(s?.dropped[0].line).toBe(4);
    expect(salvageConfig("config tunguard 'main'\n", 'x.conf')).toBeUndefined(); // nothing wrong
  });

  it('prefers the last good configuration of the same file; then the allowlist is not edited', async () => {
    writeFileSync(path, BASE_UCI.replace("'300'", "'600'"));
    const good = startConfig(path, dir);
    expect(good.fallback).toBeUndefined();
    const dp = new FakeDataplane();
    const log: string[] = [];
    const start = (s: ReturnType<typeof startConfig>) =>
      ControlPlane.start({
        dp,
        store: s.store,
        stateDir: dir,
        apiOverride: { ...parseListen('127.0.0.1:1'), port: 0 },
        wanDevice: 'tgl-none0',
        version: '0.0.0-test',
        log: (m) => log.push(m),
        ...(s.fallback ? { startFallback: s.fallback } : {}),
      });
    await (await start(good)).stop(); // keeps the good file in the state dir
    writeFileSync(path, TYPO);
    const s = startConfig(path, dir);
    expect(s.fallback?.inForce).toBe('last-good');
    expect(s.store.config.defense.syn.riskyThreshold).toBe(600);
    // Another file's copy is not taken.
    writeFileSync(join(dir, 'other.conf'), TYPO);
    expect(startConfig(join(dir, 'other.conf'), dir).fallback?.inForce).toBe('file-without-errors');
    const cp = await start(s);
    try {
      const c = cp.status().config!;
      expect(c).toMatchObject({ inForce: 'last-good', path });
      expect(c.problems.join('\n')).toMatch(/modrate_threshold/);
      await expect(cp.deps().allowlist.add({ cidr: '198.51.100.0/24' } as never, '')).rejects.toThrow(
        /not in force .*fix it and reload/,
      );
      expect(readFileSync(path, 'utf8')).toBe(TYPO);
      writeFileSync(path, BASE_UCI);
      expect((await cp.reload()).ok).toBe(true);
      expect(cp.status().config).toMatchObject({ inForce: 'file', problems: [] });
    } finally {
      await cp.stop();
    }
  });

  it('a syntax error leaves out its line too; an unreadable file and no copy: the built-in defaults', () => {
    rmSync(join(dir, LAST_GOOD_FILE), { force: true });
    writeFileSync(path, "config tunguard 'main'\n\toption queues '2\n\toption ipv6 '0'\n"); // unterminated quote
    const q = startConfig(path, dir);
    expect(q.fallback?.inForce).toBe('file-without-errors');
    expect(q.store.config.main.ipv6).toBe(false);
    const s = startConfig(dir, dir); // a directory: nothing to read
    expect(s.fallback?.inForce).toBe('defaults');
    expect(s.fallback?.problems.join('\n')).toMatch(/not a regular file/);
    expect(s.store.config.main.queues).toBe(ConfigStore.fromDefaults().config.main.queues);
  });
});
