// The main thread's handle on the dataplane: opens the TUN, starts one worker per queue, reads the
// shared counters, stops everything. Imports nothing of the API (dependencies point one way).
import { EventEmitter } from 'node:events';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { SHARED_BUCKET_SLOTS } from '../defense/ratelimit.js';
import { loadAddon } from '../tun/addon.js';
import { type OpenedTun, openTun } from '../tun/device.js';
import { steeringProgram } from '../tun/steering-bpf.js';
import { parseAttackerBatch } from './attacker-batch.js';
import type { CounterLayout } from './counters.js';
import { pipelineLayout } from './pipeline.js';
import { SampleRing } from './sample-ring.js';
import type { DataplaneCommand } from './stage.js';
import { buildStages, DEFAULT_STAGES, protectedPrefixes, type StageEnv } from './stages/index.js';
import { Control, type WorkerInit } from './worker-protocol.js';

export interface DataplaneOptions {
  tunName: string;
  queues: number;
  offloads: boolean;
  mtu: number;
  txqueuelen: number;
  spinUs: number;
  batchBytes: number;
  batchPackets: number;
  stages?: readonly string[];
  stageEnv: StageEnv;
  /**
   * How the kernel spreads packets over several queues: 'address' (default) by the remote address
   * (an eBPF selector, src/tun/steering-bpf.ts: one source's SYNs and both directions of a flow meet
   * in one worker), 'flow' by the kernel's 4-tuple hash.
   */
  steering?: 'address' | 'flow';
}

export const DATAPLANE_DEFAULTS = {
  tunName: 'tg0',
  queues: 1,
  offloads: true,
  txqueuelen: 1000,
  spinUs: 50,
  batchBytes: 4 << 20,
  batchPackets: 256,
} as const;

export class Dataplane extends EventEmitter {
  readonly tun: OpenedTun;
  readonly layout: CounterLayout;
  private readonly countersSab: SharedArrayBuffer;
  private readonly controlSab = new SharedArrayBuffer(Control.SIZE * 4);
  private readonly workers: Worker[] = [];
  private readonly wakeFds: number[] = [];
  private readonly commandPorts: MessagePort[] = [];
  /** One passive-inventory sample ring per worker, when the sampler stage runs. */
  private readonly sampleRings: SampleRing[] = [];
  private stopping = false;
  readonly startedAt = Date.now();
  /** Per worker: new SYNs and half-open handshakes in its tier window (the tiers count all queues). */
  private readonly tierSab: SharedArrayBuffer;
  /** With several workers: the global ICMP/UDP rate-limit buckets, one for the router. */
  private readonly limitSab: SharedArrayBuffer | undefined;
  /** How packets are spread over the queues, and why when not as asked. */
  readonly steering: { mode: 'single' | 'address' | 'flow'; note?: string };
  /** The router's own addresses the workers protect now (setRouterPrefixes changes them). */
  private routerPrefixes: string[];
  /** Commands waiting for every worker's 'applied': how many are still to answer. */
  private readonly waiting = new Map<number, { left: number; done: () => void }>();
  private nextAck = 1;

  private constructor(private readonly opts: DataplaneOptions) {
    super();
    this.routerPrefixes = [...(opts.stageEnv.routerPrefixes ?? [])];
    const stageNames = opts.stages ?? DEFAULT_STAGES;
    this.layout = pipelineLayout(buildStages(stageNames, opts.stageEnv));
    this.countersSab = new SharedArrayBuffer(this.layout.bytesFor(opts.queues));
    this.tun = openTun({ ...opts, name: opts.tunName });
    this.tierSab = new SharedArrayBuffer(this.tun.fds.length * 2 * 4);
    this.limitSab = this.tun.fds.length > 1 ? new SharedArrayBuffer(SHARED_BUCKET_SLOTS * 4) : undefined;
    this.steering = this.attachSteering();
    if (stageNames.includes('sampler'))
      for (const _ of this.tun.fds) this.sampleRings.push(SampleRing.create());
  }

  /** Opens the device and starts the workers; resolves when every worker is polling its queue. */
  static async start(opts: DataplaneOptions): Promise<Dataplane> {
    const dp = new Dataplane(opts);
    try {
      await dp.startWorkers();
    } catch (err) {
      await dp.stop();
      throw err;
    }
    return dp;
  }

  private attachSteering(): Dataplane['steering'] {
    if (this.tun.fds.length < 2) return { mode: 'single' };
    if (this.opts.steering === 'flow') return { mode: 'flow' };
    try {
      this.steerByAddress();
      return { mode: 'address' };
    } catch (err) {
      // Kernels without eBPF (CONFIG_BPF_SYSCALL off) keep the 4-tuple hash: flows stay whole, but
      // one source's SYNs spread over the workers (each counts its share of the unfinished ones).
      return { mode: 'flow', note: `eBPF queue steering unavailable: ${(err as Error).message}` };
    }
  }

  /** The queue selector for what the proxy protects now (TUNSETSTEERINGEBPF replaces the last one). */
  private steerByAddress(): void {
    const env = { ...this.opts.stageEnv, routerPrefixes: this.routerPrefixes };
    loadAddon().steer(this.tun.fds[0], steeringProgram(protectedPrefixes(env)));
  }

