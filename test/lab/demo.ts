// `npm run demo`: builds the lab, runs tunguard between wan and lan, pushes real traffic through it
// (SYN-proxied downloads, iperf3), defends against bounded SYN and ICMP floods while a legitimate
// client keeps fetching, serves the dashboard (reachable from this host while the demo runs; hold it
// open with `npm run demo -- --hold 120`), shows fail-open, and tears everything down (also on
// Ctrl-C or an error).
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bridgeInto } from '../api/lab-bridge.js';
import { ADDR, Lab, makeTempDir, REPO_ROOT, sleep, startHttpServer } from './lab.js';

const SHOW = [
  'rx_packets',
  'tx_packets',
  'tcp',
  'udp',
  'icmp',
  'synproxy_conn_established',
  'synproxy_cookie_sent',
  'fast_syn_answered',
  'gauge_tier',
  'drop_icmp_rate_source',
  'tx_errors',
];
const HEAD = [
  'rx',
  'tx',
  'tcp',
  'udp',
  'icmp',
  'proxied',
  'cookies',
  'in-kernel',
  'tier',
  'icmp_drop',
  'tx_err',
];
const TIERS = ['normal', 'moderate', 'risky'];
const { values: opts } = parseArgs({ options: { hold: { type: 'string', default: '0' } } });
const HOLD_S = Math.max(0, Math.min(3600, Number(opts.hold) || 0));

