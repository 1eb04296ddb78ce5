// Hardware flow offloading, read from nft's listing (src/netcfg/flowtables.ts), and what the daemon
// says about it (src/daemon/flow-offload.ts). The lab test runs the real nft; the QEMU guest a
// kernel that has flowtables.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowOffloadReport } from '../../src/daemon/flow-offload.js';
import { FlowtableWatch, parseFlowtables } from '../../src/netcfg/flowtables.js';

const HW = readFileSync(join(import.meta.dirname, '../fixtures/nft/flowtables-hw.txt'), 'utf8');

describe('parseFlowtables', () => {
  it('reads each flowtable, its devices and whether it offloads to hardware', () => {
    expect(parseFlowtables(HW)).toEqual([
      { family: 'inet', table: 'fw4', name: 'ft', devices: ['lan0', 'wan0'], hardware: true },
      { family: 'ip', table: 'other', name: 'soft', devices: ['eth1'], hardware: false },
    ]);
    // What nft 1.0.6 printed in the QEMU guest (Linux 6.12) for a flowtable without devices.
    const guest = readFileSync(join(import.meta.dirname, '../fixtures/nft/flowtables-guest.txt'), 'utf8');
    expect(parseFlowtables(guest)).toEqual([
      { family: 'inet', table: 'hwtest', name: 'ft', devices: [], hardware: true },
    ]);
    expect(parseFlowtables('')).toEqual([]);
    // A flags line outside a flowtable is not one.
    expect(parseFlowtables('table inet t {\n\tflags dormant\n}\n')).toEqual([]);
  });

  it('keeps at most 64 flowtables of one listing', () => {
    const many = Array.from(
      { length: 70 },
      (_, i) => `table inet t${i} {\n\tflowtable f {\n\t\tflags offload\n\t}\n}\n`,
    ).join('');
    expect(parseFlowtables(many)).toHaveLength(64);
  });
});

describe('FlowtableWatch', () => {
  it('reports the first read, then only changes; a failed read changes nothing', async () => {
    const answers: (string | undefined)[] = ['', HW, HW, undefined, ''];
    const seen: string[][] = [];
    const w = new FlowtableWatch({
      intervalMs: 0,
      list: async () => answers.shift(),
      onChange: (hw) => seen.push(hw.map((f) => f.name)),
    });
    for (let i = 0; i < 5; i++) await w.poll();
    expect(seen).toEqual([[], ['ft'], []]);
  });

  it('reads the listing again when its event command prints (once for a burst), not every interval', async () => {
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let reads = 0;
    const w = new FlowtableWatch({
      intervalMs: 100,
      list: async () => {
        reads++;
        return '';
      },
      onChange: () => {},
      // Like `nft monitor` during a fw4 reload: quiet, then a burst of lines, then quiet.
      events: [
        'sh',
        '-c',
        'sleep 0.4; echo "add table inet fw4"; echo "add flowtable inet fw4 ft"; sleep 30',
      ],
    });
    await w.start();
    expect(reads, 'the first read').toBe(1);
    await pause(300);
    expect(w.listening).toBe(true);
    expect(reads, 'no read while nothing changed').toBe(1);
    await pause(1000);
    expect(reads, 'one read for the burst').toBe(2);
    w.stop();
    // The control: without events it reads every 100 ms.
    let polls = 0;
    const p = new FlowtableWatch({
      intervalMs: 100,
      list: async () => {
        polls++;
        return '';
      },
      onChange: () => {},
      events: null,
    });
    await p.start();
    await pause(550);
    p.stop();
    expect(polls).toBeGreaterThanOrEqual(5);
  });
});

describe('FlowOffloadReport', () => {
  it('warns once when a hardware flowtable appears, says when it goes, and shows it in the status', async () => {
    const answers: (string | undefined)[] = ['', HW, HW, ''];
    const logs: string[] = [];
    const r = new FlowOffloadReport(
      (m) => logs.push(m),
      true,
      0,
      async () => answers.shift(),
    );
    r.guardedBy(() => ({ v4: false, v6: true }));
    await r.start();
    expect(r.status()).toEqual({ hardwareFlowtables: [], ipv6Guarded: true, ipv4Guarded: false });
    expect(logs).toEqual([]);
    const w = (r as unknown as { watch: FlowtableWatch }).watch;
    await w.poll();
    await w.poll();
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^warning: hardware flow offloading is on \(inet fw4 ft on lan0, wan0\)/);
    expect(logs[0]).toContain('proxied IPv4 connections (proxied IPv6 ones are kept out)');
    expect(r.status().hardwareFlowtables).toEqual(['inet fw4 ft']);
    expect(r.status().warning).toBe(logs[0].replace(/^warning: /, ''));
    await w.poll();
    expect(logs[1]).toMatch(/no flowtable offloads to hardware/);
    expect(r.status().warning).toBeUndefined();
  });

  it('names IPv6 too when the guard is not in place, and not when IPv6 is not steered', async () => {
    const r = new FlowOffloadReport(
      () => {},
      true,
      0,
      async () => HW,
    );
    await r.start();
    expect(r.status().warning).toContain('proxied IPv4 and IPv6 connections');
    const v4 = new FlowOffloadReport(
      () => {},
      false,
      0,
      async () => HW,
    );
    await v4.start();
    expect(v4.status().warning).toContain('fw4 can hand proxied IPv4 connections to the hardware');
  });

  it('warns only about a family that is not kept out: none once the conntrack helper guards IPv4', async () => {
    const logs: string[] = [];
    const both = new FlowOffloadReport(
      (m) => logs.push(m),
      true,
      0,
      async () => HW,
    );
    both.guardedBy(() => ({ v4: true, v6: true }));
    await both.start();
    expect(both.status()).toEqual({
      hardwareFlowtables: ['inet fw4 ft'],
      ipv6Guarded: true,
      ipv4Guarded: true,
    });
    expect(logs).toEqual([
      'offload: hardware flowtables are on (inet fw4 ft); proxied connections are kept out of them',
    ]);
    const v6open = new FlowOffloadReport(
      () => {},
      true,
      0,
      async () => HW,
    );
    v6open.guardedBy(() => ({ v4: true, v6: false }));
    await v6open.start();
    expect(v6open.status().warning).toContain('proxied IPv6 connections (proxied IPv4 ones are kept out)');
    const v4only = new FlowOffloadReport(
      () => {},
      false,
      0,
      async () => HW,
    );
    v4only.guardedBy(() => ({ v4: true, v6: false }));
    await v4only.start();
    expect(v4only.status().warning).toBeUndefined();
  });

  it('reads the guard each time: a lost police table is in the next status and warning, no copy lags', async () => {
    let guard = { v4: true, v6: true };
    const r = new FlowOffloadReport(
      () => {},
      true,
      0,
      async () => HW,
    );
    r.guardedBy(() => guard);
    await r.start();
    expect(r.status()).toEqual({ hardwareFlowtables: ['inet fw4 ft'], ipv6Guarded: true, ipv4Guarded: true });
    guard = { v4: false, v6: false };
    expect(r.status()).toMatchObject({ ipv6Guarded: false, ipv4Guarded: false });
    expect(r.status().warning).toContain('proxied IPv4 and IPv6 connections');
  });
});
