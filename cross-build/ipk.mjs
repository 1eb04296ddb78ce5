#!/usr/bin/env node
// Writes OpenWrt .ipk packages as the SDK's ipkg-build does, without an SDK:
//   tunguard_<version>_<arch>.ipk        one per package architecture in cross-build/targets.json
//   luci-app-tunguard_<version>_all.ipk  from luci-app/ (htdocs/** → /www/**, root/** → /**)
// plus Packages / Packages.gz (an opkg feed index of them) and packages.json (names, sizes, sha256).
//
// The tunguard package's metadata, file list (Package/tunguard/install) and scripts come from
// openwrt/Makefile itself, so the SDK build and this one ship the same files.
//
// The format (ipkg-build): a gzip'd tar (GNU format, numeric owner 0/0, names sorted, every mtime =
// SourceDateEpoch) of ./debian-binary ("2.0\n"), ./data.tar.gz, ./control.tar.gz, in that order;
// Installed-Size = bytes of the uncompressed data tar. Same inputs, same bytes.
//
//   node cross-build/ipk.mjs --bundle <dir> --addons <dir> --out <dir> --epoch <seconds>
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const MAKEFILE = join(ROOT, 'openwrt', 'Makefile');
export const TARGETS = JSON.parse(readFileSync(join(ROOT, 'cross-build', 'targets.json'), 'utf8'));

/** OpenWrt packages whose .ipk name carries an ABI version (Depends names that, as the SDK does). */
const ABI_NAMES = { libstdcpp: 'libstdcpp6' };

// ---------------------------------------------------------------------------------------- Makefile

