// Test harness: builds src/agent to JS (type-stripping only) and runs the real agent process on 127.0.0.1.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll } from 'vitest';

const REPO = new URL('../../', import.meta.url).pathname;
const SRC = join(REPO, 'src');
/** The agent's sources, and the modules outside src/agent it imports (kept to dependency-free ones). */
const AGENT_DIR = 'agent';
const SHARED = ['state/atomic-file.ts'];

/** Transpiles the agent once per source content; output sits under node_modules so `valibot` resolves. */
export function buildAgent(): string {
  const files = [
    ...readdirSync(join(SRC, AGENT_DIR))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `${AGENT_DIR}/${f}`),
    ...SHARED,
  ];
  const h = createHash('sha256');
  for (const f of files) h.update(f).update(readFileSync(join(SRC, f)));
  const out = join(REPO, 'node_modules/.tunguard-test', `agent-${h.digest('hex').slice(0, 12)}`);
  const main = join(out, AGENT_DIR, 'main.js');
  if (existsSync(main)) return main;
  for (const f of files) {
    const js = ts.transpileModule(readFileSync(join(SRC, f), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    mkdirSync(dirname(join(out, f)), { recursive: true });
    writeFileSync(join(out, f.replace(/\.ts$/, '.js')), js);
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  return main;
}

export interface AgentDirs {
  base: string;
  root: string;
  quarantine: string;
  state: string;
  programs: string;
  outside: string;
}

export function makeDirs(prefix = 'tg-agent-'): AgentDirs {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const d: AgentDirs = {
    base,
    root: join(base, 'root'),
    quarantine: join(base, 'quarantine'),
    state: join(base, 'state'),
    programs: join(base, 'programs'),
    outside: join(base, 'outside'),
  };
  for (const p of [d.root, d.quarantine, d.programs, d.outside]) mkdirSync(p, { recursive: true });
  mkdirSync(d.state, { recursive: true, mode: 0o700 });
  return d;
}

export interface RunningAgent {
  proc: ChildProcessWithoutNullStreams;
  port: number;
  agentKey: string;
  hostId: string;
  dirs: AgentDirs;
  configPath: string;
  stdout: string[];
  stderr: string[];
  /** Waits for a stdout line matching `re`. */
  waitLine(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

/** Writes `<dirs.base>/agent.json` for an agent confined to `dirs`, listening on host:port; returns its path. */
export function writeAgentConfig(
  dirs: AgentDirs,
  hostId: string,
  listen: { host: string; port: number },
  extra: Record<string, unknown> = {},
): string {
  const configPath = join(dirs.base, 'agent.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      hostId,
      listen,
      stateDir: dirs.state,
      roots: [dirs.root],
      quarantineDir: dirs.quarantine,
      programRoots: [dirs.programs],
      ...extra,
    }),
  );
  return configPath;
}

export async function startAgent(
  dirs: AgentDirs,
  opts: { hostId?: string; pairing?: boolean; extra?: Record<string, unknown> } = {},
): Promise<RunningAgent> {
  const main = buildAgent();
  const hostId = opts.hostId ?? 'host-1';
  const configPath = writeAgentConfig(
    dirs,
    hostId,
    { host: '127.0.0.1', port: 0 },
    { pairing: opts.pairing ?? false, ...opts.extra },
  );
  const proc = spawn(process.execPath, [main, 'serve', '--config', configPath], { stdio: 'pipe' });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpExecArray) => void }> = [];
  let partial = '';
  proc.stdout.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      stdout.push(l);
      for (const w of [...waiters]) {
        const m = w.re.exec(l);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  });
  proc.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
  const waitLine = (re: RegExp, timeoutMs = 10_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      for (const l of stdout) {
        const m = re.exec(l);
        if (m) return resolve(m);
      }
      const t = setTimeout(
        () => reject(new Error(`agent did not print ${re}; stderr: ${stderr.join('')}`)),
        timeoutMs,
      );
      waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  const m = await waitLine(/^LISTENING [\d.]+:(\d+) host=\S+ key=(\S+)$/);
  return {
    proc,
    port: Number(m[1]),
    agentKey: m[2],
    hostId,
    dirs,
    configPath,
    stdout,
    stderr,
    waitLine,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return; // already gone (a signal leaves exitCode null)
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs a one-shot agent subcommand (show-key, trust-router) and returns its stdout. */
export function agentCli(configPath: string, args: string[]): Promise<string> {
  const main = buildAgent();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [main, ...args, '--config', configPath]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(err))));
  });
}

export function cleanup(dirs: AgentDirs): void {
  rmSync(dirs.base, { recursive: true, force: true });
}

/** A free loopback TCP port: bound, then released for an agent to listen on. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as { port: number };
      s.close(() => resolve(a.port));
    });
  });
}

/** A test file's agent: its directories, and the agent that runs last, stopped after the file. */
export interface AgentSuite {
  /** Made before the file's tests, removed after them. */
  readonly dirs: AgentDirs;
  /** The agent startOn() started last (the test may stop it earlier). */
  agent: RunningAgent | undefined;
  /** Starts an agent on 127.0.0.1:port. */
  startOn(port: number): Promise<RunningAgent>;
}

/** Registers the file's set-up and tear-down of an agent (call at the top level of a test file). */
export function agentSuite(prefix: string): AgentSuite {
  let dirs: AgentDirs | undefined;
  const suite: AgentSuite = {
    get dirs() {
      if (!dirs) throw new Error('agentSuite: the directories exist only while the tests run');
      return dirs;
    },
    agent: undefined,
    startOn: async (port) => {
      suite.agent = await startAgent(suite.dirs, { extra: { listen: { host: '127.0.0.1', port } } });
      return suite.agent;
    },
  };
  beforeAll(() => {
    dirs = makeDirs(prefix);
  });
  afterAll(async () => {
    await suite.agent?.stop();
    if (dirs) cleanup(dirs);
  });
  return suite;
}
