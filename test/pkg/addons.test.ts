// The native addons inside each tunguard .ipk, read with binutils' readelf: built for the package's
// CPU and for musl (OpenWrt's libc), not for this glibc host. Every undefined symbol must resolve at
// load time on the router: against musl's libc.so (from the sysroot the build used), Node-API (the
// functions node exports), and for lmdb.node also libstdc++.so.6 / libgcc_s.so.1 (OpenWrt's
// libstdcpp and libgcc packages; checked against Debian's builds of the same libraries).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lab/lab.js';
import {
  BUILD_TIMEOUT_MS,
  builtPackages,
  OUT,
  openIpk,
  runBuild,
  SYSROOT,
  TARGETS,
  type Target,
} from './openwrt.js';

const work = mkdtempSync(join(tmpdir(), 'tunguard-addons-'));
interface Shipped {
  arch: string;
  target: Target;
  tun: string;
  lmdb: string;
}
const shipped: Shipped[] = [];

beforeAll(() => {
  try {
    execFileSync('readelf', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('readelf is missing (apt-get install -y binutils)');
  }
  runBuild();
  for (const b of builtPackages().packages.filter((p) => p.package === 'tunguard')) {
    const p = openIpk(join(OUT, b.file), join(work, b.arch));
    const target = TARGETS.targets[TARGETS.packages.find((x) => x.arch === b.arch)!.target];
    const lib = join(p.dir, 'data/usr/lib/tunguard');
    shipped.push({ arch: b.arch, target, tun: join(lib, 'tunguard_tun.node'), lmdb: join(lib, 'lmdb.node') });
  }
}, BUILD_TIMEOUT_MS);

afterAll(() => rmSync(work, { recursive: true, force: true }));

function readelf(args: string[], file: string): string {
  return execFileSync('readelf', ['-W', ...args, file], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
    maxBuffer: 1 << 28, // node's own symbol table is ~10 MB of text
  });
}

function header(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of readelf(['-h'], file).matchAll(/^\s+([^:]+):\s+(.*)$/gm)) out[m[1].trim()] = m[2].trim();
  return out;
}

function dynamic(file: string): { tag: string; value: string }[] {
  return [...readelf(['-d'], file).matchAll(/^\s*0x[0-9a-f]+\s+\((\w+)\)\s+(.*)$/gm)].map((m) => ({
    tag: m[1],
    value: m[2],
  }));
}

function needed(file: string): string[] {
  return dynamic(file)
    .filter((d) => d.tag === 'NEEDED')
    .map((d) => /\[(.*)\]/.exec(d.value)![1]);
}

interface DynSym {
  name: string;
  version?: string;
  bind: string;
  defined: boolean;
}

function dynSyms(file: string): DynSym[] {
  const out: DynSym[] = [];
  for (const line of readelf(['--dyn-syms'], file).split('\n')) {
    // Num: Value Size Type Bind Vis Ndx Name[@version (n)]
    const m = /^\s*\d+:\s+[0-9a-f]+\s+\d+\s+\w+\s+(\w+)\s+\w+\s+(\w+)\s+(\S+)/.exec(line);
    if (!m || m[3] === '') continue;
    const [name, version] = m[3].split(/@@?/);
    out.push({ name, version, bind: m[1], defined: m[2] !== 'UND' });
  }
  return out;
}

const exportedCache = new Map<string, Set<string>>();
/** Symbols a shared library exports (defined, global or weak), by name. */
function exported(file: string): Set<string> {
  let names = exportedCache.get(file);
  if (!names) {
    names = new Set(
      dynSyms(file)
        .filter((s) => s.defined && s.bind !== 'LOCAL')
        .map((s) => s.name),
    );
    exportedCache.set(file, names);
  }
  return names;
}

/** Version needs: [file, version name] pairs. */
function versionNeeds(file: string): [string, string][] {
  const out: [string, string][] = [];
  const text = readelf(['-V'], file);
  const needs = text.slice(text.indexOf('.gnu.version_r'));
  if (text.indexOf('.gnu.version_r') < 0) return out;
  let current = '';
  for (const line of needs.split('\n')) {
    const f = /File: (\S+)/.exec(line);
    if (f) current = f[1];
    const n = /Name: (\S+)/.exec(line);
    if (n && current) out.push([current, n[1]]);
  }
  return out;
}

/** Version names a shared library defines. */
function versionDefs(file: string): Set<string> {
  const text = readelf(['-V'], file);
  const start = text.indexOf('.gnu.version_d');
  const end = text.indexOf('.gnu.version_r');
  return new Set([...text.slice(start, end < 0 ? undefined : end).matchAll(/Name: (\S+)/g)].map((m) => m[1]));
}

const muslLibc = (t: Target) => join(SYSROOT, 'lib', t.muslTriplet, 'libc.so');
const cxxLib = (t: Target, name: string) => join(SYSROOT, 'usr', t.kernelTriplet, 'lib', name);
const nodeApi = (() => {
  let cached: Set<string> | undefined;
  return () => {
    cached ??= new Set([...exported(process.execPath)].filter((n) => /^(napi|node_api)_/.test(n)));
    return cached;
  };
})();

