// The embedded scanner for periodic detection: runs `nmap -sV -O -oX -` by argv, bounded in rate and time.

import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import * as v from 'valibot';
import { emptyTally, type ImportTally, parseScan } from './import/index.js';
import type { Observation } from './model.js';
import { nmapLaunch } from './nmap-launch.js';

export class ScanError extends Error {
  override name = 'ScanError';
  constructor(
    readonly reason: 'nmap-not-found' | 'timeout' | 'nmap-failed' | 'bad-options',
    message: string,
  ) {
    super(message);
  }
}

/** A target nmap understands and that cannot be read as an option: an address, a CIDR prefix or a name. */
const Target = v.pipe(
  v.string(),
  v.maxLength(253),
  v.check((t) => {
    const [addr, len, ...rest] = t.split('/');
    if (rest.length) return false;
    const fam = isIP(addr);
    if (len !== undefined) {
      if (!/^\d{1,3}$/.test(len) || fam === 0) return false;
      // Bounded scans: at most a /16 of IPv4, a /112 of IPv6.
      return fam === 4 ? Number(len) >= 16 && Number(len) <= 32 : Number(len) >= 112 && Number(len) <= 128;
    }
    return fam !== 0 || /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(addr);
  }, 'target must be an IP address, a CIDR prefix (IPv4 ≥ /16, IPv6 ≥ /112) or a hostname'),
);

export const ScanOptionsSchema = v.object({
  targets: v.pipe(v.array(Target), v.minLength(1, 'no targets'), v.maxLength(256)),
  /** nmap port list, e.g. "22,80,8000-8100"; default nmap's top 1000. */
  ports: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$/, 'bad port list')),
  ),
  /** OS detection needs raw sockets (root); on by default as on the router. */
  osDetection: v.optional(v.boolean(), true),
  /** Packets per second at most (nmap --max-rate). */
  maxRate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000)), 200),
  /** Whole-run limit; nmap is killed past it. */
  timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000), v.maxValue(6 * 3600_000)), 600_000),
  /** Per-host limit (nmap --host-timeout). */
  hostTimeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000)), 300_000),
  /** Skip host discovery (-Pn), for hosts that drop pings. */
  skipDiscovery: v.optional(v.boolean(), false),
  /** Version-detection intensity 0–9 (lower is faster). */
  versionIntensity: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(9)), 7),
  nmapPath: v.optional(v.pipe(v.string(), v.minLength(1)), 'nmap'),
});
export type ScanOptions = v.InferInput<typeof ScanOptionsSchema>;

/** The argv of one nmap run (no shell: each element is one argument). */
export function nmapArgs(
  o: v.InferOutput<typeof ScanOptionsSchema>,
  targets: string[],
  ipv6: boolean,
): string[] {
  const args = ['-sV', '--version-intensity', String(o.versionIntensity)];
  if (o.osDetection) args.push('-O', '--max-os-tries', '1');
  if (ipv6) args.push('-6');
  if (o.skipDiscovery) args.push('-Pn');
  if (o.ports) args.push('-p', o.ports);
  args.push('--max-rate', String(o.maxRate), '--host-timeout', `${Math.ceil(o.hostTimeoutMs / 1000)}s`);
  args.push('-oX', '-', '--', ...targets);
  return args;
}

/** Runs nmap once and yields its stdout, failing with a clear ScanError when nmap is missing, fails or overruns. */
async function* nmapStdout(path: string, args: string[], timeoutMs: number): AsyncGenerator<Buffer> {
  const launch = nmapLaunch(path, args);
  const child = spawn(launch.file, launch.args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
  let spawnError: NodeJS.ErrnoException | undefined;
  let timedOut = false;
  let stderr = '';
  child.on('error', (e) => {
    spawnError = e;
  });
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
  }, timeoutMs);
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const code = await exited;
    if (spawnError?.code === 'ENOENT')
      throw new ScanError(
        'nmap-not-found',
        `nmap not found ("${path}"): install it (OpenWrt: opkg install nmap)`,
      );
    if (spawnError) throw new ScanError('nmap-failed', `cannot run nmap: ${spawnError.message}`);
    if (timedOut)
      throw new ScanError(
        'timeout',
        `nmap overran its ${Math.round(timeoutMs / 1000)} s limit and was stopped`,
      );
    if (code !== 0)
      throw new ScanError(
        'nmap-failed',
        `nmap exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Scans the targets (IPv4 and IPv6 in separate runs, as nmap needs) and streams observations. */
export async function* runScan(
  options: ScanOptions,
  tally: ImportTally = emptyTally(),
): AsyncGenerator<Observation> {
  const r = v.safeParse(ScanOptionsSchema, options);
  if (!r.success) throw new ScanError('bad-options', `bad scan options: ${r.issues[0].message}`);
  const o = r.output;
  const v6 = o.targets.filter((t) => isIP(t.split('/')[0]) === 6);
  const v4 = o.targets.filter((t) => !v6.includes(t));
  const started = Date.now();
  for (const [targets, ipv6] of [
    [v4, false],
    [v6, true],
  ] as const) {
    if (!targets.length) continue;
    const left = Math.max(1000, o.timeoutMs - (Date.now() - started));
    yield* parseScan(nmapStdout(o.nmapPath, nmapArgs(o, targets, ipv6), left), 'nmap', Date.now(), tally);
  }
}
