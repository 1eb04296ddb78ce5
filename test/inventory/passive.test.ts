// Passive fingerprints over bytes (DHCP, TCP SYN, User-Agent, banners) and host keying / merging.

import { describe, expect, it } from 'vitest';
import {
  emptyObservation,
  hostKey,
  isLocallyAdministered,
  mergeObservation,
  normalizeMac,
} from '../../src/inventory/model.js';
import {
  parseHttpResponseBanner,
  parseServerHeader,
  parseSshBanner,
} from '../../src/inventory/passive/banner.js';
import { dhcpObservation, dhcpOsHint, parseDhcp, parseDhcpPacket } from '../../src/inventory/passive/dhcp.js';
import { parseUserAgent, userAgentFromRequest } from '../../src/inventory/passive/http-ua.js';
import { initialTtl, synOsGuess, synSignature } from '../../src/inventory/passive/tcp-syn.js';

/** Builds a DHCPDISCOVER payload (BOOTP fixed part, magic cookie, options). */
function dhcpDiscover(mac: number[], options: Array<[number, number[]]>): Uint8Array {
  const fixed = new Uint8Array(236);
  fixed.set([1, 1, 6, 0]);
  fixed.set(mac, 28);
  const opts: number[] = [99, 130, 83, 99];
  for (const [code, v] of options) opts.push(code, v.length, ...v);
  opts.push(255);
  return new Uint8Array([...fixed, ...opts]);
}
const ascii = (s: string) => [...Buffer.from(s)];

