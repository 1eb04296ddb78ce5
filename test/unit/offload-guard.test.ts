// The offload guard's nft lines (src/netcfg/offload-guard.ts): the conntrack helper on the first
// packet of proxied connections of both families; without the helper, the IPv6 ct mark fallback
// and its policy rule (src/netcfg/offload-guard-mark.ts), with a mark no other part of the router
// uses. The lab test (test/lab/offload-guard.test.ts) runs them against the kernel.
import { describe, expect, it } from 'vitest';
import { guardedPrefixes4, guardedPrefixes6, offloadGuardCommands } from '../../src/netcfg/offload-guard.js';
import {
  OFFLOAD_GUARD_MARK,
  OFFLOAD_GUARD_PREF,
  offloadGuardRule,
} from '../../src/netcfg/offload-guard-mark.js';
import { CT_PROXIED, LOCAL_MARK, ROUTE_MARK, ROUTE_RULE_PREF } from '../../src/netcfg/router-local.js';
import { REINJECT_MARK } from '../../src/netcfg/steering-programs.js';
import { FAST_NOTRACK_MARK, policeCommands } from '../../src/netcfg/syn-police.js';

const T = 'inet tunguard';
const FIRST = 'ct direction original ct state new meta l4proto tcp';

describe('offload guard', () => {
  it('splits the protected prefixes by family, and refuses an empty guard or IPv4 without the helper', () => {
    expect(
      guardedPrefixes6(['192.0.2.0/24', '2001:db8:2::/64', '203.0.113.7/32', '2001:db8:3::/64']),
    ).toEqual(['2001:db8:2::/64', '2001:db8:3::/64']);
    expect(guardedPrefixes6(['192.0.2.0/24'])).toEqual([]);
    expect(guardedPrefixes4(['192.0.2.0/24', '2001:db8:2::/64'])).toEqual(['192.0.2.0/24']);
    expect(() => offloadGuardCommands(T, { v6: [], v4: [], helper: true })).toThrow(/no prefix to guard/);
    expect(() => offloadGuardCommands(T, { v6: [], v4: ['192.0.2.0/24'], helper: false })).toThrow(
      /IPv4 needs the conntrack helper/,
    );
  });

  it('gives WAN-opened TCP to the prefixes of both families the conntrack helper on its first packet', () => {
    const lines = offloadGuardCommands(T, {
      v6: ['2001:db8:2::/64', '2001:db8:3::/64'],
      v4: ['192.0.2.0/24'],
      helper: true,
    });
    expect(lines).toEqual([
      'add set inet tunguard guard4 { type ipv4_addr; flags interval; auto-merge; elements = { 192.0.2.0/24 }; }',
      'add set inet tunguard guard6 { type ipv6_addr; flags interval; auto-merge; elements = { 2001:db8:2::/64, 2001:db8:3::/64 }; }',
      // A user-space helper, registered disabled for both families: the kernel passes its packets
      // untouched, and fw4's `flow offload` skips any entry with a helper (src/netcfg/ct-helper.ts).
      'add ct helper inet tunguard tg-proxied { type "tunguard" protocol tcp; l3proto inet; }',
      'add chain inet tunguard offload_guard { type filter hook forward priority mangle; policy accept; }',
      // What the proxy translates (src/dataplane/stages/synproxy.ts): TCP from outside the prefixes
      // to inside them; `ct state new` is the SYN, or the third ACK when the fast path left the SYN
      // untracked. LAN-opened connections start from inside: never given the helper.
      `add rule inet tunguard offload_guard ${FIRST} ip daddr @guard4 ip saddr != @guard4 ct helper set "tg-proxied" counter`,
      `add rule inet tunguard offload_guard ${FIRST} ip6 daddr @guard6 ip6 saddr != @guard6 ct helper set "tg-proxied" counter`,
    ]);
    // Nothing of the mark fallback: no mark, on the connection or on the packets.
    expect(lines.join('\n')).not.toMatch(/mark/);
  });

  it('leaves out the family that has no prefix', () => {
    const v4only = offloadGuardCommands(T, { v6: [], v4: ['192.0.2.0/24'], helper: true });
    expect(v4only.join('\n')).not.toContain('guard6');
    expect(v4only.at(-1)).toContain('ip daddr @guard4 ip saddr != @guard4 ct helper set "tg-proxied"');
    const v6only = offloadGuardCommands(T, { v6: ['2001:db8:2::/64'], v4: [], helper: true });
    expect(v6only.join('\n')).not.toContain('guard4');
    expect(v6only).toContain(
      'add ct helper inet tunguard tg-proxied { type "tunguard" protocol tcp; l3proto inet; }',
    );
    expect(v6only.at(-1)).toContain('ip6 daddr @guard6 ip6 saddr != @guard6 ct helper set "tg-proxied"');
  });

  it('without the helper: IPv6 alone, by the ct mark on its first packet and the skb mark on every packet', () => {
    const lines = offloadGuardCommands(T, { v6: ['2001:db8:2::/64'], v4: [], helper: false });
    expect(lines).toEqual([
      'add set inet tunguard guard6 { type ipv6_addr; flags interval; auto-merge; elements = { 2001:db8:2::/64 }; }',
      'add chain inet tunguard offload_guard { type filter hook forward priority mangle; policy accept; }',
      'add rule inet tunguard offload_guard meta nfproto != ipv6 accept',
      `add rule inet tunguard offload_guard ${FIRST} ip6 daddr @guard6 ip6 saddr != @guard6 ct mark set ct mark | 1073741824 counter`,
      'add rule inet tunguard offload_guard ct mark & 1073741824 != 0 meta mark set meta mark | 1073741824 counter',
    ]);
    expect(lines.join('\n')).not.toContain('helper');
  });

  it('is part of the police table only when asked for', () => {
    const base = { wan: 'wan0', rate: 100 };
    expect(policeCommands(base)).not.toContain('offload_guard');
    expect(
      policeCommands({ ...base, offloadGuard: { v6: ['2001:db8:2::/64'], v4: [], helper: true } }),
    ).toContain('add chain inet tunguard offload_guard');
  });

  it('the fallback blackholes lookups with the mark, before mwan3 and tunguard’s own rule, with a bit nothing else uses', () => {
    expect(offloadGuardRule()).toEqual(['pref', '900', 'fwmark', '0x40000000/0x40000000', 'blackhole']);
    expect(`0x${OFFLOAD_GUARD_MARK.toString(16)}`).toBe('0x40000000');
    // mwan3's rules start at 1001 and would answer a marked lookup first.
    expect(OFFLOAD_GUARD_PREF).toBeLessThan(1001);
    expect(OFFLOAD_GUARD_PREF).toBeLessThan(ROUTE_RULE_PREF);
    // fw4 and mwan3 use 0x3F00; tunguard's other marks are their own bits.
    for (const other of [0x3f00, LOCAL_MARK, ROUTE_MARK, CT_PROXIED, FAST_NOTRACK_MARK, REINJECT_MARK])
      expect(OFFLOAD_GUARD_MARK & other).toBe(0);
  });
});
