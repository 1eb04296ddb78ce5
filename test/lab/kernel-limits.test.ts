// The ICMP/UDP limits enforced first in the kernel (src/netcfg/kernel-limits.ts): a flood's excess is
// dropped by nft before it reaches the TUN, so tunguard reads about the limit's worth of packets
// instead of the flood; the drops count in the same counters as the dataplane's; replies to what the
// LAN opened are exempt, as in the dataplane. The control: --no-kernel-limits, where every flood
// packet crosses the TUN and the dataplane drops it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab } from './lab.js';

let lab: Lab;

beforeAll(() => {
  lab = Lab.create();
});

afterEach(async () => {
  await lab?.tunguard?.stop();
});

afterAll(() => {
  lab?.destroy();
});

const CONF =
  "config ratelimit 'icmp'\n\toption rate '100'\n\toption burst '20'\n\toption per_source_rate '0'\n" +
  "config ratelimit 'udp'\n\toption rate '200'\n\toption burst '20'\n\toption per_source_rate '0'\n";

async function start(extra: string[] = []): Promise<void> {
  const file = join(lab.stateDir, `tunguard-${Date.now()}.conf`);
  writeFileSync(file, lab.config(CONF));
  await lab.startTunguard(['--config', file, ...extra], false).ready();
}

describe('ICMP and UDP limits in the kernel', () => {
  it('an ICMP and a UDP flood: the excess never reaches the TUN; the control reads it all', async () => {
    const seen: Record<string, Record<string, number>> = {};
    for (const mode of ['kernel', 'control'] as const) {
      await start(mode === 'kernel' ? [] : ['--no-kernel-limits']);
      lab.exec(lab.ns.wan, 'hping3', ['-q', '--icmp', '-i', 'u1000', '-c', '3000', ADDR.lan4], 30_000);
      lab.exec(
        lab.ns.wan,
        'hping3',
        ['-q', '--udp', '-p', '9999', '-i', 'u1000', '-c', '3000', ADDR.lan4],
        30_000,
      );
      const c = (await lab.freshStatus()).counters;
      seen[mode] = {
        icmpRead: c.icmp ?? 0,
        udpRead: c.udp ?? 0,
        icmpDropped: c.drop_icmp_rate_global ?? 0,
        udpDropped: c.drop_udp_rate_global ?? 0,
        kernelIcmp: c.kernel_icmp_dropped ?? 0,
        kernelUdp: c.kernel_udp_dropped ?? 0,
      };
      await lab.tunguard?.stop();
    }
    console.log(`kernel limits: ${JSON.stringify(seen)}`);
    const k = seen.kernel;
    const ctl = seen.control;
    // Both drop the flood's excess, in the same counters.
    expect(k.icmpDropped).toBeGreaterThan(2000);
    expect(k.udpDropped).toBeGreaterThan(2000);
    expect(ctl.icmpDropped).toBeGreaterThan(2000);
    expect(ctl.udpDropped).toBeGreaterThan(2000);
    // With the kernel limits the kernel made (nearly) all of those drops, and the dataplane read
    // about the limit's worth; without them it read every packet of both floods.
    expect(k.kernelIcmp).toBeGreaterThan(2000);
    expect(k.kernelUdp).toBeGreaterThan(2000);
    expect(k.icmpRead).toBeLessThan(1000);
    expect(k.udpRead).toBeLessThan(1500);
    expect(ctl.kernelIcmp).toBe(0);
    expect(ctl.icmpRead).toBeGreaterThan(2900);
    expect(ctl.udpRead).toBeGreaterThan(2900);
  }, 120_000);

  it('a UDP flow the LAN opened is exempt in the kernel too: its replies pass at any rate', async () => {
    await start();
    // The LAN host speaks first, from port 40001 to the WAN host's port 9997 ...
    lab.run(lab.ns.lan, 'python3', [
      '-c',
      `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${ADDR.lan4}', 40001)); s.sendto(b'hello', ('${ADDR.wan4}', 9997))`,
    ]);
    const before = (await lab.freshStatus()).counters.kernel_udp_dropped ?? 0;
    // ... then 2000 replies in 2 s (10× the UDP limit) come back to the address the router masqueraded
    // it to; then the same rate to a port it never opened (the control in the same run: dropped).
    lab.exec(
      lab.ns.wan,
      'hping3',
      ['-q', '--udp', '-s', '9997', '-k', '-p', '40001', '-i', 'u1000', '-c', '2000', ADDR.rtrWan4],
      30_000,
    );
    const afterReplies = (await lab.freshStatus()).counters.kernel_udp_dropped ?? 0;
    lab.exec(
      lab.ns.wan,
      'hping3',
      ['-q', '--udp', '-p', '40002', '-i', 'u1000', '-c', '2000', ADDR.lan4],
      30_000,
    );
    const afterUnsolicited = (await lab.freshStatus()).counters.kernel_udp_dropped ?? 0;
    expect(afterReplies - before).toBe(0);
    expect(afterUnsolicited - afterReplies).toBeGreaterThan(1000);
  }, 90_000);
});
