// A long-lived command whose every output line is an event (`ip -o monitor address`, `nft monitor`):
// while nothing happens it sleeps in read(), so following the kernel this way costs an idle router
// nothing, where a poll wakes it every interval. Started again 5 s after it ends; the caller polls
// meanwhile (`listening` says which).
import { type ChildProcess, spawn } from 'node:child_process';

/** A run of output this long without a newline is not an event line, and is not kept. */
const MAX_LINE = 65536;
const RESTART_MS = 5000;

export interface LineEventsOptions {
  /** The command and its arguments. */
  command: readonly string[];
  /** Output came (one call per chunk holding at least one whole line). */
  onLines: () => void;
  /** It started listening, or stopped (`why`): the caller changes how often it polls. */
  onState: (listening: boolean, why?: string) => void;
}

export class LineEvents {
  private child: ChildProcess | undefined;
  private restart: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: LineEventsOptions) {
    this.start();
  }

  /** Whether the command runs now (its lines are the events). */
  get listening(): boolean {
    return this.child !== undefined;
  }

  private start(): void {
    const [cmd, ...args] = this.o.command;
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = p;
    let pending = '';
    p.stdout?.on('data', (d: Buffer) => {
      pending += d.toString();
      if (pending.length > MAX_LINE) pending = '';
      if (!pending.includes('\n')) return;
      pending = pending.slice(pending.lastIndexOf('\n') + 1);
      this.o.onLines();
    });
    const ended = (why: string) => {
      if (this.child !== p) return;
      this.child = undefined;
      if (this.stopped) return;
      this.o.onState(false, why);
      this.restart = setTimeout(() => this.start(), RESTART_MS);
      this.restart.unref();
    };
    p.once('error', (e) => ended((e as Error).message));
    p.once('exit', (code, signal) => ended(`${cmd} exited ${signal ?? code}`));
    this.o.onState(true);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restart);
    this.child?.kill();
    this.child = undefined;
  }
}
