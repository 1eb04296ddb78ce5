// Wine harness: the Windows agent (the zip's node.exe + bundled agent) run by wine64 in a fresh prefix.
// Wine's own quirks the harness works around: node.exe's stdout must be a file (a pipe gives EBADF),
// sockets are made by the wineserver (so it must start inside the network namespace the agent serves),
// and a new prefix says Windows 7, which node.exe refuses: it is set to Windows 10 first.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('../../', import.meta.url).pathname;
export const WINE64 = '/usr/lib/wine/wine64';
export const WINESERVER = '/usr/lib/wine/wineserver64';

/** Fails (never skips) with what to install when Wine or mingw is missing. */
export function requireWineTools(): void {
  if (!existsSync(WINE64) || !existsSync(WINESERVER))
    throw new Error(
      'wine64 is missing: apt-get install -y --no-install-recommends wine64 wine (test/setup.sh)',
    );
  try {
    execFileSync('x86_64-w64-mingw32-gcc', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'x86_64-w64-mingw32-gcc is missing: apt-get install gcc-mingw-w64-x86-64-win32 (test/setup.sh)',
    );
  }
}

/**
 * The Windows agent's directory as the zip lays it out (node.exe, nssm.exe, tunguard-agent.mjs …),
 * built once per content of the agent's sources and the packaging; older builds are removed (each
 * holds a 70 MB node.exe).
 */
export function windowsAgentDir(): string {
  const h = createHash('sha256');
  const inputs = [
    ...readdirSync(join(REPO, 'src/agent')).map((f) => join(REPO, 'src/agent', f)),
    join(REPO, 'cross-build/windows-agent.mjs'),
    join(REPO, 'test/windows/fetch-tools.sh'),
  ];
  for (const f of inputs.sort()) h.update(f).update(readFileSync(f));
  const base = join(REPO, 'node_modules/.tunguard-test');
  const name = `agent-win-${h.digest('hex').slice(0, 12)}`;
  const out = join(base, name);
  if (!existsSync(join(out, 'tunguard-agent.mjs'))) {
    if (existsSync(base))
      for (const old of readdirSync(base))
        if (old.startsWith('agent-win-') && old !== name)
          rmSync(join(base, old), { recursive: true, force: true });
    const tmp = `${out}.tmp-${process.pid}`;
    execFileSync(process.execPath, [join(REPO, 'cross-build/windows-agent.mjs'), '--out', tmp], {
      stdio: 'ignore',
    });
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  }
  return out;
}

/** Compiles test/fixtures/windows/cleanup.c into `dir`; returns the .exe's path. */
export function buildCleanupExe(dir: string): string {
  const exe = join(dir, 'cleanup.exe');
  execFileSync('x86_64-w64-mingw32-gcc', [
    '-municode',
    '-Os',
    '-s',
    '-o',
    exe,
    join(REPO, 'test/fixtures/windows/cleanup.c'),
  ]);
  return exe;
}

/** A command prefix that runs inside a network namespace (or none). */
const inNs = (ns: string | undefined, cmd: string[]) => (ns ? ['ip', 'netns', 'exec', ns, ...cmd] : cmd);

