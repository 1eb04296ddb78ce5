// The package's own files, as shipped in the x86_64 .ipk: the default UCI config (DEFAULT_UCI, and the
// daemon's parser accepts it), the procd init script, the uci-defaults script, the preinst check, and
// that nothing goes into the firewall. Scripts run under busybox's ash, the
// shell of OpenWrt. The OpenWrt shell API the init script calls (procd_*, config_*) does not exist on
// Debian: small stand-ins record what it asks procd for.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromText, DEFAULT_UCI, defaultConfig } from '../../src/config/index.js';
import { REPO_ROOT } from '../lab/lab.js';
import { BUILD_TIMEOUT_MS, builtPackages, type Ipk, OUT, openIpk, runBuild } from './openwrt.js';

/** What /usr/bin/tunguard runs: the bundle under node with the daemon's heap limits. */
const CLI_EXEC_LINE =
  /^exec \/usr\/bin\/node --max-semi-space-size=1 --heap-growing-percent=20 --v8-pool-size=1 \/usr\/lib\/tunguard\/tunguard\.js "\$@"$/m;

const BUSYBOX = '/usr/bin/busybox';
const work = mkdtempSync(join(tmpdir(), 'tunguard-files-'));
let ipk: Ipk;
const data = (p: string) => join(ipk.dir, 'data', p);

