// The contract between the pipeline and a defense stage.
import type { PacketInfo } from '../packet/index.js';
import type { Batch } from '../tun/packet-io.js';

/** A stage's verdict for a packet: PASS, or the counter index of the drop reason. */
export const PASS = 0;

export interface Stage {
  readonly name: string;
  /** Drop reasons this stage may return, as counter names (registered at start-up). */
  readonly dropReasons: readonly string[];
  /** Called once with the counter index of each drop reason, in `dropReasons` order. */
  bind(reasonIndex: readonly number[]): void;
  /**
   * Decides packet `i` of the batch, already classified into `info`; may edit it in place.
   * Runs on the hot path: no allocation, no promise.
   */
  handle(batch: Batch, i: number, info: PacketInfo): number;
}
