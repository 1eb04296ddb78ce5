// What the main thread hands a dataplane worker, and the shared control words.
import type { MessagePort } from 'node:worker_threads';
import type { StageEnv } from './stages/index.js';

/**
 * Int32 slots of the control SharedArrayBuffer. LEADER_ASLEEP: worker 0 (which refills the shared
 * buckets and decides the shared tier) sleeps up to a second; another worker that handled packets
 * then wakes it (its wakeFd) and clears the slot.
 */
export const Control = { STOP: 0, LEADER_ASLEEP: 1, SIZE: 4 } as const;

export interface WorkerInit {
  index: number;
  tunName: string;
  fd: number;
  wakeFd: number;
  /** Worker 0's wakeFd (see Control.LEADER_ASLEEP). */
  leaderWakeFd: number;
  vnetHdr: boolean;
  countersSab: SharedArrayBuffer;
  controlSab: SharedArrayBuffer;
  batchBytes: number;
  batchPackets: number;
  spinUs: number;
  stages: readonly string[];
  stageEnv: StageEnv;
  /** Commands from the main thread, drained on every tick (receiveMessageOnPort: no event loop). */
  commands: MessagePort;
}
