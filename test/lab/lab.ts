// The network-namespace lab: wan ─ rtr ─ lan (and an optional lan2 behind lan with a small MTU),
// real veth links, IPv4 + IPv6 from documentation ranges, tunguard running in rtr. Everything it
// makes is named with the `tgl-` prefix so leftovers of a crashed run can be found and removed.
// One file (about 630 lines): every lab suite, bench and the demo build on the same topology,
// addresses and tunguard start, so they stay together.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importDirOf } from '../../src/remediation/import-file.js';

export const NS_PREFIX = 'tgl-';

/** Addresses of the lab (RFC 5737 / RFC 3849 ranges only). */
export const ADDR = {
  wan4: '198.51.100.2',
  rtrWan4: '198.51.100.1',
  lan4: '192.0.2.2',
  rtrLan4: '192.0.2.1',
  lan2_4: '203.0.113.2',
  lanToLan2_4: '203.0.113.1',
  wan6: '2001:db8:1::2',
  rtrWan6: '2001:db8:1::1',
  lan6: '2001:db8:2::2',
  /** A second address of the LAN host that no firewall rule opens (unsolicited WAN → LAN). */
  lanClosed4: '192.0.2.3',
  /** …and its IPv6 twin, which fw4's lab config opens on tcp 8080 only. */
  lanClosed6: '2001:db8:2::3',
  rtrLan6: '2001:db8:2::1',
  lan2_6: '2001:db8:3::2',
  lanToLan2_6: '2001:db8:3::1',
} as const;

/** Tools the lab needs, with the Debian package that provides each. */
export const LAB_TOOLS: Record<string, string> = {
  ip: 'iproute2',
  tc: 'iproute2',
  ping: 'iputils-ping',
  curl: 'curl',
  iperf3: 'iperf3',
  python3: 'python3',
  sha256sum: 'coreutils',
  nft: 'nftables',
};

/** Tools some lab suites and benches need beyond those, with their Debian packages. */
const OTHER_TOOLS: Record<string, string> = { perf: 'linux-perf' };

/** Throws one clear error naming every missing tool and its package (never a silent skip). */
export function requireTools(tools: readonly string[] = Object.keys(LAB_TOOLS)): void {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => LAB_TOOLS[t] ?? OTHER_TOOLS[t] ?? t))].join(' ');
    throw new Error(`lab tools missing: ${missing.join(', ')} (apt-get install -y ${pkgs})`);
  }
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces, TUN)');
  if (!existsSync('/dev/net/tun')) throw new Error('the lab needs /dev/net/tun');
}

export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

/** The Node.js flags the package's command runs the daemon with (openwrt/files/tunguard.cli). */
export const PACKAGE_NODE_FLAGS: readonly string[] = (() => {
  const wrapper = readFileSync(join(REPO_ROOT, 'openwrt', 'files', 'tunguard.cli'), 'utf8');
  const m = wrapper.match(
    /^exec \/usr\/bin\/node((?: --[\w-]+(?:=\S+)?)*) \/usr\/lib\/tunguard\/tunguard\.js/m,
  );
  if (!m)
    throw new Error(
      'openwrt/files/tunguard.cli: no `exec /usr/bin/node [flags] /usr/lib/tunguard/tunguard.js` line',
    );
  return m[1].trim().split(' ').filter(Boolean);
})();

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills what still runs inside a namespace (or it lingers), then deletes it. */
function deleteNamespace(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split('\n').filter(Boolean)) spawnSync('kill', ['-9', pid]);
  spawnSync('ip', ['netns', 'del', name]);
}

/** Removes every namespace left by an earlier (crashed) run. */
export function cleanLeftovers(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    // Names end in the pid of the run that made them: leave those of a run that is still alive.
    const pid = Number(name.split('-').pop());
    if (name.startsWith(NS_PREFIX) && !(pid > 0 && pidAlive(pid))) {
      deleteNamespace(name);
    }
  }
}