/** Top-level `NAME:=value` variables and `define NAME ... endef` bodies of an OpenWrt Makefile. */
export function parseMakefile(text) {
  const vars = new Map();
  const defines = new Map();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const def = /^define\s+(\S+)\s*$/.exec(lines[i]);
    if (def) {
      const body = [];
      for (i++; i < lines.length && lines[i] !== 'endef'; i++) body.push(lines[i]);
      if (i >= lines.length) throw new Error(`Makefile: define ${def[1]} has no endef`);
      defines.set(def[1], body.join('\n'));
      continue;
    }
    let line = lines[i];
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i].trim()}`;
    const v = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::=|\?=|=)\s*(.*)$/.exec(line);
    if (v) vars.set(v[1], v[2].trim());
  }
  return { vars, defines };
}

function need(map, key, what) {
  const v = map.get(key);
  if (v === undefined || v === '') throw new Error(`openwrt/Makefile: ${what} ${key} is missing`);
  return v;
}

/** A package script as the SDK writes it: the define's body, make's `$$` back to `$`, one newline. */
function script(body) {
  return `${body.replaceAll('$$', '$')}\n`;
}

/** Everything the control file and the package scripts of one package need, from the Makefile. */
export function packageMeta(mk, name) {
  const fields = new Map();
  for (const line of need(mk.defines, `Package/${name}`, 'define').split('\n')) {
    const m = /^\s*([A-Z_]+)\s*:=\s*(.*)$/.exec(line);
    if (m) fields.set(m[1], m[2].trim());
  }
  const depends = need(fields, 'DEPENDS', `Package/${name}`)
    .split(/\s+/)
    .filter((d) => d.startsWith('+')) // @CONFIG conditions select, they are not packages
    .map((d) => d.slice(1))
    .map((d) => {
      if (d.includes(':'))
        throw new Error(`openwrt/Makefile: conditional dependency ${d} is not supported here`);
      return ABI_NAMES[d] ?? d;
    });
  const scripts = {};
  for (const s of ['preinst', 'postinst', 'prerm', 'postrm']) {
    const body = mk.defines.get(`Package/${name}/${s}`);
    if (body !== undefined) scripts[s] = script(body);
  }
  return {
    name,
    version: `${need(mk.vars, 'PKG_VERSION', 'variable')}-r${need(mk.vars, 'PKG_RELEASE', 'variable')}`,
    // The libc every OpenWrt package depends on comes first, as the SDK adds it.
    depends: ['libc', ...depends],
    // Subpackages come from the same source package, as the SDK's Source/SourceName say.
    source: `package/${need(mk.vars, 'PKG_NAME', 'variable')}`,
    sourceName: need(mk.vars, 'PKG_NAME', 'variable'),
    pkgarch: fields.get('PKGARCH'),
    license: need(mk.vars, 'PKG_LICENSE', 'variable'),
    section: need(fields, 'SECTION', `Package/${name}`),
    url: need(fields, 'URL', `Package/${name}`),
    maintainer: need(mk.vars, 'PKG_MAINTAINER', 'variable'),
    description: need(mk.defines, `Package/${name}/description`, 'define'),
    conffiles: (mk.defines.get(`Package/${name}/conffiles`) ?? '').split('\n').filter(Boolean),
    scripts,
  };
}

const INSTALL_MODES = { INSTALL_BIN: 0o755, INSTALL_DATA: 0o644, INSTALL_CONF: 0o600 };

/**
 * The steps of a Package/<name>/install recipe: directories (0755) and files with their modes, as the
 * SDK's $(INSTALL_DIR) / $(INSTALL_BIN) / $(INSTALL_DATA) / $(INSTALL_CONF) make them. `sources` maps
 * the recipe's source prefixes ('./files/', '$(PKG_BUILD_DIR)/') to directories here.
 */
export function installPlan(recipe, sources) {
  const plan = [];
  const dest = (p) => {
    if (!p.startsWith('$(1)/')) throw new Error(`install recipe: destination ${p} is not under $(1)/`);
    return p.slice(4);
  };
  const src = (p) => {
    for (const [prefix, dir] of Object.entries(sources))
      if (p.startsWith(prefix)) return join(dir, p.slice(prefix.length));
    throw new Error(`install recipe: no source for ${p}`);
  };
  for (const line of recipe.split('\n')) {
    const words = line.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    const cmd = /^\$\((INSTALL_[A-Z]+)\)$/.exec(words[0])?.[1];
    if (cmd === 'INSTALL_DIR') {
      for (const d of words.slice(1)) plan.push({ type: 'dir', path: dest(d), mode: 0o755 });
    } else if (cmd && cmd in INSTALL_MODES && words.length === 3 && words[1].includes('*')) {
      // `$(INSTALL_DATA) dir/*.js $(1)/to/`: every match (sorted), into the directory.
      const to = dest(words[2]);
      const from = src(words[1]);
      if (!to.endsWith('/') || dirname(from).includes('*'))
        throw new Error(
          `install recipe: '${line.trim()}': a pattern in the file name only, into a directory/`,
        );
      const re = new RegExp(
        `^${basename(from)
          .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
          .replaceAll('*', '.*')}$`,
      );
      const matches = readdirSync(dirname(from))
        .filter((f) => re.test(f))
        .sort();
      if (matches.length === 0) throw new Error(`install recipe: nothing matches ${from}`);
      for (const f of matches)
        plan.push({ type: 'file', src: join(dirname(from), f), path: `${to}${f}`, mode: INSTALL_MODES[cmd] });
    } else if (cmd && cmd in INSTALL_MODES && words.length === 3) {
      const path = dest(words[2]);
      if (path.endsWith('/')) throw new Error(`install recipe: give ${words[2]} a file name`);
      plan.push({ type: 'file', src: src(words[1]), path, mode: INSTALL_MODES[cmd] });
    } else {
      throw new Error(`install recipe: cannot interpret '${line.trim()}'`);
    }
  }
  return plan;
}

// ------------------------------------------------------------------------------------- tar + gzip

/** GNU tar of `members` (relative to `dir`) as ipkg-build writes it, gzip'd with gzip -n. */
function tarGz(dir, members, epoch) {
  const tar = execFileSync(
    'tar',
    [
      '--format=gnu',
      '--numeric-owner',
      '--owner=0',
      '--group=0',
      '--sort=name',
      `--mtime=@${epoch}`,
      '-C',
      dir,
      '-cf',
      '-',
      ...members,
    ],
    // The C locale: names sorted byte by byte whatever the build machine's locale.
    { maxBuffer: 1 << 30, env: { ...process.env, LC_ALL: 'C' } },
  );
  return { tar, gz: execFileSync('gzip', ['-n'], { input: tar, maxBuffer: 1 << 30 }) };
}

