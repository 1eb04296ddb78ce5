// The .ipk files of `npm run build:openwrt`, unpacked with the system's tar: ipkg-build's format
// (members and their order, GNU tars, owners, mtimes), every control field and its order,
// Installed-Size, conffiles, the file list with modes, the LuCI app's layout, the feed index, and
// byte-identical output from a second, independent build.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lab/lab.js';
import {
  BUILD_TIMEOUT_MS,
  type BuiltPackage,
  builtPackages,
  gunzip,
  type Ipk,
  OUT,
  openIpk,
  runBuild,
  TARGETS,
  tarMagic,
} from './openwrt.js';

const COLLECTOR = 'prometheus-node-exporter-lua-tunguard';
const VERSION = `${JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version}-r1`;
const work = mkdtempSync(join(tmpdir(), 'tunguard-ipk-'));
let epoch = 0;
let built: BuiltPackage[] = [];
const ipks = new Map<string, Ipk>();

beforeAll(() => {
  runBuild();
  ({ epoch, packages: built } = builtPackages());
  for (const b of built) ipks.set(b.file, openIpk(join(OUT, b.file), join(work, b.file)));
}, BUILD_TIMEOUT_MS);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const tunguardIpks = () =>
  [...ipks.entries()].filter(([name]) => name.startsWith('tunguard_')).map(([, p]) => p);
const luci = () => ipks.get(`luci-app-tunguard_${VERSION}_all.ipk`)!;
const utc = (s: number) => new Date(s * 1000).toISOString().replace('T', ' ').slice(0, 19);

/**
 * What the tunguard package installs: path → mode (directories end in '/'), besides the bundle's
 * ES modules (./usr/lib/tunguard/*.js: tunguard.js, worker.js and the chunks they import).
 */
const TUNGUARD_FILES: Record<string, number> = {
  './': 0o755,
  './etc/': 0o755,
  './etc/capabilities/': 0o755,
  './etc/capabilities/tunguard.json': 0o644,
  './etc/config/': 0o755,
  './etc/config/tunguard': 0o600,
  './etc/init.d/': 0o755,
  './etc/init.d/tunguard': 0o755,
  './etc/seccomp/': 0o755,
  './etc/seccomp/tunguard.json': 0o644,
  './etc/uci-defaults/': 0o755,
  './etc/uci-defaults/95-tunguard': 0o644,
  './lib/': 0o755,
  './lib/upgrade/': 0o755,
  './lib/upgrade/keep.d/': 0o755,
  './lib/upgrade/keep.d/tunguard': 0o644,
  './usr/': 0o755,
  './usr/bin/': 0o755,
  './usr/bin/tunguard': 0o755,
  './usr/lib/': 0o755,
  './usr/lib/tunguard/': 0o755,
  './usr/lib/tunguard/LICENSES.txt': 0o644,
  './usr/lib/tunguard/bpf/': 0o755,
  './usr/lib/tunguard/bpf/seqadj.bpfeb.o': 0o644,
  './usr/lib/tunguard/bpf/seqadj.bpfel.o': 0o644,
  './usr/lib/tunguard/bpf/synproxy.bpfeb.o': 0o644,
  './usr/lib/tunguard/bpf/synproxy.bpfel.o': 0o644,
  './usr/lib/tunguard/dashboard/': 0o755,
  './usr/lib/tunguard/dashboard/dashboard.js': 0o644,
  './usr/lib/tunguard/dashboard/index.html': 0o644,
  './usr/lib/tunguard/lmdb.node': 0o755,
  './usr/lib/tunguard/package.json': 0o644,
  './usr/lib/tunguard/tunguard_tun.node': 0o755,
};

describe('the packages built', () => {
  it('one tunguard .ipk per architecture of targets.json; the LuCI app and the exporter collector for all', () => {
    const files = built.map((b) => b.file).sort();
    expect(files).toEqual(
      [
        ...TARGETS.packages.map((p) => `tunguard_${VERSION}_${p.arch}.ipk`),
        `luci-app-tunguard_${VERSION}_all.ipk`,
        `prometheus-node-exporter-lua-tunguard_${VERSION}_all.ipk`,
      ].sort(),
    );
    expect(
      readdirSync(OUT)
        .filter((f) => f.endsWith('.ipk'))
        .sort(),
    ).toEqual(files);
    for (const p of TARGETS.packages) expect(TARGETS.targets[p.target], p.arch).toBeDefined();
    // The sizes the READMEs quote.
    for (const b of built) console.log(`${b.file}: ${b.size} bytes, installed ${b.installedSize} bytes`);
  });
});

