// End to end through tunguard in the netns lab: real kernels on both ends, real tools, v4 and v6.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab, makeTempDir, sleep, startHttpServer } from './lab.js';

const FILE_MB = 48;
let lab: Lab;
let fileSha = '';
const root = makeTempDir('tunguard-www-');

beforeAll(async () => {
  lab = Lab.create({ lan2: true });
  const data = randomBytes(FILE_MB << 20);
  writeFileSync(join(root, 'big.bin'), data);
  fileSha = createHash('sha256').update(data).digest('hex');
  await startHttpServer(lab, lab.ns.lan, root, 8080, [ADDR.lan4, ADDR.lan6]);
  // The dataplane alone: the defenses (which would rate-limit the UDP floods below) have their own suites.
  const tg = lab.startTunguard(['--pass-through']);
  await tg.ready();
});

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

/** Downloads big.bin from the LAN server into the wan namespace and returns its sha256. */
function fetchSha(url: string, extra: string[] = []): string {
  const out = lab.run(lab.ns.wan, 'sh', [
    '-c',
    `curl -gsS --fail --max-time 60 ${extra.join(' ')} '${url}' | sha256sum`,
  ]);
  return out.split(' ')[0];
}

function tunRx(): number {
  return lab.devStats(lab.ns.rtr, 'tg0').txPackets; // kernel → tunguard
}

describe('forwarding through tunguard', () => {
  it('steers traffic through the TUN (negative control: a frozen tunguard stops it)', async () => {
    const before = tunRx();
    lab.run(lab.ns.wan, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', ADDR.lan4]);
    expect(tunRx() - before).toBeGreaterThanOrEqual(6); // 3 requests + 3 replies crossed tg0
    process.kill(lab.tunguard!.pid, 'SIGSTOP');
    try {
      const r = lab.exec(lab.ns.wan, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', ADDR.lan4]);
      expect(r.code).not.toBe(0);
    } finally {
      process.kill(lab.tunguard!.pid, 'SIGCONT');
    }
    await sleep(100);
    lab.run(lab.ns.wan, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ADDR.lan4]);
  });

  it('ping v4 and v6 both ways, counting the router as exactly one hop', () => {
    for (const [from, to] of [
      [lab.ns.wan, ADDR.lan4],
      [lab.ns.wan, ADDR.lan6],
      [lab.ns.lan, ADDR.wan4],
      [lab.ns.lan, ADDR.wan6],
    ]) {
      // TTL 2 reaches a host one router away only if the router decrements once.
      const out = lab.run(from, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '-t', '2', to]);
      expect(out).toMatch(/2 received/);
      // The reply left with 64 and crossed one router.
      expect(out).toMatch(/(ttl|hlim)=63/);
    }
    // TTL 1 expires at the router, as it would without tunguard.
    const r = lab.exec(lab.ns.wan, 'ping', ['-c', '1', '-W', '1', '-t', '1', ADDR.lan4]);
    expect(r.stdout).toMatch(/Time to live exceeded/);
  });

  it('downloads a large file over HTTP, v4 and v6, bit-exact', () => {
    expect(fetchSha(`http://${ADDR.lan4}:8080/big.bin`)).toBe(fileSha);
    expect(fetchSha(`http://[${ADDR.lan6}]:8080/big.bin`)).toBe(fileSha);
  });

  it('carries iperf3 TCP and UDP in both directions, v4 and v6', () => {
    const srv = lab.spawn(lab.ns.lan, 'iperf3', ['-s', '-p', '5201']);
    try {
      lab.waitIperf(ADDR.lan4, 5201);
      const cases: [string, string[]][] = [
        ['tcp v4 up', ['-c', ADDR.lan4]],
        ['tcp v4 down', ['-c', ADDR.lan4, '-R']],
        ['tcp v6 up', ['-c', ADDR.lan6]],
        ['tcp v6 down', ['-c', ADDR.lan6, '-R']],
        ['udp v4 up', ['-c', ADDR.lan4, '-u', '-b', '20M']],
        ['udp v4 down', ['-c', ADDR.lan4, '-u', '-b', '20M', '-R']],
        ['udp v6 up', ['-c', ADDR.lan6, '-u', '-b', '20M']],
      ];
      for (const [name, args] of cases) {
        const out = lab.run(lab.ns.wan, 'iperf3', [...args, '-p', '5201', '-t', '1', '-J']);
        const j = JSON.parse(out);
        const end = j.end;
        if (args.includes('-u')) {
          const s = end.sum;
          expect(s.packets, name).toBeGreaterThan(1000);
          // Functional, not a benchmark: a loaded 2-core machine may drop a few % in the TUN queue.
          expect(s.lost_percent, name).toBeLessThan(10);
        } else {
          expect(end.sum_received.bytes, name).toBeGreaterThan(10 << 20);
        }
      }
    } finally {
      srv.kill();
    }
  });

  it('keeps a transfer bit-exact under loss and reordering', () => {
    // This kernel has no netem: loss comes from nft numgen drops at both hosts, reordering from an
    // HTB split on rtr's LAN side (alternate packets through a slow class overtake each other).
    const ofo = () =>
      Number(
        lab.run(lab.ns.wan, 'nstat', ['-az', 'TcpExtTCPOFOQueue']).match(/TcpExtTCPOFOQueue\s+(\d+)/)?.[1],
      );
    const ofoBefore = ofo();
    const undo = [
      lab.impairLoss(lab.ns.wan, 1),
      lab.impairLoss(lab.ns.lan, 1),
      lab.impairReorder(lab.ns.rtr, 'lan0'),
    ];
    try {
      expect(fetchSha(`http://${ADDR.lan4}:8080/big.bin`)).toBe(fileSha);
      expect(fetchSha(`http://[${ADDR.lan6}]:8080/big.bin`)).toBe(fileSha);
    } finally {
      for (const u of undo) u();
    }
    // The impairment was real: the receiver queued out-of-order segments.
    expect(ofo() - ofoBefore).toBeGreaterThan(10);
  });

  it('passes ICMP frag-needed and packet-too-big so path MTU discovery works', async () => {
    // lan2 sits behind lan on a 1280-byte link: lan (a router) answers the too-big packets, and
    // its ICMP error crosses tunguard on the way back to wan.
    const icmpBefore = (await lab.freshStatus()).counters.icmp;
    const r4 = lab.exec(lab.ns.wan, 'ping', [
      '-c',
      '2',
      '-i',
      '0.3',
      '-W',
      '1',
      '-M',
      'do',
      '-s',
      '1400',
      ADDR.lan2_4,
    ]);
    expect(r4.stdout + r4.stderr).toMatch(/mtu ?= ?1280/i);
    expect(lab.run(lab.ns.wan, 'ip', ['route', 'get', ADDR.lan2_4])).toMatch(/mtu 1280/);
    const r6 = lab.exec(lab.ns.wan, 'ping', [
      '-6',
      '-c',
      '2',
      '-i',
      '0.3',
      '-W',
      '1',
      '-M',
      'do',
      '-s',
      '1400',
      ADDR.lan2_6,
    ]);
    expect(r6.stdout + r6.stderr).toMatch(/mtu ?= ?1280|too big/i);
    expect(lab.run(lab.ns.wan, 'ip', ['-6', 'route', 'get', ADDR.lan2_6])).toMatch(/mtu 1280/);
    // Smaller packets then get through with the learned MTU.
    lab.run(lab.ns.wan, 'ping', ['-c', '1', '-W', '2', '-s', '1200', ADDR.lan2_4]);
    expect((await lab.freshStatus()).counters.icmp).toBeGreaterThan(icmpBefore);
  });
});