// ---------------------------------------------------------------------------------------- packages

/** The default maintainer scripts the SDK puts in every package; package-specific ones come as -pkg. */
const DEFAULT_POSTINST = `#!/bin/sh
[ "\${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s \${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. \${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
`;
const DEFAULT_PRERM = `#!/bin/sh
[ -s \${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. \${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
`;
/** Makefile script define → control.tar.gz member (the SDK's BuildIPKGVariable names). */
const SCRIPT_FILES = { preinst: 'preinst', postinst: 'postinst-pkg', prerm: 'prerm-pkg', postrm: 'postrm' };

/** The control file, fields in the SDK's order (include/package-pack.mk). */
export function controlText(meta, arch, installedSize, epoch) {
  const lines = [
    `Package: ${meta.name}`,
    `Version: ${meta.version}`,
    `Depends: ${meta.depends.join(', ')}`,
    `Source: ${meta.source}`,
    `SourceName: ${meta.sourceName ?? meta.name}`,
    `License: ${meta.license}`,
    `Section: ${meta.section}`,
    `SourceDateEpoch: ${epoch}`,
    `URL: ${meta.url}`,
    `Maintainer: ${meta.maintainer}`,
    `Architecture: ${arch}`,
    `Installed-Size: ${installedSize}`,
  ];
  // printf "Description: "; echo "$DESCRIPTION" | sed -e 's,^[[:space:]]*, ,g'
  const desc = meta.description.split('\n').map((l) => l.replace(/^\s*/, ' '));
  return `${lines.join('\n')}\nDescription: ${desc.join('\n')}\n`;
}

function writeMode(file, content, mode) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

/** Makes every directory in a tree 0755 (the SDK's staging dirs are). */
function fixDirModes(dir) {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) fixDirModes(join(dir, e.name));
}

/** Stages a plan into `dataDir` (fresh). */
function stage(plan, dataDir) {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  for (const step of plan) {
    const to = join(dataDir, step.path);
    if (step.type === 'dir') {
      mkdirSync(to, { recursive: true });
    } else {
      if (!existsSync(step.src)) throw new Error(`package file missing: ${step.src}`);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(step.src, to);
      chmodSync(to, step.mode);
    }
  }
  fixDirModes(dataDir);
}

/** Writes one .ipk from a staged data tree; returns its description for packages.json. */
function writeIpk({ meta, arch, dataDir, workDir, outDir, epoch }) {
  // conffiles that are files of the package go to control's conffiles (sorted, as ipkg-build does);
  // the others (directories, files made at run time) to /lib/upgrade/keep.d/<name> for sysupgrade.
  const isFile = (p) => existsSync(join(dataDir, p)) && statSync(join(dataDir, p)).isFile();
  const conffiles = meta.conffiles.filter(isFile).sort();
  const keep = meta.conffiles.filter((p) => !isFile(p));
  if (keep.length > 0)
    writeMode(join(dataDir, 'lib/upgrade/keep.d', meta.name), `${keep.join('\n')}\n`, 0o644);
  fixDirModes(dataDir);

  const data = tarGz(dataDir, ['.'], epoch);
  const controlDir = join(workDir, 'control');
  rmSync(controlDir, { recursive: true, force: true });
  mkdirSync(controlDir, { recursive: true });
  const control = controlText(meta, arch, data.tar.length, epoch);
  writeMode(join(controlDir, 'control'), control, 0o644);
  if (conffiles.length > 0) writeMode(join(controlDir, 'conffiles'), `${conffiles.join('\n')}\n`, 0o644);
  writeMode(join(controlDir, 'postinst'), DEFAULT_POSTINST, 0o755);
  writeMode(join(controlDir, 'prerm'), DEFAULT_PRERM, 0o755);
  for (const [s, body] of Object.entries(meta.scripts))
    writeMode(join(controlDir, SCRIPT_FILES[s]), body, 0o755);
  chmodSync(controlDir, 0o755);
  const ctl = tarGz(controlDir, ['.'], epoch);

  const outer = join(workDir, 'outer');
  rmSync(outer, { recursive: true, force: true });
  mkdirSync(outer, { recursive: true });
  writeMode(join(outer, 'debian-binary'), '2.0\n', 0o644);
  writeMode(join(outer, 'data.tar.gz'), data.gz, 0o644);
  writeMode(join(outer, 'control.tar.gz'), ctl.gz, 0o644);
  const ipk = tarGz(outer, ['./debian-binary', './data.tar.gz', './control.tar.gz'], epoch).gz;
  const file = `${meta.name}_${meta.version}_${arch}.ipk`;
  writeFileSync(join(outDir, file), ipk);
  return {
    file,
    package: meta.name,
    arch,
    size: ipk.length,
    installedSize: data.tar.length,
    sha256: createHash('sha256').update(ipk).digest('hex'),
    control,
  };
}