describe('ipkg-build format', () => {
  it('is a gzip’d GNU tar of ./debian-binary, ./data.tar.gz, ./control.tar.gz in that order', () => {
    for (const p of ipks.values()) {
      expect(readFileSync(p.file).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // not an ar archive
      expect(p.outer.map((e) => e.path)).toEqual(['./debian-binary', './data.tar.gz', './control.tar.gz']);
      expect(readFileSync(join(p.dir, 'debian-binary'), 'utf8')).toBe('2.0\n');
      for (const tar of [p.file, join(p.dir, 'data.tar.gz'), join(p.dir, 'control.tar.gz')])
        expect(tarMagic(gunzip(tar)), tar).toBe('ustar  \0');
    }
  });

  it('every member of every tar: owner 0/0, mtime = SourceDateEpoch, names sorted', () => {
    expect(epoch).toBeGreaterThan(1_500_000_000);
    for (const p of ipks.values()) {
      for (const list of [p.outer, p.control, p.data])
        for (const e of list) {
          expect([e.uid, e.gid], `${p.file} ${e.path}`).toEqual([0, 0]);
          expect(e.mtime, `${p.file} ${e.path}`).toBe(utc(epoch));
        }
      for (const list of [p.control, p.data]) {
        const names = list.map((e) => e.path);
        // GNU tar --sort=name: byte order within each directory, a directory before its contents.
        const sorted = [...names].sort((a, b) => {
          const [x, y] = [a.replace(/\/$/, '').split('/'), b.replace(/\/$/, '').split('/')];
          for (let i = 0; i < Math.min(x.length, y.length); i++)
            if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
          return x.length - y.length;
        });
        expect(names, p.file).toEqual(sorted);
      }
    }
  });

  it('control fields in ipkg-build’s order, with the values of openwrt/Makefile', () => {
    const order = [
      'Package',
      'Version',
      'Depends',
      'Source',
      'SourceName',
      'License',
      'Section',
      'SourceDateEpoch',
      'URL',
      'Maintainer',
      'Architecture',
      'Installed-Size',
      'Description',
    ];
    for (const p of ipks.values()) {
      expect(
        p.fields.map(([k]) => k),
        p.file,
      ).toEqual(order);
      const f = Object.fromEntries(p.fields);
      const arch = basename(p.file).slice(`${f.Package}_${VERSION}_`.length, -'.ipk'.length);
      expect(f.Version).toBe(VERSION);
      expect(f.Architecture).toBe(arch);
      // A subpackage names the source package it comes from, as the SDK's control files do.
      const source = f.Package === COLLECTOR ? 'tunguard' : f.Package;
      expect(f.SourceName).toBe(source);
      expect(f.Source).toBe(`package/${source}`);
      expect(f.License).toBe('GPL-2.0-only');
      expect(f.SourceDateEpoch).toBe(String(epoch));
      expect(f.URL).toMatch(/^https:\/\//);
      expect(f.Maintainer).toMatch(/^.+ <[^<>@\s]+@[^<>\s]+>$/);
      // Continuation lines start with a space; the first line has the SDK's two.
      expect(f.Description).toMatch(/^ \S.*(\n \S.*)+$/);
      expect(p.controlText.endsWith('\n')).toBe(true);
      expect(p.controlText).not.toMatch(/\n\n/);
    }
    for (const p of tunguardIpks()) {
      const f = Object.fromEntries(p.fields);
      expect(f.Package).toBe('tunguard');
      expect(f.Section).toBe('net');
      expect(f.Depends).toBe(
        'libc, node, kmod-tun, kmod-nft-dup-inet, kmod-nfnetlink-cthelper, ip-full, firewall4, libstdcpp6, openssl-util, procd-ujail, libcap-bin',
      );
      expect(f.Description).toMatch(/not MIPS/);
    }
    const f = Object.fromEntries(luci().fields);
    expect(f.Package).toBe('luci-app-tunguard');
    expect(f.Section).toBe('luci');
    expect(f.Architecture).toBe('all');
    expect(f.Depends).toBe('libc, luci-base, tunguard');
    const c = Object.fromEntries(ipks.get(`${COLLECTOR}_${VERSION}_all.ipk`)!.fields);
    expect([c.Section, c.Architecture, c.Depends]).toEqual([
      'utils',
      'all',
      'libc, prometheus-node-exporter-lua, lua-cjson',
    ]);
  });

  it('Installed-Size is the length of the uncompressed data tar', () => {
    for (const p of ipks.values()) {
      const size = gunzip(join(p.dir, 'data.tar.gz')).length;
      expect(Object.fromEntries(p.fields)['Installed-Size']).toBe(String(size));
      expect(built.find((b) => p.file.endsWith(b.file))!.installedSize).toBe(size);
    }
  });

  it('control.tar.gz: control, conffiles and the SDK’s default scripts plus the package’s own', () => {
    for (const p of tunguardIpks()) {
      expect(p.control.map((e) => [e.path, e.mode])).toEqual([
        ['./', 0o755],
        ['./conffiles', 0o644],
        ['./control', 0o644],
        ['./postinst', 0o755],
        ['./postinst-pkg', 0o755],
        ['./postrm', 0o755],
        ['./preinst', 0o755],
        ['./prerm', 0o755],
      ]);
      expect(p.controlFile('conffiles')).toBe('/etc/config/tunguard\n');
      expect(p.controlFile('postinst')).toMatch(/^#!\/bin\/sh\n[\s\S]*\ndefault_postinst \$0 \$@\n$/);
      expect(p.controlFile('prerm')).toMatch(/^#!\/bin\/sh\n[\s\S]*\ndefault_prerm \$0 \$@\n$/);
      // The SDK writes the Makefile's scripts with make's $$ undone.
      for (const s of ['preinst', 'postinst-pkg', 'postrm']) {
        expect(p.controlFile(s)).toMatch(/^#!\/bin\/sh\n/);
        expect(p.controlFile(s)).not.toContain('$$');
      }
      expect(p.controlFile('postinst-pkg')).toContain('/etc/init.d/firewall reload');
    }
    const l = luci();
    expect(l.control.map((e) => e.path)).toEqual([
      './',
      './control',
      './postinst',
      './postinst-pkg',
      './prerm',
    ]);
    const post = l.controlFile('postinst-pkg');
    expect(post).toContain('rm -f /tmp/luci-indexcache*');
    expect(post).toContain('rm -rf /tmp/luci-modulecache/');
    expect(post).toContain('killall -HUP rpcd');
    expect(post).toMatch(/IPKG_INSTROOT/); // not while an image is being built
  });
});

describe('what the packages install', () => {
  it('tunguard: exactly the expected files, modes and types; /etc/tunguard kept on sysupgrade', () => {
    for (const p of tunguardIpks()) {
      const modules = p.data.filter((e) => /^\.\/usr\/lib\/tunguard\/[^/]+\.js$/.test(e.path));
      const got = Object.fromEntries(p.data.filter((e) => !modules.includes(e)).map((e) => [e.path, e.mode]));
      expect(got, p.file).toEqual(TUNGUARD_FILES);
      const bundled = readdirSync(join(OUT, 'bundle')).filter((f) => f.endsWith('.js'));
      expect(bundled).toContain('tunguard.js');
      expect(bundled).toContain('worker.js');
      expect(modules.map((e) => e.path.slice('./usr/lib/tunguard/'.length)).sort()).toEqual(bundled.sort());
      for (const e of modules) expect(e.mode, e.path).toBe(0o644);
      for (const e of p.data) expect(e.type, e.path).toBe(e.path.endsWith('/') ? 'd' : '-');
      expect(readFileSync(join(p.dir, 'data/lib/upgrade/keep.d/tunguard'), 'utf8')).toBe('/etc/tunguard/\n');
    }
  });

  it('the exporter collector: one Lua file where the exporter loads collectors; restarts a running exporter', () => {
    const c = ipks.get(`${COLLECTOR}_${VERSION}_all.ipk`)!;
    expect(c.data.map((e) => [e.path, e.mode])).toEqual([
      ['./', 0o755],
      ['./usr/', 0o755],
      ['./usr/lib/', 0o755],
      ['./usr/lib/lua/', 0o755],
      ['./usr/lib/lua/prometheus-collectors/', 0o755],
      ['./usr/lib/lua/prometheus-collectors/tunguard.lua', 0o644],
    ]);
    expect(readFileSync(join(c.dir, 'data/usr/lib/lua/prometheus-collectors/tunguard.lua'))).toEqual(
      readFileSync(join(REPO_ROOT, 'openwrt/files/prometheus-tunguard.lua')),
    );
    for (const s of ['postinst-pkg', 'postrm'])
      expect(c.controlFile(s)).toMatch(/IPKG_INSTROOT.*\/etc\/init\.d\/prometheus-node-exporter-lua restart/);
  });

  it('every file of the dashboard the daemon serves', () => {
    const shipped = tunguardIpks()[0]
      .data.filter((e) => e.path.startsWith('./usr/lib/tunguard/dashboard/') && e.type === '-')
      .map((e) => e.path.slice('./usr/lib/tunguard/dashboard/'.length));
    expect(shipped.sort()).toEqual(readdirSync(join(REPO_ROOT, 'src/api/dashboard')).sort());
  });

  it('architecture-independent files are the same in every tunguard package', () => {
    const common = tunguardIpks()[0]
      .data.filter((e) => e.type === '-' && !e.path.endsWith('.node'))
      .map((e) => e.path);
    const [first, ...rest] = tunguardIpks();
    for (const p of rest)
      for (const f of common)
        expect(
          readFileSync(join(p.dir, 'data', f)).equals(readFileSync(join(first.dir, 'data', f))),
          `${p.file} ${f}`,
        ).toBe(true);
  });

  it('luci-app-tunguard: luci-app/htdocs under /www, luci-app/root under /, rpcd plugin 0755', () => {
    const l = luci();
    const want = new Map<string, number>();
    const walk = (dir: string, to: string) => {
      for (const name of readdirSync(dir)) {
        const src = join(dir, name);
        const st = statSync(src);
        if (st.isDirectory()) walk(src, `${to}${name}/`);
        else
          want.set(`${to}${name}`, st.mode & 0o111 || to.startsWith('./usr/libexec/rpcd/') ? 0o755 : 0o644);
      }
    };
    walk(join(REPO_ROOT, 'luci-app/htdocs'), './www/');
    walk(join(REPO_ROOT, 'luci-app/root'), './');
    const files = l.data.filter((e) => e.type === '-');
    expect(new Map(files.map((e) => [e.path, e.mode]))).toEqual(want);
    for (const e of l.data.filter((x) => x.type === 'd')) expect(e.mode, e.path).toBe(0o755);
    const rpcd = files.filter((e) => e.path.startsWith('./usr/libexec/rpcd/'));
    expect(rpcd.length).toBeGreaterThan(0);
    for (const e of rpcd) expect(e.mode, e.path).toBe(0o755);
    for (const e of files) {
      const src = e.path.startsWith('./www/')
        ? join(REPO_ROOT, 'luci-app/htdocs', e.path.slice(6))
        : join(REPO_ROOT, 'luci-app/root', e.path.slice(2));
      expect(readFileSync(join(l.dir, 'data', e.path)).equals(readFileSync(src)), e.path).toBe(true);
    }
  });
});

describe('the feed index', () => {
  it('Packages lists every .ipk with its control fields, Filename, Size and SHA256sum; Packages.gz is it', () => {
    const index = readFileSync(join(OUT, 'Packages'), 'utf8');
    expect(gunzip(join(OUT, 'Packages.gz')).toString('utf8')).toBe(index);
    const entries = index.split(/\n(?=Package: )/);
    expect(entries.length).toBe(built.length);
    for (const b of built) {
      const e = entries.find((x) => x.includes(`\nFilename: ${b.file}\n`))!;
      expect(e, b.file).toBeDefined();
      const bytes = readFileSync(join(OUT, b.file));
      expect(e).toContain(`\nSize: ${bytes.length}\n`);
      expect(e).toContain(`\nSHA256sum: ${createHash('sha256').update(bytes).digest('hex')}\n`);
      expect(e).toContain(`\nInstalled-Size: ${b.installedSize}\n`);
    }
  });
});

describe('reproducibility', () => {
  it(
    'a second build from scratch (addons compiled again) gives byte-identical files',
    () => {
      const again = join(REPO_ROOT, 'build', 'openwrt-repro');
      rmSync(again, { recursive: true, force: true });
      try {
        const t0 = Date.now();
        runBuild(['--out', again, '--force']);
        console.log(`second build: ${Date.now() - t0} ms`);
        // The signature too: the same key (build/keys/feed.key) and Ed25519 give the same bytes.
        const names = readdirSync(OUT).filter((f) =>
          /\.ipk$|^Packages(\.gz|\.sig)?$|^packages\.json$|^tunguard-feed\.pub$/.test(f),
        );
        expect(
          readdirSync(again)
            .filter((f) => names.includes(f))
            .sort(),
        ).toEqual(names.sort());
        for (const f of names)
          expect(readFileSync(join(again, f)).equals(readFileSync(join(OUT, f))), f).toBe(true);
        for (const t of Object.keys(TARGETS.targets))
          for (const n of ['tunguard_tun.node', 'lmdb.node'])
            expect(
              readFileSync(join(again, 'addons', t, n)).equals(readFileSync(join(OUT, 'addons', t, n))),
              `${t}/${n}`,
            ).toBe(true);
      } finally {
        if (existsSync(again)) rmSync(again, { recursive: true, force: true });
      }
    },
    BUILD_TIMEOUT_MS,
  );
});
