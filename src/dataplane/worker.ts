// Dataplane worker: owns one TUN queue and runs read → pipeline → write in a synchronous loop.
// Blocking in readBatch (poll) is fine here: this thread does nothing else, and the main thread's
// event loop (API, control) never waits on it. Stop = a flag in shared memory plus an eventfd kick.
// The stages' timers run when their next deadline comes (a retransmission, an idle timeout, a tier
// window still counting: every 100 ms at most), and the worker sleeps until then: a router whose
// traffic all bypasses the TUN, or whose proxied connections are idle, costs next to no CPU.
// Packets and commands wake it (the same eventfd).
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { loadAddon } from '../tun/addon.js';
import { TunQueue } from '../tun/device.js';
import { BYPASS_KEY_SIZE } from '../tun/flow-bypass.js';
import { Batch } from '../tun/packet-io.js';
import { XLATE_HELD, XLATE_HELD_KEY, XLATE_KEY_SIZE, XLATE_VALUE_SIZE } from '../tun/xlate-map.js';
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
const XLATE_HANDED = layout.of('xlate_handed');
const XLATE_REFUSED = layout.of('xlate_refused');
const XLATE_REMOVED = layout.of('xlate_removed');
/** The shortest time between two ticks. */
const TICK_MS = 100;
/** The longest sleep: a safety net only, every stage says when its timers are due. */
const IDLE_CAP_MS = 60_000;
/**
 * While packets come (or timers run), the main thread hears so at most this often: its sampler
 * (rates, status.json) sleeps while the counters stand still and wakes on this message.
 */
const ACTIVE_MS = 1000;
let activeSaidAt = Number.NEGATIVE_INFINITY;
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

const xlateFd = init.stageEnv.xlateMapFd;
const xlateHeldFd = init.stageEnv.xlateHeldFd;
const NO_VALUE = new Uint8Array(0);
const xlate = pipeline.ctx.xlate;
xlate.enabled = xlateFd !== undefined;
if (xlateFd !== undefined) {
  xlate.read = (key, value) => addon.bpfMapRead(xlateFd, key, value);
  xlate.flushRemoves = () => {
    if (xlate.removeCount > 0)
      counters[XLATE_REMOVED] +=
        xlate.removeCount -
        addon.bpfMapWrite(xlateFd, xlate.removeKeys, XLATE_KEY_SIZE, xlate.removeCount, NO_VALUE, true);
    xlate.removeCount = 0;
  };
}

/**
 * Writes the proxied connections the stages hand to the kernel, or take back, to its map (one
 * native call each way: take-backs first, a connection may go and come in one batch).
 */
function flushXlate(): void {
  if (xlateFd === undefined) return;
  xlate.flushRemoves();
  if (xlate.addCount > 0) {
    const refused = addon.bpfMapWrite(
      xlateFd,
      xlate.addKeys,
      XLATE_KEY_SIZE,
      xlate.addCount,
      xlate.addValues,
      false,
      XLATE_VALUE_SIZE,
    );
    counters[XLATE_HANDED] += xlate.addCount - refused;
    counters[XLATE_REFUSED] += refused;
    if (refused > 0) xlate.refused(pipeline.ctx.now);
    // The programs look segments up again (the main thread turns it off when none is held).
    if (refused < xlate.addCount && xlateHeldFd !== undefined)
      addon.bpfMapWrite(xlateHeldFd, XLATE_HELD_KEY, 4, 1, XLATE_HELD, false);
  }
  xlate.reset();
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
 * How long the next read may sleep: until the earliest stage's deadline, at least TICK_MS after the
 * last tick. The leader says it sleeps before it looks at the shared state (the peers' tier windows,
 * the shared buckets: sequentially consistent loads), and another worker clears the word with an
 * atomic exchange after publishing its batch, so a SYN or a token taken there in between is seen by
 * one of them.
 */
function sleepMs(now: number): number {
  const regular = lastTick + TICK_MS;
  if (leader) Atomics.store(control, Control.LEADER_ASLEEP, 1);
  due = Math.max(pipeline.nextTickAt(now), regular);
  if (leader && due <= regular) Atomics.store(control, Control.LEADER_ASLEEP, 0);
  return Math.min(IDLE_CAP_MS, Math.max(1, Math.ceil(due - now)));
}

let lastTick = performance.now();
// The first tick comes at once (the fast path's driver reads the TUN's ifindex there).
let due = lastTick + TICK_MS;
let waitMs = TICK_MS;
while (Atomics.load(control, Control.STOP) === 0) {
  const n = io.readBatch(batch, init.spinUs, waitMs);
  const now = performance.now();
  if (leader) Atomics.store(control, Control.LEADER_ASLEEP, 0);
  if (n === 0) {
    counters[SLEEPS]++;
    // A wake-up without packets is a command (or stop): applied now, not at the next tick.
    takeCommands();
  } else {
    counters[BATCHES]++;
    const keep = pipeline.process(batch, now);
    // Before the batch goes out: a proxied connection's flow must be off the map before its host answers.
    flushBypass();
    flushXlate();
    send(batch, keep);
    if (!leader && Atomics.exchange(control, Control.LEADER_ASLEEP, 0) === 1) addon.wake(init.leaderWakeFd);
  }
  const ticked = now >= due;
  if (ticked) {
    takeCommands();
    pipeline.tick(now);
    flushXlate(); // expired and forgotten connections
    lastTick = now;
  }
  if ((n > 0 || ticked) && now - activeSaidAt >= ACTIVE_MS) {
    activeSaidAt = now;
    parentPort?.postMessage({ type: 'active', index: init.index });
  }
  if (emitted.count > 0) {
    send(emitted, emitted.count);
    pipeline.ctx.emitter.reset();
  }
  waitMs = sleepMs(performance.now());
}
pipeline.flush(performance.now());
flushXlate();
parentPort?.postMessage({ type: 'stopped', index: init.index });
