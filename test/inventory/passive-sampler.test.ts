// The passive inventory from the dataplane, in process: real packets through the real pipeline
// (the sampler stage), the SharedArrayBuffer ring, fingerprinting on the main-thread side, dnsmasq
// lease files, and the feed writing into a real LMDB inventory (only what is new).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pipeline, pipelineLayout } from '../../src/dataplane/pipeline.js';
import { SampleKind, SampleRing } from '../../src/dataplane/sample-ring.js';
import { buildStages, testStageEnv } from '../../src/dataplane/stages/index.js';
import type { SamplerSettings, SamplerStage } from '../../src/dataplane/stages/sampler.js';
import { Inventory } from '../../src/inventory/inventory.js';
import { emptyObservation, HOST_LIST_CAPS, hostKey, type Observation } from '../../src/inventory/model.js';
import { parseGreeting, serverProducts } from '../../src/inventory/passive/banner.js';
import { dhcpObservation } from '../../src/inventory/passive/dhcp.js';
import { leaseObservation, parseLeaseFile } from '../../src/inventory/passive/dhcp-leases.js';
import { PassiveFeed } from '../../src/inventory/passive/feed.js';
import {
  observeSample,
  SAMPLE_BANNER,
  SAMPLE_HTTP_REQUEST,
  SAMPLE_SYN,
  viewTcpPacket,
} from '../../src/inventory/passive/sample.js';
import { type DurableStore, openDurable } from '../../src/state/durable.js';
import { MemoryPacketIO } from '../../src/tun/memory.js';
import { Batch } from '../../src/tun/packet-io.js';
import { Prng, tcp, v4, v6 } from '../packet/helpers.js';

const LAN = [192, 0, 2, 10];
const LAN_B = [192, 0, 2, 11];
const WAN = [198, 51, 100, 7];
const LAN6 = [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
const WAN6 = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07];
const SYN = 0x02;
const SYN_ACK = 0x12;
const PSH_ACK = 0x18;
/** Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7. */
const LINUX_OPTS = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
const text = (s: string) => [...Buffer.from(s)];

/** A LAN host's packets reach the TUN before the kernel forwards them: with the TTL they were sent with. */
function lanSyn(src = LAN, ttl = 64): Uint8Array {
  return v4(
    { src, dst: WAN, ttl, id: 0x1234 },
    tcp({ sport: 40000, dport: 443, flags: SYN, win: 64240, opts: LINUX_OPTS }),
  );
}
function lanData(sport: number, dport: number, payload: string, src = LAN): Uint8Array {
  return v4({ src, dst: WAN, ttl: 64 }, tcp({ sport, dport, flags: PSH_ACK, payload: text(payload) }));
}
const GET =
  'GET /index.html HTTP/1.1\r\nHost: example.test\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0\r\nAccept: */*\r\n\r\n';
const SSH = 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n';
const FTP = '220 (vsFTPd 3.0.3)\r\n';
const HTTP_RESP = 'HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nDate: x\r\n\r\n';

function pipelineWith(settings: SamplerSettings = {}, ring?: SharedArrayBuffer) {
  const env = testStageEnv({
    lanPrefixes: ['192.0.2.0/24', '2001:db8:2::/64'],
    sampler: settings,
    ...(ring ? { sampleRing: ring } : {}),
  });
  const stages = buildStages(['sampler'], env);
  const sampler = stages[0] as SamplerStage;
  const layout = pipelineLayout(stages);
  const counters = new Float64Array(layout.names.length);
  const pipeline = new Pipeline(stages, layout, counters, false);
  const io = new MemoryPacketIO(false);
  const batch = new Batch(1 << 20, 256);
  /** Runs packets through at time `now` (ms); returns what was written back. */
  const run = (packets: Uint8Array[], now = 1000): Uint8Array[] => {
    io.inbox.push(...packets);
    io.written.length = 0;
    io.readBatch(batch, 0, 0);
    const keep = pipeline.process(batch, now);
    io.writeBatch(batch, keep);
    return [...io.written];
  };
  const c = (name: string) => counters[layout.of(name)];
  const drain = () => {
    const out: { kind: number; bytes: Uint8Array }[] = [];
    sampler.ring.drain((kind, bytes) => out.push({ kind, bytes: bytes.slice() }));
    return out;
  };
  return { run, c, drain, sampler };
}

