// Dataplane worker: owns one TUN queue and runs read → pipeline → write in a synchronous loop.
// Blocking in readBatch (poll) is fine here: this thread does nothing else, and the main thread's
// event loop (API, control) never waits on it. Stop = a flag in shared memory plus an eventfd kick.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { TunQueue } from '../tun/device.js';
import { Batch } from '../tun/packet-io.js';
import { Pipeline, pipelineLayout } from './pipeline.js';
import { buildStages } from './stages/index.js';
import { Control, type WorkerInit } from './worker-protocol.js';

const init = workerData as WorkerInit;
// This thread's performance.now() has its own origin: anchor the wall clock here.
const stages = buildStages(init.stages, { ...init.stageEnv, epochMs: Date.now() - performance.now() });
const layout = pipelineLayout(stages);
const counters = layout.slice(init.countersSab, init.index);
const control = new Int32Array(init.controlSab);
const io = new TunQueue(init.tunName, init.fd, init.vnetHdr, init.wakeFd);
const pipeline = new Pipeline(stages, layout, counters, init.vnetHdr);
const batch = new Batch(init.batchBytes, init.batchPackets);

const TX_PACKETS = layout.of('tx_packets');
const TX_BYTES = layout.of('tx_bytes');
const TX_ERRORS = layout.of('tx_errors');
const BATCHES = layout.of('batches');
const SLEEPS = layout.of('sleeps');
const TICK_MS = 100;
const emitted = pipeline.emitted;
pipeline.ctx.post = (msg) => parentPort?.postMessage(msg);

parentPort?.postMessage({ type: 'ready', index: init.index });

function send(b: Batch, count: number): void {
  if (count === 0) return;
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += b.lengths[i];
  const refused = io.writeBatch(b, count);
  counters[TX_PACKETS] += count - refused;
  counters[TX_BYTES] += bytes;
  counters[TX_ERRORS] += refused;
}

let nextTick = performance.now() + TICK_MS;
while (Atomics.load(control, Control.STOP) === 0) {
  const n = io.readBatch(batch, init.spinUs, TICK_MS);
  const now = performance.now();
  if (n === 0) counters[SLEEPS]++;
  else {
    counters[BATCHES]++;
    send(batch, pipeline.process(batch, now));
  }
  if (now >= nextTick) {
    for (let m = receiveMessageOnPort(init.commands); m; m = receiveMessageOnPort(init.commands))
      pipeline.command(m.message);
    pipeline.tick(now);
    nextTick = now + TICK_MS;
  }
  if (emitted.count > 0) {
    send(emitted, emitted.count);
    pipeline.ctx.emitter.reset();
  }
}
pipeline.flush(performance.now());
parentPort?.postMessage({ type: 'stopped', index: init.index });