beforeAll(() => {
  if (spawnSync(BUSYBOX, ['true']).status !== 0)
    throw new Error(`${BUSYBOX} is missing (apt-get install -y busybox)`);
  runBuild();
  const b = builtPackages().packages.find((p) => p.package === 'tunguard' && p.arch === 'x86_64')!;
  ipk = openIpk(join(OUT, b.file), join(work, 'x86_64'));
}, BUILD_TIMEOUT_MS);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs a script with busybox's ash. */
function sh(script: string, env: Record<string, string> = {}) {
  return spawnSync(BUSYBOX, ['sh', '-c', script], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
}

describe('/etc/config/tunguard', () => {
  it('is DEFAULT_UCI of src/config/defaults.ts, byte for byte', () => {
    expect(readFileSync(data('etc/config/tunguard'), 'utf8')).toBe(DEFAULT_UCI);
  });

  it('passes the daemon’s own parser without a warning, and gives the built-in defaults', () => {
    const loaded = configFromText(readFileSync(data('etc/config/tunguard'), 'utf8'), '/etc/config/tunguard');
    expect(loaded.warnings).toEqual([]);
    expect(loaded.config).toEqual(defaultConfig());
  });
});

/** Sources the init script with stand-ins for rc.common's procd API; prints what it would register. */
function initScript(call: string, env: Record<string, string>) {
  const shims = `
procd_open_instance() { echo "open_instance"; }
procd_close_instance() { echo "close_instance"; }
procd_set_param() { echo "param $*"; }
procd_add_jail() { echo "jail $*"; }
procd_add_reload_trigger() { echo "reload_trigger $*"; }
procd_add_raw_trigger() { echo "raw_trigger $*"; }
procd_send_signal() { echo "signal $*"; }
procd_running() { [ "$RUNNING" = 1 ]; }
start() { echo "start"; }
config_load() { echo "config_load $1"; }
config_get_bool() { case $3 in enabled) eval "$1=\\$ENABLED" ;; wan_follow) eval "$1=\\$FOLLOW" ;; seccomp) eval "$1=\\$SECCOMP" ;; esac; }
config_get() { case $3 in wan_device) eval "$1=\\$WAN" ;; lan_device) eval "$1=\\$LAN" ;; esac; }
logger() { echo "log $*"; }
. "$INIT"
${call}
`;
  return sh(shims, {
    INIT: data('etc/init.d/tunguard'),
    ENABLED: '1',
    WAN: 'lo',
    LAN: 'lo',
    RUNNING: '0',
    FOLLOW: '0',
    SECCOMP: '0',
    PROC_NET: '/nonexistent',
    ...env,
  });
}

describe('/etc/init.d/tunguard', () => {
  it('is a procd rc.common script that parses', () => {
    const text = readFileSync(data('etc/init.d/tunguard'), 'utf8');
    expect(text.split('\n')[0]).toBe('#!/bin/sh /etc/rc.common');
    expect(text).toMatch(/^START=95$/m);
    expect(text).toMatch(/^STOP=10$/m);
    expect(text).toMatch(/^USE_PROCD=1$/m);
    expect(spawnSync(BUSYBOX, ['sh', '-n', data('etc/init.d/tunguard')]).status).toBe(0);
  });

  it('runs the bundled daemon with the UCI file, respawn, output to the log', () => {
    const r = initScript('start_service', {});
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toEqual([
      'config_load tunguard',
      'open_instance',
      'param command /usr/bin/tunguard run --config /etc/config/tunguard',
      'param respawn 3600 5 5',
      'param stdout 1',
      'param stderr 1',
      // procd applies capabilities and no_new_privs only through ujail (verified under real procd:
      // cross-build/openwrt-userland.sh); ujail clears the environment, hence PATH.
      'jail tunguard requirejail',
      'param env PATH=/usr/sbin:/usr/bin:/sbin:/bin TUNGUARD_LOG_TAGGED=1',
      'param capabilities /etc/capabilities/tunguard.json',
      'param no_new_privs 1',
      'close_instance',
    ]);
    // The files the command names are in the package (node comes from the node package).
    expect(JSON.parse(readFileSync(data('etc/capabilities/tunguard.json'), 'utf8')).bounding).toEqual([
      'CAP_NET_ADMIN',
      'CAP_NET_RAW',
      'CAP_BPF',
      'CAP_PERFMON',
      'CAP_SETPCAP',
    ]);
    expect(readFileSync(data('usr/lib/tunguard/tunguard.js')).length).toBeGreaterThan(0);
    // procd tags the output with the command's base name (tunguard[pid]), which is why the daemon is
    // told its lines are tagged: the command is the package's tunguard, which becomes node by exec.
    expect(readFileSync(data('usr/bin/tunguard'), 'utf8')).toMatch(CLI_EXEC_LINE);
    expect(readFileSync(data('etc/config/tunguard')).length).toBeGreaterThan(0);
  });

  it('with seccomp on: the filter, in a jail with a namespace (ujail filters only there)', () => {
    const r = initScript('start_service', { SECCOMP: '1' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('jail tunguard requirejail cgroupsns\n');
    expect(r.stdout).toContain('param seccomp /etc/seccomp/tunguard.json\n');
    const names = JSON.parse(readFileSync(data('etc/seccomp/tunguard.json'), 'utf8')).syscalls[0].names;
    for (const needed of ['bpf', 'execve', 'ioctl', 'socket', 'exit_group']) expect(names).toContain(needed);
    for (const never of ['ptrace', 'mount', 'init_module', 'kexec_load', 'setns', 'unshare'])
      expect(names).not.toContain(never);
  });

  it('honours enabled 0, and waits (no instance, a log line) while a WAN or LAN device does not exist', () => {
    const off = initScript('start_service', { ENABLED: '0' });
    expect(off.stdout).not.toContain('open_instance');
    expect(off.stdout).toMatch(/^log -t tunguard .*not started: option enabled is 0/m);
    const noWan = initScript('start_service', { WAN: 'tgnowan0' });
    expect(noWan.status).toBe(0);
    expect(noWan.stdout).not.toContain('open_instance');
    expect(noWan.stdout).toMatch(/^log -t tunguard .*waiting for the device 'tgnowan0'/m);
    // lan_device is a list: every device is waited for.
    const noLan = initScript('start_service', { LAN: 'lo tgnolan0' });
    expect(noLan.stdout).not.toContain('open_instance');
    expect(noLan.stdout).toMatch(/^log -t tunguard .*waiting for the device 'tgnolan0'/m);
  });

  it('with wan_follow: waits for an uplink (a default route), not for the configured WAN device', () => {
    const proc = mkdtempSync(join(tmpdir(), 'tunguard-procnet-'));
    try {
      // /proc/net as the kernel prints it: no default route yet (only the LAN's).
      writeFileSync(
        join(proc, 'route'),
        'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\nbr-lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n',
      );
      writeFileSync(
        join(proc, 'ipv6_route'),
        '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n',
      );
      const env = { FOLLOW: '1', WAN: 'tgnowan0', PROC_NET: proc };
      const waiting = initScript('start_service', env);
      expect(waiting.stdout).not.toContain('open_instance');
      expect(waiting.stdout).toMatch(/^log -t tunguard .*waiting for an uplink \(no default route yet/m);
      // Hotel Wi-Fi comes up: a default route on phy0-sta0. The configured WAN still does not exist.
      writeFileSync(
        join(proc, 'route'),
        `${readFileSync(join(proc, 'route'), 'utf8')}phy0-sta0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n`,
      );
      expect(initScript('start_service', env).stdout).toContain('open_instance');
      // An IPv6-only uplink counts too.
      writeFileSync(join(proc, 'route'), 'Iface\tDestination\n');
      writeFileSync(
        join(proc, 'ipv6_route'),
        '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003    wwan0\n',
      );
      expect(initScript('start_service', env).stdout).toContain('open_instance');
      // The control: without wan_follow the missing configured WAN is still waited for.
      expect(initScript('start_service', { ...env, FOLLOW: '0' }).stdout).not.toContain('open_instance');
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });

  it('triggers: reload on a commit of the tunguard config, start when an interface comes up', () => {
    const r = initScript('service_triggers', {});
    expect(r.stdout.trim().split('\n')).toEqual([
      'reload_trigger tunguard',
      'raw_trigger interface.* 2000 /etc/init.d/tunguard start',
    ]);
  });

  it('reload: SIGHUP to a running daemon; otherwise (stopped, switched off) through start', () => {
    expect(initScript('reload_service', { RUNNING: '1' }).stdout).toMatch(/^signal tunguard \* HUP$/m);
    expect(initScript('reload_service', { RUNNING: '0' }).stdout).toMatch(/^start$/m);
    const off = initScript('reload_service', { RUNNING: '1', ENABLED: '0' }).stdout;
    expect(off).toMatch(/^start$/m);
    expect(off).not.toMatch(/signal/);
  });
});

describe('the other shipped scripts', () => {
  it('/usr/bin/tunguard runs the bundle with node; the uci-defaults script parses', () => {
    expect(readFileSync(data('usr/bin/tunguard'), 'utf8')).toMatch(CLI_EXEC_LINE);
    for (const f of ['usr/bin/tunguard', 'etc/uci-defaults/95-tunguard'])
      expect(spawnSync(BUSYBOX, ['sh', '-n', data(f)]).status, f).toBe(0);
    const defaults = readFileSync(data('etc/uci-defaults/95-tunguard'), 'utf8');
    // The token the daemon reads (src/api/token.ts: 32..256 of [A-Za-z0-9_-]): 64 hex digits, 0600.
    expect(defaults).toContain(`hexdump -v -n 32 -e '32/1 "%02x"' /dev/urandom`);
    expect(defaults).toMatch(/umask 077/);
    expect(defaults).toMatch(/chmod 0600/);
    // The WAN is not baked in: wan_follow goes on while the file holds the shipped defaults.
    expect(defaults).not.toMatch(/network\.wan/);
    expect(defaults).toMatch(/set_option wan_follow 0 1/);
    // Nor is the LAN: lan_follow goes on likewise (lan_device stays the fallback).
    expect(defaults).toMatch(/set_option lan_follow 0 1/);
  });

  it('the token command of the uci-defaults script makes what the daemon accepts', () => {
    // busybox's hexdump, as on OpenWrt
    const r = spawnSync(BUSYBOX, ['hexdump', '-v', '-n', '32', '-e', '32/1 "%02x"', '/dev/urandom'], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}$/);
  });

  it('preinst: passes on this x86_64 with Node 20+, skips when an image is built', () => {
    const pre = join(ipk.dir, 'control', 'preinst');
    const r = spawnSync(BUSYBOX, ['sh', pre], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(
      spawnSync('/bin/sh', [pre], {
        encoding: 'utf8',
        env: { ...process.env, IPKG_INSTROOT: '/x', PATH: '' },
      }).status,
    ).toBe(0);
  });

  it('preinst: refuses MIPS, other CPUs, a kernel without TCX, a missing or old node, with the reason', () => {
    const pre = join(ipk.dir, 'control', 'preinst');
    // Stand-ins for uname and node on PATH: the refusals cannot be reached on this machine otherwise.
    const bin = mkdtempSync(join(work, 'bin-'));
    const run = (machine: string, nodeMajor: string | undefined, release = '6.6.73') => {
      writeFileSync(
        join(bin, 'uname'),
        `#!/bin/sh\nif [ "$1" = -r ]; then echo ${release}; else echo ${machine}; fi\n`,
        { mode: 0o755 },
      );
      rmSync(join(bin, 'node'), { force: true });
      if (nodeMajor) writeFileSync(join(bin, 'node'), `#!/bin/sh\necho ${nodeMajor}\n`, { mode: 0o755 });
      return spawnSync(BUSYBOX, ['sh', pre], { encoding: 'utf8', env: { PATH: `${bin}:/nonexistent` } });
    };
    const mips = run('mips', '20');
    expect(mips.status).toBe(1);
    expect(mips.stderr).toMatch(/mips is not supported: Node\.js has no port to 32-bit MIPS/);
    expect(run('mipsel', '20').status).toBe(1);
    const sparc = run('sparc64', '20');
    expect(sparc.status).toBe(1);
    expect(sparc.stderr).toMatch(/sparc64 is not supported/);
    const noNode = run('aarch64', undefined);
    expect(noNode.status).toBe(1);
    expect(noNode.stderr).toMatch(/node \(Node\.js 20 or newer\) is not installed/);
    const old = run('armv7l', '18');
    expect(old.status).toBe(1);
    expect(old.stderr).toMatch(/Node\.js 18 is too old: .*23\.05 ships 18 and is not supported/);
    // OpenWrt 23.05's kernel has no TCX; 24.10's 6.6 and anything later does.
    const oldKernel = run('aarch64', '20', '5.15.167');
    expect(oldKernel.status).toBe(1);
    expect(oldKernel.stderr).toMatch(/Linux 5\.15\.167 is too old: .*TCX links, which need Linux 6\.6/);
    expect(run('aarch64', '20', '6.1.0-56-arm64').status).toBe(1);
    expect(run('aarch64', '20', '6.12.95+deb12-arm64').status).toBe(0);
    expect(run('armv7l', '22').status).toBe(0);
    expect(run('x86_64', '20').status).toBe(0);
  });
});

describe('the firewall', () => {
  it('the package puts nothing into fw4: no nftables.d include, no rule that could widen a verdict', () => {
    // Steering is tc programs on the LAN devices (src/netcfg/steering.ts): nothing enters the
    // firewall from the TUN, so fw4's ruleset stays the user's own (test/lab/fw4.test.ts checks it).
    expect(readdirSync(join(ipk.dir, 'data', 'etc'))).toContain('init.d'); // the probe reads the package
    expect(existsSync(data('usr/share/nftables.d'))).toBe(false);
    expect(existsSync(data('etc/nftables.d'))).toBe(false);
  });
});

describe('openwrt/Makefile', () => {
  const mk = readFileSync(join(REPO_ROOT, 'openwrt/Makefile'), 'utf8');

  it('has package.json’s version, and depends on what the daemon runs', () => {
    const version = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version;
    expect(mk).toMatch(new RegExp(`^PKG_VERSION:=${version.replaceAll('.', '\\.')}$`, 'm'));
    const depends = /^\s*DEPENDS:=(.*)$/m.exec(mk)![1].split(/\s+/);
    // No FPU, no Node; and only the CPUs Node runs on and packages are built for (no MIPS).
    expect(depends).toContain('@HAS_FPU');
    expect(depends).toContain('@(aarch64||arm||x86_64)');
    // node; the TUN; `ip -j route` and older versions' `ip rule`s (busybox ip has neither); `nft -i`;
    // lmdb.node's C++ runtime; openssl signs the LAN API's certificate (src/api/tls-cert.ts); ujail,
    // without which procd would run the daemon as full root (the init script requires the jail); capsh,
    // which starts nmap with CAP_NET_RAW alone (src/inventory/nmap-launch.ts); nfnetlink_cthelper,
    // whose helper keeps proxied IPv4 connections out of fw4's flowtable (src/netcfg/ct-helper.ts).
    for (const d of [
      '+node',
      '+kmod-tun',
      '+kmod-nft-dup-inet',
      '+kmod-nfnetlink-cthelper',
      '+ip-full',
      '+firewall4',
      '+libstdcpp',
      '+openssl-util',
      '+procd-ujail',
      '+libcap-bin',
    ])
      expect(depends).toContain(d);
    expect(mk).toMatch(/define Package\/tunguard\/conffiles\n\/etc\/config\/tunguard\n/);
  });

  it('the Build/Compile recipe makes what the install recipe takes', () => {
    const install = /define Package\/tunguard\/install\n([\s\S]*?)\nendef/.exec(mk)![1];
    const compile = /define Build\/Compile\n([\s\S]*?)\nendef/.exec(mk)![1];
    expect(compile).toContain('node cross-build/bundle.mjs --out out/bundle');
    expect(compile).toContain('-o $(PKG_BUILD_DIR)/out/addons/tunguard_tun.node');
    expect(compile).toContain('$(PKG_BUILD_DIR)/out/addons/lmdb.node');
    for (const m of install.matchAll(/\$\(PKG_BUILD_DIR\)\/out\/(\S+)/g)) {
      const p = m[1];
      if (p === 'bundle/*.js') expect(readdirSync(join(OUT, 'bundle'))).toContain('tunguard.js');
      else if (p.startsWith('bundle/') && p.includes('*')) {
        // A pattern (bundle/bpf/*.o): the build made at least one file it matches.
        const [dir, pattern] = [p.slice(0, p.lastIndexOf('/')), p.slice(p.lastIndexOf('/') + 1)];
        const ext = pattern.replace(/^\*/, '');
        expect(readdirSync(join(OUT, dir)).filter((f) => f.endsWith(ext)).length, p).toBeGreaterThan(0);
      } else if (p.startsWith('bundle/')) expect(readFileSync(join(OUT, p)).length, p).toBeGreaterThan(0);
      else expect(p).toMatch(/^addons\/(tunguard_tun|lmdb)\.node$/);
    }
  });
});
