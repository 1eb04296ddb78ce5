// The detection schedule on a real LMDB store: rounds run on their own, the scan
// targets come from the protected hosts (a MAC or name through the inventory's addresses), a missing
// nmap is reported in the round, and the state the API shows follows. nmap itself is a recording
// stand-in here (argv to a file, a fixed report); the lab suite (test/lab/detect.test.ts) runs the real one.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DetectionOptions, DetectionReport } from '../../src/remediation/detector.js';
import { RemediationService } from '../../src/remediation/service.js';

let dir: string;
let svc: RemediationService;

/** An nmap report of one host: 192.0.2.9, MAC 02:00:00:00:00:09, nginx 1.18.0 on 80. */
const REPORT = `<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap" start="1" version="7.93" xmloutputversion="1.05">
<host><status state="up" reason="arp-response"/>
<address addr="192.0.2.9" addrtype="ipv4"/><address addr="02:00:00:00:00:09" addrtype="mac"/>
<ports><port protocol="tcp" portid="80"><state state="open" reason="syn-ack"/>
<service name="http" product="nginx" version="1.18.0" method="probed" conf="10"><cpe>cpe:/a:igor_sysoev:nginx:1.18.0</cpe></service></port></ports>
</host>
<runstats><finished time="2" exit="success"/><hosts up="1" down="0" total="1"/></runstats>
</nmaprun>
`;

function fakeNmap(): { path: string; argv: () => string[] } {
  const path = join(dir, 'nmap');
  const log = join(dir, 'nmap.argv');
  writeFileSync(join(dir, 'report.xml'), REPORT);
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' "$@" > '${log}'\ncat '${join(dir, 'report.xml')}'\n`);
  chmodSync(path, 0o755);
  return { path, argv: () => readFileSync(log, 'utf8').trim().split('\n') };
}

/** Schedules `o` (a round 10 ms from now, then every minute) and resolves with the first round's report. */
async function firstRound(o: DetectionOptions): Promise<DetectionReport> {
  const r = await new Promise<DetectionReport | Error>((resolve) =>
    svc.startDetection(o, 60_000, 10, resolve),
  );
  if (r instanceof Error) throw r;
  return r;
}

/** Runs the configured schedule's next round now. */
function nextRound(): Promise<DetectionReport> {
  const o = svc.scheduledDetection();
  if (!o) throw new Error('no schedule');
  return firstRound(o);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tg-detect-'));
  svc = await RemediationService.open({ dataDir: join(dir, 'router') });
});

afterEach(async () => {
  await svc.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('scheduled detection', () => {
  it('reports a missing nmap in the round and goes on with what is known', async () => {
    const r = await firstRound({
      protectedHosts: ['192.0.2.77'],
      scan: { nmapPath: join(dir, 'no-such-nmap') },
    });
    expect(r.scanError).toMatch(
      /^nmap not found \(".*no-such-nmap"\): install it \(OpenWrt: opkg install nmap\)$/,
    );
    expect(r.missing).toEqual(['192.0.2.77']);
    const st = svc.detectionState();
    expect(st).toMatchObject({
      scheduled: true,
      intervalSeconds: 60,
      scan: true,
      scanLan: false,
      running: false,
    });
    expect(st.last?.trigger).toBe('schedule');
    expect(st.last?.report.scanError).toBe(r.scanError);
    // The next round is timed from this one's start.
    expect(st.nextRunAt).toBeGreaterThan(Date.now() + 55_000);
    svc.stopDetection();
    expect(svc.detectionState()).toEqual({ scheduled: false, running: false, last: st.last });
  });

  it('scans the protected hosts by their addresses (a MAC through the inventory), then checks them', async () => {
    const nmap = fakeNmap();
    await svc.importScan([REPORT], 'nmap'); // the inventory knows the MAC's host and its address
    await svc.createRule({
      kind: 'environment',
      id: 'old-nginx',
      environment: { software: 'nginx', softwareVersions: ['1.18.0'] },
      remedy: { fileOps: [{ name: 'x.sh', location: '/tmp', op: 'delete' }] },
    });
    const r = await firstRound({
      protectedHosts: ['02:00:00:00:00:09', '198.51.100.200'],
      scan: { nmapPath: nmap.path, ports: '80', maxRate: 50 },
    });
    // Targets: the MAC's known IPv4 address, and the address given as such.
    const argv = nmap.argv();
    expect(argv.slice(argv.indexOf('--') + 1).sort()).toEqual(['192.0.2.9', '198.51.100.200']);
    expect(argv).toEqual(expect.arrayContaining(['-sV', '-O', '-p', '80', '--max-rate', '50']));
    expect(r).toMatchObject({ scanned: 1, checked: 1, missing: ['198.51.100.200'] });
    expect(r.queued).toHaveLength(1);
    const [d] = await svc.listDispatches({});
    expect(d).toMatchObject({ id: r.queued[0], ruleId: 'old-nginx', trigger: 'detection', status: 'queued' });
    // The next round finds the dispatch open and queues nothing twice.
    const again = await nextRound();
    expect(again.queued).toEqual([]);
    expect(again.skipped).toEqual([{ hostId: d.hostId, ruleId: 'old-nginx', why: 'already queued' }]);
  });

  it('checks every host a LAN scan found when asked to (scan_lan)', async () => {
    const nmap = fakeNmap();
    const r = await firstRound({
      protectedHosts: [],
      scan: { nmapPath: nmap.path, targets: ['192.0.2.0/24'] },
      checkScanned: true,
    });
    const argv = nmap.argv();
    expect(argv.slice(argv.indexOf('--') + 1)).toEqual(['192.0.2.0/24']);
    expect(r).toMatchObject({ scanned: 1, checked: 1, missing: [] });
  });
});
