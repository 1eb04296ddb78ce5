// What LAN clients can fill is bounded: hosts (evicting passive-only, provisional ones first), new
// hosts from passive evidence (a budget per minute), each host's identity lists, and the audit log.
// Real LMDB stores; 100 000 forged DHCP identities and 100 000 IPv6 sources as the passive inventory
// would record them (test/lab/passive-flood.test.ts sends them from the LAN to a running daemon).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Inventory } from '../../src/inventory/inventory.js';
import { emptyObservation, HOST_LIST_CAPS, type Observation } from '../../src/inventory/model.js';
import { dhcpObservation } from '../../src/inventory/passive/dhcp.js';
import { PassiveFeed } from '../../src/inventory/passive/feed.js';
import { openDurable } from '../../src/state/durable.js';
import { AuditLog } from '../../src/state/durable-audit.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tg-bounds-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
/** A DHCP request's facts: a forged universal MAC and a client id (what dhcp.ts records). */
function dhcpForged(i: number): Observation {
  const mac = `00${hex(i, 10)}`.match(/../g)!.join(':');
  return {
    ...emptyObservation(),
    mac,
    ipv4: [],
    os: [{ name: 'Linux', source: 'dhcp', confidence: 30, seenAt: 1 }],
  };
}
/** A passive sample from one IPv6 source (a provisional host keyed by its address). */
function v6Source(i: number): Observation {
  return { ...emptyObservation(), ipv6: [`2001:db8:${hex(i >>> 16, 1)}:${hex(i & 0xffff, 4)}::1`] };
}

describe('host store bounds', () => {
  it('100 000 forged DHCP identities and 100 000 IPv6 sources: the store stays under its cap, a scanned host is kept', async () => {
    const store = openDurable(join(dir, 'durable'));
    const inv = new Inventory(store, Date.now, 1000);
    // A real host: seen by a scan (nmap), before the flood.
    await inv.importObservations([
      {
        ...emptyObservation(),
        mac: '00:11:22:33:44:55',
        ipv4: ['192.0.2.10'],
        software: [
          {
            product: 'nginx',
            version: '1.18.0',
            port: 80,
            protocol: 'tcp',
            source: 'nmap',
            confidence: 90,
            seenAt: 1,
          },
        ],
      },
    ]);
    const rss0 = process.memoryUsage().rss;
    // As the passive feed hands them over: what it drained since its last pass, 1 000 at a time.
    for (let from = 0; from < 100_000; from += 1000) {
      await inv.importObservations(Array.from({ length: 1000 }, (_, k) => dhcpForged(from + k)));
      await inv.importObservations(Array.from({ length: 1000 }, (_, k) => v6Source(from + k)));
    }
    expect(inv.listHosts().length).toBeLessThanOrEqual(1000 + 125);
    expect(inv.size).toBe(inv.listHosts().length);
    expect(inv.findHost('192.0.2.10')?.software[0]).toMatchObject({ product: 'nginx' });
    // The newest passive sources are the ones kept; the oldest forged ones are gone, index and all.
    expect(inv.findHost('00:00:00:00:00:01')).toBeUndefined();
    const growth = process.memoryUsage().rss - rss0;
    const file = statSync(join(dir, 'durable', 'durable.mdb')).size;
    console.log(
      `bounds: ${inv.size} hosts after 200 000 forged identities; store ${(file / 2 ** 20).toFixed(1)} MiB; rss +${(growth / 2 ** 20).toFixed(1)} MiB`,
    );
    // Stated bounds: ~1 100 hosts of a few hundred bytes; LMDB keeps freed pages for reuse.
    expect(file).toBeLessThan(64 << 20);
    expect(growth).toBeLessThan(128 << 20);
    await store.close();
  }, 120_000);

  it('the passive feed’s new-host budget holds a DHCP flood; lifted (the control), every forged MAC is a host', async () => {
    // 20 000 forged requests (the lab sends 100 000, of which the router reads a few hundred), host
    // cap lifted so that only the budget can hold them.
    const run = async (sub: string, newHosts?: { perMinute: number; burst: number }) => {
      const store = openDurable(join(dir, sub));
      const inv = new Inventory(store, Date.now, 1_000_000);
      const feed = new PassiveFeed(inv, newHosts ? { newHosts } : {});
      for (let from = 0; from < 20_000; from += 1000) {
        for (let k = 0; k < 1000; k++) {
          const i = from + k;
          feed.add(
            dhcpObservation(
              {
                clientMac: `00:16:3e:${hex(i >> 16, 2)}:${hex((i >> 8) & 255, 2)}:${hex(i & 255, 2)}`,
                requestedIp: '192.0.2.2',
              },
              Date.now(),
            ),
          );
        }
        await feed.flush();
      }
      const out = { hosts: inv.size, refused: feed.stats.newHostsRefused };
      await store.close();
      return out;
    };
    const held = await run('held');
    expect(held.hosts).toBeLessThanOrEqual(256 + 60);
    expect(held.refused).toBeGreaterThanOrEqual(20_000 - 256 - 60);
    const lifted = await run('lifted', { perMinute: 1e9, burst: 1e9 });
    expect(lifted).toEqual({ hosts: 20_000, refused: 0 });
  }, 60_000);

  it('caps a host’s address and name lists, keeping the newest', async () => {
    const store = openDurable(join(dir, 'durable'));
    const inv = new Inventory(store);
    await inv.importObservations(
      (function* () {
        for (let i = 0; i < 500; i++)
          yield {
            ...emptyObservation(),
            mac: '00:11:22:33:44:66',
            ipv4: [`198.51.100.${i % 250}`, `203.0.113.${i % 250}`],
            ipv6: [`2001:db8::${hex(i, 4)}`],
            hostnames: [`name-${i}`],
          };
      })(),
    );
    const h = inv.findHost('00:11:22:33:44:66')!;
    expect(h.ipv4.length).toBe(HOST_LIST_CAPS.ipv4);
    expect(h.ipv6.length).toBe(HOST_LIST_CAPS.ipv6);
    expect(h.hostnames.length).toBe(HOST_LIST_CAPS.hostnames);
    expect(h.hostnames.at(-1)).toBe('name-499');
    expect(inv.findHost('name-499')?.id).toBe(h.id);
    await store.close();
  });
});

describe('audit log bounds', () => {
  it('keeps at most maxEntries (and an eighth), dropping the oldest', async () => {
    const store = openDurable(join(dir, 'durable'));
    let t = 0;
    const log = new AuditLog(store, () => ++t, 100);
    for (let i = 0; i < 250; i++) await log.append({ step: 'x', detail: { i } });
    const kept = log.list();
    expect(kept.length).toBeLessThanOrEqual(113);
    expect(log.size).toBe(kept.length);
    expect(kept.at(-1)?.detail).toEqual({ i: 249 });
    expect(kept.some((e) => (e.detail as { i: number }).i === 0)).toBe(false);
    await store.close();
  });
});