function checkElf(file: string, s: Shipped): void {
  const h = header(file);
  expect(h.Class, file).toBe(s.target.elfClass);
  expect(h.Machine, file).toBe(s.target.elfMachine);
  expect(h.Type, file).toMatch(/^DYN /);
  if (s.target.elfMachine === 'ARM') {
    // OpenWrt's ARMv7 targets are hard-float EABI5.
    expect(h.Flags, file).toContain('Version5 EABI');
    expect(h.Flags, file).toContain('hard-float ABI');
  }
  const tags = dynamic(file).map((d) => d.tag);
  for (const bad of ['RPATH', 'RUNPATH', 'TEXTREL']) expect(tags, `${file} has ${bad}`).not.toContain(bad);
}

/** Every undefined, non-weak symbol is found in one of `libs` or is Node-API. */
function unresolved(file: string, libs: string[]): string[] {
  const have = new Set<string>();
  for (const l of libs) for (const n of exported(l)) have.add(n);
  return dynSyms(file)
    .filter((sym) => !sym.defined && sym.bind === 'GLOBAL')
    .map((sym) => sym.name)
    .filter((n) => !have.has(n) && !nodeApi().has(n));
}

describe('the native addons in every tunguard package', () => {
  it('finds the sysroot the build used and the Node-API of this node', () => {
    expect(shipped.length).toBe(TARGETS.packages.length);
    for (const t of Object.values(TARGETS.targets)) expect(existsSync(muslLibc(t)), muslLibc(t)).toBe(true);
    expect(nodeApi().has('napi_create_function')).toBe(true);
  });

  it('tunguard_tun.node: the right CPU, musl only (NEEDED libc.so alone, no symbol versions)', () => {
    for (const s of shipped) {
      checkElf(s.tun, s);
      expect(needed(s.tun), s.arch).toEqual(['libc.so']);
      expect(versionNeeds(s.tun), s.arch).toEqual([]);
      expect(unresolved(s.tun, [muslLibc(s.target)]), s.arch).toEqual([]);
      // It really calls into libc and Node-API (the check above is not vacuous).
      const und = dynSyms(s.tun).filter((x) => !x.defined);
      expect(und.some((x) => x.name === 'ioctl')).toBe(true);
      expect(und.some((x) => x.name === 'napi_define_properties')).toBe(true);
    }
  });

  it('lmdb.node: the right CPU, musl libc, libstdc++ and libgcc_s only, nothing of glibc', () => {
    const allowed = ['libc.so', 'libstdc++.so.6', 'libgcc_s.so.1'];
    for (const s of shipped) {
      checkElf(s.lmdb, s);
      const libs = needed(s.lmdb);
      expect(libs, s.arch).toContain('libc.so');
      for (const l of libs) expect(allowed, `${s.arch} NEEDED ${l}`).toContain(l);
      // Symbol versions only against the C++ runtime, each one that library defines (musl's loader
      // ignores versions, but a glibc version here would mean a glibc link).
      for (const [lib, version] of versionNeeds(s.lmdb)) {
        expect(['libstdc++.so.6', 'libgcc_s.so.1'], `${s.arch} ${lib} ${version}`).toContain(lib);
        expect(versionDefs(cxxLib(s.target, lib)).has(version), `${s.arch} ${lib} defines ${version}`).toBe(
          true,
        );
      }
      const libsToSearch = [
        muslLibc(s.target),
        ...libs.filter((l) => l !== 'libc.so').map((l) => cxxLib(s.target, l)),
      ];
      expect(unresolved(s.lmdb, libsToSearch), s.arch).toEqual([]);
      expect(dynSyms(s.lmdb).some((x) => x.defined && x.name === 'napi_register_module_v1')).toBe(true);
    }
  });

  it('the checks tell: this host’s glibc build of the TUN addon fails them', () => {
    const glibc = join(REPO_ROOT, 'native/build/Release/tunguard_tun.node');
    if (!existsSync(glibc)) throw new Error(`${glibc} is missing: run 'npm install' (it builds native/)`);
    expect(needed(glibc)).toContain('libc.so.6');
    expect(versionNeeds(glibc).some(([lib, v]) => lib === 'libc.so.6' && v.startsWith('GLIBC_'))).toBe(true);
  });

  it('the packages sharing a CPU ship the same builds, and each CPU has its own', () => {
    const byTarget = new Map<string, Buffer>();
    for (const s of shipped) {
      const key = `${s.target.clangTarget}`;
      const bytes = execFileSync('sha256sum', [s.tun, s.lmdb], { encoding: 'utf8' })
        .split('\n')
        .map((l) => l.split(' ')[0])
        .join(',');
      const prev = byTarget.get(key);
      if (prev) expect(bytes).toBe(prev.toString());
      else byTarget.set(key, Buffer.from(bytes));
    }
    expect(byTarget.size).toBe(Object.keys(TARGETS.targets).length);
  });
});
