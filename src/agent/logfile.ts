// The agent's log file (a Windows service has no terminal): appended line by line, bounded by size.

import { appendFileSync, renameSync, rmSync, statSync } from 'node:fs';

/** Past this size the log moves to `<file>.1` (replacing the previous one): at most twice this on disk. */
export const LOG_MAX_BYTES = 1024 * 1024;

export class LogFile {
  private size: number;
  constructor(
    private readonly file: string,
    private readonly maxBytes = LOG_MAX_BYTES,
  ) {
    try {
      this.size = statSync(file).size;
    } catch {
      this.size = 0;
    }
  }

  write(line: string): void {
    const text = `${new Date().toISOString()} ${line}\n`;
    if (this.size + text.length > this.maxBytes && this.size > 0) {
      rmSync(`${this.file}.1`, { force: true });
      renameSync(this.file, `${this.file}.1`);
      this.size = 0;
    }
    appendFileSync(this.file, text, { mode: 0o600 });
    this.size += Buffer.byteLength(text);
  }
}
