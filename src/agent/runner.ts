// Runs a cleanup program by argv (never a shell), from a private copy whose sha256 was checked, with a timeout.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import { Refused, resolveUnderRoots } from './paths.js';

export interface RunRequest {
  sha256: string;
  content?: string;
  location?: string;
  args: string[];
  timeoutMs: number;
}

export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  outputDigest: string;
  output: string;
}

const OUTPUT_KEEP = 4096;
/** The program gets a bare environment: no inherited secrets, a fixed PATH. */
const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };

/** Reads a program stored on the host (seed type 1) through a no-follow descriptor. */
function readStoredProgram(location: string, programRoots: string[]): Buffer {
  const r = resolveUnderRoots(posix.dirname(location), posix.basename(location), programRoots);
  if (!r.stat?.isFile()) throw new Refused('not-a-regular-file', `${r.path} is not a regular file`);
  const fd = openSync(r.path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (st.ino !== r.stat.ino || st.size > 256 * 1024 * 1024)
      throw new Refused('symlink', `${r.path} changed`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n <= 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Checks the pin, writes a private 0700 copy, runs it, and kills its process group on timeout. */
export async function runProgram(
  req: RunRequest,
  programRoots: string[],
  workRoot: string,
): Promise<RunResult> {
  let bytes: Buffer;
  if (req.content !== undefined) bytes = Buffer.from(req.content, 'base64');
  else if (req.location) bytes = readStoredProgram(req.location, programRoots);
  else throw new Refused('invalid-command', 'program.run needs content or location');
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== req.sha256)
    throw new Refused('hash-mismatch', `program sha256 ${actual} is not the pinned ${req.sha256}`);

  const dir = mkdtempSync(join(workRoot, 'run-'));
  const exe = join(dir, 'program');
  // Running the copy we hashed closes the window between the check and exec.
  writeFileSync(exe, bytes, { mode: 0o700, flag: 'wx' });
  try {
    return await new Promise<RunResult>((resolve, reject) => {
      const child = spawn(exe, req.args, {
        shell: false,
        cwd: dir,
        env: ENV,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const hash = createHash('sha256');
      let kept = '';
      let timedOut = false;
      const onData = (d: Buffer) => {
        hash.update(d);
        if (kept.length < OUTPUT_KEEP) kept += d.toString('utf8').slice(0, OUTPUT_KEEP - kept.length);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, req.timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new Refused('internal', `cannot start program: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ exitCode: code, signal, timedOut, outputDigest: hash.digest('hex'), output: kept });
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
