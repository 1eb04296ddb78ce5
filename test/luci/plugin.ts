// Runs the rpcd plugin the way a router would: under busybox ash with busybox's own sed, grep, head, tr,
// cat, mktemp and rm first in PATH (OpenWrt has no GNU tools), optionally inside a lab namespace.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLUGIN, type PluginRun, runWithInput } from './harness.js';

/** The applets the plugin uses (besides shell builtins). */
const APPLETS = ['sh', 'sed', 'grep', 'head', 'tail', 'cut', 'tr', 'cat', 'mktemp', 'rm'];

/** A directory of busybox applet links; a missing busybox is an error, never a skip. */
export function busyboxBin(): string {
  const which = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' });
  const busybox = which.stdout.trim();
  if (which.status !== 0 || busybox === '')
    throw new Error('busybox is missing (apt-get install -y busybox): the rpcd plugin is tested under ash');
  const dir = join(tmpdir(), `tunguard-busybox-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true });
  for (const a of APPLETS) if (!existsSync(join(dir, a))) symlinkSync(busybox, join(dir, a));
  return dir;
}

export interface PluginEnv {
  stateDir: string;
  cli?: string;
  /** Run inside this network namespace (ip netns exec). */
  ns?: string;
  /** The shell: busybox ash by default; 'dash' for Debian's /bin/sh. */
  shell?: 'busybox' | 'dash';
  /** PATH instead of the busybox applets followed by this process's PATH. */
  path?: string;
  /** Where the plugin takes an uploaded program from (LuCI's cgi-upload writes it). */
  upload?: string;
  /** The logread command (a path) the log view runs. */
  logread?: string;
}

function command(e: PluginEnv, args: string[]): { cmd: string; argv: string[]; env: NodeJS.ProcessEnv } {
  const bb = busyboxBin();
  const shell = e.shell === 'dash' ? 'dash' : join(bb, 'sh');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: e.path ?? (e.shell === 'dash' ? process.env.PATH : `${bb}:${process.env.PATH}`),
    TUNGUARD_STATE_DIR: e.stateDir,
  };
  if (e.cli !== undefined) env.TUNGUARD_CLI = e.cli;
  else delete env.TUNGUARD_CLI;
  if (e.upload !== undefined) env.TUNGUARD_UPLOAD = e.upload;
  else delete env.TUNGUARD_UPLOAD;
  if (e.logread !== undefined) env.TUNGUARD_LOGREAD = e.logread;
  else delete env.TUNGUARD_LOGREAD;
  const inner = [shell, PLUGIN, ...args];
  return e.ns
    ? { cmd: 'ip', argv: ['netns', 'exec', e.ns, ...inner], env }
    : { cmd: inner[0], argv: inner.slice(1), env };
}

export function callPlugin(e: PluginEnv, method: string, input: string): Promise<PluginRun> {
  const c = command(e, ['call', method]);
  return runWithInput(c.cmd, c.argv, input, c.env);
}

export function listPlugin(e: PluginEnv): Promise<PluginRun> {
  const c = command(e, ['list']);
  return runWithInput(c.cmd, c.argv, '', c.env);
}
