// The prometheus-node-exporter-lua collector (package prometheus-node-exporter-lua-tunguard), as
// shipped in its .ipk, run for real under Debian's lua5.1 (OpenWrt's Lua) and lua5.3 with Debian's
// lua-cjson, inside test/pkg/lua/exporter.lua: a stand-in for the exporter's main script that gives
// the collector the same globals (metric, get_contents, output) with the same behaviour. Its output
// is checked by Debian's promtool (`check metrics`), and sample for sample against what the daemon's
// own /metrics (src/api/metrics.ts) renders from the same status. The alert rules and the Grafana
// dashboard under contrib/ are checked by promtool too (`check rules`, `test rules`).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttackerList, StatusSnapshot } from '../../src/api/deps.js';
import { renderMetrics } from '../../src/api/metrics.js';
import { REPO_ROOT } from '../lab/lab.js';
import { BUILD_TIMEOUT_MS, builtPackages, OUT, openIpk, runBuild } from './openwrt.js';

const LUAS = ['lua5.1', 'lua5.3'] as const;
const HARNESS = join(REPO_ROOT, 'test', 'pkg', 'lua', 'exporter.lua');
const CONTRIB = join(REPO_ROOT, 'contrib');
const work = mkdtempSync(join(tmpdir(), 'tunguard-collector-'));
let collector = '';

beforeAll(() => {
  const need: Record<string, string> = { 'lua5.1': 'lua5.1', 'lua5.3': 'lua5.3', promtool: 'prometheus' };
  for (const [tool, pkg] of Object.entries(need))
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      throw new Error(`${tool} is missing (apt-get install -y ${pkg})`);
  for (const lua of LUAS)
    if (spawnSync(lua, ['-e', 'require "cjson"']).status !== 0)
      throw new Error(`${lua} has no cjson module (apt-get install -y lua-cjson)`);
  runBuild();
  const b = builtPackages().packages.find((p) => p.package === 'prometheus-node-exporter-lua-tunguard');
  if (!b) throw new Error('no prometheus-node-exporter-lua-tunguard package was built');
  const ipk = openIpk(join(OUT, b.file), join(work, 'ipk'));
  collector = join(ipk.dir, 'data', 'usr/lib/lua/prometheus-collectors/tunguard.lua');
}, BUILD_TIMEOUT_MS);

afterAll(() => rmSync(work, { recursive: true, force: true }));

type StatusFile = { pid: number; tun: string } & StatusSnapshot & {
    attackers: AttackerList;
    api: { listening: string[]; tokenFile: string; error?: string };
  };

/** What src/daemon/run.ts writes to status.json, typed by the daemon's own types. */
function status(over: Partial<StatusFile> = {}): StatusFile {
  const perWorker = [
    { rx_packets: 60, tx_packets: 58, drop_syn_risky: 3, malformed_ipv4_short: 1, gauge_half_open: 4 },
    { rx_packets: 40, tx_packets: 40, drop_syn_risky: 4, malformed_ipv4_short: 0, gauge_half_open: 8 },
  ];
  const counters: Record<string, number> = {};
  for (const w of perWorker) for (const [k, v] of Object.entries(w)) counters[k] = (counters[k] ?? 0) + v;
  return {
    pid: process.pid,
    tun: 'tg0',
    tier: 'risky',
    halfOpen: 12,
    counters,
    drops: { drop_syn_risky: 7, malformed_ipv4_short: 1 },
    perWorker,
    uptimeSeconds: 12.5,
    version: '0.1.0',
    startedAt: Date.parse('2026-12-06T07:00:00.000Z'),
    attackers: { items: [], total: 2 },
    agents: { paired: 3, unreachable: 1 },
    api: { listening: ['127.0.0.1:8080'], tokenFile: '/etc/tunguard/api.token' },
    ...over,
  };
}

let n = 0;
/** Runs the collector on a state dir holding `content` as status.json (none when undefined). */
function scrape(lua: string, content: string | undefined) {
  const dir = mkdtempSync(join(work, `state-${n++}-`));
  if (content !== undefined) writeFileSync(join(dir, 'status.json'), content);
  const r = spawnSync(lua, [HARNESS, collector, 'tunguard'], {
    encoding: 'utf8',
    env: { ...process.env, TUNGUARD_STATE_DIR: dir },
    timeout: 20_000,
  });
  if (r.status !== 0) throw new Error(`${lua} exporter.lua failed (${r.status}): ${r.stderr}`);
  return { out: r.stdout, err: r.stderr };
}

