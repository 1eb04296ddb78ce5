// Packet samples from the dataplane (the head of one IPv4/IPv6 TCP packet, see src/dataplane/sample-ring.ts)
// → an Observation of the LAN host that sent it: OS from a SYN signature, client software from a
// User-Agent, server software from a banner. Every byte is attacker-controlled and may be cut short by
// the snap length: all reads are bounds-checked, and what does not parse gives undefined.

import { formatAddressAt } from '../../config/net.js';
import { emptyObservation, type Observation, type OsRecord, type SoftwareRecord } from '../model.js';
import { type BannerFind, httpResponseProducts, parseGreeting, parseSshBanner } from './banner.js';
import { parseUserAgent, userAgentFromRequest } from './http-ua.js';
import { type SynFields, synOsGuess, synSignature, type TcpOptionKind } from './tcp-syn.js';

/** Sample kinds, as src/dataplane/sample-ring.ts numbers them (the inventory does not import the dataplane). */
export const SAMPLE_SYN = 1;
export const SAMPLE_HTTP_REQUEST = 2;
export const SAMPLE_BANNER = 3;

/** Confidence of passive evidence: a guess from a shape, a string a client or server chose to send. */
export const PASSIVE_CONFIDENCE = {
  synLabel: 30,
  userAgentOs: 40,
  /** Chrome's reduced UA freezes the OS version: the family is right, the version is not. */
  userAgentOsFrozen: 20,
  userAgentClient: 40,
  banner: 60,
  bannerOs: 30,
} as const;

/** The fields of one TCP packet a fingerprint needs. */
export interface TcpPacketView {
  ipVersion: 4 | 6;
  src: string;
  ttl: number;
  ipOptionsLength: number;
  df: boolean;
  ipIdNonZero: boolean;
  srcPort: number;
  dstPort: number;
  flags: number;
  window: number;
  options: TcpOptionKind[];
  mss?: number;
  wscale?: number;
  /** Payload bytes as declared by the IP header (the sample may hold fewer). */
  payloadLength: number;
  /** The captured payload. */
  payload: Uint8Array;
}

const rd16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];

/** Text a client or server chose to send, made safe to store and show: printable ASCII, bounded. */
const clean = (s: string, max: number) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, max);

/** Parses the TCP options in order (p0f's olayout); stops at the first malformed one. */
function tcpOptions(b: Uint8Array, start: number, end: number, v: TcpPacketView): void {
  let o = start;
  while (o < end) {
    const k = b[o];
    if (k === 0) {
      // EOL, then padding: p0f counts what follows as part of the layout.
      for (; o < end; o++) v.options.push('eol');
      return;
    }
    if (k === 1) {
      v.options.push('nop');
      o++;
      continue;
    }
    if (o + 1 >= end) return;
    const len = b[o + 1];
    if (len < 2 || o + len > end) return;
    switch (k) {
      case 2:
        v.options.push('mss');
        if (len === 4) v.mss = rd16(b, o + 2);
        break;
      case 3:
        v.options.push('ws');
        if (len === 3) v.wscale = b[o + 2];
        break;
      case 4:
        v.options.push('sok');
        break;
      case 5:
        v.options.push('sack');
        break;
      case 8:
        v.options.push('ts');
        break;
      default:
        v.options.push(`?${k}`);
    }
    o += len;
  }
}

/** Reads an IPv4 or IPv6 TCP packet (no IPv6 extension headers); undefined when it is not one. */
export function viewTcpPacket(b: Uint8Array): TcpPacketView | undefined {
  if (b.length < 1) return undefined;
  const ver = b[0] >>> 4;
  let l4: number;
  let ipLen: number;
  let view: Omit<TcpPacketView, 'srcPort' | 'dstPort' | 'flags' | 'window' | 'payloadLength' | 'payload'>;
  if (ver === 4) {
    if (b.length < 20) return undefined;
    const hl = (b[0] & 15) * 4;
    ipLen = rd16(b, 2);
    if (hl < 20 || b[9] !== 6 || ipLen < hl) return undefined;
    // Non-first fragments carry no TCP header.
    if ((rd16(b, 6) & 0x1fff) !== 0) return undefined;
    view = {
      ipVersion: 4,
      src: formatAddressAt(b, 12, 4),
      ttl: b[8],
      ipOptionsLength: hl - 20,
      df: (b[6] & 0x40) !== 0,
      ipIdNonZero: rd16(b, 4) !== 0,
      options: [],
    };
    l4 = hl;
  } else if (ver === 6) {
    if (b.length < 40 || b[6] !== 6) return undefined;
    ipLen = 40 + rd16(b, 4);
    view = {
      ipVersion: 6,
      src: formatAddressAt(b, 8, 6),
      ttl: b[7],
      ipOptionsLength: 0,
      df: false,
      ipIdNonZero: false,
      options: [],
    };
    l4 = 40;
  } else return undefined;
  if (b.length < l4 + 20) return undefined;
  const doff = (b[l4 + 12] >>> 4) * 4;
  if (doff < 20 || l4 + doff > ipLen) return undefined;
  const v: TcpPacketView = {
    ...view,
    srcPort: rd16(b, l4),
    dstPort: rd16(b, l4 + 2),
    flags: b[l4 + 13],
    window: rd16(b, l4 + 14),
    payloadLength: ipLen - l4 - doff,
    payload: b.subarray(Math.min(b.length, l4 + doff), Math.min(b.length, ipLen)),
  };
  tcpOptions(b, l4 + 20, Math.min(b.length, l4 + doff), v);
  return v;
}