async function main(): Promise<void> {
  const lab = Lab.create();
  const stop = () => {
    void lab.tunguard?.stop().finally(() => {
      lab.destroy();
      process.exit(130);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let ticker: NodeJS.Timeout | undefined;
  try {
    console.log(
      `lab: wan ${ADDR.wan4} / ${ADDR.wan6}  ─  rtr (tunguard)  ─  lan ${ADDR.lan4} / ${ADDR.lan6}`,
    );
    const root = makeTempDir('tunguard-demo-');
    const data = randomBytes(32 << 20);
    writeFileSync(join(root, 'file.bin'), data);
    const sha = createHash('sha256').update(data).digest('hex');
    await startHttpServer(lab, lab.ns.lan, root, 8080, [ADDR.lan4, ADDR.lan6]);
    lab.spawn(lab.ns.lan, 'iperf3', ['-s']);
    const tg = lab.startTunguard();
    await tg.ready();
    console.log(tg.output.trim());
    const bridge = await bridgeInto(lab, lab.ns.rtr, '127.0.0.1', 7447);
    // The token's file, never the token or a piece of it: the demo's output ends up in CI logs.
    const tokenFile = join(lab.stateDir, 'api.token');
    const page = await fetch(`${bridge.url}/`);
    console.log(`\ndashboard: ${bridge.url}/ (HTTP ${page.status}; the API token is in ${tokenFile})`);
    console.log(`\n${HEAD.map((s) => s.padStart(10)).join('')}`);
    ticker = setInterval(() => {
      try {
        const c = lab.status().counters;
        console.log(
          SHOW.map((s) => (s === 'gauge_tier' ? TIERS[c[s] ?? 0] : String(c[s] ?? 0)).padStart(10)).join(''),
        );
      } catch {
        /* status file between writes */
      }
    }, 1000);
    const steps: [string, string, string[]][] = [
      ['ping v4 wan → lan', lab.ns.wan, ['ping', '-c', '5', '-i', '0.2', ADDR.lan4]],
      ['ping v6 lan → wan', lab.ns.lan, ['ping', '-c', '5', '-i', '0.2', ADDR.wan6]],
      [
        'HTTP download v4 (32 MiB)',
        lab.ns.wan,
        ['sh', '-c', `curl -sS http://${ADDR.lan4}:8080/file.bin | sha256sum`],
      ],
      [
        'HTTP download v6 (32 MiB)',
        lab.ns.wan,
        ['sh', '-c', `curl -gsS http://[${ADDR.lan6}]:8080/file.bin | sha256sum`],
      ],
      ['iperf3 TCP wan → lan, 3 s', lab.ns.wan, ['iperf3', '-c', ADDR.lan4, '-t', '3']],
      [
        'iperf3 UDP lan → wan, 2 s',
        lab.ns.wan,
        ['iperf3', '-c', ADDR.lan4, '-u', '-b', '100M', '-t', '2', '-R'],
      ],
    ];
    for (const [title, ns, [cmd, ...args]] of steps) {
      console.log(`\n== ${title}`);
      const r = await lab.execAsync(ns, cmd, args, 60_000);
      const tail = (r.stdout + r.stderr).trim().split('\n').slice(-3).join('\n');
      console.log(tail);
      if (cmd === 'sh')
        console.log(r.stdout.startsWith(sha) ? 'sha256 matches the served file' : 'sha256 MISMATCH');
      await sleep(1100);
    }
    // The defenses: bounded floods from spoofed benchmark-range sources, a real client meanwhile.
    lab.run(lab.ns.rtr, 'ip', ['route', 'add', '198.18.0.0/15', 'via', ADDR.wan4]);
    console.log('\n== SYN flood: 3000 SYN/s for 6 s from 198.18.0.0/15, a real client fetching meanwhile');
    const flood = lab.execAsync(
      lab.ns.wan,
      'python3',
      [join(REPO_ROOT, 'test', 'lab', 'synflood.py'), ADDR.lan4, '8080', '3000', '6'],
      30_000,
    );
    await sleep(1500);
    const fetches = await lab.execAsync(
      lab.ns.wan,
      'sh',
      [
        '-c',
        `ok=0; for i in $(seq 10); do curl -sS -o /dev/null --fail --max-time 5 http://${ADDR.lan4}:8080/file.bin && ok=$((ok+1)); done; echo $ok`,
      ],
      120_000,
    );
    const sent = (await flood).stdout.trim();
    console.log(
      `${sent} flood SYNs answered with cookies (by the proxy in the normal tier, by the kernel fast path above it); the real client: ${fetches.stdout.trim()}/10 downloads ok`,
    );
    console.log(
      (tg.output.match(/tier \S+ -> \S+[^\n]*/g) ?? []).map((l) => `  ${l}`).join('\n') ||
        '  (no tier change)',
    );
    await sleep(3500); // the 3 s window slides: back to normal
    console.log('\n== ICMP flood: 3000 echo requests in ~3 s (limit 100/s)');
    await lab.execAsync(
      lab.ns.wan,
      'hping3',
      ['-q', '--icmp', '-i', 'u1000', '-c', '3000', ADDR.lan4],
      30_000,
    );
    await sleep(1100);
    const after = lab.status().counters;
    console.log(`  dropped by the ICMP limit: ${after.drop_icmp_rate_global + after.drop_icmp_rate_source}`);
    if (HOLD_S > 0) {
      console.log(`\nholding the lab for ${HOLD_S} s: open ${bridge.url}/ (the token: ${tokenFile})`);
      await sleep(HOLD_S * 1000);
    }
    clearInterval(ticker);
    await bridge.close();
    console.log('\nfinal counters:', JSON.stringify(lab.status().counters));
    console.log('\nkill -9 tunguard: traffic falls back to the kernel path (fail-open)');
    process.kill(tg.pid, 'SIGKILL');
    await tg.wait();
    const r = lab.exec(lab.ns.wan, 'ping', ['-c', '3', '-i', '0.2', ADDR.lan4]);
    console.log(r.stdout.trim().split('\n').slice(-2).join('\n'));
  } finally {
    if (ticker) clearInterval(ticker);
    await lab.tunguard?.stop();
    lab.destroy();
    console.log('\nlab torn down');
  }
}

main().catch((err) => {
  console.error(`demo: ${(err as Error).message}`);
  process.exitCode = 1;
});
