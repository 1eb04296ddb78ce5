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
import type { Log } from './log.js';

/** How often the ruleset is read again: fw4 reloads when its settings change, rarely. */
export const FLOWTABLE_POLL_MS = 30_000;

export class FlowOffloadReport {
  private hardware: readonly Flowtable[] = [];
  private ipv6Guarded = false;
  private ipv4Guarded = false;
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

  /** The guard's IPv6 rule is in place (or gone); without the helper, the fallback's policy rule too. */
  setIpv6Guarded(on: boolean): void {
    this.ipv6Guarded = on;
  }

  /** The guard's IPv4 rule is in place (or gone); it needs the conntrack helper (src/netcfg/ct-helper.ts). */
  setIpv4Guarded(on: boolean): void {
    this.ipv4Guarded = on;
  }

  start(): Promise<void> {
    return this.watch.start();
  }

  stop(): void {
    this.watch.stop();
  }

  status(): FlowOffloadStatus {
    const s: FlowOffloadStatus = {
      hardwareFlowtables: this.hardware.map(flowtableName),
      ipv6Guarded: this.ipv6Guarded,
      ipv4Guarded: this.ipv4Guarded,
    };
    const warning = this.warning(this.hardware);
    if (warning) s.warning = warning;
    return s;
  }

  private warning(hw: readonly Flowtable[]): string | undefined {
    if (hw.length === 0) return undefined;
    const ipv6 = !this.ipv6Proxied ? 'none' : this.ipv6Guarded ? 'guarded' : 'unguarded';
    return hardwareOffloadWarning(hw, ipv6, this.ipv4Guarded ? 'guarded' : 'unguarded');
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
