// Windows service registration through NSSM (the Non-Sucking Service Manager, public domain): node.exe
// does not speak the service control protocol, so NSSM is the service the SCM starts and stops, and
// it runs `node.exe tunguard-agent.mjs serve` under it. NSSM ships beside node.exe in the agent's zip.

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const SERVICE_NAME = 'tunguard-agent';

export interface ServicePlan {
  nssm: string;
  /** Each NSSM invocation, in order (what `install` runs; shown by --dry-run). */
  steps: string[][];
}

function nssmPath(): string {
  const p = join(dirname(process.execPath), 'nssm.exe');
  if (!existsSync(p))
    throw new Error(`${p} is missing: run the agent from its Windows zip (node.exe, nssm.exe)`);
  return p;
}

/** The NSSM commands that register the agent as an automatic LocalSystem service logging to `logFile`. */
export function installPlan(script: string, config: string, logFile: string): ServicePlan {
  const n = SERVICE_NAME;
  return {
    nssm: nssmPath(),
    steps: [
      ['install', n, process.execPath],
      // One command-line string, each argument quoted as the C runtime parses it ("C:\Program Files\…").
      ['set', n, 'AppParameters', commandLine([script, 'serve', '--config', config, '--log', logFile])],
      ['set', n, 'DisplayName', 'tunguard host agent'],
      ['set', n, 'Description', 'Carries out remedies signed by the paired tunguard router.'],
      ['set', n, 'Start', 'SERVICE_AUTO_START'],
      ['set', n, 'ObjectName', 'LocalSystem'],
      ['set', n, 'AppDirectory', dirname(script)],
      // The config names %ProgramData%; a service's environment need not hold it (Wine's does not),
      // so the value the installing console has goes along.
      ...(process.env.ProgramData
        ? [['set', n, 'AppEnvironmentExtra', `ProgramData=${process.env.ProgramData}`]]
        : []),
      // A crash restarts it after 5 s; the agent's own log file holds the reason.
      ['set', n, 'AppExit', 'Default', 'Restart'],
      ['set', n, 'AppRestartDelay', '5000'],
    ],
  };
}

/** Joins arguments into a Windows command line the way CommandLineToArgvW splits it back. */
export function commandLine(args: string[]): string {
  return args
    .map((a) =>
      a !== '' && !/[\s"]/.test(a) ? a : `"${a.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, '$1$1')}"`,
    )
    .join(' ');
}

/**
 * Runs NSSM with its output in a file, not a pipe: the first program of a session to use the SCM may
 * start services.exe, which inherits its handles and would hold a pipe open (Wine does), so waiting for
 * the pipe's end would wait for the SCM.
 */
function nssm(exe: string, args: string[]): string {
  const outFile = join(tmpdir(), `tunguard-nssm-${process.pid}-${Date.now()}.out`);
  const fd = openSync(outFile, 'w', 0o600);
  let r: ReturnType<typeof spawnSync>;
  try {
    r = spawnSync(exe, args, { stdio: ['ignore', fd, fd], windowsHide: true, timeout: 60_000 });
  } finally {
    closeSync(fd);
  }
  // NSSM writes UTF-16 to a file or pipe.
  const said = readFileSync(outFile).toString('utf16le').replace(/\0/g, '').trim();
  rmSync(outFile, { force: true });
  if (r.error || r.status !== 0) {
    const how =
      (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT'
        ? 'timed out'
        : `failed (exit ${r.status})`;
    throw new Error(`nssm ${args.slice(0, 2).join(' ')} ${how}: ${said}`);
  }
  return said;
}

export function installService(script: string, config: string, logFile: string): void {
  const plan = installPlan(script, config, logFile);
  for (const step of plan.steps) nssm(plan.nssm, step);
}

/** Stops the service if it runs, then removes it from the SCM. */
export function uninstallService(): void {
  const exe = nssmPath();
  try {
    nssm(exe, ['stop', SERVICE_NAME]);
  } catch {
    // Already stopped: removal below says whether the service exists at all.
  }
  nssm(exe, ['remove', SERVICE_NAME, 'confirm']);
}
