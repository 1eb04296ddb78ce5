// Standard output and error as pipes: a reader that goes away (`tunguard status | head -1`, `| grep -q`)
// makes the next write fail with EPIPE, which Node turns into an uncaught 'error' event and a stack
// trace. The CLI then stops quietly (like nft: the reader has what it wanted); the daemon keeps running
// (a closed log pipe must never take the defenses down) and simply stops writing to that stream.

type Stream = NodeJS.WriteStream;

function isEpipe(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

/** The CLI: a closed stdout or stderr ends the process with code 0 and nothing printed. */
export function exitQuietlyOnClosedPipe(streams: Stream[] = [process.stdout, process.stderr]): void {
  for (const s of streams)
    s.on('error', (err) => {
      if (isEpipe(err)) process.exit(0);
      throw err;
    });
}

/** Whether a stream's reader went away (the daemon then writes nothing more to it). */
const closed = new WeakSet<Stream>();

/** The daemon: a closed stdout or stderr is noted and further writes to it are dropped. */
export function surviveClosedPipe(streams: Stream[] = [process.stdout, process.stderr]): void {
  for (const s of streams) {
    s.on('error', (err) => {
      if (!isEpipe(err)) throw err;
      closed.add(s);
    });
  }
}

/** Writes to a stream unless its reader went away (never throws for a closed pipe). */
export function writeTo(s: Stream, text: string): void {
  if (closed.has(s) || s.destroyed) return;
  s.write(text);
}
