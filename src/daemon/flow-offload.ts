// What the daemon says about fw4's flow offloading: whether proxied IPv4 and IPv6 connections are kept
// out of it (src/netcfg/offload-guard.ts), and which flowtables offload to hardware, where a proxied
// connection of a family not kept out would go past the proxy. One warning in the log when such a flowtable appears (at start
// or later), the same text in the status (and so in LuCI) while it is there.
import type { FlowOffloadStatus } from '../api/deps.js';
import {
  type Flowtable,
  FlowtableWatch,
  flowtableName,
  hardwareOffloadWarning,
} from '../netcfg/flowtables.js';
import type { GuardFamilies } from '../netcfg/syn-police.js';
import type { Log } from './log.js';

/** How often the ruleset is read again: fw4 reloads when its settings change, rarely. */
export const FLOWTABLE_POLL_MS = 30_000;

export class FlowOffloadReport {
  private hardware: readonly Flowtable[] = [];
  /** The guard's families now: the SYN police's, whose table holds the guard (SynPolice.guarded). */
  private guarded: () => GuardFamilies = () => ({ v4: false, v6: false });
  private readonly watch: FlowtableWatch;

  /** `ipv6Proxied`: IPv6 is steered, so the proxy has IPv6 connections to keep out. */
  constructor(
    private readonly log: Log,
    private readonly ipv6Proxied: boolean,
    intervalMs = FLOWTABLE_POLL_MS,
    list?: () => Promise<string | undefined>,
  ) {
    this.watch = new FlowtableWatch({
      intervalMs,
      onChange: (hw) => this.changed(hw),
      onRead: () => this.onRuleset?.(),
      ...(list ? { list } : {}),
    });
  }

  /** Called whenever the ruleset is read again (it may have changed): fw4's source rules follow it. */
  onRuleset: (() => void) | undefined;

  /**
   * Where the guard's families are read, each time the status or a warning needs them: never a copy,
   * so the status's flowOffload and police cannot disagree (each family: its rule on the conntrack
   * helper, src/netcfg/ct-helper.ts; without the helper, IPv6's ct mark chain and policy rule).
   */
  guardedBy(read: () => GuardFamilies): void {
    this.guarded = read;
  }

  start(): Promise<void> {
    return this.watch.start();
  }

  stop(): void {
    this.watch.stop();
  }

  status(): FlowOffloadStatus {
    const g = this.guarded();
    const s: FlowOffloadStatus = {
      hardwareFlowtables: this.hardware.map(flowtableName),
      ipv6Guarded: g.v6,
      ipv4Guarded: g.v4,
    };
    const warning = this.warning(this.hardware);
    if (warning) s.warning = warning;
    return s;
  }

  private warning(hw: readonly Flowtable[]): string | undefined {
    if (hw.length === 0) return undefined;
    const g = this.guarded();
    const ipv6 = !this.ipv6Proxied ? 'none' : g.v6 ? 'guarded' : 'unguarded';
    return hardwareOffloadWarning(hw, ipv6, g.v4 ? 'guarded' : 'unguarded');
  }

  private changed(hw: readonly Flowtable[]): void {
    const was = this.hardware.length > 0;
    this.hardware = hw;
    const fields = { event: 'offload', flowtables: hw.map(flowtableName).join(',') };
    const warning = this.warning(hw);
    if (warning) this.log(`warning: ${warning}`, 'warn', fields);
    else if (hw.length > 0)
      this.log(
        `offload: hardware flowtables are on (${fields.flowtables}); proxied connections are kept out of them`,
        'info',
        fields,
      );
    else if (was) this.log('offload: no flowtable offloads to hardware any more', 'info', fields);
  }
}
