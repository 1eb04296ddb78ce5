// DHCP fingerprint from a UDP payload (BOOTP + options): options 55, 60, 12, 61, 50 and an OS hint.

import type { Observation } from '../model.js';
import { emptyObservation } from '../model.js';

export interface DhcpFingerprint {
  /** Option 53 (1 discover, 3 request, …). */
  messageType?: number;
  clientMac: string;
  /** Option 55 as the comma list fingerprint databases use; order matters. */
  paramList?: string;
  /** Option 60. */
  vendorClass?: string;
  /** Option 12. */
  hostname?: string;
  /** Option 61, hex. */
  clientId?: string;
  /** Option 50. */
  requestedIp?: string;
}

const BOOTP_FIXED = 236;
const MAGIC = [99, 130, 83, 99];

/** Printable ASCII only (hostnames and vendor classes are attacker-chosen text). */
const text = (b: Uint8Array) => String.fromCharCode(...b).replace(/[^\x20-\x7e]/g, '?');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * A DHCP client message in an IPv4 packet (from its header on, as the LAN devices' packet sockets
 * give it): UDP to port 67, checked lengths; undefined when it is anything else.
 */
export function parseDhcpPacket(packet: Uint8Array): DhcpFingerprint | undefined {
  if (packet.length < 20 || packet[0] >> 4 !== 4) return undefined;
  const ihl = (packet[0] & 0x0f) * 4;
  const total = (packet[2] << 8) | packet[3];
  if (ihl < 20 || total < ihl + 8 || total > packet.length || packet[9] !== 17) return undefined;
  if (((packet[6] << 8) | packet[7]) & 0x1fff) return undefined; // a later fragment
  const udpLen = (packet[ihl + 4] << 8) | packet[ihl + 5];
  const dport = (packet[ihl + 2] << 8) | packet[ihl + 3];
  if (dport !== 67 || udpLen < 8 || ihl + udpLen > total) return undefined;
  return parseDhcp(packet.subarray(ihl + 8, ihl + udpLen));
}

/** Parses a DHCP client message; undefined when the payload is not one (bounds-checked throughout). */
export function parseDhcp(payload: Uint8Array): DhcpFingerprint | undefined {
  if (payload.length < BOOTP_FIXED + 4) return undefined;
  if (payload[0] !== 1 || payload[1] !== 1 || payload[2] !== 6) return undefined; // BOOTREQUEST, Ethernet
  for (let i = 0; i < 4; i++) if (payload[BOOTP_FIXED + i] !== MAGIC[i]) return undefined;
  const clientMac = [...payload.subarray(28, 34)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const fp: DhcpFingerprint = { clientMac };
  let o = BOOTP_FIXED + 4;
  while (o < payload.length) {
    const code = payload[o];
    if (code === 255) break;
    if (code === 0) {
      o++;
      continue;
    }
    if (o + 1 >= payload.length) return undefined;
    const len = payload[o + 1];
    const start = o + 2;
    if (start + len > payload.length) return undefined;
    const v = payload.subarray(start, start + len);
    switch (code) {
      case 53:
        if (len >= 1) fp.messageType = v[0];
        break;
      case 55:
        fp.paramList = [...v].join(',');
        break;
      case 60:
        fp.vendorClass = text(v);
        break;
      case 12:
        fp.hostname = text(v);
        break;
      case 61:
        fp.clientId = hex(v);
        break;
      case 50:
        if (len === 4) fp.requestedIp = [...v].join('.');
        break;
    }
    o = start + len;
  }
  return fp;
}

export interface OsHint {
  name: string;
  family: string;
  version?: string;
  confidence: number;
}

/** A few well-known option-55 lists (low confidence: many stacks share them). */
const PARAM_LISTS: Record<string, OsHint> = {
  '1,3,6,15,31,33,43,44,46,47,119,121,249,252': {
    name: 'Microsoft Windows',
    family: 'Windows',
    confidence: 40,
  },
  '1,121,3,6,15,119,252': { name: 'Apple macOS/iOS', family: 'Darwin', confidence: 30 },
  '1,3,6,12,15,28,42': { name: 'Linux (udhcpc)', family: 'Linux', confidence: 30 },
};

/** An OS guess from option 60 (reliable when present) or option 55. */
export function dhcpOsHint(fp: DhcpFingerprint): OsHint | undefined {
  const vc = fp.vendorClass ?? '';
  if (/^MSFT 5\.0/.test(vc)) return { name: 'Microsoft Windows', family: 'Windows', confidence: 70 };
  const android = /^android-dhcp-(\d+)/i.exec(vc);
  if (android)
    return { name: `Android ${android[1]}`, family: 'Android', version: android[1], confidence: 70 };
  const dhcpcd = /^dhcpcd-[\d.]+:([A-Za-z]+)-([\w.-]+)/.exec(vc);
  if (dhcpcd)
    return { name: `${dhcpcd[1]} ${dhcpcd[2]}`, family: dhcpcd[1], version: dhcpcd[2], confidence: 60 };
  if (/^udhcp/.test(vc)) return { name: 'Linux (BusyBox)', family: 'Linux', confidence: 50 };
  return fp.paramList ? PARAM_LISTS[fp.paramList] : undefined;
}

/** An observation for the inventory: keyed by client id when the MAC is randomised. */
export function dhcpObservation(fp: DhcpFingerprint, now: number): Observation {
  const o = emptyObservation();
  o.mac = fp.clientMac;
  if (fp.clientId) o.dhcpClientId = fp.clientId;
  if (fp.hostname) o.hostnames.push(fp.hostname);
  // Option 50 is the address a client asks for, any address it likes: it gives the host none (the
  // lease file says which address the server handed out).
  const hint = dhcpOsHint(fp);
  // The fingerprint is kept as evidence an admin can look up, with a guess or (confidence 0) without.
  const signature = [
    fp.paramList !== undefined ? `55=${fp.paramList}` : '',
    fp.vendorClass !== undefined ? `60=${fp.vendorClass}` : '',
  ]
    .filter((x) => x)
    .join(';');
  if (hint) {
    o.os.push({
      name: hint.name,
      family: hint.family,
      ...(hint.version ? { version: hint.version } : {}),
      confidence: hint.confidence,
      source: 'dhcp',
      seenAt: now,
      ...(signature ? { signature } : {}),
    });
  } else if (signature) o.os.push({ confidence: 0, source: 'dhcp', seenAt: now, signature });
  return o;
}
