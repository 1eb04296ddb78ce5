// `tunguard detect [--now]`: the periodic detection's schedule and last round, or a round started now.

import type { DetectionState } from '../api/answers.js';
import { EXIT, REM } from './client.js';
import { out, printJson, time } from './format.js';
import { help } from './help.js';
import { client, parse } from './options.js';

export async function detect(argv: string[]): Promise<number> {
  const { values } = parse('detect', argv, { now: { type: 'boolean' } });
  if (values.help) return help('detect');
  const c = client(values, 'detect');
  const st = values.now
    ? await c.request<DetectionState>(`${REM}/detect`, { method: 'POST', body: {} })
    : await c.request<DetectionState>(`${REM}/detect`);
  if (values.json) {
    printJson(st);
    return EXIT.OK;
  }
  if (values.now) out('detection round started');
  if (!st.scheduled) out("schedule: off (config detect: option enabled '1')");
  else {
    const what = [
      st.protectedHosts?.length ? st.protectedHosts.join(', ') : '',
      st.scanLan ? 'the LAN' : '',
    ].filter((x) => x);
    out(
      `schedule: every ${st.intervalSeconds} s: ${what.join(' and ') || 'nothing'}${st.scan ? ', nmap scan first' : ''}`,
    );
    if (st.nextRunAt !== undefined) out(`next round: ${time(st.nextRunAt)}`);
  }
  if (st.running) out('a round is running');
  const l = st.last;
  if (!l) out('last round: none yet');
  else {
    const r = l.report;
    out(
      `last round (${l.trigger}): ${time(l.startedAt)}, ${((l.finishedAt - l.startedAt) / 1000).toFixed(1)} s: checked ${r.checked}, scanned ${r.scanned}, queued ${r.queued.length}, skipped ${r.skipped.length}`,
    );
    if (r.missing.length > 0) out(`  not in the inventory: ${r.missing.join(', ')}`);
    if (r.scanError) out(`  scan failed: ${r.scanError}`);
  }
  return EXIT.OK;
}
