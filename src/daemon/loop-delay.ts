// The main thread's event-loop delay, for /metrics, measured only while the loop has work. Node's
// monitor is a timer: every tick wakes the thread, which on an idle router was most of the daemon's
// CPU. A second in which the loop ran callbacks for less than one tick cannot have delayed a tick by
// more than that, so the monitor runs only after a busier second and a few more; a stall that starts
// a busy spell after a quiet one is missed (it turns the monitor on for what follows).
import { type EventLoopUtilization, monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** The monitor's tick (ms). Node records whole tick intervals: the tick is taken off what is reported. */
export const LOOP_DELAY_TICK_MS = 20;
/** Quiet seconds the monitor keeps running after a busy one. */
const LINGER_SECONDS = 5;

export interface LoopDelayWindow {
  windowSeconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class LoopDelay {
  private readonly eld = monitorEventLoopDelay({ resolution: LOOP_DELAY_TICK_MS });
  private elu: EventLoopUtilization;
  private on = false;
  private quietSeconds = 0;
  private seconds = 0;
  private last: LoopDelayWindow | undefined;

  /** `activeMs`: how long the loop ran callbacks since the last call (tests pass their own). */
  constructor(
    private readonly windowSeconds: number,
    private readonly activeMs: () => number = () => this.sinceLast(),
  ) {
    this.elu = performance.eventLoopUtilization();
  }

  private sinceLast(): number {
    const now = performance.eventLoopUtilization();
    const d = performance.eventLoopUtilization(now, this.elu);
    this.elu = now;
    return d.active;
  }

  /** Whether the monitor's timer runs now. */
  get monitoring(): boolean {
    return this.on;
  }

  /** The last whole window (undefined before the first). */
  get window(): LoopDelayWindow | undefined {
    return this.last;
  }

  /**
   * `seconds` that passed without a call to second() because the loop had nothing to do (the caller
   * slept): counted as quiet seconds, so the windows they close report no delay. Returns at once
   * whatever the count (at most the seconds that change anything are walked).
   */
  quiet(seconds: number): void {
    const n = Math.min(Math.floor(seconds), this.windowSeconds + LINGER_SECONDS + 1);
    const skipped = Math.floor(seconds) - n;
    this.seconds += skipped;
    for (let i = 0; i < n; i++) this.second(false);
    this.activeMs(); // what ran while asleep was not a busy second
  }

  /** Called once a second: turns the monitor on or off, and closes a window every windowSeconds. */
  second(busy = this.activeMs() >= LOOP_DELAY_TICK_MS): void {
    this.quietSeconds = busy ? 0 : this.quietSeconds + 1;
    if (busy && !this.on) {
      this.eld.enable();
      this.on = true;
    } else if (this.on && this.quietSeconds > LINGER_SECONDS) {
      this.eld.disable();
      this.on = false;
    }
    if (++this.seconds % this.windowSeconds !== 0) return;
    // No sample: every second of the window was quiet, so no tick was delayed by a tick or more.
    const ms = (ns: number) =>
      this.eld.count === 0 ? 0 : Math.max(0, Math.round((ns - LOOP_DELAY_TICK_MS * 1e6) / 1e4) / 100);
    this.last = {
      windowSeconds: this.windowSeconds,
      p50Ms: ms(this.eld.percentile(50)),
      p99Ms: ms(this.eld.percentile(99)),
      maxMs: ms(this.eld.max),
    };
    this.eld.reset();
  }

  stop(): void {
    this.eld.disable();
    this.on = false;
  }
}
