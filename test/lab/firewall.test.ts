// Kernel conntrack and NAT around tunguard, on OpenWrt's real firewall (fw4's ruleset for the lab,
// test/fixtures/fw4/lab.nft): masquerade on the WAN, the DNAT port forward wan:8088 → LAN host
// :8080, `ct state invalid` dropped toward the WAN, forward policy drop. The per-verdict comparison
// with the kernel alone is test/lab/fw4.test.ts.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab, makeTempDir, sleep, startHttpServer } from './lab.js';

let lab: Lab;
let sha = '';
const root = makeTempDir('tunguard-www-');

beforeAll(async () => {
  lab = Lab.create();
  const data = randomBytes(8 << 20);
  writeFileSync(join(root, 'f.bin'), data);
  sha = createHash('sha256').update(data).digest('hex');
  await startHttpServer(lab, lab.ns.lan, root, 8080, [ADDR.lan4]);
  await startHttpServer(lab, lab.ns.wan, root, 8081, [ADDR.wan4]);
});

afterEach(async () => {
  await lab?.tunguard?.stop();
});

afterAll(() => {
  lab?.destroy();
});

/** conntrack's own count of packets it judged invalid (summed over CPUs). */
function ctInvalid(): number {
  const lines = lab.run(lab.ns.rtr, 'cat', ['/proc/net/stat/nf_conntrack']).trim().split('\n');
  const col = lines[0].trim().split(/\s+/).indexOf('invalid');
  return lines.slice(1).reduce((n, l) => n + Number.parseInt(l.trim().split(/\s+/)[col], 16), 0);
}

/** Fetches through the port forward (router's WAN address) from the WAN side. */
function viaPortForward(): { code: number; sha: string } {
  const r = lab.exec(lab.ns.wan, 'bash', [
    '-c',
    `set -o pipefail; curl -sS --fail --max-time 8 http://${ADDR.rtrWan4}:8088/f.bin | sha256sum`,
  ]);
  return { code: r.code, sha: r.stdout.split(' ')[0] };
}

