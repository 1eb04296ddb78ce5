// Not a benchmark: starts the lab, tunguard, and a paced SYN flood, and records a `perf` profile
// (software clock, kernel + JIT symbols) of tunguard for a few seconds. For finding the SYN path's
// costs. Usage: node dist/bench/profile-syn.js [--rate 60000] [--seconds 6] [--out /tmp/prof]

import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ADDR, Lab, REPO_ROOT, sleep } from '../test/lab/lab.js';
import { benchArgs } from './args.js';

const USAGE = `usage: node dist/bench/profile-syn.js [--rate 60000] [--seconds 6] [--out /tmp/prof] [--tg-args '...']

Not a benchmark: starts the lab, tunguard and a paced SYN flood, and records a perf profile of
tunguard for --seconds (root, netns, perf). Writes the profile under --out.`;
const values = benchArgs(USAGE, {
  rate: { type: 'string', default: '60000' },
  seconds: { type: 'string', default: '6' },
  out: { type: 'string', default: '/tmp/prof' },
  'tg-args': { type: 'string', default: '' },
});
const lab = Lab.create();
try {
  lab.run(lab.ns.rtr, 'ip', ['route', 'add', '198.18.0.0/15', 'via', ADDR.wan4]);
  process.env.NODE_OPTIONS = '--perf-basic-prof';
  const tg = lab.startTunguard(values['tg-args']!.split(' ').filter(Boolean));
  await tg.ready();
  const pid = tg.pid;
  const secs = Number(values.seconds);
  const flood = spawn(
    'ip',
    [
      'netns',
      'exec',
      lab.ns.wan,
      'python3',
      join(REPO_ROOT, 'test/lab/synflood_fast.py'),
      '--dst',
      ADDR.lan4,
      '--port',
      '8080',
      '--rate',
      values.rate!,
      '--seconds',
      String(secs + 2),
    ],
    { stdio: 'inherit' },
  );
  await sleep(1000);
  const perf = spawnSync(
    'perf',
    [
      'record',
      '-e',
      'cpu-clock',
      '-F',
      '2000',
      '-g',
      '-p',
      String(pid),
      '-o',
      join(values.out!, 'perf.data'),
      '--',
      'sleep',
      String(secs - 1),
    ],
    { stdio: 'inherit' },
  );
  console.log('perf exit', perf.status);
  await new Promise((r) => flood.on('exit', r));
  await tg.stop();
} finally {
  lab.destroy();
}
