// `npm run demo`: builds the lab, runs tunguard between wan and lan, pushes real traffic through it
// while printing its live counters, and tears everything down (also on Ctrl-C or an error).
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDR, Lab, makeTempDir, sleep, startHttpServer } from './lab.js';

const SHOW = ['rx_packets', 'tx_packets', 'ipv4', 'ipv6', 'tcp', 'udp', 'icmp', 'gso_packets', 'tx_errors'];

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
    console.log(`\n${SHOW.map((s) => s.padStart(12)).join('')}`);
    ticker = setInterval(() => {
      try {
        const c = lab.status().counters;
        console.log(SHOW.map((s) => String(c[s] ?? 0).padStart(12)).join(''));
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
    clearInterval(ticker);
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
