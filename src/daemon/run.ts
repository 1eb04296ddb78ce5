// `tunguard run`: the daemon. Opens the TUN, starts the dataplane, steers traffic, and on SIGTERM or
// SIGINT takes steering down before the device goes away.
// One file (about 1000 lines): the start is one ordered sequence (config, TUN, dataplane, nft tables,
// steering, API) whose stop must undo it in reverse; the parts it wires live in their own modules.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describeInForce } from '../api/config-status.js';
import { isWildcardHost } from '../api/server.js';
import { parseCommand } from '../cli/args.js';
import { surviveClosedPipe, writeTo } from '../cli/pipes.js';
import { checkPrivileges, readPrivileges } from '../cli/privileges.js';
import { CliError, EXIT, UsageError } from '../cli/usage.js';
import { tunguardVersion } from '../cli/version.js';
import { type ListenAddress, parseListen, type TunguardConfig } from '../config/index.js';
import type { AttackerMarks } from '../dataplane/attacker-batch.js';
import { DATAPLANE_DEFAULTS, Dataplane } from '../dataplane/dataplane.js';
import type { StageEnv } from '../dataplane/stages/index.js';
import { DhcpTap } from '../inventory/dhcp-tap.js';
import { narrowingBlocked } from '../inventory/nmap-launch.js';
import { ctHelperMissing, registerCtHelper, removeCtHelper } from '../netcfg/ct-helper.js';
import { FastPath } from '../netcfg/fast-path.js';
import { kernelLimits } from '../netcfg/kernel-limits.js';
import { lanDevicesOf, lanLinks, lanPrefixes, linkNames } from '../netcfg/lan.js';
import { type GuardPrefixes, guardedPrefixes4, guardedPrefixes6 } from '../netcfg/offload-guard.js';
import { installOffloadGuardRule, removeOffloadGuardRule } from '../netcfg/offload-guard-mark.js';
import { addressDiff, RouterAddressWatch, routerAddresses } from '../netcfg/router-addresses.js';
import { RouterEgress } from '../netcfg/router-egress.js';
import { removeRouterRoutes } from '../netcfg/router-local.js';
import { SourceRuleWatch } from '../netcfg/source-rules.js';
import {
  checkSteering,
  interfaceExists,
  interfaceMtu,
  STEERING_DEFAULTS,
  Steering,
  steeredLan,
} from '../netcfg/steering.js';
import { REINJECT_MARK } from '../netcfg/steering-programs.js';
import { FAST_NOTRACK_ASK_MARK, FAST_NOTRACK_MARK, nftAvailable, SynPolice } from '../netcfg/syn-police.js';
import {
  chooseTcAttach,
  TC_ATTACH_CHOICES,
  type TcAttachChoice,
  tcAttachInUse,
} from '../netcfg/tc-attach.js';
import { dumpNow, type NetifdFollower, NetifdWatch, readNow, uplinkDevices } from '../netcfg/uplinks.js';
import { claimWan } from '../netcfg/wan-lock.js';
import { KernelXlate, xlateMapSize } from '../netcfg/xlate.js';
import { writeFileAtomicSync } from '../state/atomic-file.js';
import { type ConnRecord, ConnStore, type ConnSync } from '../state/connstore.js';
import { loadOrCreateKey } from '../state/keyfile.js';
import { loadAddon } from '../tun/addon.js';
import { offloadNames } from '../tun/device.js';
import { MapType } from '../tun/ebpf.js';
import { BYPASS_KEY_SIZE, BYPASS_MAX_FLOWS } from '../tun/flow-bypass.js';
import { ControlPlane, wanListenIssues } from './control.js';
import { FlowOffloadReport } from './flow-offload.js';
import { type Log, LogBudget, logLine, logPrefix, takeOverWarnings } from './log.js';
import { startConfig } from './start-config.js';

type DataplaneEvent = { type?: string } & Partial<ConnSync> & {
    from?: string;
    to?: string;
    synCount?: number;
    halfOpen?: number;
  };

export const RUN_HELP = `usage: tunguard run --wan <dev> --lan <dev> [options]

Runs the daemon in the current network namespace, in the foreground (needs root).

  --wan <dev>          WAN device whose forwarded traffic is steered through tunguard (required)
  --lan <dev>          LAN device; repeat for several (required)
  --config <file>      UCI configuration file (default: none; built-in defaults)
  --state-dir <dir>    runtime state: status.json, connection store (default /var/run/tunguard);
                       with it, the remediation store goes to <dir>/durable unless the config
                       names a writable durable_dir other than /etc/tunguard
  --tun <name>         TUN device name (default ${DATAPLANE_DEFAULTS.tunName})
  --queues <n>         TUN queues, one dataplane worker each (default ${DATAPLANE_DEFAULTS.queues})
  --spread <how>       with several queues: 'address' (default; by remote address, so one
                       source's SYNs meet in one worker) or 'flow' (the kernel's 4-tuple hash)
  --table <id>         the policy-routing table an older tunguard steered through: its leftover
                       rules are removed at start (default ${STEERING_DEFAULTS.table})
  --no-ipv6            steer IPv4 only
  --no-offload         no virtio-net header / TSO (slow; for debugging)
  --no-synproxy        forward inbound TCP without the SYN proxy (rate limits stay on)
  --pass-through       no defense stages at all: forward everything (benchmarks, debugging)
  --no-bypass          every forwarded packet crosses the TUN (by default the LAN's own flows take the
                       kernel path once tunguard has seen their first bytes, and proxied connections
                       are translated in the kernel once the LAN host has sent its first bytes)
  --no-kernel-limits   the ICMP/UDP limits in the dataplane only (by default the kernel drops what is
                       over the global rates first, before the TUN)
  --no-protect-router  leave the router's own services (SSH, LuCI on its WAN address) unproxied
                       (default from the config's protect_router)
  --no-router-follow   protect the router's addresses of the start only (by default they are read
                       again every second: a new uplink or a renewed address is protected at once)
  --fast-path <how>    answer SYN floods in the kernel (eBPF) in the moderate and risky tiers:
                       'auto' (default: where the kernel allows it, else the proxy answers them),
                       'on' (fail when it cannot), 'off' (default from the config's fast_path)
  --tc-attach <how>    how the tc programs are attached: 'auto' (default: TCX links, Linux 6.6+;
                       else cls_bpf filters behind a guard that lets everything pass once the
                       daemon's 100 ms heartbeat is 1 s stale), 'tcx' or 'cls_bpf' (either only)
  --wan-follow         follow netifd's uplinks at run time (ubus call network.interface dump every
                       second): the SYN police moves to the new WAN device without a restart
  --lan-follow         take the LAN devices from netifd's lan_network interfaces (default 'lan') at
                       start and at run time: a re-created or renamed bridge is steered again without
                       a restart (--lan / lan_device: the fallback when netifd names none)
  --no-passive         do not sample LAN hosts' packets nor read their DHCP requests (passive inventory)
  --dhcp-leases <file> dnsmasq lease file read for the passive inventory (default /tmp/dhcp.leases;
                       '' = none)
  --syn-police <n>     new WAN SYNs/s let through to the TUN, the excess dropped in the kernel
                       before it can crowd out other traffic (default 40000 per queue; 0 = off);
                       clients that completed a proxied handshake in the last 10 min skip it
  --spin-us <us>       poll this long for more packets before sleeping (default ${DATAPLANE_DEFAULTS.spinUs})
  --status-interval <s> seconds between status.json writes at most (default 1; 0 = never): it is
                       rewritten when something changed, and every 30 s regardless
  --api <addr:port>    the API listens here only (default: the config's api listen, 127.0.0.1:7447)
  -h, --help           this text

A --config file with errors does not stop the start: the daemon runs on the last good configuration
(kept in the state dir), else the file without its bad lines, else the defaults, and says so in the log
and the status until a reload (SIGHUP) takes the fixed file.

Exit codes: 0 clean stop, 1 runtime failure (or another daemon already steers the WAN device),
2 usage error.
`;

