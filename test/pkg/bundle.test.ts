// The bundled daemon as the x86_64 .ipk installs it (usr/lib/tunguard/: tunguard.js, worker.js, the
// chunks, package.json, dashboard/, the addons), run on this glibc host. First the CLI as shipped
// (help, `config check` of the shipped config: no native part needed, none loaded; the bundle's chunks
// keep lmdb out of these). Then the two musl
// addons are shown not to load here (they are musl builds) and are replaced at their installed paths
// by this host's glibc builds of the same code, and the daemon runs in the lab namespaces: it steers,
// SYN-proxies a real TCP download, answers its API and dashboard, and keeps its connection store in
// LMDB.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab, makeTempDir, REPO_ROOT, startHttpServer, TunguardProcess } from '../lab/lab.js';
import { BUILD_TIMEOUT_MS, builtPackages, OUT, openIpk, runBuild } from './openwrt.js';

const work = mkdtempSync(join(tmpdir(), 'tunguard-bundle-'));
const www = makeTempDir('tunguard-www-');
let lib = '';
let bundle = '';
let shippedConfig = '';
let lab: Lab | undefined;
let tg: TunguardProcess | undefined;

/** This host's glibc builds of the shipped addons: `npm install` made (tun) or fetched (lmdb) them. */
const GLIBC_ADDONS = {
  'tunguard_tun.node': join(REPO_ROOT, 'native/build/Release/tunguard_tun.node'),
  'lmdb.node': join(REPO_ROOT, 'node_modules/@lmdb/lmdb-linux-x64/node.napi.glibc.node'),
};