describe('sampler stage in the pipeline', () => {
  it('copies LAN hosts’ SYNs, HTTP requests and service banners, nothing else, and forwards all', () => {
    const p = pipelineWith({ perHostPerSecond: 10 });
    const packets = [
      lanSyn(), // sampled
      v4({ src: LAN, dst: WAN, ttl: 64 }, tcp({ sport: 22, dport: 40000, flags: SYN_ACK, opts: LINUX_OPTS })), // SYN-ACK: no
      v4({ src: WAN, dst: LAN, ttl: 63 }, tcp({ flags: SYN, win: 65535, opts: LINUX_OPTS })), // from the WAN: no
      lanData(40001, 80, GET), // sampled (request)
      lanData(40002, 8080, GET), // not port 80: no
      lanData(22, 50000, SSH), // sampled (banner)
      lanData(21, 50001, FTP), // sampled (banner)
      lanData(8000, 50002, HTTP_RESP), // sampled (banner)
      lanData(5000, 50003, 'just some bytes of a stream'), // no
      v4(
        { src: WAN, dst: LAN, ttl: 63 },
        tcp({ sport: 22, dport: 50000, flags: PSH_ACK, payload: text(SSH) }),
      ), // WAN's banner: no
      v6(
        { src: LAN6, dst: WAN6, hop: 64 },
        tcp({
          flags: SYN,
          win: 64800,
          opts: [2, 4, 0x05, 0xa0, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7],
        }),
      ), // sampled
      v4({ src: LAN, dst: WAN, ttl: 64, frag: 0x00b9 }, text('a non-first fragment, no TCP header here')), // no
    ];
    const out = p.run(packets);
    expect(out).toHaveLength(packets.length); // never drops
    // The sampler only reads: every packet goes back as it came.
    expect(out).toEqual(packets);
    expect(p.c('sampler_samples')).toBe(6);
    expect(p.c('sampler_skip_repeat') + p.c('sampler_drop_rate') + p.c('sampler_drop_full')).toBe(0);
    const got = p.drain();
    expect(got.map((s) => s.kind)).toEqual([
      SampleKind.SYN,
      SampleKind.HTTP_REQUEST,
      SampleKind.BANNER,
      SampleKind.BANNER,
      SampleKind.BANNER,
      SampleKind.SYN,
    ]);
    // The sample is the packet as forwarded (TTL restored), whole when it fits the snap length.
    expect(got[1].bytes).toEqual(out[3]);
    expect(got[0].bytes[8]).toBe(64);

    const [syn, req, ssh, ftp, http, syn6] = got.map((s) => observeSample(s.kind, s.bytes, 5));
    expect(syn?.ipv4).toEqual(['192.0.2.10']);
    expect(syn?.os).toEqual([
      {
        name: 'Linux 3.x+',
        family: 'Linux',
        confidence: 30,
        source: 'tcp-syn',
        seenAt: 5,
        signature: '4:64:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0',
      },
    ]);
    expect(req?.os[0]).toMatchObject({ name: 'Linux', family: 'Linux', source: 'http-ua', confidence: 40 });
    expect(req?.software[0]).toMatchObject({ product: 'firefox', version: '115.0', source: 'http-ua' });
    expect(ssh?.software[0]).toMatchObject({
      product: 'OpenSSH',
      version: '9.2p1',
      port: 22,
      service: 'ssh',
      source: 'banner',
      confidence: 60,
      cpe: 'cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*',
    });
    expect(ssh?.os[0]).toMatchObject({ name: 'Debian', family: 'Linux', source: 'banner' });
    expect(ftp?.software[0]).toMatchObject({ product: 'vsftpd', version: '3.0.3', port: 21, service: 'ftp' });
    expect(http?.software.map((s) => [s.product, s.version, s.port])).toEqual([
      ['SimpleHTTP', '0.6', 8000],
      ['Python', '3.11.2', 8000],
    ]);
    expect(http?.software[1].cpe).toBe('cpe:2.3:a:python:python:3.11.2:*:*:*:*:*:*:*');
    expect(syn6?.ipv6).toEqual(['2001:db8:2::10']);
    expect(syn6?.os[0]).toMatchObject({
      name: 'Linux 3.x+',
      signature: '6:64:0:1440:mss*45,7:mss,sok,ts,nop,ws::0',
    });
  });

  it('is bounded: repeats skipped, per-host and per-worker budgets, a full ring loses (and counts) samples', () => {
    const p = pipelineWith({ perHostPerSecond: 2, maxPerSecond: 3, repeatMs: 10_000 });
    p.run([lanSyn(), lanSyn()], 1000);
    expect(p.c('sampler_samples')).toBe(1);
    expect(p.c('sampler_skip_repeat')).toBe(1);
    // A second kind and a third from the same host in the same second: the third is over its budget.
    p.run([lanData(40001, 80, GET), lanData(22, 50000, SSH)], 1100);
    expect(p.c('sampler_samples')).toBe(2);
    expect(p.c('sampler_drop_rate')).toBe(1);
    // Another host: the worker's budget (3/s) has one left.
    p.run([lanSyn(LAN_B), lanSyn([192, 0, 2, 12])], 1200);
    expect(p.c('sampler_samples')).toBe(3);
    expect(p.c('sampler_drop_rate')).toBe(2);
    // The next second the banner goes through; the repeated SYN is still a repeat.
    p.run([lanData(22, 50000, SSH), lanSyn()], 2100);
    expect(p.c('sampler_samples')).toBe(4);
    expect(p.c('sampler_skip_repeat')).toBe(2);
    // …until repeatMs has passed.
    p.run([lanSyn()], 11_500);
    expect(p.c('sampler_samples')).toBe(5);
    expect(p.drain()).toHaveLength(5);

    // A ring of 2 slots the reader does not drain: the third sample is lost, counted, nothing blocks.
    const small = SampleRing.create(2, 256);
    const q = pipelineWith({}, small.sab);
    const out = q.run([lanSyn(), lanSyn(LAN_B), lanSyn([192, 0, 2, 12])]);
    expect(out).toHaveLength(3);
    expect(q.c('sampler_samples')).toBe(2);
    expect(q.c('sampler_drop_full')).toBe(1);
    // The main thread's view of the same buffer drains what the worker wrote.
    const kinds: number[] = [];
    expect(new SampleRing(small.sab).drain((k) => kinds.push(k))).toBe(2);
    expect(kinds).toEqual([SampleKind.SYN, SampleKind.SYN]);
    q.run([lanSyn([192, 0, 2, 12])], 1500);
    expect(q.c('sampler_samples')).toBe(3);
  });
});

