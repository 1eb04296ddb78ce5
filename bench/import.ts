// bench/import: streams a generated ≥100 MB Nessus v2 file into the LMDB inventory; prints time, throughput, RSS.
// Usage: node dist/bench/import.js [--mb 100] [--items 200] [--keep]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScan, scanFileSource } from '../src/inventory/import/index.js';
import { Inventory } from '../src/inventory/inventory.js';
import { openDurable } from '../src/state/durable.js';
import { generateNessus } from '../test/fixtures/scanners/generate-nessus.js';
import { benchArgs } from './args.js';

const USAGE = `usage: node dist/bench/import.js [--mb 100] [--items 200] [--keep]

Streams a generated Nessus v2 file of --mb megabytes into the LMDB inventory; prints time, throughput
and RSS. About a minute for 100 MB; the file goes to a temp dir (--keep keeps it).`;
const values = benchArgs(USAGE, {
  mb: { type: 'string', default: '100' },
  items: { type: 'string', default: '200' },
  keep: { type: 'boolean', default: false },
});

const dir = mkdtempSync(join(tmpdir(), 'tg-bench-import-'));
const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
try {
  const gen = await generateNessus(
    join(dir, 'big.nessus'),
    Number(values.mb) * 1024 * 1024,
    Number(values.items),
  );
  const store = openDurable(join(dir, 'db'), { mapSize: 2 * 1024 * 1024 * 1024 });
  const inv = new Inventory(store);
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 10);
  const t0 = performance.now();
  const sum = await inv.importObservations(parseScan(scanFileSource(gen.path), 'nessus'));
  const ms = performance.now() - t0;
  clearInterval(timer);
  await store.close();
  const row = {
    fileMiB: Number(mib(gen.bytes)),
    hosts: sum.hostsCreated,
    threats: sum.threatsSeen,
    seconds: Number((ms / 1000).toFixed(2)),
    mibPerSecond: Number((gen.bytes / 1024 / 1024 / (ms / 1000)).toFixed(1)),
    rssBaseMiB: Number(mib(base.rss)),
    rssPeakMiB: Number(mib(peakRss)),
    rssGrowthMiB: Number(mib(peakRss - base.rss)),
    heapPeakMiB: Number(mib(peakHeap)),
  };
  console.log('| file MiB | hosts | threats | s | MiB/s | RSS base | RSS peak | RSS growth | heap peak |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  console.log(`| ${Object.values(row).join(' | ')} |`);
  console.log(JSON.stringify({ bench: 'import', ...row }));
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