/** Attackers listed in status.json (most unfinished handshakes first); the API lists them all. */
const STATUS_ATTACKERS = 10;
/** The kernel limits' drop counts are read at least this often, traffic or not (see their timer). */
/**
 * status.json is rewritten when something changed (at most once per status interval), and at
 * least this often regardless: its uptime and what changes without an event (the inventory's
 * summary) are never older.
 */
const STATUS_MAX_AGE_MS = 30_000;

/** The built-in durable_dir (src/config/schema.ts). */
const DEFAULT_DURABLE_DIR = '/etc/tunguard';

/**
 * Where the remediation service keeps its store: the config's durable_dir; but with --state-dir (tests,
 * trial runs) <state-dir>/durable when durable_dir is the built-in /etc/tunguard (as root it is always
 * writable, and a trial run must not write there) or is not writable.
 */
export function remediationDir(durableDir: string, stateDirFlag: string | undefined): string {
  if (stateDirFlag === undefined) return durableDir;
  if (durableDir !== DEFAULT_DURABLE_DIR && writableDir(durableDir)) return durableDir;
  return join(stateDirFlag, 'durable');
}

/** Whether a directory exists and is writable, or could be created (its nearest existing parent is). */
function writableDir(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(d)) {
      try {
        if (!statSync(d).isDirectory()) return false;
        accessSync(d, constants.W_OK);
        return true;
      } catch {
        return false;
      }
    }
    if (dirname(d) === d) return false;
  }
}

