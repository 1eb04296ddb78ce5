// The OpenWrt packages the tests in test/pkg look at: `npm run build:openwrt` into build/openwrt (it
// rebuilds only when an input changed), and .ipk files read with the system's tar and gzip.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../lab/lab.js';

export const OUT = join(REPO_ROOT, 'build', 'openwrt');
export const SYSROOT = join(REPO_ROOT, 'build', 'cross', 'sysroot');
export const BUILD_SCRIPT = join(REPO_ROOT, 'cross-build', 'build-openwrt.sh');
/** First build on a fresh machine installs clang/lld/llvm and fetches ~13 MB of .debs. */
export const BUILD_TIMEOUT_MS = 15 * 60_000;

export interface Target {
  clangTarget: string;
  muslTriplet: string;
  kernelTriplet: string;
  elfMachine: string;
  elfClass: string;
  lmdb: { prebuild?: string; file?: string; fromSource?: boolean };
}
export const TARGETS = JSON.parse(readFileSync(join(REPO_ROOT, 'cross-build', 'targets.json'), 'utf8')) as {
  targets: Record<string, Target>;
  packages: { arch: string; target: string }[];
};

export interface BuiltPackage {
  file: string;
  package: string;
  arch: string;
  size: number;
  installedSize: number;
  sha256: string;
}

/** Runs the build script (a no-op when up to date); throws with its output when it fails. */
export function runBuild(args: string[] = []): string {
  const r = spawnSync('bash', [BUILD_SCRIPT, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0)
    throw new Error(
      `${BUILD_SCRIPT} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`,
    );
  return r.stdout;
}

export function builtPackages(out = OUT): { epoch: number; packages: BuiltPackage[] } {
  return JSON.parse(readFileSync(join(out, 'packages.json'), 'utf8'));
}

export interface TarEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
  path: string;
}

function modeBits(s: string): number {
  let m = 0;
  for (let i = 0; i < 9; i++) if (s[i] !== '-') m |= 1 << (8 - i);
  return m;
}

/** `tar -tv` of a tar (or .tar.gz) file, every member in archive order, times in UTC. */
export function tarList(file: string): TarEntry[] {
  const out = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', file], {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^([-dlhcbps])([rwxsStT-]{9})\s+(\d+)\/(\d+)\s+(\d+)\s+(\S+ \S+)\s+(.+)$/.exec(line);
      if (!m) throw new Error(`unexpected tar listing line: ${line}`);
      return {
        type: m[1],
        mode: modeBits(m[2]),
        uid: Number(m[3]),
        gid: Number(m[4]),
        size: Number(m[5]),
        mtime: m[6],
        path: m[7],
      };
    });
}

/** The first header block's magic: GNU tar writes "ustar  \0", POSIX "ustar\x0000". */
export function tarMagic(tar: Buffer): string {
  return tar.subarray(257, 265).toString('latin1');
}

export interface Ipk {
  file: string;
  dir: string;
  outer: TarEntry[];
  control: TarEntry[];
  data: TarEntry[];
  /** control fields in file order */
  fields: [string, string][];
  controlText: string;
  controlFile(name: string): string;
}

/** Unpacks an .ipk with the system tar into `dir` (fresh): outer members, control/ and data/. */
export function openIpk(file: string, dir: string): Ipk {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'control'), { recursive: true });
  mkdirSync(join(dir, 'data'), { recursive: true });
  execFileSync('tar', ['-xzf', file, '-C', dir]);
  execFileSync('tar', ['-xzf', join(dir, 'control.tar.gz'), '-C', join(dir, 'control')]);
  execFileSync('tar', ['--numeric-owner', '-xpzf', join(dir, 'data.tar.gz'), '-C', join(dir, 'data')]);
  const controlText = readFileSync(join(dir, 'control', 'control'), 'utf8');
  const fields: [string, string][] = [];
  for (const line of controlText.split('\n')) {
    if (line === '') continue;
    if (line.startsWith(' ')) {
      fields[fields.length - 1][1] += `\n${line}`;
      continue;
    }
    const i = line.indexOf(':');
    fields.push([line.slice(0, i), line.slice(i + 2)]);
  }
  return {
    file,
    dir,
    outer: tarList(file),
    control: tarList(join(dir, 'control.tar.gz')),
    data: tarList(join(dir, 'data.tar.gz')),
    fields,
    controlText,
    controlFile: (name) => readFileSync(join(dir, 'control', name), 'utf8'),
  };
}

export function gunzip(file: string): Buffer {
  return execFileSync('gzip', ['-dc', file], { maxBuffer: 1 << 30 });
}
