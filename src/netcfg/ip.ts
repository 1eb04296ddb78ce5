// Runs iproute2's `ip` and turns a failure into an error that names the command and its stderr.
import { execFileSync } from 'node:child_process';

export class NetcfgError extends Error {
  override name = 'NetcfgError';
}

export function ip(args: readonly string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new NetcfgError("the 'ip' command (iproute2, ip-full on OpenWrt) is missing");
    const detail = (e.stderr ?? '').toString().trim() || e.message;
    throw new NetcfgError(`ip ${args.join(' ')}: ${detail}`);
  }
}

/** Like ip(), but a failure is an expected answer (e.g. deleting what is not there). */
export function ipTry(args: readonly string[]): boolean {
  try {
    ip(args);
    return true;
  } catch {
    return false;
  }
}
