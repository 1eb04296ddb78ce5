// Dataplane worker: owns one TUN queue and runs read → pipeline → write in a synchronous loop.
// Blocking in readBatch (poll) is fine here: this thread does nothing else, and the main thread's
// event loop (API, control) never waits on it. Stop = a flag in shared memory plus an eventfd kick.
// The stages' timers tick every 100 ms while one of them has state that needs it (a handshake, a
// tier window, a bucket to refill); otherwise the worker sleeps up to a second, so a router whose
// traffic all bypasses the TUN costs next to no CPU. Commands wake it (the same eventfd).
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { loadAddon } from '../tun/addon.js';
import { TunQueue } from '../tun/device.js';
import { BYPASS_KEY_SIZE } from '../tun/flow-bypass.js';
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
const BYPASS_FLOWS = layout.of('bypass_flows');
const BYPASS_REFUSED = layout.of('bypass_refused');
const TICK_MS = 100;
/** The longest sleep with no timer running (bounds how late an unforeseen timer can be). */
const IDLE_TICK_MS = 1000;
const leader = init.index === 0;
const emitted = pipeline.emitted;
pipeline.ctx.post = (msg) => parentPort?.postMessage(msg);

parentPort?.postMessage({ type: 'ready', index: init.index });

const bypassFd = init.stageEnv.bypassMapFd;
const bypass = pipeline.ctx.bypass;
bypass.enabled = bypassFd !== undefined;
const addon = loadAddon();
const BYPASS_VALUE = new Uint8Array(4);

/** Writes the flows the stages are done with to the kernel's map (one native call each way). */
function flushBypass(): void {
  if (bypassFd === undefined) return;
  if (bypass.removeCount > 0)
    addon.bpfMapWrite(bypassFd, bypass.removes, BYPASS_KEY_SIZE, bypass.removeCount, BYPASS_VALUE, true);
  if (bypass.addCount > 0) {
    const refused = addon.bpfMapWrite(
      bypassFd,
      bypass.adds,
      BYPASS_KEY_SIZE,
      bypass.addCount,
      BYPASS_VALUE,
      false,
    );
    counters[BYPASS_FLOWS] += bypass.addCount - refused;
    counters[BYPASS_REFUSED] += refused;
  }
  bypass.reset();
}

function send(b: Batch, count: number): void {
  if (count === 0) return;
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += b.lengths[i];
  const refused = io.writeBatch(b, count);
  counters[TX_PACKETS] += count - refused;
  counters[TX_BYTES] += bytes;
  counters[TX_ERRORS] += refused;
}

function takeCommands(): void {
  for (let m = receiveMessageOnPort(init.commands); m; m = receiveMessageOnPort(init.commands)) {
    pipeline.command(m.message);
    // The main thread waits for some commands to be in force everywhere before it goes on.
    const ack = (m.message as { ack?: unknown }).ack;
    if (typeof ack === 'number') parentPort?.postMessage({ type: 'applied', ack, index: init.index });
  }
}

/**
 * How long the next read may sleep. Busy (a batch just came, or a timer runs): until the next tick.
 * Idle: a second. The leader says it sleeps before it looks at the shared state, and another worker
 * clears the word with an atomic exchange after its batch, so a SYN or a token taken there in
 * between is seen by one of them (a miss would cost at most the second).
 */
function sleepMs(now: number, busy: boolean): number {
  const untilTick = Math.max(1, Math.ceil(nextTick - now));
  if (busy) return untilTick;
  if (leader) Atomics.store(control, Control.LEADER_ASLEEP, 1);
  if (!pipeline.needsTick()) return Math.max(untilTick, IDLE_TICK_MS);
  if (leader) Atomics.store(control, Control.LEADER_ASLEEP, 0);
  return untilTick;
}

let nextTick = performance.now() + TICK_MS;
let waitMs = TICK_MS;
while (Atomics.load(control, Control.STOP) === 0) {
  const n = io.readBatch(batch, init.spinUs, waitMs);
  const now = performance.now();
  if (leader && waitMs > TICK_MS) Atomics.store(control, Control.LEADER_ASLEEP, 0);
  if (n === 0) {
    counters[SLEEPS]++;
    // A wake-up without packets is a command (or stop): applied now, not at the next tick.
    takeCommands();
  } else {
    counters[BATCHES]++;
    const keep = pipeline.process(batch, now);
    // Before the batch goes out: a proxied connection's flow must be off the map before its host answers.
    flushBypass();
    send(batch, keep);
    if (!leader && Atomics.exchange(control, Control.LEADER_ASLEEP, 0) === 1) addon.wake(init.leaderWakeFd);
  }
  if (now >= nextTick) {
    takeCommands();
    pipeline.tick(now);
    nextTick = now + TICK_MS;
  }
  if (emitted.count > 0) {
    send(emitted, emitted.count);
    pipeline.ctx.emitter.reset();
  }
  waitMs = sleepMs(performance.now(), n > 0);
}
pipeline.flush(performance.now());
parentPort?.postMessage({ type: 'stopped', index: init.index });
