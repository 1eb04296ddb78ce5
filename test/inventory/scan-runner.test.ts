// The embedded scanner: a real nmap -sV -O against a real HTTP server on 127.0.0.1, imported into LMDB.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Inventory } from '../../src/inventory/inventory.js';
import type { Observation } from '../../src/inventory/model.js';
import { nmapArgs, runScan, ScanError, ScanOptionsSchema } from '../../src/inventory/scan-runner.js';
import { openDurable } from '../../src/state/durable.js';

let server: Server;
let port = 0;
const tmp = mkdtempSync(join(tmpdir(), 'tg-scan-'));

beforeAll(async () => {
  // A server that announces itself the way nginx does, so nmap's probes identify a product and version.
  server = createServer((_q, s) => {
    s.setHeader('Server', 'nginx/1.18.0');
    s.end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<Observation>): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const o of it) out.push(o);
  return out;
}

describe('embedded nmap scan', () => {
  it('scans one loopback port with -sV -O and imports what nmap saw', async () => {
    const store = openDurable(join(tmp, 'db'));
    const inv = new Inventory(store);
    const sum = await inv.importObservations(
      runScan({
        targets: ['127.0.0.1'],
        ports: String(port),
        maxRate: 100,
        versionIntensity: 5,
        timeoutMs: 60_000,
      }),
    );
    expect(sum.hostsCreated).toBe(1);
    const h = inv.findHost('127.0.0.1')!;
    const sw = h.software.find((s) => s.port === port)!;
    expect(sw).toMatchObject({ product: 'nginx', version: '1.18.0', source: 'nmap', protocol: 'tcp' });
    expect(sw.cpe).toBe('cpe:2.3:a:f5:nginx:1.18.0:*:*:*:*:*:*:*');
    expect(h.os.length).toBeGreaterThan(0);
    expect(h.os[0].family).toBe('Linux');
    await store.close();
  });

  it('reports a missing nmap clearly', async () => {
    const err = await collect(
      runScan({ targets: ['127.0.0.1'], nmapPath: '/nonexistent/nmap', timeoutMs: 5000 }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ScanError);
    expect(err.reason).toBe('nmap-not-found');
    expect(err.message).toMatch(/nmap not found.*opkg install nmap/);
  });

  it('stops an overrunning scan at its time limit', async () => {
    const t0 = Date.now();
    const err = await collect(
      runScan({ targets: ['127.0.0.1'], ports: String(port), osDetection: false, timeoutMs: 1000 }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ScanError);
    expect(err.reason).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('refuses targets that could be read as options or scan too much, and passes argv without a shell', () => {
    for (const bad of ['-oN/etc/passwd', '10.0.0.0/8', 'a;b', '$(id)', '::/64']) {
      expect(v.safeParse(ScanOptionsSchema, { targets: [bad] }).success).toBe(false);
    }
    const o = v.parse(ScanOptionsSchema, { targets: ['192.168.1.0/24'], ports: '22,80' });
    const args = nmapArgs(o, o.targets, false);
    expect(args.slice(-2)).toEqual(['--', '192.168.1.0/24']);
    expect(args).toContain('--max-rate');
  });
});
