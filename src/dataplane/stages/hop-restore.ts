// Gives back the TTL / hop limit the kernel took on the packet's first pass (WAN/LAN → tg0), so the
// router still counts as one hop: the second pass (tg0 → LAN/WAN) takes the only decrement a
// traceroute should see, and a packet arriving with TTL 2 still reaches a host one hop behind us.
import { csumUpdate16, type PacketInfo } from '../../packet/index.js';
import type { Batch } from '../../tun/packet-io.js';
import { PASS, type Stage } from '../stage.js';

export class HopRestoreStage implements Stage {
  readonly name = 'hop-restore';
  readonly dropReasons = [] as const;

  bind(): void {}

  handle(batch: Batch, _i: number, info: PacketInfo): number {
    const buf = batch.buf;
    const l3 = info.l3Off;
    if (info.ipVersion === 4) {
      const ttl = buf[l3 + 8];
      if (ttl < 255) {
        // TTL and protocol share one 16-bit word of the header checksum (RFC 1624 update).
        const oldWord = (ttl << 8) | buf[l3 + 9];
        const csum = (buf[l3 + 10] << 8) | buf[l3 + 11];
        const next = csumUpdate16(csum, oldWord, oldWord + 0x100);
        buf[l3 + 8] = ttl + 1;
        buf[l3 + 10] = next >>> 8;
        buf[l3 + 11] = next & 0xff;
      }
    } else if (buf[l3 + 7] < 255) {
      buf[l3 + 7]++; // IPv6 hop limit: not covered by any checksum
    }
    return PASS;
  }
}
