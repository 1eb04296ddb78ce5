// What the main thread hands a dataplane worker, and the shared control words.
import type { MessagePort } from 'node:worker_threads';
import type { StageEnv } from './stages/index.js';

/** Int32 slots of the control SharedArrayBuffer. */
export const Control = { STOP: 0, SIZE: 4 } as const;

export interface WorkerInit {
  index: number;
  tunName: string;
  fd: number;
  wakeFd: number;
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
