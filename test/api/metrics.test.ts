// /metrics as Prometheus reads it: `promtool check metrics` (Debian: prometheus) accepts the exposition
// of a dataplane with every stage's counters; drops are one family with a `reason` label; every counter
// a real pipeline has is described by its own HELP text.

import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COUNTER_HELP } from '../../src/api/metric-help.js';
import { renderMetrics } from '../../src/api/metrics.js';
import { ConfigStore } from '../../src/daemon/config-store.js';
import { pipelineLayout } from '../../src/dataplane/pipeline.js';
import { buildStages, STAGE_NAMES, testStageEnv } from '../../src/dataplane/stages/index.js';
import { http, startTestDaemon, type TestDaemon } from './helpers.js';

/** Every counter of a pipeline with all stages (and the SYN gate), as the dataplane lays them out. */
function allCounterNames(): string[] {
  const syn = ConfigStore.fromDefaults().config.defense.syn;
  const env = testStageEnv({ lanPrefixes: ['192.0.2.0/24'], syn: { ...syn, allow: [] } });
  return pipelineLayout(buildStages(STAGE_NAMES, env)).names;
}

function promtool(text: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool: ${r.error.message} (apt-get install prometheus)`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
  d.dp.values = Object.fromEntries(allCounterNames().map((n, i) => [n, i + 1]));
});
afterAll(() => d?.close());

describe('/metrics', () => {
  it('(control) promtool refuses a quantile label on a gauge, as /metrics had it', () => {
    const bad = [
      '# HELP x_seconds Delay.',
      '# TYPE x_seconds gauge',
      'x_seconds{quantile="0.5"} 0.1',
      '',
    ].join('\n');
    expect(promtool(bad).status).not.toBe(0);
  });

  it('passes promtool check metrics, served and with the event-loop gauges', async () => {
    const r = await http(d.url, 'GET', '/metrics', { token: d.token });
    expect(r.status).toBe(200);
    const served = promtool(r.text);
    expect(served.out).toBe('');
    expect(served.status).toBe(0);
    const full = renderMetrics(d.cp.status(), {
      responses: new Map([[200, 3]]),
      sse: { clients: 1, published: 2, dropped: 0 } as never,
      attackers: 0,
      ignoredEvents: 0,
      eventLoop: { windowSeconds: 5, p50Ms: 0.5, p99Ms: 3, maxMs: 9 },
    });
    expect(full).toMatch(/^tunguard_main_event_loop_delay_seconds\{stat="p99"\} 0\.003$/m);
    const checked = promtool(full);
    expect(checked.out).toBe('');
    expect(checked.status).toBe(0);
  });

  it('drops are one family, the cause in a reason label; no drop has a family of its own', async () => {
    const text = (await http(d.url, 'GET', '/metrics', { token: d.token })).text;
    const v = d.dp.values;
    expect(text).toContain(
      `tunguard_dataplane_dropped_packets_total{reason="syn_risky",worker="0"} ${v.drop_syn_risky}`,
    );
    expect(text).toContain(
      `tunguard_dataplane_dropped_packets_total{reason="malformed_bad_ihl",worker="0"} ${v.malformed_bad_ihl}`,
    );
    expect(text).toContain(
      `tunguard_dataplane_dropped_packets_total{reason="udp_rate_source",worker="0"} ${v.drop_udp_rate_source}`,
    );
    expect(text).not.toMatch(/^tunguard_dataplane_(drop|malformed)_/m);
    expect(text.match(/^# TYPE tunguard_dataplane_dropped_packets_total counter$/gm)).toHaveLength(1);
  });

  it('describes every counter of a real pipeline in its own words', async () => {
    const names = allCounterNames().filter((n) => !/^(drop_|malformed_)/.test(n));
    expect(names.length).toBeGreaterThan(30);
    expect(names.filter((n) => COUNTER_HELP[n] === undefined)).toEqual([]);
    const text = (await http(d.url, 'GET', '/metrics', { token: d.token })).text;
    // The fallback text appears only for a counter nobody described.
    expect(text).not.toMatch(/^# HELP \S+ Dataplane (counter|gauge) /m);
    expect(text).toMatch(
      /^# HELP tunguard_dataplane_synproxy_cookie_invalid_total Handshake ACKs with a wrong or expired cookie/m,
    );
  });
});