/** The OS family a banner's distro word implies. */
function familyOf(os: string): string {
  if (/^win/i.test(os)) return 'Windows';
  if (/bsd$/i.test(os)) return 'BSD';
  return 'Linux';
}

function fromBanner(f: BannerFind, port: number, service: string, now: number, o: Observation): void {
  const sw: SoftwareRecord = {
    product: clean(f.product, 64),
    port,
    protocol: 'tcp',
    service,
    confidence: PASSIVE_CONFIDENCE.banner,
    source: 'banner',
    seenAt: now,
  };
  if (f.version) sw.version = clean(f.version, 64);
  if (f.cpe) sw.cpe = f.cpe;
  if (f.comment) sw.extra = clean(f.comment, 256);
  o.software.push(sw);
  if (f.os && !o.os.some((x) => x.name === f.os))
    o.os.push({
      name: f.os,
      family: familyOf(f.os),
      confidence: PASSIVE_CONFIDENCE.bannerOs,
      source: 'banner',
      seenAt: now,
    });
}

function synObservation(v: TcpPacketView, now: number, o: Observation): boolean {
  if ((v.flags & 0x12) !== 0x02) return false;
  const fields: SynFields = {
    ipVersion: v.ipVersion,
    ttl: v.ttl,
    ipOptionsLength: v.ipOptionsLength,
    window: v.window,
    options: v.options,
    df: v.df,
    ipIdNonZero: v.ipIdNonZero,
    payloadLength: v.payloadLength,
  };
  if (v.mss !== undefined) fields.mss = v.mss;
  if (v.wscale !== undefined) fields.wscale = v.wscale;
  const signature = synSignature(fields);
  const guess = synOsGuess(signature);
  // An unknown shape is kept too (confidence 0): the signature is evidence an admin can look up.
  const rec: OsRecord = guess
    ? {
        name: guess.name,
        family: guess.family,
        confidence: guess.confidence,
        source: 'tcp-syn',
        seenAt: now,
        signature,
      }
    : { confidence: 0, source: 'tcp-syn', seenAt: now, signature };
  o.os.push(rec);
  return true;
}

function requestObservation(v: TcpPacketView, now: number, o: Observation): boolean {
  const ua = userAgentFromRequest(v.payload);
  if (!ua) return false;
  const f = parseUserAgent(ua);
  if (f.os) {
    o.os.push({
      ...f.os,
      confidence: f.frozen ? PASSIVE_CONFIDENCE.userAgentOsFrozen : PASSIVE_CONFIDENCE.userAgentOs,
      source: 'http-ua',
      seenAt: now,
    });
  }
  // The browser when known, else the UA's first product token (curl/8.5.0, Wget/1.21) unless generic.
  const first = /^([A-Za-z][\w.+-]{0,63})\/([\w.+-]{1,32})/.exec(f.userAgent);
  const client =
    f.browser ?? (first && first[1] !== 'Mozilla' ? { product: first[1], version: first[2] } : undefined);
  if (client)
    o.software.push({
      product: client.product,
      version: client.version,
      service: 'http-client',
      extra: f.userAgent.slice(0, 256),
      confidence: PASSIVE_CONFIDENCE.userAgentClient,
      source: 'http-ua',
      seenAt: now,
    });
  return o.os.length + o.software.length > 0;
}

function bannerObservation(v: TcpPacketView, now: number, o: Observation): boolean {
  const p = v.payload;
  if (p.length < 4) return false;
  const head = String.fromCharCode(p[0], p[1], p[2], p[3]);
  if (head === 'SSH-') {
    const f = parseSshBanner(p);
    if (f) fromBanner(f, v.srcPort, 'ssh', now, o);
  } else if (head === 'HTTP') {
    for (const f of httpResponseProducts(p)) fromBanner(f, v.srcPort, 'http', now, o);
  } else if (head.startsWith('220')) {
    const f = parseGreeting(p);
    if (f) fromBanner(f, v.srcPort, f.service, now, o);
  }
  return o.software.length > 0;
}

/** What one sample says about the LAN host that sent it; undefined when it says nothing usable. */
export function observeSample(kind: number, bytes: Uint8Array, now: number): Observation | undefined {
  const v = viewTcpPacket(bytes);
  if (!v) return undefined;
  const o = emptyObservation();
  (v.ipVersion === 4 ? o.ipv4 : o.ipv6).push(v.src);
  const found =
    kind === SAMPLE_SYN
      ? synObservation(v, now, o)
      : kind === SAMPLE_HTTP_REQUEST
        ? requestObservation(v, now, o)
        : kind === SAMPLE_BANNER
          ? bannerObservation(v, now, o)
          : false;
  return found ? o : undefined;
}
