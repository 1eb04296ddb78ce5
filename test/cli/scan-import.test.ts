// `tunguard scan import` when the daemon's import directory is not on this machine: the report goes in
// the request instead (--upload, or by itself when --api names another machine), bounded by what the
// API takes in a body. A real daemon on loopback; its state dir is not the one the CLI is given, as on a
// laptop talking to the router. (test/lab/api.test.ts imports from a LAN host over the lab network.)
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onThisMachine } from '../../src/cli/scan.js';
import { importDirOf, MAX_REPORT_BODY } from '../../src/remediation/import-file.js';
import { http, startTestDaemon, type TestDaemon } from '../api/helpers.js';
import { runCli } from './run-cli.js';

const NMAP = join(import.meta.dirname, '..', 'fixtures', 'scanners', 'defectdojo_nmap_multiple_port.xml');

let d: TestDaemon;
let away: string;

beforeAll(async () => {
  d = await startTestDaemon({ remediation: true });
  away = mkdtempSync(join(tmpdir(), 'tunguard-cli-away-'));
});

afterAll(async () => {
  await d?.close();
  rmSync(away, { recursive: true, force: true });
});

/** `tunguard scan import <file> …` against the test daemon, with a state dir that is not the daemon's. */
function scanImport(file: string, flags: string[] = []) {
  return runCli(d, 'scan', ['import', file, '--format', 'nmap', ...flags], away);
}

async function hostIds(): Promise<string[]> {
  const r = await http(d.url, 'GET', '/api/v1/remediation/hosts', { token: d.token });
  return r.json.items.map((h: { id: string }) => h.id).sort();
}

/** The fixture report made exactly `size` bytes long by a comment before its end. */
function padded(size: number): string {
  const xml = readFileSync(NMAP, 'utf8');
  const end = xml.lastIndexOf('</nmaprun>');
  const frame = Buffer.byteLength(xml) + '<!--'.length + '-->'.length;
  const text = `${xml.slice(0, end)}<!--${'x'.repeat(size - frame)}-->${xml.slice(end)}`;
  const file = join(away, `padded-${size}.xml`);
  writeFileSync(file, text);
  expect(Buffer.byteLength(text)).toBe(size);
  return file;
}

describe('scan import without the daemon’s import directory', () => {
  it('--upload sends the report in the request; without it the CLI must copy and cannot', async () => {
    // Loopback is this machine: the CLI copies into <state-dir>/import, which is not there.
    const copy = await scanImport(NMAP);
    expect(copy.code).toBe(1);
    expect(copy.stderr).toMatch(/cannot copy .* into the daemon's import directory .*ENOENT/);
    expect(await hostIds()).toEqual([]);

    const up = await scanImport(NMAP, ['--upload', '--json']);
    expect(up.code, up.stderr).toBe(0);
    const summary = JSON.parse(up.stdout);
    expect(summary.hostIds.length).toBeGreaterThan(0);
    expect(await hostIds()).toEqual([...new Set<string>(summary.hostIds)].sort());
    // Nothing was staged on the daemon's side either.
    expect(readdirSync(importDirOf(d.dir))).toEqual([]);
  });

  it('sends at most what the API takes in a body: 4 MiB imports, one byte more is refused before sending', async () => {
    const fits = await scanImport(padded(MAX_REPORT_BODY), ['--upload']);
    expect(fits.code, fits.stderr).toBe(0);
    expect(fits.stdout).toMatch(/^imported .*: \d+ host\(s\)/);

    const big = await scanImport(padded(MAX_REPORT_BODY + 1), ['--upload']);
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(
      new RegExp(
        `is ${MAX_REPORT_BODY + 1} bytes: a report sent to the API is at most ${MAX_REPORT_BODY} bytes`,
      ),
    );
    const empty = join(away, 'empty.xml');
    writeFileSync(empty, '');
    const none = await scanImport(empty, ['--upload']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/empty\.xml is empty/);
  });
});

describe('which API is on this machine', () => {
  const at = (url: string, via = '--api') =>
    onThisMachine({ url, via, tokenSource: 'TUNGUARD_TOKEN', stateDir: '/x', configPath: undefined });

  it('loopback and the daemon’s own published address are; another address given with --api is not', () => {
    expect(at('http://127.0.0.1:7447')).toBe(true);
    expect(at('http://127.3.0.1:7447')).toBe(true);
    expect(at('http://[::1]:7447')).toBe(true);
    expect(at('https://localhost:7447')).toBe(true);
    expect(at('https://198.51.100.1:7447', '/var/run/tunguard/api.json')).toBe(true);
    expect(at('https://198.51.100.1:7447')).toBe(false);
    expect(at('http://[2001:db8::1]:7447')).toBe(false);
    expect(at('https://router.example:7447')).toBe(false);
  });
});