/** luci-app/ by LuCI's layout: htdocs/** → /www/**, root/** → /**; rpcd plugins and executables 0755. */
export function luciPlan(luciDir) {
  const plan = [];
  const walk = (from, to) => {
    for (const e of readdirSync(from, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const src = join(from, e.name);
      const path = `${to}/${e.name}`;
      if (e.isDirectory()) {
        plan.push({ type: 'dir', path, mode: 0o755 });
        walk(src, path);
      } else if (e.isFile()) {
        const exec = path.startsWith('/usr/libexec/rpcd/') || (statSync(src).mode & 0o111) !== 0;
        plan.push({ type: 'file', src, path, mode: exec ? 0o755 : 0o644 });
      } else {
        throw new Error(`luci-app: ${relative(ROOT, src)} is neither a file nor a directory`);
      }
    }
  };
  if (existsSync(join(luciDir, 'htdocs'))) walk(join(luciDir, 'htdocs'), '/www');
  if (existsSync(join(luciDir, 'root'))) walk(join(luciDir, 'root'), '');
  if (!plan.some((s) => s.type === 'file')) throw new Error(`luci-app: nothing to package in ${luciDir}`);
  return plan;
}

/** The LuCI app's package: the tunguard package's version, license and maintainer. */
export function luciMeta(tunguard) {
  return {
    ...tunguard,
    name: 'luci-app-tunguard',
    depends: ['libc', 'luci-base', 'tunguard'],
    source: 'package/luci-app-tunguard',
    sourceName: 'luci-app-tunguard',
    section: 'luci',
    description: [
      '  LuCI pages for tunguard: the risk tiers live, counters, LAN hosts, remediation rules (editor),',
      '  programs to upload, dispatch, service control and log, and the settings of /etc/config/tunguard.',
    ].join('\n'),
    conffiles: [],
    scripts: {
      // New menu entries, views and ACLs show at once: LuCI's caches go, and rpcd (SIGHUP: it
      // re-executes itself, keeping the login sessions) loads the new ACL file and the rpcd plugin.
      postinst: `#!/bin/sh
[ -n "\${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache*
	rm -rf /tmp/luci-modulecache/
	killall -HUP rpcd 2>/dev/null
}
exit 0
`,
    },
  };
}

/** The feed index opkg reads (ipkg-make-index's fields: the control file plus file name, size, hash). */
function packagesIndex(built) {
  return built
    .map((b) => {
      const head = b.control.replace(/\nDescription:[\s\S]*$/, '');
      const desc = b.control.slice(head.length + 1);
      return `${head}\nFilename: ${b.file}\nSize: ${b.size}\nSHA256sum: ${b.sha256}\n${desc}`;
    })
    .join('\n');
}

export function buildAll({ bundleDir, addonsDir, outDir, epoch }) {
  if (!Number.isInteger(epoch) || epoch <= 0) throw new Error(`bad SourceDateEpoch ${epoch}`);
  mkdirSync(outDir, { recursive: true });
  for (const f of readdirSync(outDir))
    if (/\.ipk$|^Packages(\.gz|\.sig)?$|^packages\.json$|^tunguard-feed\.pub$/.test(f))
      rmSync(join(outDir, f));
  const work = join(outDir, '.work');
  const mk = parseMakefile(readFileSync(MAKEFILE, 'utf8'));
  const meta = packageMeta(mk, 'tunguard');
  const recipe = need(mk.defines, 'Package/tunguard/install', 'define');
  const built = [];
  for (const { arch, target } of TARGETS.packages) {
    const addons = join(addonsDir, target);
    if (!existsSync(join(addons, 'tunguard_tun.node')))
      throw new Error(`no native addons for ${target} in ${addonsDir} (cross-build/addons.sh)`);
    // $(PKG_BUILD_DIR)/out/{bundle,addons}: what the Makefile's Build/Compile leaves there.
    const plan = installPlan(recipe, {
      './files/': join(ROOT, 'openwrt', 'files'),
      '$(PKG_BUILD_DIR)/out/bundle/': bundleDir,
      '$(PKG_BUILD_DIR)/out/addons/': addons,
    });
    const dataDir = join(work, 'data', arch);
    stage(plan, dataDir);
    built.push(writeIpk({ meta, arch, dataDir, workDir: join(work, 'pkg', arch), outDir, epoch }));
  }
  // The Makefile's architecture-independent packages (PKGARCH:=all), e.g. the exporter's collector.
  const makefileText = readFileSync(MAKEFILE, 'utf8');
  for (const [, name] of makefileText.matchAll(/^\$\(eval \$\(call BuildPackage,([^)]+)\)\)$/gm)) {
    if (name === 'tunguard') continue;
    const m = packageMeta(mk, name);
    if (m.pkgarch !== 'all')
      throw new Error(`openwrt/Makefile: ${name} is not PKGARCH:=all (only tunguard is built per CPU)`);
    const plan = installPlan(need(mk.defines, `Package/${name}/install`, 'define'), {
      './files/': join(ROOT, 'openwrt', 'files'),
    });
    const dataDir = join(work, 'data', name);
    stage(plan, dataDir);
    built.push(writeIpk({ meta: m, arch: 'all', dataDir, workDir: join(work, 'pkg', name), outDir, epoch }));
  }
  const luciDir = join(ROOT, 'luci-app');
  const luciData = join(work, 'data', 'luci');
  stage(luciPlan(luciDir), luciData);
  built.push(
    writeIpk({
      meta: luciMeta(meta),
      arch: 'all',
      dataDir: luciData,
      workDir: join(work, 'pkg', 'luci'),
      outDir,
      epoch,
    }),
  );
  rmSync(work, { recursive: true, force: true });

  let index = packagesIndex(built);
  // The buildroot's padding (package/Makefile): usign before 2019 (sha512_final's bad constant)
  // failed to verify messages of these lengths; two newlines more keep old routers' opkg working.
  if ([110, 111].includes((64 + Buffer.byteLength(index)) % 128)) index += '\n\n';
  writeFileSync(join(outDir, 'Packages'), index);
  writeFileSync(join(outDir, 'Packages.gz'), execFileSync('gzip', ['-n', '-9'], { input: index }));
  const summary = built.map(({ control: _c, ...rest }) => rest);
  writeFileSync(join(outDir, 'packages.json'), `${JSON.stringify({ epoch, packages: summary }, null, 2)}\n`);
  return summary;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      bundle: { type: 'string' },
      addons: { type: 'string' },
      out: { type: 'string' },
      epoch: { type: 'string' },
    },
  });
  if (!values.bundle || !values.addons || !values.out || !values.epoch) {
    process.stderr.write(
      'usage: node cross-build/ipk.mjs --bundle <dir> --addons <dir> --out <dir> --epoch <s>\n',
    );
    process.exit(2);
  }
  try {
    const built = buildAll({
      bundleDir: resolve(values.bundle),
      addonsDir: resolve(values.addons),
      outDir: resolve(values.out),
      epoch: Number(values.epoch),
    });
    for (const b of built)
      process.stdout.write(`ipk: ${b.file}  ${b.size} bytes, installed ${b.installedSize} bytes\n`);
  } catch (err) {
    process.stderr.write(`ipk: ${err.message}\n`);
    process.exit(1);
  }
}