describe('sample ring', () => {
  it('wraps around, truncates to the snap length, and frees a slot whose visitor throws', () => {
    const r = SampleRing.create(4, 64);
    const buf = new Uint8Array(200).map((_, i) => i);
    let seen = 0;
    for (let round = 0; round < 25; round++) {
      for (let i = 0; i < 3; i++) expect(r.push(SampleKind.BANNER, buf, i, 100)).toBe(true);
      expect(r.pending).toBe(3);
      r.drain((kind, bytes) => {
        expect(kind).toBe(SampleKind.BANNER);
        expect(bytes.length).toBe(64);
        expect(bytes[0]).toBe(seen % 3);
        seen++;
      });
    }
    expect(seen).toBe(75);
    for (let i = 0; i < 4; i++) r.push(SampleKind.SYN, buf, 0, 10);
    expect(r.push(SampleKind.SYN, buf, 0, 10)).toBe(false);
    expect(() =>
      r.drain(() => {
        throw new Error('bad sample');
      }),
    ).toThrow('bad sample');
    expect(r.pending).toBe(3);
    expect(r.drain(() => {})).toBe(3);
    expect(() => new SampleRing(new SharedArrayBuffer(64))).toThrow(/not a sample ring/);
    expect(() => SampleRing.create(0, 64)).toThrow(/slot count/);
  });

  it('numbers its kinds as the inventory decodes them', () => {
    expect([SampleKind.SYN, SampleKind.HTTP_REQUEST, SampleKind.BANNER]).toEqual([
      SAMPLE_SYN,
      SAMPLE_HTTP_REQUEST,
      SAMPLE_BANNER,
    ]);
  });
});