function intFlag(v: string | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${name}: expected an integer ${min}..${max}, got '${v}'`, RUN_HELP);
  return Number(v);
}

export async function runCommand(argv: string[]): Promise<number> {
  const v = parse(argv).values;
  if (v.help) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  surviveClosedPipe();
  takeOverWarnings(log);
  // The UCI file gives the settings; a flag given on the command line wins over it. A file with errors
  // does not stop the start: the daemon protects on a fallback and says so (./start-config.ts).
  // The API never listens on the WAN side: such a listen line is a config error like any other (left
  // out at start). The WAN device is the flag's, else the file's.
  const started = startConfig(v.config, v['state-dir'], (c, text) =>
    v.api !== undefined ? [] : wanListenIssues(c, text, v.wan ?? c.main.wanDevice),
  );
  // [api] The store keeps the file's text for the API's config routes and SIGHUP reloads.
  const store = started.store;
  const config = store.config;
  if (started.fallback)
    log(
      `config: ERROR: ${v.config} has errors; running on ${describeInForce(started.fallback.inForce)} until it is fixed and reloaded (SIGHUP): ${started.fallback.problems.join('; ')}`,
      'error',
      { in_force: started.fallback.inForce, file: v.config },
    );
  const m = config.main;
  const follow = Boolean(v['wan-follow'] || m.wanFollow);
  const lanFollow = Boolean(v['lan-follow'] || m.lanFollow);
  // Following netifd, the uplink it has now is the start WAN (a travel router's configured device may
  // be today's hotel Wi-Fi or nothing at all), and its LAN interfaces' devices the start LAN; the
  // configured ones when netifd names none.
  const startDump = follow || lanFollow ? dumpNow() : undefined;
  const netifd =
    startDump && follow
      ? readNow(startDump, uplinkDevices, 'no interface is up with a default route')
      : undefined;
  if (netifd?.error)
    log(`wan: netifd names no uplink at start (${netifd.error}); starting on the configured WAN`);
  const lanOf = (dump: unknown) => lanLinks(lanDevicesOf(dump, m.lanNetworks));
  const netifdLan =
    startDump && lanFollow
      ? readNow(startDump, lanOf, `no ${m.lanNetworks.join('/')} interface is up`)
      : undefined;
  if (netifdLan?.error)
    log(`lan: netifd names no LAN device at start (${netifdLan.error}); starting on the configured LAN`);
  const wan = netifd?.devices[0] ?? v.wan ?? (v.config !== undefined ? m.wanDevice : undefined);
  const lan = netifdLan?.devices.length
    ? linkNames(netifdLan.devices)
    : (v.lan ?? (v.config !== undefined ? m.lanDevices : undefined));
  if (!wan) throw new UsageError('--wan is required (or wan_device in --config)', RUN_HELP);
  if (!lan || lan.length === 0)
    throw new UsageError('--lan is required (or lan_device in --config)', RUN_HELP);
  const table = intFlag(v.table, 'table', m.routeTable, 1, 0x7ffffff0);
  const steering = {
    tun: v.tun ?? m.tunName,
    wan,
    lan,
    table,
    ipv6: v['no-ipv6'] ? false : m.ipv6,
  };
  const queues = intFlag(v.queues, 'queues', m.queues, 1, 16);
  const xlateConns = xlateMapSize(); // before anything is opened: a bad value stops the start
  const spread = v.spread ?? 'address';
  const fastChoice = v['fast-path'] ?? config.defense.syn.fastPath;
  const tcChoice = v['tc-attach'] ?? 'auto';
  if (!(TC_ATTACH_CHOICES as readonly string[]).includes(tcChoice))
    throw new UsageError(`--tc-attach must be 'auto', 'tcx' or 'cls_bpf', not '${tcChoice}'`, RUN_HELP);
  chooseTcAttach(tcChoice as TcAttachChoice);
  if (fastChoice !== 'off' && fastChoice !== 'auto' && fastChoice !== 'on')
    throw new UsageError(`--fast-path must be 'off', 'auto' or 'on', not '${fastChoice}'`, RUN_HELP);
  if (spread !== 'address' && spread !== 'flow')
    throw new UsageError(`--spread must be 'address' or 'flow', not '${spread}'`, RUN_HELP);
  const spinUs = intFlag(v['spin-us'], 'spin-us', DATAPLANE_DEFAULTS.spinUs, 0, 100_000);
  // About what one worker answers on a small router core; each queue adds a worker.
  const synPolice = intFlag(v['syn-police'], 'syn-police', 40_000 * queues, 0, 10_000_000);
  const statusInterval = intFlag(v['status-interval'], 'status-interval', m.statusIntervalSeconds, 0, 3600);
  const stateDir = v['state-dir'] ?? m.stateDir;
  if (!/^[\w.-]{1,15}$/.test(steering.tun))
    throw new UsageError(`--tun: bad device name '${steering.tun}'`, RUN_HELP);
  // [api] --api replaces the config's listen list; a wildcard only ever comes from the config file.
  let apiOverride: ListenAddress | undefined;
  if (v.api !== undefined) {
    try {
      apiOverride = parseListen(v.api);
    } catch (err) {
      throw new UsageError(`--api: ${(err as Error).message}`, RUN_HELP);
    }
    if (isWildcardHost(apiOverride.host))
      throw new UsageError(
        `--api: refusing ${v.api} (every address, WAN included); list it in the config's api section if you mean it`,
        RUN_HELP,
      );
  }

  try {
    checkSteering(steering); // unknown interfaces fail before anything is changed
  } catch (err) {
    throw new UsageError((err as Error).message, RUN_HELP);
  }
  // Before anything is changed: without the capabilities it needs the daemon would fail half-way.
  let privilegeLines: string[];
  try {
    privilegeLines = checkPrivileges(readPrivileges());
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.ERROR);
  }
  for (const line of privilegeLines) log(line);
  const nmapBlocked = narrowingBlocked();
  log(
    nmapBlocked
      ? `privileges: nmap would run with the daemon's capabilities (${nmapBlocked})`
      : 'privileges: nmap runs with CAP_NET_RAW only (capsh)',
  );
  // Before anything is attached: a second daemon on the same WAN must change nothing.
  const wanClaim = await claimWan(wan).catch((err: Error) => {
    throw new CliError(err.message, EXIT.ERROR);
  });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });

  // The TUN carries the bigger of the steered MTUs so it never becomes the path's bottleneck:
  // PMTU errors then come from the real egress device, as without tunguard.
  const mtu = Math.max(...[steering.wan, ...steering.lan].map(interfaceMtu));
  const syn = config.defense.syn;
  // Proxied connections outlive a restart through the connection store (tmpfs on a router).
  const connStore = new ConnStore(join(stateDir, 'conn.lmdb'));
  await connStore.expire(Date.now() - syn.connectionIdleSeconds * 1000);
  const restored = connStore.all();
  const lanNets = lanPrefixes(steering.lan, steering.ipv6);
  const allow = config.allow.map((p) => p.cidr);
  // The LAN's own flows, once seen, take the kernel path (the map is the programs' and the workers').
  const addon = loadAddon();
  const bypassMap =
    v['pass-through'] || v['no-bypass']
      ? undefined
      : addon.bpfMapCreate(MapType.LRU_HASH, BYPASS_KEY_SIZE, 4, BYPASS_MAX_FLOWS, 0, 'tg_bypass');
  const stageEnv: StageEnv = {
    restored,
    ...(bypassMap === undefined ? {} : { bypassMapFd: bypassMap }),
    syn: {
      windowSeconds: syn.windowSeconds,
      moderateThreshold: syn.moderateThreshold,
      riskyThreshold: syn.riskyThreshold,
      riskyAction: syn.riskyAction,
      maxUnfinishedPerSource: syn.maxUnfinishedPerSource,
      aggressiveHoldSeconds: syn.aggressiveHoldSeconds,
      allow,
    },
    // Limits apply to what enters the LAN from outside (where floods come from): the LAN's
    // own outbound traffic and its replies from LAN hosts are not throttled.
    ratelimit: { ...config.ratelimit, allow, destinations: lanNets },
    lanPrefixes: lanNets,
    cookieKeys: loadOrCreateKey(join(stateDir, 'cookie.keys'), 32),
    // Proxied connections the table holds (92 bytes a slot at load ≤ 0.5: 12 MB per worker).
    maxConnections: 65536,
    // As configured: the SYN cache takes 47 bytes a slot at load ≤ 0.75 (4.1 MB per worker at the
    // default 65536; src/defense/syn-cache.ts).
    synCacheSize: syn.synCacheSize,
    wscale: 7,
    mss4: Math.min(...steering.lan.map(interfaceMtu)) - 40,
    mss6: Math.min(...steering.lan.map(interfaceMtu)) - 60,
    wanMss4: interfaceMtu(steering.wan) - 40,
    wanMss6: interfaceMtu(steering.wan) - 60,
    idleSeconds: syn.connectionIdleSeconds,
    epochMs: 0, // set by each worker
  };
  const proxying = !v['pass-through'] && syn.proxyInbound && !v['no-synproxy'];
  // The uplinks now: netifd's when following it, else the WAN device of the start.
  let wans: readonly string[] = netifd?.devices.length ? netifd.devices : [steering.wan];
  // The router's own services: its addresses on the uplinks are protected like the LAN's hosts
  // (and rate-limited: the ratelimit stage adds them to its destinations), and an nft chain after
  // fw4's input hands their packets to the proxy (src/netcfg/router-local.ts). The list follows the
  // uplinks' addresses at run time (routerWatch below); the machinery is up even while it is empty,
  // so the first address an uplink gets is protected at once.
  let routerLocal = proxying && syn.protectRouter && !v['no-protect-router'] && nftAvailable();
  let routerNets = routerLocal ? routerAddresses(wans, steering.ipv6) : [];
  if (routerLocal) stageEnv.routerPrefixes = routerNets;
  // The kernel fast path: loaded now (the workers get its maps), attached once the steering is.
  let fastPath: FastPath | undefined;
  if (proxying && fastChoice !== 'off') {
    try {
      fastPath = FastPath.load(
        addon,
        {
          keys: stageEnv.cookieKeys,
          mss4: stageEnv.mss4,
          mss6: stageEnv.mss6,
          wscale: stageEnv.wscale,
          mark: REINJECT_MARK,
          notrackMark: FAST_NOTRACK_MARK,
          notrackAskMark: FAST_NOTRACK_ASK_MARK,
          tunIfindex: 0, // the TUN does not exist yet: the SYN gate reads it at its first tick
          windowSeconds: 10, // the proxy's own tracker's unfinished window (src/defense/sources.ts)
          maxUnfinished: syn.maxUnfinishedPerSource,
        },
        lanNets,
        syn.synCacheSize,
      );
      // The router's own addresses: answered at the TUN's egress, where the router-local chain's
      // copies of WAN SYNs arrive (the same set the proxy protects: the third ACK meets it there).
      fastPath.protectRouter(routerNets);
      stageEnv.fastPath = {
        fds: fastPath.fds,
        cpus: fastPath.cpus,
        settings: fastPath.settings,
        tunName: steering.tun,
      };
    } catch (err) {
      if (fastChoice === 'on') throw err;
      log(`warning: ${(err as Error).message}; the proxy answers SYN floods itself (fast_path 'auto')`);
    }
  }
  // Proxied connections, once set up, translated in the kernel (bpf/seqadj.c): loaded now (the
  // workers get its map), attached with the fast path. --no-bypass keeps every packet on the TUN.
  let kernelXlate: KernelXlate | undefined;
  if (proxying && bypassMap !== undefined) {
    try {
      kernelXlate = KernelXlate.load(addon, xlateConns);
      stageEnv.xlateMapFd = kernelXlate.connsFd;
      stageEnv.xlateHeldFd = kernelXlate.heldFd;
    } catch (err) {
      log(`warning: ${(err as Error).message}; every segment of a proxied connection crosses the TUN`);
    }
  }
  const stages = v['pass-through']
    ? []
    : [
        // Before anything may drop: the sampler only reads.
        ...(v['no-passive'] ? [] : ['sampler']),
        'ratelimit',
        ...(syn.proxyInbound && !v['no-synproxy'] ? ['synproxy'] : []),
      ];
  const dp = await Dataplane.start({
    ...DATAPLANE_DEFAULTS,
    stages,
    stageEnv,
    tunName: steering.tun,
    queues,
    offloads: v['no-offload'] ? false : m.offload,
    spinUs,
    mtu,
    steering: spread,
  });

  if (dp.steering.note) log(`warning: ${dp.steering.note}`);
  // The SYN police (installed below, once the dataplane runs).
  // nft dying under us takes the table: the police builds it again, and status.json follows.
  const police = new SynPolice(log, { onState: () => statusHook() });
  let netifdWatch: NetifdWatch | undefined;
  let routerWatch: RouterAddressWatch | undefined;
  /** The tier is above normal: the fast path answers, its SYNs skip the police (fastNotrack). */
  let fastAnswering = false;
  /** At most 20 aggressive sources a minute logged one by one; the rest in one line a minute. */
  const attackerLines = new LogBudget(20, 60_000, (held) =>
    log(
      `aggressive sources: ${held} more marked in the last minute, not logged one by one (GET /attackers lists them)`,
      'warn',
      {
        event: 'attacker_summary',
        count: held,
      },
    ),
  );
  dp.on('event', (ev: DataplaneEvent) => {
    if (ev.type === 'conn-sync') {
      connStore.queue({ upserts: ev.upserts ?? [], removes: ev.removes ?? [] });
      // Clients that completed a handshake are real: they skip the SYN police from now on.
      if (ev.upserts?.length) police.addKnown(knownClients(ev.upserts), performance.now());
    }
    // Tier changes and aggressive sources go to the log (logread on OpenWrt) as they happen.
    else if (ev.type === 'tier') {
      log(
        `tier ${ev.from} -> ${ev.to} (${ev.synCount} new SYNs in the window, ${ev.halfOpen} half-open)`,
        'info',
        {
          event: 'tier',
          from: ev.from,
          to: ev.to,
          syns: ev.synCount,
          half_open: ev.halfOpen,
        },
      );
      // Above normal the fast path answers: its SYNs need no conntrack entry (src/netcfg/syn-police.ts).
      if (fastPath) {
        fastAnswering = ev.to !== 'normal';
        police.fastNotrack(fastAnswering ? lanNets : [], fastAnswering ? routerNets : []);
      }
    }
  });
  // A tick's aggressive marks, checked where they arrive (src/dataplane/attacker-batch.ts).
  dp.on('attackers', (marks: AttackerMarks) => {
    const now = Date.now();
    const clock = performance.now();
    for (let k = 0; k < marks.addresses.length; k++) {
      const address = marks.addresses[k];
      const until = marks.until[k];
      // Having completed a handshake once must not let an aggressive source skip the police.
      police.dropAggressive(address, clock + Math.max(0, until - now));
      if (attackerLines.take())
        log(
          `aggressive source ${address}: ${marks.unfinished[k]} unfinished handshakes, dropped until ${new Date(until).toISOString()}`,
          'warn',
          {
            event: 'attacker',
            address,
            unfinished: marks.unfinished[k],
            until: new Date(until).toISOString(),
          },
        );
    }
  });
  if (restored.length > 0) log(`restored ${restored.length} proxied connection(s) from ${connStore.path}`);

  // The LAN hosts' DHCP requests go to the router itself, never through the TUN: packet sockets on
  // the LAN devices (kernel-filtered to UDP port 67) give them to the passive inventory.
  // A LAN device made again has a new ifindex: a new tap is opened on it (see relink below).
  const openTap = (devs: readonly string[]) => {
    if (v['no-passive']) return undefined;
    const tap = new DhcpTap(devs);
    for (const e of tap.errors) log(`passive: no DHCP fingerprints from ${e}`);
    return tap;
  };
  let dhcpTap = openTap(steering.lan);

  // fw4's flow offloading must not take proxied connections past the proxy: they are kept out
  // (src/netcfg/offload-guard.ts: the kernel's nfnetlink_cthelper, else a weaker IPv6 fallback);
  // hardware offloading, which would take an unguarded family, is reported.
  const guard6 = proxying && steering.ipv6 ? guardedPrefixes6(lanNets) : [];
  const guard4 = proxying ? guardedPrefixes4(lanNets) : [];
  const flowOffload = proxying && nftAvailable() ? new FlowOffloadReport(log, steering.ipv6) : undefined;

  // [api] The control plane: API listeners, dataplane events for the API, SIGHUP reload.
  /** status.json's trigger for changes the control plane reports (set once it is defined below). */
  let statusHook: () => void = () => {};
  const control = await ControlPlane.start({
    dp,
    store,
    stateDir,
    apiOverride,
    wanDevice: wan,
    // With wan_follow, the API keeps off whichever uplinks netifd has now.
    ...(follow ? { wanDevices: () => wans } : {}),
    version: tunguardVersion(),
    log,
    ...(flowOffload ? { flowOffload: () => flowOffload.status() } : {}),
    police: () => police.status,
    ...(kernelXlate ? { inKernel: kernelXlate.holds.bind(kernelXlate) } : {}),
    lanPrefixes: lanNets,
    restoredConnections: restored,
    remediationDir: remediationDir(m.durableDir, v['state-dir']),
    certDir: remediationDir(m.durableDir, v['state-dir']),
    // Live in tmpfs, snapshots on flash: flash sees one file write per commit_interval.
    remediationLiveDir: join(stateDir, 'durable-live'),
    commitIntervalSeconds: m.commitIntervalSeconds,
    dhcpLeases: (v['dhcp-leases'] ?? '/tmp/dhcp.leases') || undefined,
    ...(started.fallback ? { startFallback: started.fallback } : {}),
    ...(dhcpTap ? { dhcpDrain: (visit: (packet: Uint8Array) => void) => dhcpTap?.drain(visit) ?? 0 } : {}),
    onSample: (moved) => onSample(moved),
    onStatusChange: () => statusHook(),
  });
  const onHup = () => void control.reload();
  process.on('SIGHUP', onHup);

  let stopping: Promise<void> | undefined;
  /** The conntrack helper that keeps proxied IPv4 connections out of offloading is registered. */
  let helperUp = false;
  let attached: Steering | undefined;
  let routerEgress: RouterEgress | undefined;
  let routerEgressTimer: NodeJS.Timeout | undefined;
  let routerEgressError = '';
  let uplinkIngressError = '';
  /** The uplink program answers only while fw4's forward rules from the uplinks ignore the source. */
  const sourceRules = fastPath && new SourceRuleWatch(fastPath, () => wans, log);
  /**
   * The uplink egress program and the fast path's uplink program on `uplinks`; a failure is logged
   * once (retried every second).
   */
  const followEgress = (uplinks: readonly string[]) => {
    if (stopping) return;
    try {
      routerEgress?.follow(uplinks);
      routerEgressError = '';
    } catch (err) {
      const message = (err as Error).message;
      if (message !== routerEgressError)
        log(
          `wan: warning: ${message}: the router's answers on proxied connections there miss the proxy`,
          'warn',
          { event: 'wan' },
        );
      routerEgressError = message;
    }
    try {
      fastPath?.followUplinks(uplinks);
      uplinkIngressError = '';
    } catch (err) {
      const message = (err as Error).message;
      if (message !== uplinkIngressError)
        log(`wan: warning: ${message}: SYN floods there are answered after forwarding only`, 'warn', {
          event: 'wan',
        });
      uplinkIngressError = message;
    }
  };
  // Every step runs even when one before it fails (the steering must go in any case); a failed step
  // is logged by name and makes the exit code 1.
  const stopErrors: string[] = [];
  const step = async (name: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      stopErrors.push(`${name}: ${(err as Error).message}`);
      log(`stop: ${name}: ${(err as Error).message}`, 'error');
    }
  };
  const stop = (why: string) => {
    stopping ??= (async () => {
      log(`stopping (${why})`, 'info', { event: 'stop', reason: why });
      sourceRules?.stop();
      attackerLines.flush();
      process.off('SIGHUP', onHup); // [api]
      await step('control plane', () => control.stop()); // [api]
      // First: a LAN change seen during the stop must not attach programs again.
      await step('netifd watch', () => netifdWatch?.stop());
      await step('router address watch', () => routerWatch?.stop());
      await step('dhcp tap', () => dhcpTap?.close());
      await step('fast path', () => fastPath?.close());
      // Its segments cross the TUN again while the proxy still runs (the map goes after the workers).
      await step('kernel translation', () => kernelXlate?.detach());
      clearInterval(routerEgressTimer);
      await step('uplink egress', () => routerEgress?.close());
      await step('steering', () => attached?.teardown());
      await step('syn police', () => police.teardown());
      flowOffload?.stop();
      // The mark fallback's rule, after the police's table (the marks) is gone: nothing is left for it to match.
      await step('offload guard', () => removeOffloadGuardRule());
      // After the police's table too: its `ct helper` object holds the helper until the kernel frees
      // it, once the police's nft has exited (up to 5 s here).
      if (helperUp)
        await step('conntrack helper', async () => {
          if (!(await removeCtHelper(addon, 250))) throw new Error('the kernel still holds it');
        });
      await step('dataplane', () => dp.stop());
      // After the workers, which write to it.
      await step('bypass map', () => bypassMap !== undefined && addon.close(bypassMap));
      await step('kernel translation map', () => kernelXlate?.close());
      await step('connection store', () => connStore.close());
      wanClaim.close();
    })();
    return stopping;
  };
  const statusFile = join(stateDir, 'status.json');
  let refreshKernelCounters = () => {};
  let statusTimer: NodeJS.Timeout | undefined;
  let statusAgeTimer: NodeJS.Timeout | undefined;
  let statusWrittenAt = 0;
  /** status.json appears only once the daemon is up (scripts and the QEMU smoke wait for it). */
  let statusReady = false;
  /** Something in the status changed: written within the status interval (never more often). */
  const statusChanged = () => {
    if (statusInterval <= 0 || !statusReady || statusTimer || stopping) return;
    statusTimer = setTimeout(
      () => {
        statusTimer = undefined;
        writeStatus();
      },
      Math.max(0, statusWrittenAt + statusInterval * 1000 - Date.now()),
    );
    statusTimer.unref();
  };
  const onSample = (moved: boolean) => {
    if (!moved) return;
    // Whether the kernel translation looks segments up at all: set by a worker with each hand-over,
    // and here from the counters, so it goes back to 0 once every connection was taken back (a write
    // racing a worker's hand-over is put right at the next second: those segments cross the TUN,
    // which moves the counters).
    kernelXlate?.heldFromCounters(dp.counters());
    refreshKernelCounters();
    statusChanged();
  };
  // Attackers, tier changes, connections, reloads: what the control plane publishes changes the status.
  control.bus.subscribe(() => statusChanged());
  statusHook = statusChanged;
  // What the API's /status answers, plus the top attackers: LuCI's rpcd plugin reads this file on every
  // poll instead of starting the CLI (node) each time, and takes the pid from its start (keep it first).
  const writeStatus = () => {
    statusWrittenAt = Date.now();
    clearTimeout(statusAgeTimer);
    statusAgeTimer = setTimeout(writeStatus, STATUS_MAX_AGE_MS);
    statusAgeTimer.unref();
    writeFileAtomicSync(
      statusFile,
      `${JSON.stringify({ pid: process.pid, tun: dp.tun.name, ...control.status(), attackers: control.attackers.list(STATUS_ATTACKERS), api: control.summary() })}\n`,
      { mode: 0o644, sync: false },
    );
  };

  // The fast path goes in front of the steering once per LAN ifindex; the links of devices netifd
  // no longer names (or re-created under a new index) are closed, so re-creations hold no fds.
  const attachFast = (devs: readonly string[]) => {
    const now = devs.map((dev) => ({ dev, ifindex: steeredLan(dev).ifindex }));
    const kept = new Set(now.map((l) => l.ifindex));
    // The translation first, so the fast path goes in front of it (flood SYNs never match it).
    kernelXlate?.keepLans(kept);
    kernelXlate?.attach(now);
    fastPath?.keepLans(kept);
    fastPath?.attach(now);
  };
  /** Steers the LAN devices netifd has now (`now`: lanLinks keys); a throw is retried at the next poll. */
  const relink = (now: string[], was: string[]) => {
    if (stopping) return;
    const devs = linkNames(now);
    // The programs are built for their LAN devices' ifindexes and MACs: all are made again.
    attached?.teardown();
    attached = undefined;
    const wanNow = [...wans, steering.wan].find(interfaceExists) ?? steering.wan;
    try {
      attached = Steering.setup(
        { ...steering, wan: wanNow, lan: devs, bypassMap, local: routerLocal },
        addon,
      ).steering;
      if (fastPath || kernelXlate) attachFast(devs);
    } catch (err) {
      throw new Error(
        `lan: cannot steer ${devs.join(', ')} (unprotected until netifd's LAN changes again): ${(err as Error).message}`,
      );
    }
    dhcpTap?.close();
    dhcpTap = openTap(devs);
    const nets = lanPrefixes(devs, steering.ipv6);
    log(
      `lan: netifd's LAN is now ${now.join(', ')} (was ${was.join(', ')}): steering attached again`,
      'info',
      {
        event: 'lan',
        devices: devs.join(','),
        links: now.join(','),
        previous: was.join(','),
      },
    );
    // The defenses were set up for the start LAN's prefixes; new ones need a restart to be protected.
    const lost = nets.filter((p) => !lanNets.includes(p));
    if (lost.length > 0)
      log(
        `lan: warning: ${lost.join(', ')} behind the new LAN are not among the protected prefixes until a restart`,
        'warn',
        {
          event: 'lan',
          unprotected: lost.join(','),
        },
      );
  };

  /**
   * Makes `now` the router's protected addresses everywhere they are held: the fast path's map, the
   * workers' proxy and limits, the TUN's queue selector, the police's fastlocal sets (the nft tables
   * and routes of router-local.ts name no address). The fast path never answers for an address the
   * proxy does not protect (the third ACK would be passed on and reset): it lets go of the removed
   * ones first and takes the new ones once every worker has them.
   */
  const applyRouterAddresses = async (now: string[], previous: string[]) => {
    if (stopping) return;
    const { added, removed } = addressDiff(previous, now);
    fastPath?.protectRouter(previous.filter((a) => now.includes(a)));
    await dp.setRouterPrefixes(now);
    fastPath?.protectRouter(now);
    routerNets = now;
    if (fastAnswering) police.fastNotrack(lanNets, routerNets);
    log(
      `router addresses: ${previous.join(', ') || 'none'} -> ${now.join(', ') || 'none'} (uplinks ${wans.join(', ')}): the proxy follows`,
      'info',
      {
        event: 'router_addresses',
        addresses: now.join(','),
        previous: previous.join(','),
        added: added.join(','),
        removed: removed.join(','),
      },
    );
  };

  let failed: Error | undefined;
  const done = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => void stop('SIGTERM').then(resolve));
    process.once('SIGINT', () => void stop('SIGINT').then(resolve));
    dp.on('error', (err: Error) => {
      failed = err;
      void stop(`dataplane failed: ${err.message}`).then(resolve);
    });
  });

  const policeRate = v['pass-through'] ? 0 : synPolice;
  // The table also carries the fast path's notrack rule: it is there whenever either needs it.
  // The ICMP/UDP limits drop a flood's excess in the kernel first (src/netcfg/kernel-limits.ts).
  const limitsWanted = !v['pass-through'] && !v['no-kernel-limits'];
  const policeWanted =
    policeRate > 0 ||
    fastPath !== undefined ||
    routerLocal ||
    limitsWanted ||
    guard6.length > 0 ||
    guard4.length > 0;
  const policeUp = policeWanted && nftAvailable();
  if (policeWanted && !policeUp)
    log(
      'warning: nft missing: no SYN police, and fast-path SYNs make conntrack entries (opkg install nftables)',
    );
  try {
    const startWans = [...wans];
    let local = routerLocal ? { tun: steering.tun, ipv6: steering.ipv6 } : undefined;
    const limits = limitsWanted ? kernelLimits(config.ratelimit) : undefined;
    // A helper nft cannot find would take the guard's lines with it: registered first.
    if (policeUp && (guard4.length > 0 || guard6.length > 0)) {
      const why = registerCtHelper(addon);
      if (why === undefined) helperUp = true;
      else log(`warning: ${ctHelperMissing(why, { v4: guard4.length > 0, v6: guard6.length > 0 })}`);
    }
    const offloadGuard: GuardPrefixes | undefined = helperUp
      ? { helper: true, v4: guard4, v6: guard6 }
      : guard6.length > 0
        ? { helper: false, v4: [], v6: guard6 }
        : undefined;
    // The mark fallback's rule an older start left (a crash): replaced below when wanted.
    removeOffloadGuardRule();
    // An older tunguard's policy rule for the router's answers (this one uses an egress program).
    removeRouterRoutes({ ipv6: steering.ipv6 });
    if (policeUp)
      await police.setup({ wan: startWans, rate: policeRate, local, limits, allow, offloadGuard });
    if (offloadGuard && policeUp) {
      const got = await police.guardInstalled({
        v4: offloadGuard.v4.length > 0,
        v6: offloadGuard.v6.length > 0,
      });
      if (got.v6 && !offloadGuard.helper) installOffloadGuardRule();
      const refused = [
        offloadGuard.v4.length > 0 && !got.v4 ? 'IPv4' : '',
        offloadGuard.v6.length > 0 && !got.v6 ? 'IPv6' : '',
      ].filter(Boolean);
      if (refused.length > 0)
        log(
          `warning: proxied ${refused.join(' and ')} connections are not kept out of flow offloading: nft refused the guard's rules (${police.lastError() || 'no reason given'})`,
        );
      // The guard lives in the police's table: its flags are the police's (lost and rebuilt with it).
      flowOffload?.guardedBy(() => police.guarded);
    }
    await flowOffload?.start();
    if (policeUp && limits) {
      dp.commandFollowers.push((cmd) => {
        if (cmd.type === 'allowlist.set') police.setAllow(cmd.prefixes);
        else if (cmd.type === 'settings' && cmd.ratelimit)
          police.setLimits(kernelLimits(cmd.ratelimit as TunguardConfig['ratelimit']));
      });
      // The kernel drops only what is over a rate, and lets the first packets of each second through
      // to the TUN: while the workers saw no UDP or ICMP, its drop counts cannot have moved, and nft
      // (a few ms of CPU an answer) is not asked. The control plane's sampler calls this each second
      // while the counters move (it sleeps while they stand still).
      let seen = -1;
      const refresh = async () => {
        const udpIcmp = dp.counter('udp') + dp.counter('icmp');
        if (udpIcmp === seen) return;
        seen = udpIcmp;
        dp.kernelCounters = await police.limitCounters();
      };
      await refresh();
      refreshKernelCounters = () => void refresh();
    }
    if (local && !(await police.localInstalled())) {
      // The kernel lacks nft's dup (kmod-nft-dup-inet): the router answers for itself, as before.
      log(
        `warning: the router's own services stay unproxied: nft refused the router-local table (${police.lastError() || 'no reason given'}; opkg install kmod-nft-dup-inet)`,
      );
      local = undefined;
      police.forgetLocal();
      routerLocal = false;
      routerNets = [];
      fastPath?.protectRouter([]);
      await dp.setRouterPrefixes([]);
    }
    const up = Steering.setup({ ...steering, bypassMap, local: routerLocal }, addon);
    attached = up.steering;
    if (local) {
      routerEgress = RouterEgress.load(addon, steering.tun);
      routerEgress.follow(wans);
    }
    if (fastPath) {
      await sourceRules?.check();
      if (flowOffload) flowOffload.onRuleset = () => void sourceRules?.check();
      followEgress(wans);
    }
    // A PPPoE or WireGuard uplink that reconnects is a new device under the same name.
    if (local || fastPath) routerEgressTimer = setInterval(() => followEgress(wans), 1000);
    let desc = up.description;
    if (kernelXlate) {
      kernelXlate.configure(
        Number(readFileSync(`/sys/class/net/${steering.tun}/ifindex`, 'utf8')),
        REINJECT_MARK,
      );
      if (!fastPath) attachFast(steering.lan);
      desc += '; proxied connections translated in the kernel once set up';
    }
    if (fastPath) {
      attachFast(steering.lan);
      desc += '; SYN fast path in the kernel';
      if (routerLocal) {
        fastPath.attachTun(steering.tun);
        desc += " (the router's own addresses too)";
      }
      desc += `, at the uplinks' ingress too (${fastPath.uplinkIfindexes.length} attached)`;
    }
    if (routerLocal)
      desc += `; the router's own services proxied (${routerNets.join(', ') || 'no address yet'}${v['no-router-follow'] ? ', the start addresses only' : ''})`;
    if (tcAttachInUse() === 'cls_bpf')
      desc += '; tc programs as cls_bpf filters behind a heartbeat guard (no TCX links here)';
    const guarded = flowOffload?.status();
    const kept = [guarded?.ipv4Guarded ? 'IPv4' : '', guarded?.ipv6Guarded ? 'IPv6' : ''].filter(Boolean);
    if (kept.length > 0)
      desc += `; proxied ${kept.join(' and ')} connections kept out of flow offloading (${helperUp ? 'conntrack helper' : 'ct mark'})`;
    log(
      `steering up: ${desc}; queues ${queues}${dp.steering.mode === 'single' ? '' : ` (spread by ${dp.steering.mode})`}, mtu ${mtu}, offloads ${offloadNames(dp.tun.offloads).join(',') || 'none'}`,
      'info',
      { event: 'start', lan: steering.lan.join(','), wan: wans.join(','), tun: steering.tun, queues },
    );
    const followers: NetifdFollower[] = [];
    if (follow)
      // The uplink a travel router uses changes all day: netifd says which one it is now.
      followers.push({
        read: uplinkDevices,
        initial: startWans,
        onChange: (devices, previous) => {
          wans = devices;
          police.setWans(devices);
          followEgress(devices);
          void sourceRules?.check();
          // The MSS the proxy clamps WAN handshakes to follows the uplinks' MTU (the smallest).
          const mtus = devices.filter(interfaceExists).map(interfaceMtu);
          if (mtus.length > 0) {
            const mtu = Math.min(...mtus);
            dp.command({ type: 'settings', syn: { wanMss4: mtu - 40, wanMss6: mtu - 60 } });
          }
          log(
            `wan: netifd's uplinks are now ${devices.join(', ')} (were ${previous.join(', ')}): the SYN police follows`,
            'info',
            { event: 'wan', devices: devices.join(','), previous: previous.join(',') },
          );
          void control.uplinksChanged();
          void routerWatch?.setDevices(devices);
        },
      });
    if (lanFollow)
      // A network reload re-creates br-lan (a new ifindex: the programs on the old one went with it);
      // the steering is attached again to whatever netifd's LAN interfaces have now.
      followers.push({
        read: lanOf,
        initial: lanLinks(steering.lan),
        onChange: (now, was) => relink(now, was),
      });
    // The router's addresses on the uplinks: a new one is protected within a poll, a vanished one
    // once it has been missing for two (src/netcfg/router-addresses.ts).
    if (routerLocal && !v['no-router-follow']) {
      routerWatch = new RouterAddressWatch({
        devices: wans,
        ipv6: steering.ipv6,
        initial: routerNets,
        intervalMs: 1000,
        grace: 2,
        apply: applyRouterAddresses,
        log,
      });
      await routerWatch.check();
    }
    // After the steering is up: a LAN change seen now re-attaches what is attached.
    if (followers.length > 0) {
      netifdWatch = new NetifdWatch(followers, { intervalMs: 1000, log });
      await netifdWatch.poll();
    }
  } catch (err) {
    await stop('steering failed');
    throw err;
  }
  statusReady = true;
  if (statusInterval > 0) writeStatus();
  await done;
  clearTimeout(statusTimer);
  if (statusInterval > 0) writeStatus();
  clearTimeout(statusAgeTimer);
  if (failed) {
    log(`failed: ${failed.message}`, 'error', { event: 'exit', code: 1 });
    return 1;
  }
  if (stopErrors.length > 0) {
    log(`stopped with errors: ${stopErrors.join('; ')}`, 'error', { event: 'exit', code: 1 });
    return 1;
  }
  log('stopped', 'info', { event: 'exit', code: 0 });
  return 0;
}