/** Sample lines → "name{labels sorted}" → value. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const r = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!r) throw new Error(`not a sample line: ${line}`);
    const labels = (r[2] ?? '').split(',').filter(Boolean).sort().join(',');
    m.set(`${r[1]}{${labels}}`, Number(r[3]));
  }
  return m;
}

const promtool = (args: string[], input?: string) =>
  spawnSync('promtool', args, { encoding: 'utf8', input, cwd: work, timeout: 30_000 });
/** The collector's own lines: everything before the exporter's node_scrape_* families. */
const own = (out: string) => out.slice(0, out.indexOf('# TYPE node_scrape_collector_duration_seconds'));

describe.each(LUAS)('the collector under %s', (lua) => {
  it('writes what promtool check metrics passes without a remark', () => {
    const { out } = scrape(lua, JSON.stringify(status()));
    const mine = promtool(['check', 'metrics'], own(out));
    expect(mine.stdout + mine.stderr).toBe('');
    expect(mine.status).toBe(0);
    // The whole scrape parses; the exporter's own node_scrape_* families have no HELP (its metric()
    // writes none), which is all promtool remarks on.
    const all = promtool(['check', 'metrics'], out);
    const remarks = (all.stdout + all.stderr).split('\n').filter(Boolean);
    expect(remarks.sort()).toEqual([
      'node_scrape_collector_duration_seconds no help text',
      'node_scrape_collector_success no help text',
    ]);
    // The control: promtool does fail a family the text format forbids (a TYPE line twice).
    const bad = promtool(['check', 'metrics'], `${own(out)}# TYPE tunguard_up gauge\ntunguard_up 1\n`);
    expect(bad.status).not.toBe(0);
  });

  it("gives the same samples as the daemon's /metrics for the same status", () => {
    const s = status();
    const { out } = scrape(lua, JSON.stringify(s));
    const got = samples(out);
    const want = samples(
      renderMetrics(s, {
        responses: new Map(),
        sse: { clients: 0, published: 0, dropped: 0 },
        attackers: s.attackers.total,
        ignoredEvents: 0,
      } as Parameters<typeof renderMetrics>[1]),
    );
    // Every family of /metrics that status.json can answer for (not the API's own traffic).
    const shared = [...want.keys()].filter((k) => !/^tunguard_(api_|dataplane_events_ignored)/.test(k));
    expect(shared.length).toBeGreaterThan(10);
    for (const k of shared) expect(got.get(k), k).toBe(want.get(k));
    expect(got.get('tunguard_dataplane_dropped_packets_total{reason="syn_risky",worker="1"}')).toBe(4);
    expect(got.get('tunguard_dataplane_half_open{worker="1"}')).toBe(8);
    expect(got.get('tunguard_tier{tier="risky"}')).toBe(1);
    expect(got.get('tunguard_tier{tier="normal"}')).toBe(0);
    expect(got.get('tunguard_api_up{}')).toBe(1);
    expect(got.get('tunguard_agents_unreachable{}')).toBe(1);
    expect(got.get('tunguard_agents_paired{}')).toBe(3);
    expect(got.get('node_scrape_collector_success{collector="tunguard"}')).toBe(1);
  });

  it('says down for a missing file or a dead pid, fails the scrape on a damaged file, and omits what is null', () => {
    const none = samples(scrape(lua, undefined).out);
    expect(none.get('tunguard_up{}')).toBe(0);
    expect([...none.keys()].filter((k) => k.startsWith('tunguard_'))).toEqual(['tunguard_up{}']);
    expect(none.get('node_scrape_collector_success{collector="tunguard"}')).toBe(1);

    const dead = Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
    const gone = samples(scrape(lua, JSON.stringify(status({ pid: dead }))).out);
    expect(gone.get('tunguard_up{}')).toBe(0);
    expect(gone.has('tunguard_tier{tier="risky"}')).toBe(false);

    const torn = scrape(lua, JSON.stringify(status()).slice(0, 40));
    expect(samples(torn.out).get('node_scrape_collector_success{collector="tunguard"}')).toBe(0);
    expect(torn.err).toMatch(/status\.json is not a status file/);

    const early = samples(
      scrape(
        lua,
        JSON.stringify(
          status({ tier: null, halfOpen: null, agents: undefined, api: { listening: [], tokenFile: '' } }),
        ),
      ).out,
    );
    expect(early.get('tunguard_up{}')).toBe(1);
    expect([...early.keys()].some((k) => k.startsWith('tunguard_tier{'))).toBe(false);
    expect(early.has('tunguard_half_open{}')).toBe(false);
    // The remediation service off: no agent counts (not a 0 that would read as "all reachable").
    expect([...early.keys()].some((k) => k.startsWith('tunguard_agents_'))).toBe(false);
    expect(early.get('tunguard_api_up{}')).toBe(0);
  });

  it('writes large counters exactly and escapes a label value', () => {
    const big = 2 ** 53 - 1;
    const s = status({
      version: '0.1.0 "dev"\\x',
      perWorker: [{ rx_bytes: big }],
      counters: { rx_bytes: big },
    });
    const { out } = scrape(lua, JSON.stringify(s));
    expect(out).toContain(`tunguard_dataplane_rx_bytes_total{worker="0"} ${big}\n`);
    expect(out).toContain('tunguard_build_info{version="0.1.0 \\"dev\\"\\\\x"} 1\n');
    expect(promtool(['check', 'metrics'], own(out)).status).toBe(0);
  });
});

