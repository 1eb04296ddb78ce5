// A long-lived `nft -j -i` that answers read-only list commands. The daemon reads its kernel limits'
// counters every second; spawning `nft -j list counters …` for each read cost a fork and an exec in
// the daemon and nft's whole start-up in the child, every second, while nothing else happened.
// In interactive mode nft prints one line of JSON per list command and its errors on stderr.
//
// One question at a time: an error (stderr, no answer within the time limit, the child gone) ends
// the child, so a late answer can never be taken for the next question's; the next question starts
// a new one. It owns nothing in the kernel: killing it changes nothing but the next read.
import { type ChildProcess, spawn } from 'node:child_process';

/** An answer longer than this is not a counter list: the child is ended and the answer dropped. */
const MAX_ANSWER = 1 << 20;

export class NftReader {
  private child: ChildProcess | undefined;
  private waiting: ((line: string | undefined) => void) | undefined;
  private pending = '';

  constructor(
    private readonly command: readonly string[] = ['nft', '-j', '-i'],
    private readonly timeoutMs = 2000,
  ) {}

  /** nft's one-line JSON answer to `cmd`, or undefined (an error, no answer in time, a question already waiting). */
  ask(cmd: string): Promise<string | undefined> {
    if (this.waiting) return Promise.resolve(undefined);
    const child = this.child ?? this.start();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.fail(child), this.timeoutMs);
      this.waiting = (line) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(line);
      };
      child.stdin?.write(`${cmd}\n`);
    });
  }

  /** Ends the child; a waiting question is answered undefined. */
  close(): void {
    if (this.child) this.fail(this.child);
  }

  private start(): ChildProcess {
    const [cmd, ...args] = this.command;
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.pending = '';
    child.stdin?.on('error', () => {}); // a dead nft: reported through 'exit'
    child.on('error', () => this.fail(child));
    child.once('exit', () => this.fail(child));
    child.stderr?.on('data', () => this.fail(child));
    child.stdout?.on('data', (d: Buffer) => {
      if (this.child !== child) return;
      this.pending += d.toString();
      const nl = this.pending.indexOf('\n');
      if (nl < 0) {
        if (this.pending.length > MAX_ANSWER) this.fail(child);
        return;
      }
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      if (this.waiting) this.waiting(line);
      else this.fail(child); // an answer nobody asked for: out of step
    });
    return child;
  }

  private fail(child: ChildProcess): void {
    if (this.child !== child) return; // an old child's last events
    this.child = undefined;
    child.kill('SIGKILL');
    this.waiting?.(undefined);
  }
}