function parse(argv: string[]) {
  return parseCommand(
    argv,
    {
      wan: { type: 'string' },
      lan: { type: 'string', multiple: true },
      config: { type: 'string' },
      'state-dir': { type: 'string' },
      tun: { type: 'string' },
      queues: { type: 'string' },
      spread: { type: 'string' },
      table: { type: 'string' },
      'no-ipv6': { type: 'boolean' },
      'no-offload': { type: 'boolean' },
      'no-synproxy': { type: 'boolean' },
      'pass-through': { type: 'boolean' },
      'no-passive': { type: 'boolean' },
      'wan-follow': { type: 'boolean' },
      'lan-follow': { type: 'boolean' },
      'no-bypass': { type: 'boolean' },
      'fast-path': { type: 'string' },
      'tc-attach': { type: 'string' },
      'no-protect-router': { type: 'boolean' },
      'no-router-follow': { type: 'boolean' },
      'no-kernel-limits': { type: 'boolean' },
      'dhcp-leases': { type: 'string' },
      'syn-police': { type: 'string' },
      'spin-us': { type: 'string' },
      'status-interval': { type: 'string' },
      api: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
    RUN_HELP,
  );
}

/** Client addresses (text) of proxied connections, from the store's hex form. */
function* knownClients(records: readonly ConnRecord[]): Iterable<string> {
  for (const r of records) {
    const b = Buffer.from(r.client, 'hex');
    if (b.length === 4) yield b.join('.');
    else if (b.length === 16) yield (b.toString('hex').match(/.{4}/g) ?? []).join(':');
  }
}

const log: Log = (msg, level, fields) => {
  writeTo(process.stdout, `${logPrefix()}${logLine(msg, level, fields)}\n`);
};