  /**
   * The router's own addresses changed: the queue selector (the router's answers from a protected
   * address go to the worker of the client they are for) and every worker's proxy and limits follow.
   * Resolves once every worker has applied it; rejects after `timeoutMs` (a stuck worker).
   */
  async setRouterPrefixes(prefixes: readonly string[], timeoutMs = 5000): Promise<void> {
    this.routerPrefixes = [...prefixes];
    if (this.steering.mode === 'address') this.steerByAddress();
    const ack = this.nextAck++;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.waiting.set(ack, { left: this.workers.length, done: resolve });
        timer = setTimeout(
          () => reject(new Error(`the dataplane workers did not apply it within ${timeoutMs} ms`)),
          timeoutMs,
        );
        this.command({ type: 'router.set', prefixes: [...prefixes], ack });
      });
    } finally {
      clearTimeout(timer);
      this.waiting.delete(ack);
    }
  }

  private applied(ack: unknown): void {
    const w = typeof ack === 'number' ? this.waiting.get(ack) : undefined;
    if (w && --w.left === 0) w.done();
  }

  /** A tick's aggressive marks, checked once here for every listener ('attackers'); a batch that
   * fails the check goes on as an ordinary event, whose listener reports what it cannot read. */
  private attackers(msg: unknown): void {
    const marks = parseAttackerBatch(msg);
    if (marks) this.emit('attackers', marks);
    else this.emit('event', msg);
  }

  private startWorkers(): Promise<void> {
    const addon = loadAddon();
    const stages = this.opts.stages ?? DEFAULT_STAGES;
    const ready = this.tun.fds.map((fd, index) => {
      const wakeFd = addon.eventfd();
      this.wakeFds.push(wakeFd);
      const channel = new MessageChannel();
      this.commandPorts.push(channel.port1);
      const init: WorkerInit = {
        commands: channel.port2,
        index,
        tunName: this.tun.name,
        fd,
        wakeFd,
        leaderWakeFd: this.wakeFds[0],
        vnetHdr: this.tun.vnetHdr,
        countersSab: this.countersSab,
        controlSab: this.controlSab,
        batchBytes: this.opts.batchBytes,
        batchPackets: this.opts.batchPackets,
        spinUs: this.opts.spinUs,
        stages,
        stageEnv: {
          ...(this.sampleRings[index]
            ? { ...this.opts.stageEnv, sampleRing: this.sampleRings[index].sab }
            : this.opts.stageEnv),
          tierShare: { sab: this.tierSab, index, workers: this.tun.fds.length },
          limitShare: this.limitSab,
        },
      };
      const w = new Worker(new URL('./worker.js', import.meta.url), {
        workerData: init,
        transferList: [channel.port2],
        name: `dataplane-${index}`,
      });
      this.workers.push(w);
      // Everything a worker reports after 'ready' is an event for the control plane.
      w.on('message', (msg: { type?: string; ack?: unknown }) => {
        if (msg?.type === 'applied') this.applied(msg.ack);
        // Packets or timers moved the counters (at most once a second a worker): see worker.ts.
        else if (msg?.type === 'active') this.emit('active');
        else if (msg?.type === 'attackers') this.attackers(msg);
        else if (msg?.type !== 'ready') this.emit('event', msg);
      });
      return new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', (err) => {
          reject(err);
          if (!this.stopping) this.emit('error', err);
        });
        w.once('exit', (code) => {
          if (!this.stopping)
            this.emit('error', new Error(`dataplane worker ${index} exited with code ${code}`));
        });
      });
    });
    return Promise.all(ready).then(() => undefined);
  }

  /** Sends a command to every worker and wakes it (an idle worker sleeps up to a second). */
  command(cmd: DataplaneCommand): void {
    for (const p of this.commandPorts) p.postMessage(cmd);
    // Once stopping, the eventfds close (their numbers may be reused): a late command wakes no one.
    if (!this.stopping) {
      const addon = loadAddon();
      for (const fd of this.wakeFds) addon.wake(fd);
    }
    for (const follow of this.commandFollowers) follow(cmd);
  }

  /**
   * What the kernel does for the dataplane (its ICMP/UDP limits in nft) follows the same commands,
   * and reports its counts next to the workers': the daemon wires both here.
   */
  readonly commandFollowers: ((cmd: DataplaneCommand) => void)[] = [];
  /** Added to the workers' counters of the same name (see counters()). */
  kernelCounters: Record<string, number> = {};

  /** Hands the workers' waiting packet samples to `visit` (main thread, off the hot path). */
  drainSamples(visit: (kind: number, bytes: Uint8Array) => void): number {
    let n = 0;
    for (const r of this.sampleRings) n += r.drain(visit);
    return n;
  }

  counters(): Record<string, number> {
    const c = this.layout.snapshot(this.countersSab, this.tun.fds.length);
    // The kernel's drops count where the workers' would have: one counter per reason, wherever it ran.
    for (const [k, n] of Object.entries(this.kernelCounters)) c[k] = (c[k] ?? 0) + n;
    return c;
  }

  /** One counter summed over the workers (no snapshot object). */
  counter(name: string): number {
    const i = this.layout.of(name);
    let sum = 0;
    for (let w = 0; w < this.tun.fds.length; w++) sum += this.layout.slice(this.countersSab, w)[i];
    return sum;
  }

  workerCounters(): Record<string, number>[] {
    return this.tun.fds.map((_, i) => this.layout.workerSnapshot(this.countersSab, i));
  }

  /** Stops the workers, then closes the queues: the device (and its routes) vanish with the last fd. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const addon = loadAddon();
    Atomics.store(new Int32Array(this.controlSab), Control.STOP, 1);
    for (const fd of this.wakeFds) addon.wake(fd);
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => void w.terminate().then(() => resolve()), 2000);
            w.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    for (const p of this.commandPorts) p.close();
    for (const fd of [...this.tun.fds, ...this.wakeFds]) addon.close(fd);
  }
}
