// Fail-open and restart: kill -9 of tunguard mid-transfer leaves traffic flowing on the kernel path
// within a second (the kernel detaches the steering programs with the process); a restart over what
// an older version left (policy-routing rules) steers again.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab, makeTempDir, sleep, startHttpServer } from './lab.js';

let lab: Lab;
let fileSha = '';
const root = makeTempDir('tunguard-www-');

beforeAll(async () => {
  lab = Lab.create();
  const data = randomBytes(16 << 20);
  writeFileSync(join(root, 'f.bin'), data);
  fileSha = createHash('sha256').update(data).digest('hex');
  await startHttpServer(lab, lab.ns.lan, root, 8080, [ADDR.lan4]);
});

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

function rules(): string {
  return lab.run(lab.ns.rtr, 'ip', ['rule', 'show']) + lab.run(lab.ns.rtr, 'ip', ['-6', 'rule', 'show']);
}

/** The steering's programs both ways, and the SYN fast path in front of them at egress. */
// Steering + kernel translation (bpf/seqadj.c) both ways, + the SYN fast path at egress.
const STEERED = { ingress: 2, egress: 3 };
const NONE = { ingress: 0, egress: 0 };

describe('fail-open', () => {
  it('detaches its programs on SIGTERM and exits 0', async () => {
    expect(lab.tcx('lan0')).toEqual(NONE);
    const tg = lab.startTunguard();
    await tg.ready();
    // On the LAN device both ways (and the fast path at egress), on the TUN's ingress (and the fast
    // path at its egress, for the router's own addresses); on the WAN device's egress the one that
    // sends the router's answers on proxied connections to the TUN (src/netcfg/router-egress.ts), at
    // its ingress the fast path's uplink program.
    expect(lab.tcx('lan0')).toEqual(STEERED);
    expect(lab.tcx('tg0')).toEqual({ ingress: 1, egress: 1 });
    expect(lab.tcx('wan0')).toEqual({ ingress: 1, egress: 1 });
    expect(await tg.stop('SIGTERM')).toBe(0);
    expect(lab.tcx('lan0')).toEqual(NONE);
    expect(lab.tcx('wan0')).toEqual(NONE);
    expect(lab.exec(lab.ns.rtr, 'ip', ['link', 'show', 'tg0']).code).not.toBe(0);
  });

  it('keeps traffic flowing within 1 s after kill -9, mid-transfer', async () => {
    // Pass-through mode: a connection the SYN proxy translated cannot survive losing its offsets
    // on the kernel path; that case (restart with the connection store) is the proxy's own test.
    const tg = lab.startTunguard(['--pass-through']);
    await tg.ready();
    // A rate-limited download spanning the kill, and a 100 Hz ping to time the gap.
    const dl = lab.execAsync(lab.ns.wan, 'sh', [
      '-c',
      `curl -sS --fail --limit-rate 6M --max-time 30 http://${ADDR.lan4}:8080/f.bin | sha256sum`,
    ]);
    const ping = lab.execAsync(lab.ns.wan, 'ping', ['-D', '-i', '0.01', '-c', '300', '-W', '1', ADDR.lan4]);
    await sleep(1000);
    const tunBefore = lab.devStats(lab.ns.rtr, 'tg0').txPackets;
    expect(tunBefore).toBeGreaterThan(100); // the transfer was going through tunguard
    const killedAt = Date.now() / 1000;
    process.kill(tg.pid, 'SIGKILL');
    await tg.wait();
    const p = await ping;
    const d = await dl;
    expect(d.stdout.split(' ')[0]).toBe(fileSha);
    // The first reply after the kill tells how long traffic stopped.
    const replies = [...p.stdout.matchAll(/^\[(\d+\.\d+)\].*icmp_seq=(\d+)/gm)].map((m) => Number(m[1]));
    const after = replies.filter((t) => t > killedAt);
    expect(after.length).toBeGreaterThan(10);
    const gap = after[0] - killedAt;
    console.log(`fail-open: first reply ${(gap * 1000).toFixed(0)} ms after kill -9`);
    expect(gap).toBeLessThan(1.0);
    // The kernel detached the programs with the process: nothing of it is left to clean up.
    expect(lab.tcx('lan0')).toEqual(NONE);
    expect(lab.exec(lab.ns.rtr, 'ip', ['link', 'show', 'tg0']).code).not.toBe(0);
  });

  it('restarts over what an older version left (policy-routing rules, the router-local rule and table) and steers again', async () => {
    // An older tunguard steered with `ip rule iif <dev> lookup 4747`; a crash left them behind.
    for (const fam of ['-4', '-6']) {
      lab.run(lab.ns.rtr, 'ip', [fam, 'rule', 'add', 'pref', '4747', 'iif', 'wan0', 'lookup', '4747']);
      lab.run(lab.ns.rtr, 'ip', [fam, 'rule', 'add', 'pref', '4748', 'iif', 'lan0', 'lookup', '4747']);
      // …and routed the router's answers on proxied connections by a mark (its route named its TUN).
      lab.run(lab.ns.rtr, 'ip', [fam, 'route', 'add', 'default', 'dev', 'lo', 'table', '4746']);
      lab.run(lab.ns.rtr, 'ip', [
        fam,
        'rule',
        'add',
        'pref',
        '4747',
        'fwmark',
        '0x4000000/0x4000000',
        'lookup',
        '4746',
      ]);
    }
    expect(rules().match(/lookup 4747/g)?.length).toBe(4);
    expect(rules().match(/lookup 4746/g)?.length).toBe(2);
    const table4746 = () =>
      ['-4', '-6']
        .map((fam) => lab.exec(lab.ns.rtr, 'ip', [fam, 'route', 'show', 'table', '4746']).stdout)
        .join('');
    expect(table4746()).toMatch(/default dev lo/);
    const tg = lab.startTunguard();
    await tg.ready();
    expect(tg.output).toMatch(/removed 4 policy-routing rule\(s\) of table 4747/);
    expect(rules()).not.toMatch(/lookup 4747/);
    expect(rules()).not.toMatch(/lookup 4746/);
    expect(table4746()).toBe('');
    expect(lab.tcx('lan0')).toEqual(STEERED);
    const before = lab.devStats(lab.ns.rtr, 'tg0').txPackets;
    lab.run(lab.ns.wan, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', ADDR.lan4]);
    expect(lab.devStats(lab.ns.rtr, 'tg0').txPackets - before).toBeGreaterThanOrEqual(6);
    expect(await tg.stop()).toBe(0);
  });

  it('takes its devices and queues from a UCI --config file', async () => {
    const conf = join(lab.stateDir, 'good.conf');
    writeFileSync(
      conf,
      "config tunguard 'main'\n\toption wan_device 'wan0'\n\tlist lan_device 'lan0'\n\toption queues '2'\n",
    );
    const tg = lab.startTunguard(['--config', conf], false);
    await tg.ready();
    expect(tg.output).toMatch(/lan0 <-> tg0 .*queues 2/);
    expect(await tg.stop()).toBe(0);
  });

  it('runs several TUN queues, one worker each, and the flows spread over them', async () => {
    const tg = lab.startTunguard(['--queues', '2']);
    await tg.ready();
    expect(tg.output).toMatch(/queues 2 \(spread by address\)/);
    // Queues are chosen by the remote address: clients from eight addresses spread over both.
    const clients = [10, 11, 12, 13, 14, 15, 16, 17].map((i) => `198.51.100.${i}`);
    for (const a of clients) lab.run(lab.ns.wan, 'ip', ['addr', 'add', `${a}/24`, 'dev', 'eth0']);
    const srv = lab.spawn(lab.ns.lan, 'iperf3', ['-s', '-p', '5202']);
    try {
      lab.waitIperf(ADDR.lan4, 5202);
      let bytes = 0;
      for (const a of clients) {
        const out = JSON.parse(
          lab.run(lab.ns.wan, 'iperf3', ['-c', ADDR.lan4, '-p', '5202', '-B', a, '-n', '2M', '-J']),
        );
        bytes += out.end.sum_sent.bytes;
      }
      expect(bytes).toBeGreaterThanOrEqual(8 * (2 << 20)); // every client sent its 2 MiB
    } finally {
      srv.kill();
      for (const a of clients) lab.run(lab.ns.wan, 'ip', ['addr', 'del', `${a}/24`, 'dev', 'eth0']);
    }
    const st = await lab.freshStatus();
    expect(st.perWorker).toHaveLength(2);
    for (const w of st.perWorker) expect(w.rx_packets).toBeGreaterThan(100);
    expect(await tg.stop()).toBe(0);
  });

  it('refuses clearly: unknown interface, bad flags', () => {
    const bin = join(process.cwd(), 'bin', 'tunguard');
    const bad = lab.exec(lab.ns.rtr, process.execPath, [bin, 'run', '--wan', 'nope0', '--lan', 'lan0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown interface 'nope0'/);
    // Packets sent back toward the WAN enter a LAN device's receive path as Ethernet frames.
    const l3 = lab.exec(lab.ns.rtr, process.execPath, [bin, 'run', '--wan', 'wan0', '--lan', 'lo']);
    expect(l3.code).toBe(2);
    expect(l3.stderr).toMatch(/LAN interface 'lo' is not an Ethernet device/);
    const usage = lab.exec(lab.ns.rtr, process.execPath, [bin, 'run', '--wan', 'wan0']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--lan is required/);
    const conf = join(lab.stateDir, 'bad.conf');
    writeFileSync(conf, "config tunguard 'main'\n\toption wan_device 'wan0'\n\toption queues 'many'\n");
    // A bad line no longer stops the start (test/lab/config-start.test.ts): it is logged as an error
    // and left out; here the defaults then name a LAN device (br-lan) the lab does not have.
    const badConf = lab.exec(lab.ns.rtr, process.execPath, [bin, 'run', '--config', conf]);
    expect(badConf.code).toBe(2);
    expect(badConf.stdout).toMatch(/level=error event=config .*line 3: option queues/);
    expect(badConf.stderr).toMatch(/unknown interface 'br-lan'/);
    const flag = lab.exec(lab.ns.rtr, process.execPath, [
      bin,
      'run',
      '--wan',
      'wan0',
      '--lan',
      'lan0',
      '--queues',
      'x',
    ]);
    expect(flag.code).toBe(2);
  });
});