describe('DHCP', () => {
  const payload = dhcpDiscover(
    [0xda, 0x11, 0x22, 0x33, 0x44, 0x55],
    [
      [53, [1]],
      [61, [1, 0xda, 0x11, 0x22, 0x33, 0x44, 0x55]],
      [12, ascii('pixel-7')],
      [60, ascii('android-dhcp-13')],
      [55, [1, 3, 6, 15, 26, 28, 51, 58, 59, 43]],
      [50, [192, 168, 1, 23]],
    ],
  );

  it('reads options 53/55/60/12/61/50', () => {
    const fp = parseDhcp(payload)!;
    expect(fp).toMatchObject({
      messageType: 1,
      clientMac: 'da:11:22:33:44:55',
      hostname: 'pixel-7',
      vendorClass: 'android-dhcp-13',
      paramList: '1,3,6,15,26,28,51,58,59,43',
      clientId: '01da1122334455',
      requestedIp: '192.168.1.23',
    });
    expect(dhcpOsHint(fp)).toMatchObject({ family: 'Android', version: '13' });
    expect(dhcpOsHint({ clientMac: '', vendorClass: 'MSFT 5.0' })?.family).toBe('Windows');
  });

  it('keys a randomised-MAC phone by its client id', () => {
    const o = dhcpObservation(parseDhcp(payload)!, 1);
    expect(isLocallyAdministered('da:11:22:33:44:55')).toBe(true);
    expect(hostKey(o)).toBe('dhcp:01da1122334455');
    expect(o.os[0]).toMatchObject({ source: 'dhcp', confidence: 70 });
    // Option 50 is the address the client asks for (any it likes): it gives the host no address.
    expect(o.ipv4).toEqual([]);
  });

  it('refuses truncated or foreign payloads without throwing', () => {
    expect(parseDhcp(payload.subarray(0, 200))).toBeUndefined();
    expect(parseDhcp(payload.subarray(0, payload.length - 8))).toBeUndefined(); // option runs past the end
    const reply = payload.slice();
    reply[0] = 2;
    expect(parseDhcp(reply)).toBeUndefined();
    for (let n = 0; n < payload.length; n += 7) expect(() => parseDhcp(payload.subarray(0, n))).not.toThrow();
  });

  /** The payload in UDP 68 → 67 in IPv4, as the LAN device's packet socket hands it over. */
  function inIp(udpPayload: Uint8Array, ihl = 5): Uint8Array {
    const ip = new Uint8Array(ihl * 4 + 8 + udpPayload.length);
    const dv = new DataView(ip.buffer);
    ip[0] = 0x40 | ihl;
    dv.setUint16(2, ip.length);
    ip[8] = 64;
    ip[9] = 17;
    ip.set([255, 255, 255, 255], 16);
    dv.setUint16(ihl * 4, 68);
    dv.setUint16(ihl * 4 + 2, 67);
    dv.setUint16(ihl * 4 + 4, 8 + udpPayload.length);
    ip.set(udpPayload, ihl * 4 + 8);
    return ip;
  }

  it('reads a DHCP request from its IPv4 packet (IP options too), and nothing else', () => {
    expect(parseDhcpPacket(inIp(payload))).toEqual(parseDhcp(payload));
    expect(parseDhcpPacket(inIp(payload, 6))?.hostname).toBe('pixel-7');
    const bad = (edit: (p: Uint8Array, dv: DataView) => void) => {
      const p = inIp(payload);
      edit(p, new DataView(p.buffer));
      return parseDhcpPacket(p);
    };
    expect(bad((p) => (p[9] = 6))).toBeUndefined(); // TCP
    expect(bad((_, dv) => dv.setUint16(22, 68))).toBeUndefined(); // to the client port
    expect(bad((_, dv) => dv.setUint16(6, 0x0001))).toBeUndefined(); // a later fragment
    expect(bad((_, dv) => dv.setUint16(2, 9999))).toBeUndefined(); // longer than what was read
    expect(bad((_, dv) => dv.setUint16(24, 4))).toBeUndefined(); // UDP length below its header
    expect(bad((p) => (p[0] = 0x60))).toBeUndefined(); // not IPv4
    expect(parseDhcpPacket(new Uint8Array(0))).toBeUndefined();
  });

  it('never throws on mutated packets (100 000)', () => {
    const base = inIp(payload);
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    let parsed = 0;
    for (let i = 0; i < 100_000; i++) {
      const p = base.slice(0, base.length - (rnd() % 40));
      for (let k = rnd() % 4; k >= 0; k--) p[rnd() % p.length] = rnd() & 0xff;
      const fp = parseDhcpPacket(p);
      if (fp) {
        parsed++;
        dhcpObservation(fp, 1);
      }
    }
    expect(parsed).toBeGreaterThan(0); // some mutations leave a valid message
  });

  it('keeps an unknown fingerprint as evidence (confidence 0) and names the options it came from', () => {
    const o = dhcpObservation(
      parseDhcp(
        dhcpDiscover(
          [2, 0, 0, 0, 0, 1],
          [
            [53, [1]],
            [55, [1, 3, 6, 99]],
            [60, ascii('acme-os 1')],
          ],
        ),
      )!,
      1,
    );
    expect(o.os).toEqual([
      { confidence: 0, source: 'dhcp', seenAt: 1, signature: '55=1,3,6,99;60=acme-os 1' },
    ]);
  });
});

describe('TCP SYN signature', () => {
  it('builds p0f-style signatures and labels common stacks', () => {
    const linux = synSignature({
      ipVersion: 4,
      ttl: 61,
      ipOptionsLength: 0,
      mss: 1460,
      window: 29200,
      wscale: 7,
      options: ['mss', 'sok', 'ts', 'nop', 'ws'],
      df: true,
      ipIdNonZero: true,
      payloadLength: 0,
    });
    expect(linux).toBe('4:64:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0');
    expect(synOsGuess(linux)?.family).toBe('Linux');
    const win = synSignature({
      ipVersion: 4,
      ttl: 127,
      ipOptionsLength: 0,
      mss: 1460,
      window: 64240,
      wscale: 8,
      options: ['mss', 'nop', 'ws', 'nop', 'nop', 'sok'],
      df: true,
      ipIdNonZero: true,
      payloadLength: 0,
    });
    expect(synOsGuess(win)).toMatchObject({ family: 'Windows', confidence: 30 });
    expect(initialTtl(250)).toBe(255);
  });
});

