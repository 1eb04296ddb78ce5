// Runs a cleanup program by argv (never a shell), from a private copy whose sha256 was checked, with a timeout.

import { execFileSync, spawn } from 'node:child_process';
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
import { join } from 'node:path';
import { Refused, resolveUnderRoots } from './paths.js';
import { hostRules, systemRoot, systemToolEnv } from './platform.js';

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
  /** Set when the timeout could end only the program itself, not what it started. */
  killNote?: string;
  outputDigest: string;
  output: string;
}

const OUTPUT_KEEP = 4096;
const WINDOWS = process.platform === 'win32';
/** %SystemRoot%: Windows programs (and Winsock) need it to start at all. */
const SYSTEM_ROOT = systemRoot();

/**
 * The program gets a bare environment: no inherited secrets, a fixed PATH. On Windows also the few
 * variables every program expects (SystemRoot, windir, TEMP in its own directory).
 */
function programEnv(dir: string): NodeJS.ProcessEnv {
  if (!WINDOWS) return { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };
  return {
    SystemRoot: SYSTEM_ROOT,
    windir: SYSTEM_ROOT,
    PATH: `${SYSTEM_ROOT}\\System32;${SYSTEM_ROOT}`,
    PATHEXT: '.EXE',
    TEMP: dir,
    TMP: dir,
  };
}

/**
 * Ends the program and everything it started. Linux: its process group (it runs detached, as a group
 * leader). Windows has no groups: taskkill /T walks the children by parent id, /F terminates them.
 */
function killTree(pid: number): void {
  if (!WINDOWS) {
    process.kill(-pid, 'SIGKILL');
    return;
  }
  execFileSync(join(SYSTEM_ROOT, 'System32', 'taskkill.exe'), ['/PID', String(pid), '/T', '/F'], {
    stdio: 'ignore',
    windowsHide: true,
    timeout: 10_000,
    env: systemToolEnv(),
  });
}

/** Reads a program stored on the host through a no-follow descriptor. */
function readStoredProgram(location: string, programRoots: string[]): Buffer {
  const r = resolveUnderRoots(hostRules.dirname(location), hostRules.basename(location), programRoots);
  if (!r.stat?.isFile()) throw new Refused('not-a-regular-file', `${r.path} is not a regular file`);
  const fd = openSync(r.path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
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

  // Windows starts only a PE image from CreateProcess; say so rather than report a failed start.
  if (WINDOWS && bytes.subarray(0, 2).toString('latin1') !== 'MZ')
    throw new Refused('invalid-command', 'program is not a Windows executable (no MZ header)');

  const dir = mkdtempSync(join(workRoot, 'run-'));
  // An .exe by absolute path: never a .cmd/.bat, which Windows would hand to cmd.exe to parse.
  const exe = join(dir, WINDOWS ? 'program.exe' : 'program');
  // Running the copy we hashed closes the window between the check and exec.
  writeFileSync(exe, bytes, { mode: 0o700, flag: 'wx' });
  try {
    return await new Promise<RunResult>((resolve, reject) => {
      const child = spawn(exe, req.args, {
        shell: false,
        cwd: dir,
        env: programEnv(dir),
        detached: !WINDOWS,
        windowsHide: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const hash = createHash('sha256');
      let kept = '';
      let timedOut = false;
      let killNote: string | undefined;
      const onData = (d: Buffer) => {
        hash.update(d);
        if (kept.length < OUTPUT_KEEP) kept += d.toString('utf8').slice(0, OUTPUT_KEEP - kept.length);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          if (child.pid) killTree(child.pid);
        } catch (e) {
          child.kill('SIGKILL');
          killNote = `only the program was ended; processes it started may still run (${(e as Error).message.split('\n')[0]})`;
        }
      }, req.timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new Refused('internal', `cannot start program: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const digest = hash.digest('hex');
        resolve({
          exitCode: code,
          signal,
          timedOut,
          outputDigest: digest,
          output: kept,
          ...(killNote ? { killNote } : {}),
        });
      });
    });
  } finally {
    // Windows keeps an image locked for a moment after its process ends: retry, and never let the
    // clean-up replace the program's result.
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch {}
  }
}