export class WinePrefix {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  private constructor(
    dir: string,
    readonly ns: string | undefined,
  ) {
    this.dir = dir;
    this.env = { ...process.env, WINEPREFIX: dir, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
  }

  /** A new prefix set to Windows 10; `ns` is the network namespace every Wine process of it runs in. */
  static create(ns?: string): WinePrefix {
    const p = new WinePrefix(mkdtempSync(join(tmpdir(), 'tg-wine-')), ns);
    p.run(['winecfg', '-v', 'win10']);
    return p;
  }

  /** Runs a Windows program to its end; its output goes to a file (Wine cannot write to our pipes). */
  run(args: string[], timeoutMs = 60_000): { code: number; out: string } {
    const outFile = join(this.dir, `run-${Date.now()}-${Math.random().toString(36).slice(2)}.out`);
    const fd = openSync(outFile, 'w');
    let code = 0;
    try {
      const [cmd, ...rest] = inNs(this.ns, [WINE64, ...args]);
      execFileSync(cmd, rest, { env: this.env, stdio: ['ignore', fd, fd], timeout: timeoutMs });
    } catch (e) {
      code = (e as { status?: number }).status ?? -1;
    } finally {
      closeSync(fd);
    }
    const out = readFileSync(outFile, 'utf8');
    rmSync(outFile, { force: true });
    return { code, out };
  }

  /** The Linux path of a `C:\…` path in this prefix: each component matched without case, as Wine does. */
  unix(winPath: string): string {
    const m = /^[Cc]:\\(.*)$/.exec(winPath);
    if (!m) throw new Error(`not a C: path: ${winPath}`);
    let cur = join(this.dir, 'drive_c');
    for (const c of m[1].split('\\').filter(Boolean)) {
      const found = existsSync(cur)
        ? readdirSync(cur).find((e) => e.toLowerCase() === c.toLowerCase())
        : undefined;
      cur = join(cur, found ?? c);
    }
    return cur;
  }

  /** The Windows path (Z: maps /) of a Linux path. */
  static z(unixPath: string): string {
    return `Z:${unixPath.replace(/\//g, '\\')}`;
  }

  /** Ends every Wine process of this prefix and removes it. */
  destroy(): void {
    try {
      execFileSync(WINESERVER, ['-k'], { env: this.env, stdio: 'ignore', timeout: 20_000 });
    } catch {}
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface WineAgent {
  proc: ChildProcess;
  port: number;
  agentKey: string;
  output(): string;
  stop(): Promise<void>;
}

/** A Windows program started under Wine, its output (stdout and stderr) in a file. */
export interface WineProcess {
  proc: ChildProcess;
  output(): string;
  /** Waits for a line matching `re` in its output; fails if the program exits first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

export function spawnWine(prefix: WinePrefix, args: string[]): WineProcess {
  const outFile = join(prefix.dir, `spawn-${Date.now()}-${Math.random().toString(36).slice(2)}.out`);
  const fd = openSync(outFile, 'w');
  const [cmd, ...rest] = inNs(prefix.ns, [WINE64, ...args]);
  const proc = spawn(cmd, rest, { env: prefix.env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const output = () => readFileSync(outFile, 'utf8');
  const waitFor = async (re: RegExp, timeoutMs = 60_000) => {
    const t0 = Date.now();
    for (;;) {
      const m = re.exec(output());
      if (m) return m;
      if (proc.exitCode !== null)
        throw new Error(`${args[0]} under Wine exited ${proc.exitCode}: ${output()}`);
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`${args[0]} under Wine did not print ${re}: ${output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { proc, output, waitFor };
}

/** Starts `node.exe tunguard-agent.mjs serve` under Wine and waits for its LISTENING line. */
export async function startWineAgent(
  prefix: WinePrefix,
  agentDir: string,
  configWin: string,
  timeoutMs = 60_000,
): Promise<WineAgent> {
  const p = spawnWine(prefix, [
    join(agentDir, 'node.exe'),
    WinePrefix.z(join(agentDir, 'tunguard-agent.mjs')),
    'serve',
    '--config',
    configWin,
  ]);
  const m = await p.waitFor(/^LISTENING \S+:(\d+) host=\S+ key=(\S+)\r?$/m, timeoutMs);
  return wineAgent(p.proc, Number(m[1]), m[2], p.output);
}

function wineAgent(proc: ChildProcess, port: number, agentKey: string, output: () => string): WineAgent {
  return {
    proc,
    port,
    agentKey,
    output,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    },
  };
}

/** mkdir -p of a `C:\…` directory in the prefix, from the Linux side. */
export function mkdirWin(prefix: WinePrefix, winPath: string): string {
  const p = prefix.unix(winPath);
  mkdirSync(p, { recursive: true });
  return p;
}