describe('HTTP User-Agent and banners', () => {
  it('pulls the User-Agent out of request bytes and reads OS and browser', () => {
    const req = Buffer.from(
      'GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0\r\n\r\n',
    );
    const ua = userAgentFromRequest(req)!;
    const f = parseUserAgent(ua);
    expect(f.os).toMatchObject({ name: 'Windows 7', family: 'Windows' });
    expect(f.browser).toEqual({ product: 'firefox', version: '115.0' });
    expect(f.frozen).toBe(false);
    const chrome = parseUserAgent(
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    );
    expect(chrome.frozen).toBe(true);
    expect(userAgentFromRequest(Buffer.from('\x16\x03\x01 tls bytes'))).toBeUndefined();
  });

  it('reads SSH and HTTP server banners with CPEs', () => {
    expect(parseSshBanner(Buffer.from('SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n'))).toEqual({
      product: 'OpenSSH',
      version: '8.9p1',
      comment: 'Ubuntu-3ubuntu0.6',
      os: 'Ubuntu',
      cpe: 'cpe:2.3:a:openbsd:openssh:8.9:p1:*:*:*:*:*:*',
    });
    expect(parseSshBanner('SSH-2.0-dropbear_2022.83')?.cpe).toBe(
      'cpe:2.3:a:dropbear_ssh_project:dropbear_ssh:2022.83:*:*:*:*:*:*:*',
    );
    expect(parseServerHeader('Apache/2.4.52 (Ubuntu)')).toMatchObject({
      product: 'Apache',
      version: '2.4.52',
      os: 'Ubuntu',
    });
    expect(parseHttpResponseBanner(Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.18.0\r\n\r\n'))?.cpe).toBe(
      'cpe:2.3:a:f5:nginx:1.18.0:*:*:*:*:*:*:*',
    );
    expect(parseSshBanner('HTTP/1.1 200 OK')).toBeUndefined();
  });
});

describe('host model', () => {
  it('keys by universal MAC, never by a randomised one', () => {
    expect(normalizeMac('00-50-56-81-01-E3')).toBe('00:50:56:81:01:e3');
    expect(hostKey({ mac: '00:50:56:81:01:e3', hostnames: [], ipv4: ['1.2.3.4'], ipv6: [] })).toBe(
      'mac:00:50:56:81:01:e3',
    );
    expect(hostKey({ mac: '02:00:00:00:00:01', hostnames: ['Phone'], ipv4: [], ipv6: [] })).toBe(
      'name:phone',
    );
    expect(hostKey({ hostnames: [], ipv4: [], ipv6: ['FE80::1'] })).toBe('ip:fe80::1');
  });

  it('replaces a scanner snapshot but keeps passive records and other scanners', () => {
    const a = emptyObservation();
    a.ipv4.push('10.0.0.2');
    a.software.push({ product: 'nginx', port: 80, confidence: 100, source: 'nmap', seenAt: 1 });
    a.software.push({ product: 'OpenSSH', port: 22, confidence: 80, source: 'banner', seenAt: 1 });
    const h1 = mergeObservation(undefined, a, 1);
    const b = emptyObservation();
    b.ipv4.push('10.0.0.2', '10.0.0.3');
    b.software.push({ product: 'Apache', port: 8080, confidence: 100, source: 'nmap', seenAt: 2 });
    const h2 = mergeObservation(h1, b, 2);
    expect(h2.software.map((s) => s.product).sort()).toEqual(['Apache', 'OpenSSH']);
    expect(h2.ipv4).toEqual(['10.0.0.2', '10.0.0.3']);
    const h3 = mergeObservation(h2, a, 3, true); // a later part of the same import appends
    expect(h3.software.map((s) => s.product).sort()).toEqual(['Apache', 'OpenSSH', 'nginx']);
  });
});