export interface LabOptions {
  /** A host behind `lan` on a 1280-byte MTU link (PMTU tests). */
  lan2?: boolean;
  /**
   * The router's firewall: OpenWrt's real fw4 ruleset (test/fixtures/fw4): 'lab' (stock + rules
   * opening the lab hosts the suites talk to, the default), 'stock' (stock + one port forward),
   * or 'none' (no firewall: only for what must see the kernel without one).
   */
  firewall?: 'lab' | 'stock' | 'none';
  /**
   * Where the daemon's state directory is made (default: the OS's temp directory). A router keeps
   * it in RAM (/var/run); the benches do too (RAM_STATE_BASE), so that the store's writes cost
   * what they cost there and no disk writeback competes for the CPUs measured.
   */
  stateBase?: string;
}

/** A tmpfs every Linux has, for LabOptions.stateBase. */
export const RAM_STATE_BASE = '/dev/shm';

/** The fw4 ruleset `name` as the lab router loads it (the user's /etc/nftables.d include left out). */
export function fw4Ruleset(name: 'lab' | 'stock' | 'offload'): string {
  const text = readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'fw4', `${name}.nft`), 'utf8');
  // The include reads the host's /etc/nftables.d: a lab router has no user includes.
  return text.replace(/^\s*include "\/etc\/nftables\.d\/\*\.nft"\n/m, '');
}

export class TunguardProcess {
  output = '';
  private exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Resolves when tunguard logs that steering is up; rejects if it exits first or times out. */
  async ready(timeoutMs = 15_000): Promise<void> {
    const t0 = Date.now();
    while (!this.output.includes('steering up')) {
      if (this.proc.exitCode !== null)
        throw new Error(`tunguard exited (${this.proc.exitCode}):\n${this.output}`);
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`tunguard not ready after ${timeoutMs} ms:\n${this.output}`);
      await sleep(20);
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    // A failed stop is diagnosed from what the daemon said on the way out.
    if (code !== 0)
      process.stderr.write(`tunguard exited ${code} on ${signal}; its output:\n${this.output}\n`);
    return code;
  }

  wait(): Promise<number | null> {
    return this.exited;
  }
}

export interface TunguardStatus {
  pid: number;
  /** As of the file's write (it is rewritten when something changed, and every 30 s). */
  uptimeSeconds: number;
  counters: Record<string, number>;
  perWorker: Record<string, number>[];
}

export class Lab {
  readonly ns: { wan: string; rtr: string; lan: string; lan2: string };
  readonly stateDir: string;
  private readonly children = new Set<ChildProcess>();
  tunguard?: TunguardProcess;

  private constructor(readonly opts: LabOptions) {
    const tag = `${process.pid}`;
    this.ns = {
      wan: `${NS_PREFIX}wan-${tag}`,
      rtr: `${NS_PREFIX}rtr-${tag}`,
      lan: `${NS_PREFIX}lan-${tag}`,
      lan2: `${NS_PREFIX}lan2-${tag}`,
    };
    this.stateDir = mkdtempSync(join(opts.stateBase ?? tmpdir(), 'tunguard-lab-'));
  }

