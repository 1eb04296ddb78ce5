// `/metrics` in the Prometheus text exposition format (version 0.0.4).

import type { StatusSnapshot } from './deps.js';
import { TIERS } from './deps.js';
import type { SseHubStats } from './events.js';
import { COUNTER_HELP, dropReason } from './metric-help.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A metric-name-safe form of a counter name. */
export function metricName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function num(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return '+Inf';
  if (x === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(x);
}

export interface ApiMetrics {
  /** Responses by status code. */
  responses: Map<number, number>;
  sse: SseHubStats;
  attackers: number;
  /** Dataplane events that matched no documented shape. */
  ignoredEvents: number;
  eventLoop?: { windowSeconds: number; p50Ms: number; p99Ms: number; maxMs: number };
}

class Writer {
  readonly lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge', help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, value: number, labels?: Record<string, string | number>): void {
    const l = labels
      ? `{${Object.entries(labels)
          .map(
            ([k, v]) =>
              `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
          )
          .join(',')}}`
      : '';
    this.lines.push(`${name}${l} ${num(value)}`);
  }
}

/** The exposition text: the dataplane's counters (total and per worker), tier, gauges, API stats. */
export function renderMetrics(s: StatusSnapshot, api: ApiMetrics): string {
  const w = new Writer();
  w.family('tunguard_up', 'gauge', 'Whether the daemon answers (always 1 when scraped).');
  w.sample('tunguard_up', 1);
  w.family('tunguard_build_info', 'gauge', 'Always 1; the running version in the version label.');
  w.sample('tunguard_build_info', 1, { version: s.version });
  w.family('tunguard_uptime_seconds', 'gauge', 'Seconds since the dataplane started.');
  w.sample('tunguard_uptime_seconds', Math.round(s.uptimeSeconds * 1000) / 1000);
  // Every drop is one sample of one family, its cause in the `reason` label: sum() gives all drops.
  const drops = Object.keys(s.drops);
  const dropped = 'tunguard_dataplane_dropped_packets_total';
  w.family(
    dropped,
    'counter',
    'Packets the dataplane dropped, by reason (malformed_*: failed parsing; syn_*: the SYN defense; icmp_*, udp_*: rate limits), per worker.',
  );
  for (const name of drops) {
    const reason = dropReason(name);
    s.perWorker.forEach((wc, i) => {
      w.sample(dropped, wc[name] ?? 0, { reason, worker: i });
    });
    if (s.perWorker.length === 0) w.sample(dropped, s.drops[name], { reason });
  }
  for (const [name, value] of Object.entries(s.counters)) {
    if (Object.hasOwn(s.drops, name)) continue;
    const gauge = name.startsWith('gauge_');
    const m = gauge
      ? `tunguard_dataplane_${metricName(name.slice(6))}`
      : `tunguard_dataplane_${metricName(name)}_total`;
    const help = COUNTER_HELP[name] ?? `Dataplane ${gauge ? 'gauge' : 'counter'} ${name}.`;
    w.family(m, gauge ? 'gauge' : 'counter', `${help} Per worker.`);
    s.perWorker.forEach((wc, i) => {
      w.sample(m, wc[name] ?? 0, { worker: i });
    });
    if (s.perWorker.length === 0) w.sample(m, value);
  }
  if (s.tier !== null) {
    w.family('tunguard_tier', 'gauge', 'The current risk tier (1 for the tier in force).');
    for (const t of TIERS) w.sample('tunguard_tier', t === s.tier ? 1 : 0, { tier: t });
  }
  if (s.halfOpen !== null) {
    w.family('tunguard_half_open', 'gauge', 'Unfinished TCP handshakes now.');
    w.sample('tunguard_half_open', s.halfOpen);
  }
  if (s.agents) {
    w.family('tunguard_agents_paired', 'gauge', 'Host agents paired with this router.');
    w.sample('tunguard_agents_paired', s.agents.paired);
    w.family(
      'tunguard_agents_unreachable',
      'gauge',
      'Paired agents the last contact (a dispatch or the agent_check ping) did not reach.',
    );
    w.sample('tunguard_agents_unreachable', s.agents.unreachable);
  }
  w.family('tunguard_attackers', 'gauge', 'Sources currently marked aggressive.');
  w.sample('tunguard_attackers', api.attackers);
  w.family('tunguard_api_responses_total', 'counter', 'API responses by status code.');
  for (const [code, n] of [...api.responses].sort((a, b) => a[0] - b[0])) {
    w.sample('tunguard_api_responses_total', n, { code });
  }
  w.family('tunguard_api_sse_clients', 'gauge', 'Connected event-stream clients.');
  w.sample('tunguard_api_sse_clients', api.sse.clients);
  w.family('tunguard_api_sse_events_total', 'counter', 'Events published to the event stream.');
  w.sample('tunguard_api_sse_events_total', api.sse.published);
  w.family('tunguard_api_sse_dropped_total', 'counter', 'Events dropped from slow clients (oldest first).');
  w.sample('tunguard_api_sse_dropped_total', api.sse.dropped);
  if (api.eventLoop) {
    // Gauges by statistic: a `quantile` label belongs to summaries only (with _sum and _count).
    const m = 'tunguard_main_event_loop_delay_seconds';
    w.family(
      m,
      'gauge',
      `Event-loop delay of the main thread (API, control) over the last ${api.eventLoop.windowSeconds} s, by statistic (p50, p99, max).`,
    );
    w.sample(m, api.eventLoop.p50Ms / 1000, { stat: 'p50' });
    w.sample(m, api.eventLoop.p99Ms / 1000, { stat: 'p99' });
    w.sample(m, api.eventLoop.maxMs / 1000, { stat: 'max' });
  }
  w.family(
    'tunguard_dataplane_events_ignored_total',
    'counter',
    'Dataplane events of no known shape (ignored; a sign of a version mismatch).',
  );
  w.sample('tunguard_dataplane_events_ignored_total', api.ignoredEvents);
  return `${w.lines.join('\n')}\n`;
}