describe('fingerprints from samples', () => {
  it('never throws on cut-short or random bytes', () => {
    const samples = [
      lanSyn(),
      lanData(40001, 80, GET),
      lanData(22, 5, SSH),
      lanData(21, 5, FTP),
      lanData(8000, 5, HTTP_RESP),
    ];
    for (const s of samples)
      for (let n = 0; n <= s.length; n++)
        for (const kind of [1, 2, 3, 9]) expect(() => observeSample(kind, s.subarray(0, n), 0)).not.toThrow();
    const rng = new Prng(42);
    for (let i = 0; i < 20_000; i++) {
      const b = new Uint8Array(rng.int(120));
      for (let j = 0; j < b.length; j++) b[j] = rng.int(256);
      if (b.length > 0) b[0] = (rng.int(2) ? 0x45 : 0x60) | (b[0] & 0x0f);
      if (b.length > 9) b[9] = 6;
      if (b.length > 6) b[6] = 6;
      expect(() => observeSample(1 + rng.int(3), b, 0)).not.toThrow();
    }
    // A SYN cut inside its options keeps the options read so far.
    const cut = viewTcpPacket(lanSyn().subarray(0, 20 + 20 + 7));
    expect(cut?.options).toEqual(['mss', 'sok']);
  });

  it('reads greetings and Server headers with several products', () => {
    expect(parseGreeting('220 mail.example.test ESMTP Postfix (Debian/GNU)\r\n')).toMatchObject({
      product: 'Postfix',
      service: 'smtp',
      os: 'Debian',
    });
    expect(parseGreeting('220 host ESMTP Exim 4.96 Tue, 01 Oct 2024')).toMatchObject({
      product: 'Exim',
      version: '4.96',
    });
    expect(parseGreeting('220 welcome')).toBeUndefined();
    expect(parseGreeting('530 no')).toBeUndefined();
    expect(
      serverProducts('Apache/2.4.52 (Ubuntu) OpenSSL/3.0.2').map((f) => [f.product, f.version, f.os]),
    ).toEqual([
      ['Apache', '2.4.52', 'Ubuntu'],
      ['OpenSSL', '3.0.2', undefined],
    ]);
    expect(serverProducts('a\u0000b')).toEqual([]);
    // What a server sends is stored as printable ASCII only (terminal escapes never reach a CLI).
    const evil = observeSample(
      SAMPLE_BANNER,
      lanData(22, 5, 'SSH-2.0-Evil\u001b[31m_1.0\u0007 x\u001b]0;pwned\u0007\r\n'),
      0,
    );
    expect(evil?.software[0]).toMatchObject({ product: 'Evil?[31m', version: '1.0?', extra: 'x?]0;pwned?' });
  });
});

