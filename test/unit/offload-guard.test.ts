// The offload guard's nft lines and policy rule (src/netcfg/offload-guard.ts): proxied IPv6
// connections only, and a mark no other part of the router uses. The lab test
// (test/lab/offload-guard.test.ts) runs them against the kernel.
import { describe, expect, it } from 'vitest';
import {
  guardedPrefixes,
  guardedPrefixes4,
  OFFLOAD_GUARD_MARK,
  OFFLOAD_GUARD_PREF,
  offloadGuardCommands,
  offloadGuardRule,
} from '../../src/netcfg/offload-guard.js';
import { CT_PROXIED, LOCAL_MARK, ROUTE_MARK, ROUTE_RULE_PREF } from '../../src/netcfg/router-local.js';
import { REINJECT_MARK } from '../../src/netcfg/steering-programs.js';
import { FAST_NOTRACK_MARK, policeCommands } from '../../src/netcfg/syn-police.js';

describe('offload guard', () => {
  it('guards the IPv6 prefixes only', () => {
    expect(guardedPrefixes(['192.0.2.0/24', '2001:db8:2::/64', '203.0.113.7/32', '2001:db8:3::/64'])).toEqual(
      ['2001:db8:2::/64', '2001:db8:3::/64'],
    );
    expect(guardedPrefixes(['192.0.2.0/24'])).toEqual([]);
    expect(guardedPrefixes4(['192.0.2.0/24', '2001:db8:2::/64'])).toEqual(['192.0.2.0/24']);
    expect(() => offloadGuardCommands('inet tunguard', { v6: [], v4: [] })).toThrow(/no prefix to guard/);
  });

  it('marks WAN-opened TCP to the prefixes on its first packet, and every packet of it at forward', () => {
    const lines = offloadGuardCommands('inet tunguard', { v6: ['2001:db8:2::/64', '2001:db8:3::/64'] });
    expect(lines).toEqual([
      'add set inet tunguard guard6 { type ipv6_addr; flags interval; auto-merge; elements = { 2001:db8:2::/64, 2001:db8:3::/64 }; }',
      'add chain inet tunguard offload_guard { type filter hook forward priority mangle; policy accept; }',
      'add rule inet tunguard offload_guard meta nfproto != ipv6 accept',
      // What the proxy translates (src/dataplane/stages/synproxy.ts): TCP from outside the prefixes
      // to inside them; `ct state new` is the SYN, or the third ACK when the fast path left the SYN
      // untracked. LAN-opened connections start from inside: never marked.
      'add rule inet tunguard offload_guard ct direction original ct state new meta l4proto tcp ip6 daddr @guard6 ip6 saddr != @guard6 ct mark set ct mark | 1073741824 counter',
      'add rule inet tunguard offload_guard ct mark & 1073741824 != 0 meta mark set meta mark | 1073741824 counter',
    ]);
  });

  it('gives WAN-opened IPv4 TCP to the prefixes the conntrack helper on its first packet, before the IPv4 exit', () => {
    const lines = offloadGuardCommands('inet tunguard', { v6: ['2001:db8:2::/64'], v4: ['192.0.2.0/24'] });
    expect(lines).toEqual([
      'add set inet tunguard guard4 { type ipv4_addr; flags interval; auto-merge; elements = { 192.0.2.0/24 }; }',
      // A user-space helper, registered disabled: the kernel passes its packets untouched, and fw4's
      // `flow offload` skips any entry with a helper (src/netcfg/ct-helper.ts).
      'add ct helper inet tunguard tg-proxied { type "tunguard" protocol tcp; l3proto inet; }',
      'add set inet tunguard guard6 { type ipv6_addr; flags interval; auto-merge; elements = { 2001:db8:2::/64 }; }',
      'add chain inet tunguard offload_guard { type filter hook forward priority mangle; policy accept; }',
      'add rule inet tunguard offload_guard meta nfproto ipv4 ct direction original ct state new meta l4proto tcp ip daddr @guard4 ip saddr != @guard4 ct helper set "tg-proxied" counter',
      'add rule inet tunguard offload_guard meta nfproto != ipv6 accept',
      'add rule inet tunguard offload_guard ct direction original ct state new meta l4proto tcp ip6 daddr @guard6 ip6 saddr != @guard6 ct mark set ct mark | 1073741824 counter',
      'add rule inet tunguard offload_guard ct mark & 1073741824 != 0 meta mark set meta mark | 1073741824 counter',
    ]);
    // IPv4 alone (IPv6 not steered): no IPv6 set or rules.
    const v4only = offloadGuardCommands('inet tunguard', { v6: [], v4: ['192.0.2.0/24'] });
    expect(v4only.join('\n')).not.toContain('guard6');
    expect(v4only.at(-1)).toBe('add rule inet tunguard offload_guard meta nfproto != ipv6 accept');
  });

  it('is part of the police table only when asked for', () => {
    const base = { wan: 'wan0', rate: 100 };
    expect(policeCommands(base)).not.toContain('offload_guard');
    expect(policeCommands({ ...base, offloadGuard: { v6: ['2001:db8:2::/64'] } })).toContain(
      'add chain inet tunguard offload_guard',
    );
  });

  it('blackholes lookups with the mark, before mwan3 and tunguard’s own rule, with a bit nothing else uses', () => {
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
