// The contract between the pipeline and a defense stage.
import type { PacketInfo } from '../packet/index.js';
import { BypassQueue } from '../tun/flow-bypass.js';
import type { Batch } from '../tun/packet-io.js';
import type { Emitter } from './emit.js';
import { XlateQueue } from './xlate-queue.js';

/** What the pipeline shares with its stages: the clock of this batch and the packet originator. */
export class StageContext {
  /** Milliseconds (performance.now() of the worker), set once per batch and per tick. */
  now = 0;
  /** Sends a message to the main thread (rare events and state syncs, never per packet). */
  post: (msg: unknown) => void = () => {};
  /** Flows the stages are done with, for the kernel to forward directly (written after the batch). */
  readonly bypass = new BypassQueue();
  /** Proxied connections for the kernel to translate, or to stop translating (written after the batch). */
  readonly xlate = new XlateQueue();
  constructor(readonly emitter: Emitter) {}
}

/** A stage's verdict for a packet: PASS, or the counter index of the drop reason. */
export const PASS = 0;

export interface Stage {
  readonly name: string;
  /** Drop reasons this stage may return, as counter names (registered at start-up). */
  readonly dropReasons: readonly string[];
  /** Called once with the counter index of each drop reason, in `dropReasons` order, and the context. */
  bind(reasonIndex: readonly number[], ctx: StageContext, counters: Float64Array): void;
  /**
   * Decides packet `i` of the batch, already classified into `info`; may edit it in place.
   * Runs on the hot path: no allocation, no promise.
   */
  handle(batch: Batch, i: number, info: PacketInfo): number;
  /** Timers (retransmissions, expiry): called at the times nextTickAt() asks for, with ctx.now set; may emit packets. */
  tick?(): void;
  /**
   * When this stage's timer must run next (worker clock, ms): Infinity when none runs, a time at or
   * before `now` for the next regular tick (100 ms after the last). The worker sleeps until the
   * earliest stage's (packets and commands wake it sooner), so an idle worker costs nothing. A
   * stage with tick() and without this method is ticked every 100 ms.
   */
  nextTickAt?(now: number): number;
  /** Last chance to report state before the worker stops. */
  flush?(): void;
  /** A control-plane command (reloaded settings, cleared attackers): off the hot path. */
  command?(cmd: DataplaneCommand): void;
}

/** Commands the main thread sends the workers (same shapes as the API's control bus). */
export type DataplaneCommand =
  | { type: 'attackers.clear'; address?: string }
  | { type: 'allowlist.set'; prefixes: string[] }
  | { type: 'settings'; syn?: unknown; ratelimit?: unknown }
  /**
   * The router's own addresses changed (src/netcfg/router-addresses.ts): what the proxy protects is
   * the LAN's prefixes and these. `ack`: the worker says when it has applied it.
   */
  | { type: 'router.set'; prefixes: string[]; ack?: number };