describe('dnsmasq lease file', () => {
  const NOW = 1_700_000_000_000;
  const FILE = [
    `${NOW / 1000 + 3600} 00:16:3e:11:22:33 192.0.2.10 laptop 01:00:16:3e:11:22:33`,
    `0 da:11:22:33:44:55 192.0.2.23 pixel-7 01:da:11:22:33:44:55`,
    `${NOW / 1000 - 10} 00:16:3e:aa:bb:cc 192.0.2.99 gone *`, // expired
    'duid 00:01:00:01:2c:5e:6f:70:00:16:3e:11:22:33',
    `${NOW / 1000 + 3600} 12345 2001:db8:2::10 laptop 00:01:00:01:2c:5e:6f:70:00:16:3e:11:22:33`,
    `${NOW / 1000 + 3600} 00:16:3e:11:22:34 192.0.2.12 $(reboot) *`, // not a hostname
    `${NOW / 1000 + 3600} 6-00:16:3e:11:22:35 192.0.2.13 * *`, // not Ethernet
    `${NOW / 1000 + 3600} 00:16:3e:11:22:36 192.0.2.14 x * extra`, // six fields
    'garbage',
    `${NOW / 1000 + 3600} 00:16:3e:11:22:37 300.0.2.14 x *`, // not an address
    '',
  ].join('\n');

  it('parses leases strictly, skipping expired ones and refusing every malformed line', () => {
    const r = parseLeaseFile(FILE, NOW);
    expect(r.leases).toEqual([
      {
        expiresAt: NOW + 3_600_000,
        mac: '00:16:3e:11:22:33',
        address: '192.0.2.10',
        hostname: 'laptop',
        clientId: '0100163e112233',
      },
      {
        expiresAt: 0,
        mac: 'da:11:22:33:44:55',
        address: '192.0.2.23',
        hostname: 'pixel-7',
        clientId: '01da1122334455',
      },
      {
        expiresAt: NOW + 3_600_000,
        address: '2001:db8:2::10',
        hostname: 'laptop',
        clientId: '000100012c5e6f7000163e112233',
      },
    ]);
    expect(r.rejected).toBe(5);
    expect(r.rejectedLines).toEqual([6, 7, 8, 9, 10]);
    // A randomised MAC does not key the host: its client id does.
    expect(hostKey(leaseObservation(r.leases[1]))).toBe('dhcp:01da1122334455');
    expect(hostKey(leaseObservation(r.leases[0]))).toBe('mac:00:16:3e:11:22:33');
  });
});

