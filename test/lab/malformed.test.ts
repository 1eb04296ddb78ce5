// Malformed and truncated packets handed to tunguard by the kernel are counted and dropped, and
// tunguard keeps forwarding: 1 M random and mutated packets injected into tg0 via AF_PACKET.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab, sleep } from './lab.js';

let lab: Lab;

beforeAll(async () => {
  lab = Lab.create();
  await lab.startTunguard().ready();
});

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

async function settledStatus(): Promise<Record<string, number>> {
  // status.json is rewritten within a second of the sampler's next second after the counters moved.
  await sleep(2100);
  return lab.status().counters;
}

describe('malformed input', () => {
  it('survives 1 M random and mutated packets, counts them, and keeps forwarding', async () => {
    const before = await settledStatus();
    const script = join(import.meta.dirname, 'inject.py');
    const count = process.env.TUNGUARD_FUZZ_PACKETS ?? '1000000';
    const out = lab.run(lab.ns.rtr, 'python3', [script, 'tg0', count, '7'], 120_000);
    const sent = Number(out.trim());
    expect(sent).toBeGreaterThan(Number(count) * 0.5);
    expect(lab.tunguard!.proc.exitCode).toBeNull();
    const after = await settledStatus();
    const malformed = Object.entries(after)
      .filter(([k]) => k.startsWith('malformed_'))
      .reduce((s, [k, v]) => s + v - (before[k] ?? 0), 0);
    const rx = after.rx_packets - before.rx_packets;
    console.log(
      `injected ${sent}, read ${rx}, malformed ${malformed}, tx_errors ${after.tx_errors - before.tx_errors}`,
    );
    // Most injected packets are broken; every one read is either counted malformed or classified.
    expect(malformed).toBeGreaterThan(rx * 0.3);
    expect(after.ipv4 + after.ipv6 - before.ipv4 - before.ipv6 + malformed).toBe(rx);
    // And the dataplane still forwards.
    lab.run(lab.ns.wan, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', ADDR.lan4]);
    expect(lab.tunguard!.proc.exitCode).toBeNull();
  }, 240_000);
});
