// fw4's forward rules from the uplinks that depend on the source, read from fw4's real listings
// (test/fixtures/fw4): none in the stock and lab rulesets; one added by hand is found, and only where
// it decides traffic from an uplink.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SourceRuleWatch, sourceRulesFromUplinks } from '../../src/netcfg/source-rules.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/fw4/${name}.nft`, import.meta.url), 'utf8');
const LAB = fixture('lab');

/** The listing with `rule` added first in `chain`. */
function withRule(listing: string, chain: string, rule: string): string {
  const head = `chain ${chain} {\n`;
  expect(listing).toContain(head);
  return listing.replace(head, `${head}\t\t${rule}\n`);
}

describe('source-dependent forward rules from the uplinks', () => {
  it("fw4's stock, lab and offload rulesets have none (ICMPv6 and the zones' jumps aside)", () => {
    for (const name of ['stock', 'lab', 'offload'])
      expect(sourceRulesFromUplinks(fixture(name), ['wan0'])).toEqual([]);
  });

  it('a rule accepting port 22 from one address is found by its name; the control without it is not', () => {
    const rule =
      'ip saddr 203.0.113.5 ip daddr 192.0.2.2 tcp dport 22 counter jump accept_to_lan comment "!fw4: SSH-from-office"';
    expect(sourceRulesFromUplinks(withRule(LAB, 'forward_wan', rule), ['wan0'])).toEqual(['SSH-from-office']);
    expect(sourceRulesFromUplinks(LAB, ['wan0'])).toEqual([]);
  });

  it('a rule dropping one source counts too (by its text when it has no comment)', () => {
    const rule = 'ip6 saddr 2001:db8:66::/48 drop';
    expect(sourceRulesFromUplinks(withRule(LAB, 'forward_wan', rule), ['wan0'])).toEqual([rule]);
  });

  it("only the chains the forward chain jumps to for the uplinks: the LAN zone's and ICMP rules are not", () => {
    const lan = withRule(LAB, 'forward_lan', 'ip saddr 192.0.2.9 drop comment "lan-only"');
    expect(sourceRulesFromUplinks(lan, ['wan0'])).toEqual([]);
    const icmp = withRule(LAB, 'forward_wan', 'ip saddr 203.0.113.0/24 icmp type echo-request accept');
    expect(sourceRulesFromUplinks(icmp, ['wan0'])).toEqual([]);
    // The same rule in forward_wan is not about uplinks that are not wan0's zone's.
    const ssh = withRule(LAB, 'forward_wan', 'ip saddr 203.0.113.5 tcp dport 22 accept');
    expect(sourceRulesFromUplinks(ssh, ['wwan0'])).toEqual([]);
    expect(sourceRulesFromUplinks(ssh, ['wwan0', 'wan0'])).toEqual([
      'ip saddr 203.0.113.5 tcp dport 22 accept',
    ]);
  });

  it("the input chain's too (the uplinks answer the router's own services): a TCP rule by source is found, stock fw4's UDP and ICMP ones by source are not", () => {
    const rule = 'ip saddr 203.0.113.5 tcp dport 22 counter accept comment "!fw4: SSH-to-router-from-office"';
    expect(sourceRulesFromUplinks(withRule(LAB, 'input_wan', rule), ['wan0'])).toEqual([
      'SSH-to-router-from-office',
    ]);
    const dhcp6 =
      'meta nfproto ipv6 udp dport 546 ip6 saddr fe80::/10 counter accept comment "!fw4: Allow-DHCPv6"';
    expect(sourceRulesFromUplinks(withRule(LAB, 'input_wan', dhcp6), ['wan0'])).toEqual([]);
    // The LAN zone's input rules are not about the uplinks.
    expect(sourceRulesFromUplinks(withRule(LAB, 'input_lan', rule), ['wan0'])).toEqual([]);
  });

  it('a zone of several devices (an iifname set) is followed for each of them', () => {
    const set = LAB.replace(
      'iifname "wan0" jump forward_wan',
      'iifname { "wan0", "wwan0" } jump forward_wan',
    );
    expect(set).not.toBe(LAB);
    const ssh = withRule(set, 'forward_wan', 'ip saddr 203.0.113.5 tcp dport 22 accept');
    expect(sourceRulesFromUplinks(ssh, ['wwan0'])).toHaveLength(1);
  });

  it('no fw4 forward chain (another firewall, an empty listing): nothing found', () => {
    expect(sourceRulesFromUplinks('', ['wan0'])).toEqual([]);
    expect(sourceRulesFromUplinks('table inet other {\n}\n', ['wan0'])).toEqual([]);
  });
});

describe('SourceRuleWatch', () => {
  const RULE =
    'ip saddr 203.0.113.5 ip daddr 192.0.2.2 tcp dport 22 counter jump accept_to_lan comment "!fw4: SSH-from-office"';

  /** A fast path stand-in that records what it was told, and a listing the test hands out by hand. */
  function setup() {
    const target = {
      uplinkAnswering: true,
      calls: [] as boolean[],
      setUplinkAnswering(on: boolean) {
        this.uplinkAnswering = on;
        this.calls.push(on);
      },
    };
    const pending: ((l: string | undefined) => void)[] = [];
    const lines: string[] = [];
    const watch = new SourceRuleWatch(
      target,
      () => ['wan0'],
      (m) => lines.push(m),
      () => new Promise((r) => pending.push(r)),
    );
    return { target, pending, lines, watch };
  }

  it('turns uplink answering off while a source rule is there and on again after; says so once each', async () => {
    const { target, pending, lines, watch } = setup();
    let done = watch.check();
    pending.shift()?.(withRule(LAB, 'forward_wan', RULE));
    await done;
    expect(target.calls).toEqual([false]);
    expect(lines.join('\n')).toContain('SSH-from-office');
    done = watch.check();
    pending.shift()?.(withRule(LAB, 'forward_wan', RULE)); // unchanged: nothing said, nothing set
    await done;
    expect(target.calls).toEqual([false]);
    done = watch.check();
    pending.shift()?.(LAB);
    await done;
    expect(target.calls).toEqual([false, true]);
    expect(lines).toHaveLength(2);
  });

  it('a check asked for while one reads makes one more read after it (the later ruleset wins); no fw4 changes nothing', async () => {
    const { target, pending, watch } = setup();
    const first = watch.check();
    void watch.check();
    void watch.check(); // coalesced with the one before: one more read, not two
    expect(pending).toHaveLength(1);
    pending.shift()?.(LAB);
    await first;
    await new Promise((r) => setImmediate(r));
    expect(pending).toHaveLength(1);
    pending.shift()?.(withRule(LAB, 'forward_wan', RULE));
    await new Promise((r) => setImmediate(r));
    expect(target.calls).toEqual([false]);
    expect(pending).toHaveLength(0);
    const none = watch.check();
    pending.shift()?.(undefined);
    await none;
    expect(target.calls).toEqual([false]);
    watch.stop();
    await watch.check();
    expect(pending).toHaveLength(0);
  });
});