describe('passive feed into the inventory (real LMDB)', () => {
  let dir: string;
  let store: DurableStore;
  let inv: Inventory;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tg-passive-'));
    store = openDurable(join(dir, 'durable'));
    inv = new Inventory(store);
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ticks rarely while nothing comes, at once when poked by the dataplane, and writes within flushMs of new evidence', async () => {
    const p = pipelineWith();
    let drains = 0;
    // A store of its own: the other tests count the hosts of theirs.
    const own = openDurable(join(dir, 'durable-ticks'));
    const ownInv = new Inventory(own);
    const feed = new PassiveFeed(ownInv, {
      drain: (visit) => {
        drains++;
        return p.sampler.ring.drain(visit);
      },
      tickMs: 50,
      idleTickMs: 400,
      flushMs: 60,
    });
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    feed.start();
    await pause(1000);
    expect(drains, 'idle: a tick every 400 ms, not every 50').toBeLessThanOrEqual(3);
    expect(feed.tickInterval).toBe(400);
    p.run([lanSyn([192, 0, 2, 77]), lanData(22, 50000, SSH, [192, 0, 2, 77])], 1000);
    feed.poke();
    expect(feed.stats.samples, 'poked: drained at once').toBe(2);
    expect(feed.tickInterval, 'evidence came: ticks are frequent again').toBe(50);
    await pause(200);
    expect(feed.stats.written, 'written flushMs after it came').toBeGreaterThanOrEqual(1);
    expect(ownInv.findHost('192.0.2.77')).toBeDefined();
    feed.stop();
    await feed.close();
    await own.close();
  });

  it('writes new evidence once, keeps a lease’s host apart from the traffic of its address, and survives junk', async () => {
    const p = pipelineWith();
    const leases = join(dir, 'dhcp.leases');
    let now = 10_000;
    const logs: string[] = [];
    const feed = new PassiveFeed(inv, {
      drain: (visit) => p.sampler.ring.drain(visit),
      leaseFile: leases,
      now: () => now,
      log: (m) => logs.push(m),
    });
    p.run([lanSyn(), lanData(22, 50000, SSH), lanData(40001, 80, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')], 1000);
    feed.tick(); // no lease file yet: no error
    expect(feed.stats).toMatchObject({ samples: 3, unusable: 1, observations: 2, leaseReads: 0 });
    expect(await feed.flush()).toBe(2);
    const h = inv.findHost('192.0.2.10');
    expect(h?.id).toBe('ip:192.0.2.10');
    expect(h?.os.map((o) => `${o.source}:${o.name}:${o.confidence}`).sort()).toEqual([
      'banner:Debian:30',
      'tcp-syn:Linux 3.x+:30',
    ]);
    expect(h?.software.map((s) => [s.source, s.product, s.version, s.port, s.confidence])).toEqual([
      ['banner', 'OpenSSH', '9.2p1', 22, 60],
    ]);

    // The same evidence again (after the repeat window): nothing new, nothing written (flash).
    p.run([lanSyn(), lanData(22, 50000, SSH)], 20_000);
    now = 20_000;
    feed.tick();
    expect(await feed.flush()).toBe(0);

    // The lease names a host by its MAC: that host gets the address and the name, but not the traffic
    // seen from the address (any LAN client can send from it), which stays under the address.
    writeFileSync(
      leases,
      `${Math.floor(now / 1000) + 3600} 00:16:3e:11:22:33 192.0.2.10 laptop *\nnot a lease\n`,
    );
    feed.tick();
    expect(feed.stats).toMatchObject({ leaseReads: 1, leases: 1, leaseLinesRejected: 1 });
    expect(logs.some((l) => /1 line\(s\) are not dnsmasq leases \(line 2\)/.test(l))).toBe(true);
    feed.tick(); // unchanged file: not read again
    expect(feed.stats.leaseReads).toBe(1);
    expect(await feed.flush()).toBe(1);
    const byMac = inv.findHost('00:16:3e:11:22:33');
    expect(byMac).toMatchObject({ id: 'mac:00:16:3e:11:22:33', hostnames: ['laptop'], ipv4: ['192.0.2.10'] });
    expect(byMac?.os).toEqual([]);
    expect(byMac?.software).toEqual([]);
    expect(inv.findHost('laptop')?.id).toBe('mac:00:16:3e:11:22:33');
    // The address names the MAC's host now; the traffic's host is still there under its own id.
    expect(inv.findHost('192.0.2.10')?.id).toBe('mac:00:16:3e:11:22:33');
    expect(inv.getHost('ip:192.0.2.10')?.software.map((x) => x.product)).toEqual(['OpenSSH']);
    expect(inv.listHosts()).toHaveLength(2);

    // A lease file that is far too big is refused whole, with a reason.
    writeFileSync(leases, 'x'.repeat((1 << 20) + 1));
    feed.tick();
    expect(feed.stats.lastError).toMatch(/too big for a lease file/);
    await feed.close();
  });

  it('never merges passive evidence into a host known by its MAC because it shares an address', async () => {
    const ob = (o: Partial<Observation>): Observation => ({ ...emptyObservation(), ...o });
    const passive = { passive: true } as const;
    // A host known by its MAC and (its lease) its address …
    await inv.importObservations(
      [ob({ mac: '00:16:3e:aa:bb:cc', hostnames: ['tv'], ipv4: ['192.0.2.20'] })],
      undefined,
      passive,
    );
    // … then one spoofed segment from that address: its facts stay under the address.
    const spoof = ob({
      ipv4: ['192.0.2.20'],
      os: [{ name: 'Windows', family: 'Windows', confidence: 40, source: 'http-ua', seenAt: 5 }],
      software: [
        { product: 'nginx', version: '1.18.0', port: 80, source: 'banner', confidence: 60, seenAt: 5 },
      ],
    });
    const sum = await inv.importObservations([spoof], undefined, passive);
    expect(sum.hostIds).toEqual(['ip:192.0.2.20']);
    const victim = inv.getHost('mac:00:16:3e:aa:bb:cc');
    expect(victim?.os).toEqual([]);
    expect(victim?.software).toEqual([]);
    expect(inv.findHost('192.0.2.20')?.id).toBe('mac:00:16:3e:aa:bb:cc');
    // A forged DHCP request: another MAC, the victim's name, option 50 naming the victim's address.
    await inv.importObservations(
      [dhcpObservation({ clientMac: '00:16:3e:66:66:66', hostname: 'tv', requestedIp: '192.0.2.20' }, 6)],
      undefined,
      passive,
    );
    expect(inv.getHost('mac:00:16:3e:66:66:66')).toMatchObject({ ipv4: [], hostnames: ['tv'] });
    expect(inv.getHost('mac:00:16:3e:aa:bb:cc')?.macs).toEqual(['00:16:3e:aa:bb:cc']);
    // A randomised MAC naming the victim's name (no client id): its own host, not the victim.
    await inv.importObservations([ob({ mac: '02:00:00:00:00:01', hostnames: ['tv'] })], undefined, passive);
    expect(inv.getHost('mac:00:16:3e:aa:bb:cc')?.macs).toEqual(['00:16:3e:aa:bb:cc']);
    // A scan is active evidence: it joins the MAC's host by the address it answered on, not the
    // host of traffic seen from the address.
    await inv.importObservations([
      ob({
        ipv4: ['192.0.2.20'],
        software: [{ product: 'sshd', port: 22, source: 'nmap', confidence: 90, seenAt: 7 }],
      }),
    ]);
    expect(inv.getHost('mac:00:16:3e:aa:bb:cc')?.software.map((x) => x.product)).toEqual(['sshd']);
    expect(inv.getHost('ip:192.0.2.20')?.software.map((x) => x.product)).toEqual(['nginx']);
  });

  it('keeps IPv6 traffic per /64: a client cycling source addresses makes one host', async () => {
    const ob = (a: string): Observation => ({
      ...emptyObservation(),
      ipv6: [a],
      os: [{ confidence: 0, source: 'tcp-syn', seenAt: 1, signature: '6:64:0:*:mss*4,6:mss:df:0' }],
    });
    const before = inv.size;
    await inv.importObservations(
      Array.from({ length: 1000 }, (_, i) => ob(`2001:db8:7:9:${i.toString(16)}::1`)),
      undefined,
      { passive: true },
    );
    expect(inv.size - before).toBe(1);
    const h = inv.getHost('ip:2001:db8:7:9:*');
    expect(h?.ipv6.length).toBe(HOST_LIST_CAPS.ipv6);
    // Found by an address it no longer lists (only the newest are kept), through its /64.
    expect(inv.findHost('2001:db8:7:9:1::1')?.id).toBe('ip:2001:db8:7:9:*');
    // Another /64 is another host; a scan's IPv6 host keeps its own address.
    await inv.importObservations([ob('2001:db8:7:a::1')], undefined, { passive: true });
    expect(inv.getHost('ip:2001:db8:7:a:*')).toBeDefined();
    await inv.importObservations([
      {
        ...emptyObservation(),
        ipv6: ['2001:db8:7:b::5'],
        software: [{ product: 'x', source: 'nmap', confidence: 90, seenAt: 1 }],
      },
    ]);
    expect(inv.getHost('ip:2001:db8:7:b::5')).toBeDefined();
  });

  it('limits new hosts from passive evidence: a budget per minute, and identities per MAC', async () => {
    let now = 1_000_000;
    const feed = new PassiveFeed(inv, { now: () => now, newHosts: { perMinute: 60, burst: 10 } });
    const before = inv.size;
    const dhcp = (i: number) =>
      dhcpObservation(
        {
          clientMac: `00:16:3e:10:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        },
        now,
      );
    for (let i = 0; i < 100; i++) feed.add(dhcp(i));
    await feed.flush();
    expect(inv.size - before).toBe(10);
    expect(feed.stats.newHostsRefused).toBe(90);
    // A minute later: 60 more tokens, capped at the burst.
    now += 60_000;
    for (let i = 100; i < 200; i++) feed.add(dhcp(i));
    await feed.flush();
    expect(inv.size - before).toBe(20);
    // One randomised MAC cycling client ids: four identities an hour, then refused.
    now += 600_000;
    for (let i = 0; i < 8; i++)
      feed.add(dhcpObservation({ clientMac: '02:16:3e:00:00:01', clientId: `01ff${i}` }, now));
    expect(feed.stats.identitiesPerMacRefused).toBe(4);
    await feed.flush();
    // The four taken are one device (one MAC on this link): one host.
    expect(inv.size - before).toBe(21);
    expect(inv.findHost('02:16:3e:00:00:01')?.id).toBe('dhcp:01ff0');
  });
});