  /** Builds the topology (cleaning leftovers of crashed runs first). */
  static create(opts: LabOptions = {}): Lab {
    requireTools();
    cleanLeftovers();
    const lab = new Lab(opts);
    try {
      lab.build();
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  private build(): void {
    const { wan, rtr, lan, lan2 } = this.ns;
    const names = this.opts.lan2 ? [wan, rtr, lan, lan2] : [wan, rtr, lan];
    for (const n of names) {
      sh('ip', ['netns', 'add', n]);
      this.run(n, 'ip', ['link', 'set', 'lo', 'up']);
      // No DAD: addresses are usable at once, and nothing else shares these links.
      this.sysctl(n, 'net.ipv6.conf.all.accept_dad', '0');
      this.sysctl(n, 'net.ipv6.conf.default.accept_dad', '0');
    }
    this.link(wan, 'eth0', rtr, 'wan0');
    this.link(lan, 'eth0', rtr, 'lan0');
    this.addr(wan, 'eth0', `${ADDR.wan4}/24`, `${ADDR.wan6}/64`);
    this.addr(rtr, 'wan0', `${ADDR.rtrWan4}/24`, `${ADDR.rtrWan6}/64`);
    this.addr(rtr, 'lan0', `${ADDR.rtrLan4}/24`, `${ADDR.rtrLan6}/64`);
    this.addr(lan, 'eth0', `${ADDR.lan4}/24`, `${ADDR.lan6}/64`);
    // Second addresses, never chosen as a source (IPv4: secondary; IPv6: deprecated), so the host's
    // own connections keep coming from .2 and a server's unbound UDP replies match their flow.
    this.run(lan, 'ip', ['addr', 'add', `${ADDR.lanClosed4}/24`, 'dev', 'eth0']);
    this.run(lan, 'ip', [
      '-6',
      'addr',
      'add',
      `${ADDR.lanClosed6}/64`,
      'dev',
      'eth0',
      'nodad',
      'preferred_lft',
      '0',
    ]);
    this.run(wan, 'ip', ['route', 'add', 'default', 'via', ADDR.rtrWan4]);
    this.run(wan, 'ip', ['-6', 'route', 'add', 'default', 'via', ADDR.rtrWan6]);
    this.run(lan, 'ip', ['route', 'add', 'default', 'via', ADDR.rtrLan4]);
    this.run(lan, 'ip', ['-6', 'route', 'add', 'default', 'via', ADDR.rtrLan6]);
    this.sysctl(rtr, 'net.ipv4.ip_forward', '1');
    this.sysctl(rtr, 'net.ipv6.conf.all.forwarding', '1');
    // The end hosts never forward, whatever the machine's own setting (a new namespace copies the
    // host's ip_forward): a spoofed flood's SYN-ACKs, routed back into wan, would otherwise bounce
    // between wan and rtr until their TTL ran out (~32 round trips each).
    for (const host of [wan, lan]) {
      this.sysctl(host, 'net.ipv4.ip_forward', '0');
      this.sysctl(host, 'net.ipv6.conf.all.forwarding', '0');
    }
    if (this.opts.lan2) {
      this.link(lan2, 'eth0', lan, 'eth1', 1280);
      this.addr(lan, 'eth1', `${ADDR.lanToLan2_4}/24`, `${ADDR.lanToLan2_6}/64`);
      this.addr(lan2, 'eth0', `${ADDR.lan2_4}/24`, `${ADDR.lan2_6}/64`);
      this.run(lan2, 'ip', ['route', 'add', 'default', 'via', ADDR.lanToLan2_4]);
      this.run(lan2, 'ip', ['-6', 'route', 'add', 'default', 'via', ADDR.lanToLan2_6]);
      this.sysctl(lan2, 'net.ipv4.ip_forward', '0');
      this.sysctl(lan2, 'net.ipv6.conf.all.forwarding', '0');
      this.sysctl(lan, 'net.ipv4.ip_forward', '1');
      this.sysctl(lan, 'net.ipv6.conf.all.forwarding', '1');
      this.run(rtr, 'ip', ['route', 'add', '203.0.113.0/24', 'via', ADDR.lan4]);
      this.run(rtr, 'ip', ['-6', 'route', 'add', '2001:db8:3::/64', 'via', ADDR.lan6]);
    }
    const fw = this.opts.firewall ?? 'lab';
    if (fw !== 'none') this.loadFirewall(fw);
  }

  /** Loads an fw4 ruleset into the router (replacing the one there). */
  loadFirewall(name: 'lab' | 'stock' | 'offload'): void {
    const file = join(this.stateDir, `fw4-${name}.nft`);
    writeFileSync(file, fw4Ruleset(name));
    this.run(this.ns.rtr, 'nft', ['-f', file]);
  }

  private link(nsA: string, devA: string, nsB: string, devB: string, mtu = 1500): void {
    const tmpA = `tgA${process.pid % 100000}${devB}`.slice(0, 15);
    const tmpB = `tgB${process.pid % 100000}${devB}`.slice(0, 15);
    sh('ip', [
      'link',
      'add',
      tmpA,
      'mtu',
      String(mtu),
      'type',
      'veth',
      'peer',
      'name',
      tmpB,
      'mtu',
      String(mtu),
    ]);
    sh('ip', ['link', 'set', tmpA, 'netns', nsA, 'name', devA]);
    sh('ip', ['link', 'set', tmpB, 'netns', nsB, 'name', devB]);
    this.run(nsA, 'ip', ['link', 'set', devA, 'up']);
    this.run(nsB, 'ip', ['link', 'set', devB, 'up']);
  }

  private addr(ns: string, dev: string, a4: string, a6: string): void {
    this.run(ns, 'ip', ['addr', 'add', a4, 'dev', dev]);
    this.run(ns, 'ip', ['-6', 'addr', 'add', a6, 'dev', dev, 'nodad']);
  }

  sysctl(ns: string, key: string, value: string): void {
    this.run(ns, 'sysctl', ['-qw', `${key}=${value}`]);
  }

  /** Runs a command in a namespace to completion; throws with its output if it fails. */
  run(ns: string, cmd: string, args: readonly string[], timeoutMs = 60_000): string {
    const r = this.exec(ns, cmd, args, timeoutMs);
    if (r.code !== 0)
      throw new Error(`[${ns}] ${cmd} ${args.join(' ')} → exit ${r.code}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Runs a command in a namespace to completion and returns its exit code and output. */
  exec(ns: string, cmd: string, args: readonly string[], timeoutMs = 60_000): ExecResult {
    const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
    });
    return {
      code: r.status ?? -1,
      stdout: r.stdout ?? '',
      stderr: (r.stderr ?? '') + (r.error ? String(r.error) : ''),
    };
  }

  /** Async variant of exec() for commands that run while the test does something else. */
  execAsync(ns: string, cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
    const p = this.spawn(ns, cmd, args);
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    return new Promise((resolve) =>
      p.once('close', (code) => {
        clearTimeout(t);
        resolve({ code: code ?? -1, stdout, stderr });
      }),
    );
  }

  /** Starts a long-running process in a namespace; it is killed at destroy(). `env`: its environment. */
  spawn(ns: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env ? { env } : {}),
    });
    this.children.add(p);
    p.once('exit', () => this.children.delete(p));
    return p;
  }

  /**
   * Starts tunguard in rtr between wan0 and lan0. With `caps` (or TUNGUARD_LAB_CAPS=net_admin,net_raw,...
   * for a whole suite) it runs as procd's capabilities file runs it: root, with only those capabilities
   * in its bounding set (so in its children's too), none inheritable, no_new_privs, and the securebits
   * ujail locks (KEEP_CAPS, NO_SETUID_FIXUP and NOROOT, all off), which some tools trip over.
   */
  startTunguard(
    extra: readonly string[] = [],
    devices = true,
    env?: NodeJS.ProcessEnv,
    caps: readonly string[] | undefined = process.env.TUNGUARD_LAB_CAPS?.split(',').filter(Boolean),
  ): TunguardProcess {
    const bin = join(REPO_ROOT, 'bin', 'tunguard');
    const dev = devices ? ['--wan', 'wan0', '--lan', 'lan0'] : [];
    const daemon = [
      process.execPath,
      ...PACKAGE_NODE_FLAGS,
      bin,
      'run',
      ...dev,
      '--state-dir',
      this.stateDir,
      ...extra,
    ];
    const bounded = caps
      ? [
          'setpriv',
          '--securebits',
          '+keep_caps_locked,+no_setuid_fixup_locked,+noroot_locked',
          '--no-new-privs',
          '--inh-caps',
          '-all',
          '--bounding-set',
          ['-all', ...caps.map((c) => `+${c}`)].join(','),
          '--',
          ...daemon,
        ]
      : daemon;
    const p = this.spawn(this.ns.rtr, bounded[0], bounded.slice(1), env);
    this.tunguard = new TunguardProcess(p);
    return this.tunguard;
  }

  /** Where the daemon reads report and feed files named in a request (`<state_dir>/import`). */
  get importDir(): string {
    return importDirOf(this.stateDir);
  }

  /** Copies `file` into the import directory; returns the copy's path (what /scans and /threats/feed take). */
  importable(file: string): string {
    mkdirSync(this.importDir, { recursive: true, mode: 0o700 });
    const to = join(this.importDir, basename(file));
    copyFileSync(file, to);
    return to;
  }

  /**
   * Calls tunguard's API with curl inside the router namespace (as a script on the router would):
   * `url` is absolute; a JSON `body` is sent as such. The body comes back as text and, if it is JSON, parsed.
   */
  api(token: string, method: string, url: string, body?: unknown): ApiResult {
    const args = ['-sS', '-X', method, '-H', `Authorization: Bearer ${token}`, '-w', '\n%{http_code}'];
    if (body !== undefined)
      args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
    const out = this.run(this.ns.rtr, 'curl', [...args, '--max-time', '20', url], 25_000);
    const nl = out.lastIndexOf('\n');
    const text = out.slice(0, nl);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: Number(out.slice(nl + 1)), json, text };
  }

  /**
   * A tunguard config file for this lab: wan0/lan0, the lab's state dir, the API on 127.0.0.1:7447,
   * then `extra` (more sections).
   */
  config(extra = ''): string {
    return `config tunguard 'main'
\toption wan_device 'wan0'
\tlist lan_device 'lan0'
\toption state_dir '${this.stateDir}'

config api 'api'
\tlist listen '127.0.0.1:7447'
${extra}`;
  }

  /** tunguard's own counters, from the status file it rewrites every second. */
  status(): TunguardStatus {
    return JSON.parse(readFileSync(join(this.stateDir, 'status.json'), 'utf8'));
  }

  /** status() once the file has been rewritten after this call (counters are at most 1 s old). */
  async freshStatus(): Promise<TunguardStatus> {
    const file = join(this.stateDir, 'status.json');
    // The first write follows the "steering up" line that ready() waits for: it may not be there yet.
    for (let i = 0; i < 40 && !existsSync(file); i++) await sleep(50);
    const t0 = statSync(file).mtimeMs;
    for (let i = 0; i < 40 && statSync(file).mtimeMs === t0; i++) await sleep(50);
    return this.status();
  }

  /** Waits until an iperf3 server answers (a 1 KiB test). */
  waitIperf(host: string, port = 5201): void {
    this.run(this.ns.wan, 'sh', [
      '-c',
      `for i in $(seq 50); do iperf3 -c ${host} -p ${port} -n 1K >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1`,
    ]);
  }

  /**
   * The programs the kernel runs on a router device's TCX hooks (BPF_PROG_QUERY from inside the
   * router's namespace), e.g. `{ ingress: 1, egress: 1 }` on a steered LAN device; none when absent.
   */
  tcx(dev: string): { ingress: number; egress: number } {
    const addon = join(REPO_ROOT, 'native', 'build', 'Release', 'tunguard_tun.node');
    const out = this.run(this.ns.rtr, process.execPath, [
      '-e',
      `const a = require(${JSON.stringify(addon)}); const i = Number(require('fs').readFileSync('/sys/class/net/${dev}/ifindex', 'utf8'));
       console.log(JSON.stringify({ ingress: a.tcxCount(i, false), egress: a.tcxCount(i, true) }));`,
    ]);
    return JSON.parse(out);
  }

  /** The names of the cls_bpf filters at a router device's hooks, in the order they run (tc). */
  tcFilters(dev: string): { ingress: string[]; egress: string[] } {
    const names = (hook: string) =>
      [
        ...this.run(this.ns.rtr, 'tc', ['filter', 'show', 'dev', dev, hook]).matchAll(
          / bpf .*handle 0x1 (\S+) direct-action/g,
        ),
      ].map((m) => m[1]);
    return { ingress: names('ingress'), egress: names('egress') };
  }

  /** Drops `pct` % of the packets a host sends and receives (nft numgen); returns the undo. */
  impairLoss(ns: string, pct: number): () => void {
    const file = join(this.stateDir, `impair-${ns}.nft`);
    const drop = `numgen random mod 1000 < ${Math.round(pct * 10)} drop`;
    writeFileSync(
      file,
      `table inet tglimpair {
        chain in { type filter hook input priority -300; ${drop}; }
        chain out { type filter hook output priority -300; ${drop}; }
      }\n`,
    );
    this.run(ns, 'nft', ['-f', file], 10_000);
    return () => void this.exec(ns, 'nft', ['delete', 'table', 'inet', 'tglimpair']);
  }

  /**
   * Reorders what leaves `dev`: HTB sends every other packet (odd IPv4 id; for IPv6 bit 2 of the TCP
   * sequence number) through a slow class, so the fast ones overtake them. Returns the undo.
   */
  impairReorder(ns: string, dev: string): () => void {
    const tc = (args: string) => this.run(ns, 'tc', args.split(' '));
    tc(`qdisc add dev ${dev} root handle 1: htb default 10`);
    tc(`class add dev ${dev} parent 1: classid 1:10 htb rate 10gbit`);
    tc(`class add dev ${dev} parent 1: classid 1:20 htb rate 300mbit`);
    tc(`filter add dev ${dev} parent 1: protocol ip prio 1 u32 match u16 0x0001 0x0001 at 4 flowid 1:20`);
    tc(
      `filter add dev ${dev} parent 1: protocol ipv6 prio 2 u32 match u32 0x00000004 0x00000004 at 44 flowid 1:20`,
    );
    return () => void this.exec(ns, 'tc', ['qdisc', 'del', 'dev', dev, 'root']);
  }

  /** The kernel's counters of a device in a namespace (proof that traffic crossed it). */
  devStats(ns: string, dev: string): { rxPackets: number; txPackets: number } {
    const out = this.run(ns, 'cat', [
      `/sys/class/net/${dev}/statistics/rx_packets`,
      `/sys/class/net/${dev}/statistics/tx_packets`,
    ]);
    const [rx, tx] = out.trim().split('\n').map(Number);
    return { rxPackets: rx, txPackets: tx };
  }

  /** Tears everything down; safe to call twice and after a failure. */
  destroy(): void {
    for (const p of this.children) p.kill('SIGKILL');
    this.children.clear();
    for (const n of Object.values(this.ns)) deleteNamespace(n);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** An API answer: the status, the body as text, and parsed when it is JSON. */
export interface ApiResult {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience (API bodies are checked by the assertions)
  json: any;
}

/** Polls `ok` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A real HTTP file server (node:http) to run inside a namespace. */
export const HTTP_SERVER_JS = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const [root, port, ...hosts] = process.argv.slice(1);
for (const host of hosts) {
  http.createServer((req, res) => {
    if (req.url === '/whoami') { res.end(req.socket.remoteAddress + '\\n'); return; }
    const f = path.join(root, path.basename(decodeURIComponent(req.url.split('?')[0])));
    fs.stat(f, (err, st) => {
      if (err || !st.isFile()) { res.writeHead(404); res.end('not found\\n'); return; }
      res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
      fs.createReadStream(f).pipe(res);
    });
  }).listen(Number(port), host, () => console.log('listening ' + host));
}
`;

/** Starts the HTTP server in `ns` serving `root` on the given addresses; waits until it listens. */
export async function startHttpServer(
  lab: Lab,
  ns: string,
  root: string,
  port: number,
  hosts: string[],
): Promise<void> {
  const p = lab.spawn(ns, process.execPath, ['-e', HTTP_SERVER_JS, root, String(port), ...hosts]);
  let out = '';
  p.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const t0 = Date.now();
  while ((out.match(/listening/g) ?? []).length < hosts.length) {
    if (p.exitCode !== null) throw new Error(`http server exited: ${out}`);
    if (Date.now() - t0 > 10_000) throw new Error('http server did not start');
    await sleep(20);
  }
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
