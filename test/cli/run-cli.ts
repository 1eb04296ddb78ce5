// A CLI command run in this process against a test daemon (test/api/helpers.ts), with its exit code and
// what it wrote to stdout and stderr. `stateDir`: the state dir the CLI is told (the daemon's by default;
// another one plays a machine without the daemon's files).
import { vi } from 'vitest';
import { apiCommand } from '../../src/cli/commands.js';
import type { TestDaemon } from '../api/helpers.js';

export async function runCli(d: TestDaemon, cmd: string, args: string[], stateDir = d.dir) {
  let stdout = '';
  let stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((x) => {
    stdout += String(x);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((x) => {
    stderr += String(x);
    return true;
  });
  try {
    const code = await apiCommand(cmd, [
      ...args,
      '--api',
      d.url,
      '--token-file',
      d.cp.summary().tokenFile,
      '--state-dir',
      stateDir,
    ]);
    return { code, stdout, stderr };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
