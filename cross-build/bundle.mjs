#!/usr/bin/env node
// Everything of the OpenWrt package that is the same on every architecture, into one directory:
//   tunguard.js, worker.js  the daemon/CLI (src/cli/main.ts) and the dataplane worker
//                           (src/dataplane/worker.ts), bundled by esbuild into ES modules, with
//   *-<hash>.js             the chunks they share or load on demand
//   package.json            {name, version, type: module} (ES modules; the version the daemon reports)
//   dashboard/              the API's dashboard page (src/api/dashboard)
//   bpf/                    the eBPF objects of bpf/*.c, little- and big-endian (bpf/build.sh)
//   LICENSES.txt            name, version and license text of every npm package bundled
//   tunguard.config         /etc/config/tunguard: DEFAULT_UCI of src/config/defaults.ts, verbatim
//
//   node cross-build/bundle.mjs --out <dir>
//
// How the bundled code finds its parts at run time, unchanged from the source tree:
//   worker.js        new URL('./worker.js', import.meta.url) in src/dataplane/dataplane.ts: beside tunguard.js
//   tunguard_tun.node src/tun/addon.ts looks beside the module that loads it (or TUNGUARD_ADDON)
//   lmdb.node        cross-build/lmdb-native.mjs (stands in for lmdb's prebuild finder) (or TUNGUARD_LMDB_ADDON)
//   dashboard/       src/api/app.ts looks for dashboard/index.html beside the module
//   bpf/             src/tun/bpf-object.ts looks for bpf/<name>.bpfel.o (or .bpfeb.o) beside it
//   package.json     src/cli/version.ts reads the version from the nearest package.json named tunguard
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * lmdb's prebuild finder → our fixed-path loader (see lmdb-native.mjs); ordered-binary (lmdb's key
 * codec) → its CommonJS build. Its ES module reads string keys with code it builds as text and runs
 * through a direct eval naming its module-level `position`: hoisted into a chunk, esbuild renames
 * that variable (another module has one too), the eval's code then moves the other one, and reading
 * a stored string key loops forever, growing (a restarted daemon's connection store: OOM on a 1 GB
 * router). The CommonJS build stays wrapped in a function of its own, where nothing is renamed.
 */
const lmdbNativePlugin = {
  name: 'tunguard-lmdb-native',
  setup(b) {
    b.onResolve({ filter: /^node-gyp-build-optional-packages$/ }, () => ({
      path: join(ROOT, 'cross-build', 'lmdb-native.mjs'),
    }));
    b.onResolve({ filter: /^ordered-binary$/ }, () => ({
      path: createRequire(join(ROOT, 'package.json')).resolve('ordered-binary'),
    }));
  },
};

/** The npm package a bundled file belongs to (node_modules/<name> or node_modules/@scope/<name>). */
function packageOf(file) {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
  return m ? m[1] : undefined;
}

function licenseText(pkgDir) {
  const names = readdirSync(pkgDir).filter((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  return names.length > 0 ? readFileSync(join(pkgDir, names.sort()[0]), 'utf8').trim() : undefined;
}

/** One text file naming each bundled package, its version and license, with the license's text. */
function licensesFile(inputs) {
  const pkgs = [...new Set(inputs.map(packageOf).filter(Boolean))].sort();
  const parts = pkgs.map((name) => {
    const dir = join(ROOT, 'node_modules', name);
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const text =
      licenseText(dir) ?? '(the npm package holds no license file; its package.json names the license)';
    return `== ${name} ${meta.version} (${meta.license ?? 'no license named'})\n\n${text}\n`;
  });
  return `Third-party code bundled into tunguard.js and worker.js:\n\n${parts.join('\n')}`;
}

/** DEFAULT_UCI, taken from the TypeScript source itself (compiled in memory). */
async function defaultUci() {
  const r = await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/config/defaults.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    logLevel: 'warning',
  });
  const mod = await import(
    `data:text/javascript;base64,${Buffer.from(r.outputFiles[0].text).toString('base64')}`
  );
  if (typeof mod.DEFAULT_UCI !== 'string') throw new Error('src/config/defaults.ts exports no DEFAULT_UCI');
  return mod.DEFAULT_UCI;
}

export async function bundle(outDir) {
  mkdirSync(join(outDir, 'dashboard'), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  writeFileSync(
    join(outDir, 'package.json'),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2)}\n`,
  );
  for (const f of ['index.html', 'dashboard.js'])
    copyFileSync(join(ROOT, 'src', 'api', 'dashboard', f), join(outDir, 'dashboard', f));
  writeFileSync(join(outDir, 'tunguard.config'), await defaultUci());
  // The kernel fast path (bpf/synproxy.c) and translation (bpf/seqadj.c), both byte orders: src/tun/bpf-object.ts looks in bpf/
  // beside the bundle and loads the one of the machine it runs on.
  execFileSync('bash', [join(ROOT, 'bpf', 'build.sh'), join(outDir, 'bpf')], { stdio: 'inherit' });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { tunguard: 'src/cli/main.ts', worker: 'src/dataplane/worker.ts' },
    outdir: outDir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Shared code and what main.ts imports on demand (run, commands, ...) go to chunks of their own:
    // a CLI call loads only its part (`tunguard help`: 0.07 s instead of 0.22 s here). Beside the
    // entries, not in a subfolder: code that finds files by import.meta.url (worker.js, the addons,
    // dashboard/) must see the same directory from every chunk.
    splitting: true,
    chunkNames: '[name]-[hash]',
    // CommonJS packages (saxes, ...) call require() for node built-ins: give the ES module one.
    banner: {
      js: "import { createRequire as __tunguardCreateRequire } from 'node:module';\nconst require = __tunguardCreateRequire(import.meta.url);",
    },
    // msgpackr's optional native accelerator: it falls back to plain JS when the import fails.
    external: ['msgpackr-extract'],
    plugins: [lmdbNativePlugin],
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    legalComments: 'none', // the license texts go to LICENSES.txt instead
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs);
  writeFileSync(join(outDir, 'LICENSES.txt'), licensesFile(inputs));
  return { inputs, outputs: Object.keys(result.metafile.outputs) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  if (!values.out) {
    process.stderr.write('usage: node cross-build/bundle.mjs --out <dir>\n');
    process.exit(2);
  }
  const { outputs } = await bundle(resolve(values.out));
  process.stdout.write(`bundle: ${outputs.length} modules in ${values.out}\n`);
}
