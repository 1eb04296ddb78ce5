// The police table's two chains that every forwarded packet crosses (syn_police at prerouting,
// rate_limits at forward) let the LAN's own flows (bypassed by the tc programs, src/tun/flow-bypass.ts)
// leave on plain compares: the uplink set (a hash lookup on the device name) comes after them.
// perf while one bypassed stream flowed: nft_rhash_lookup + nft_set_do_lookup ~0.5 % of the machine
// with the set first. Order only: every rule is an early accept, so their conjunction is the same.
import { describe, expect, it } from 'vitest';
import { kernelLimitRules } from '../../src/netcfg/kernel-limits.js';
import { policeCommands } from '../../src/netcfg/syn-police.js';

/** The rules of `chain` in `commands`, in order, without the `add rule <table> <chain>` prefix. */
function rulesOf(commands: string, chain: string): string[] {
  const prefix = `add rule inet tunguard ${chain} `;
  return commands
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length));
}

const LIMITS = {
  icmp: { enabled: true, rate: 100, burst: 100 },
  udp: { enabled: true, rate: 200, burst: 200, exemptPorts: [53] },
};

describe('police rule order', () => {
  it('syn_police: a packet that is not a pure SYN leaves before the uplink set is looked up', () => {
    const rules = rulesOf(policeCommands({ wan: ['wan0'], rate: 40000 }), 'syn_police');
    expect(rules.slice(0, 3)).toEqual([
      'meta l4proto != tcp accept',
      'tcp flags & (fin | syn | rst | ack) != syn accept',
      'iifname != @wans accept',
    ]);
    // Nothing before them looks anything up, and the police still ends in its limit.
    expect(rules.findIndex((r) => r.includes('@'))).toBe(2);
    expect(rules.at(-1)).toMatch(/^limit rate over 40000\/second burst 4000 packets counter drop$/);
  });

  it('rate_limits: a reply of a flow the LAN opened leaves before the uplink set is looked up', () => {
    const rules = rulesOf(kernelLimitRules('inet tunguard', LIMITS), 'rate_limits');
    const reply = rules.indexOf('ct direction reply accept');
    const wans = rules.indexOf('iifname != @wans accept');
    expect(rules[0]).toBe('meta l4proto != { icmp, ipv6-icmp, udp } accept');
    expect(reply).toBe(1);
    expect(wans).toBe(2);
    // The limits themselves still come after every exemption.
    expect(rules.findIndex((r) => r.includes('limit rate'))).toBeGreaterThan(wans);
  });
});