function node(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, args, {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
}

beforeAll(() => {
  runBuild();
  const b = builtPackages().packages.find((p) => p.package === 'tunguard' && p.arch === 'x86_64')!;
  const ipk = openIpk(join(OUT, b.file), join(work, 'ipk'));
  lib = join(ipk.dir, 'data/usr/lib/tunguard');
  bundle = join(lib, 'tunguard.js');
  shippedConfig = join(ipk.dir, 'data/etc/config/tunguard');
  for (const src of Object.values(GLIBC_ADDONS))
    if (!existsSync(src))
      throw new Error(`${src} is missing: run 'npm install' (it builds native/ and fetches lmdb)`);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await tg?.stop();
  lab?.destroy();
  rmSync(work, { recursive: true, force: true });
  rmSync(www, { recursive: true, force: true });
});

describe('the bundle as installed', () => {
  it('runs the CLI as shipped (what needs no native part loads none): help, config check', () => {
    const help = node([bundle, 'help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: tunguard <command>/);
    const check = node([bundle, 'config', 'check', shippedConfig]);
    expect(check.status, check.stderr + check.stdout).toBe(0);
    expect(check.stdout).toContain(`${shippedConfig}: ok`);
    const broken = join(work, 'broken.conf');
    writeFileSync(broken, "config tunguard 'main'\n\toption queues 'many'\n");
    const bad = node([bundle, 'config', 'check', broken]);
    expect(bad.status).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/line 2/);
  });

  it('ships musl addons: this glibc host cannot load them (musl’s libc.so is not here)', () => {
    for (const name of Object.keys(GLIBC_ADDONS)) {
      const r = node(['-e', `require(${JSON.stringify(join(lib, name))})`]);
      expect(r.status, name).not.toBe(0);
      expect(r.stderr, name).toMatch(/libc\.so: (cannot open shared object file|invalid ELF header)/);
    }
    for (const [name, src] of Object.entries(GLIBC_ADDONS)) copyFileSync(src, join(lib, name));
  });

  it('reads back the string keys it stored in LMDB (the connection store’s), as lmdb itself does', () => {
    // The keys of src/state/connstore.ts. The bundled key codec once read any of them forever,
    // growing (see cross-build/bundle.mjs): a restarted daemon never got past its connection store.
    const keys = [
      '4|c6336402|44658|c0000202|8080',
      '6|20010db8000100000000000000000002|43818|20010db8000200000000000000000002|8080',
    ];
    const script = (from: string) => `import { open } from ${JSON.stringify(from)};
const path = process.argv[2];
let db = open({ path, noSync: true, compression: false });
await db.transaction(() => { for (const k of ${JSON.stringify(keys)}) db.put(k, { key: k }); });
await db.close();
db = open({ path, noSync: true, compression: false });
console.log(JSON.stringify([...db.getRange().map(({ key }) => key)]));
await db.close();`;
    const chunk = readdirSync(lib).find(
      (f) => f.endsWith('.js') && /export\{[^}]*\bopen\b/.test(readFileSync(join(lib, f), 'utf8')),
    );
    if (!chunk) throw new Error(`no chunk of ${lib} exports lmdb's open`);
    const read = (from: string, dir: string) => {
      const name = `lmdb-keys-${randomBytes(4).toString('hex')}`;
      const file = join(dir, `${name}.mjs`);
      writeFileSync(file, script(from));
      // A small heap: a reader that loops growing fails in a second or two, not at the timeout.
      const r = spawnSync(process.execPath, ['--max-old-space-size=64', file, join(work, `${name}.lmdb`)], {
        encoding: 'utf8',
        timeout: 20_000,
        // This host's build of lmdb's native part (the bundle's loader; the shipped one is musl's).
        env: { ...process.env, TUNGUARD_LMDB_ADDON: GLIBC_ADDONS['lmdb.node'] },
      });
      rmSync(file);
      return r;
    };
    // The control: the same script with lmdb from node_modules, unbundled.
    const plain = read(pathToFileURL(join(REPO_ROOT, 'node_modules/lmdb/node-index.js')).href, work);
    expect(plain.status, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toEqual(keys);
    const bundled = read(`./${chunk}`, lib);
    expect(bundled.status, bundled.stderr.slice(-600)).toBe(0);
    expect(JSON.parse(bundled.stdout)).toEqual(keys);
  });

  it('runs the daemon in the lab: steering, a SYN-proxied download, the API, the dashboard, LMDB', async () => {
    // `run` loads the daemon's modules, lmdb among them.
    const runHelp = node([bundle, 'run', '--help']);
    expect(runHelp.status, runHelp.stderr).toBe(0);
    expect(runHelp.stdout).toMatch(/^usage: tunguard run /);
    lab = Lab.create();
    const data = randomBytes(4 << 20);
    writeFileSync(join(www, 'f.bin'), data);
    await startHttpServer(lab, lab.ns.lan, www, 8080, [ADDR.lan4]);
    const conf = join(lab.stateDir, 'tunguard.conf');
    const token = join(lab.stateDir, 'api.token');
    writeFileSync(
      conf,
      `config tunguard 'main'\n\toption wan_device 'wan0'\n\tlist lan_device 'lan0'\n\toption state_dir '${lab.stateDir}'\n\nconfig api 'api'\n\tlist listen '127.0.0.1:7447'\n\toption token_file '${token}'\n`,
    );
    tg = new TunguardProcess(
      lab.spawn(lab.ns.rtr, process.execPath, [bundle, 'run', '--config', conf, '--state-dir', lab.stateDir]),
    );
    await tg.ready();
    expect(tg.output).toMatch(/steering up: lan0 <-> tg0 \(tc programs on the LAN side/);
    // The kernel fast path, loaded from the package's usr/lib/tunguard/bpf (both byte orders shipped).
    expect(tg.output).toMatch(/SYN fast path in the kernel/);
    // …and the kernel translation of proxied connections (bpf/seqadj.c), from there too.
    expect(tg.output).toMatch(/proxied connections translated in the kernel/);
    for (const o of ['synproxy.bpfel.o', 'synproxy.bpfeb.o', 'seqadj.bpfel.o', 'seqadj.bpfeb.o'])
      expect(existsSync(join(lib, 'bpf', o))).toBe(true);

    const got = lab.run(lab.ns.wan, 'sh', [
      '-c',
      `curl -sS --fail --max-time 20 http://${ADDR.lan4}:8080/f.bin | sha256sum`,
    ]);
    expect(got.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
    const counters = (await lab.freshStatus()).counters;
    expect(counters.synproxy_conn_established).toBeGreaterThanOrEqual(1);

    const bearer = readFileSync(token, 'utf8').trim();
    const status = lab.run(lab.ns.rtr, 'curl', [
      '-sS',
      '--fail',
      '-H',
      `Authorization: Bearer ${bearer}`,
      'http://127.0.0.1:7447/api/v1/status',
    ]);
    const version = JSON.parse(readFileSync(join(lib, 'package.json'), 'utf8')).version;
    expect(JSON.parse(status).version).toBe(version); // read from the shipped package.json
    const page = lab.run(lab.ns.rtr, 'curl', ['-sS', '--fail', 'http://127.0.0.1:7447/']);
    expect(page).toBe(readFileSync(join(lib, 'dashboard/index.html'), 'utf8'));
    const noToken = lab.exec(lab.ns.rtr, 'curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      'http://127.0.0.1:7447/api/v1/status',
    ]);
    expect(noToken.stdout).toBe('401');

    // The bundle's CLI finds the daemon through the state dir, as /usr/bin/tunguard would.
    const cli = lab.exec(lab.ns.rtr, process.execPath, [
      bundle,
      'status',
      '--json',
      '--state-dir',
      lab.stateDir,
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout).counters.synproxy_conn_established).toBeGreaterThanOrEqual(1);

    // lmdb's native part (loaded by the bundle's own loader from usr/lib/tunguard/lmdb.node).
    expect(existsSync(join(lab.stateDir, 'conn.lmdb'))).toBe(true);
    const code = await tg.stop();
    if (code !== 0) console.log(tg.output);
    expect(code).toBe(0);
    expect(tg.output).toMatch(/stopped/);
  }, 120_000);
});