describe('contrib/: alert rules and dashboard', () => {
  it('promtool check rules and its unit tests pass; a weakened rule fails them', () => {
    const rules = join(CONTRIB, 'prometheus', 'tunguard.rules.yml');
    const check = promtool(['check', 'rules', rules]);
    expect(check.stdout).toContain('SUCCESS: 5 rules found');
    expect(check.status).toBe(0);
    const test = promtool(['test', 'rules', join(CONTRIB, 'prometheus', 'tunguard.rules.test.yml')]);
    expect(test.stdout + test.stderr).toContain('SUCCESS');
    expect(test.status).toBe(0);
    // Controls: no `for` on the tier alert, a drops threshold the test traffic stays under, an agent
    // alert that fires too early, and one that never fires.
    const copy = mkdtempSync(join(work, 'rules-'));
    cpSync(join(CONTRIB, 'prometheus'), copy, { recursive: true });
    const text = readFileSync(rules, 'utf8');
    for (const [from, to] of [
      ['for: 1m', 'for: 0m'],
      ['dropped_packets_total[5m])) > 10', 'dropped_packets_total[5m])) > 30'],
      ['for: 15m', 'for: 5m'],
      ['tunguard_agents_unreachable > 0', 'tunguard_agents_unreachable > 2'],
    ]) {
      expect(text).toContain(from);
      writeFileSync(join(copy, 'tunguard.rules.yml'), text.replace(from, to));
      expect(promtool(['test', 'rules', join(copy, 'tunguard.rules.test.yml')]).status, to).not.toBe(0);
    }
  });

  it("the dashboard's queries are valid PromQL over metrics the collector writes", () => {
    const dash = JSON.parse(readFileSync(join(CONTRIB, 'grafana', 'tunguard.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    // Grafana's variables as a query would have them, then each query as a recording rule.
    const promql = exprs.map((e) => e.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*'));
    const file = join(work, 'dashboard-rules.yml');
    const asRules = (list: string[]) =>
      `groups:\n  - name: dashboard\n    rules:\n${list.map((e, i) => `      - record: dashboard:q${i}\n        expr: ${JSON.stringify(e)}\n`).join('')}`;
    writeFileSync(file, asRules(promql));
    const r = promtool(['check', 'rules', file]);
    expect(r.stdout + r.stderr).toContain(`SUCCESS: ${promql.length} rules found`);
    writeFileSync(file, asRules([...promql, 'sum by (instance) (rate(tunguard_up[5m])']));
    expect(promtool(['check', 'rules', file]).status).not.toBe(0);
    // Every tunguard_ name a panel asks for is one the collector writes (under either Lua).
    const { out } = scrape('lua5.1', JSON.stringify(status()));
    const written = new Set([...samples(out).keys()].map((k) => k.slice(0, k.indexOf('{'))));
    const asked = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(tunguard_[a-z_]+)\b/g)].map((m) => m[1])));
    for (const name of asked) {
      if (name === 'tunguard_dataplane_') continue; // the drops panel's name pattern
      expect(written.has(name), name).toBe(true);
    }
    expect(asked.size).toBeGreaterThanOrEqual(8);
  });
});