describe('conntrack and NAT', () => {
  it('conntrack counts what it judges invalid (the probe the next test relies on can move)', () => {
    const inv = ctInvalid();
    // SYN and FIN together: conntrack marks it INVALID (and fw4 drops it toward the WAN).
    lab.exec(lab.ns.lan, 'hping3', ['-q', '-c', '1', '-S', '-F', '-p', '9', ADDR.wan4]);
    expect(ctInvalid()).toBeGreaterThan(inv);
  });

  it('proxies a DNAT port forward with ct state invalid drop in force', async () => {
    await lab.startTunguard().ready();
    const before = (await lab.freshStatus()).counters;
    const inv = ctInvalid();
    for (let i = 0; i < 3; i++) expect(viaPortForward()).toEqual({ code: 0, sha });
    const after = (await lab.freshStatus()).counters;
    expect(after.synproxy_conn_established - before.synproxy_conn_established).toBe(3);
    console.log(`conntrack invalid during 3 proxied fetches: ${ctInvalid() - inv}`);
    expect(ctInvalid() - inv).toBe(0);
  });

  it('masquerades the LAN to the WAN through tunguard', async () => {
    await lab.startTunguard().ready();
    const who = lab.run(lab.ns.lan, 'curl', ['-sS', '--max-time', '5', `http://${ADDR.wan4}:8081/whoami`]);
    expect(who.trim()).toBe(ADDR.rtrWan4);
    const out = lab.run(lab.ns.lan, 'sh', [
      '-c',
      `curl -sS --fail http://${ADDR.wan4}:8081/f.bin | sha256sum`,
    ]);
    expect(out.split(' ')[0]).toBe(sha);
    // The LAN's own connections are counted, not proxied.
    const c = (await lab.freshStatus()).counters;
    expect(c.synproxy_outbound_syn).toBeGreaterThanOrEqual(2);
    expect(c.synproxy_cookie_sent).toBe(0);
  });

  it('keeps one conntrack entry per proxied connection: the client’s view, one sequence space', async () => {
    await lab.startTunguard().ready();
    // A known client port, to find this connection's entries among those of the tests before.
    const dl = lab.execAsync(lab.ns.wan, 'sh', [
      '-c',
      `curl -sS --fail --local-port 45123 --limit-rate 2M http://${ADDR.rtrWan4}:8088/f.bin | sha256sum`,
    ]);
    await sleep(700);
    const table = lab.run(lab.ns.rtr, 'cat', ['/proc/net/nf_conntrack']);
    expect((await dl).stdout.split(' ')[0]).toBe(sha);
    const entries = table.split('\n').filter((l) => / (sport|dport)=45123 /.test(l));
    // The client's connection to the port forward, DNATed to the LAN host and assured: conntrack
    // took the proxy's SYN-ACK cookie and the translated replies for the host's own.
    expect(entries, table).toHaveLength(1);
    expect(entries[0]).toMatch(
      / src=198\.51\.100\.2 dst=198\.51\.100\.1 sport=45123 dport=8088 src=192\.0\.2\.2 dst=198\.51\.100\.2 sport=8080 dport=45123 \[ASSURED\] .*zone=0 /,
    );
    // The proxy's own connection to the host (client → 192.0.2.2:8080) never touches conntrack.
    expect(table).not.toMatch(/ src=198\.51\.100\.2 dst=192\.0\.2\.2 sport=45123 dport=8080 /);
  });

  it('fails open with the firewall too: after kill -9 the police table goes with the process', async () => {
    const tg = lab.startTunguard();
    await tg.ready();
    process.kill(tg.pid, 'SIGKILL');
    await tg.wait();
    // The table is owned by tunguard's nft child, which exits when its pipe closes.
    for (
      let i = 0;
      i < 50 && lab.exec(lab.ns.rtr, 'nft', ['list', 'table', 'inet', 'tunguard']).code === 0;
      i++
    )
      await new Promise((r) => setTimeout(r, 20));
    expect(lab.exec(lab.ns.rtr, 'nft', ['list', 'table', 'inet', 'tunguard']).code).not.toBe(0);
    expect(viaPortForward()).toEqual({ code: 0, sha });
    const who = lab.run(lab.ns.lan, 'curl', ['-sS', '--max-time', '5', `http://${ADDR.wan4}:8081/whoami`]);
    expect(who.trim()).toBe(ADDR.rtrWan4);
  });
  it('reports an nft child that dies under it, keeps proxying (no crash on the next known-set write) and rebuilds the table', async () => {
    const tg = lab.startTunguard();
    await tg.ready();
    // The police's own `nft -i` (the kernel limits' counters have another nft child, `nft -j -i`).
    const nft = lab.run(lab.ns.rtr, 'pgrep', ['-P', String(tg.pid), '-fx', 'nft -i']).trim();
    expect(nft).toMatch(/^\d+$/);
    process.kill(Number(nft), 'SIGKILL');
    for (let i = 0; i < 50 && !tg.output.includes('syn police: nft exited'); i++) await sleep(20);
    expect(tg.output).toMatch(/syn police: nft exited \(SIGKILL\): the tunguard nft table is gone/);
    // The table went with its owner (it is rebuilt after a second: test/lab/police-restart.test.ts);
    // a proxied connection (a conn-sync that marks its client known) still works meanwhile, and the
    // daemon is alive to stop cleanly.
    expect(lab.exec(lab.ns.rtr, 'nft', ['list', 'table', 'inet', 'tunguard']).code).not.toBe(0);
    expect(viaPortForward()).toEqual({ code: 0, sha });
    await sleep(1500); // the once-a-second connection sync reaches addKnown
    expect(tg.proc.exitCode).toBeNull();
    for (let i = 0; i < 100 && !tg.output.includes('table is back'); i++) await sleep(20);
    expect(lab.exec(lab.ns.rtr, 'nft', ['list', 'table', 'inet', 'tunguard']).code).toBe(0);
    expect(await tg.stop()).toBe(0);
  });
});
