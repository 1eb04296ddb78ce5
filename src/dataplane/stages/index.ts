// The stage registry: stage names → instances in pipeline order, built in each worker from a
// structured-clonable environment the main thread prepares.
import { CookieKeys } from '../../defense/cookie.js';
import { PrefixMatcher } from '../../defense/prefix.js';
import type { RateLimitsSettings } from '../../defense/ratelimit.js';
import type { TierShare } from '../../defense/tiers.js';
import type { ConnRecord } from '../../state/connstore.js';
import { loadAddon } from '../../tun/addon.js';
import { type FastPathFds, FastPathMaps, type FastSettings } from '../../tun/fast-path-maps.js';
import type { Stage } from '../stage.js';
import { RateLimitStage } from './ratelimit.js';
import { type SamplerSettings, SamplerStage } from './sampler.js';
import { GATE_COUNTERS, type SynGateSettings, TieredSynGate } from './syn-gate.js';
import { SynProxyStage } from './synproxy.js';

/** Everything a worker needs to build its stages (plain data: it crosses postMessage). */
export interface StageEnv {
  /** Prefixes behind the LAN devices: the hosts the SYN proxy protects. */
  lanPrefixes: string[];
  /** The router's own addresses, when its services are proxied too (src/netcfg/router-local.ts). */
  routerPrefixes?: string[];
  /** 32 bytes of SipHash keys for SYN cookies (persisted so cookies survive a restart). */
  cookieKeys: Uint8Array;
  maxConnections: number;
  /** Proxied connections one source (IPv6: one /64) may hold (default: synproxy.ts DEFAULT_PER_SOURCE). */
  maxPerSource?: number;
  synCacheSize: number;
  wscale: number;
  mss4: number;
  mss6: number;
  /** MSS clamp toward the WAN (from the WAN MTU). */
  wanMss4?: number;
  wanMss6?: number;
  idleSeconds: number;
  /** Date.now() − performance.now() of the worker, for wall-clock cookie minutes. */
  epochMs: number;
  /** Connections from the store, to keep translating after a restart. */
  restored: ConnRecord[];
  /** Tiers and aggressive sources (undefined: every SYN is answered). */
  syn?: SynGateSettings;
  /** ICMP/UDP rate limits. */
  ratelimit?: RateLimitsSettings;
  /** With several workers: where each publishes its tier-window counts, so the tiers count all. */
  tierShare?: TierShare;
  /** With several workers: the global ICMP/UDP buckets they share (SHARED_BUCKET_SLOTS Int32 slots). */
  limitShare?: SharedArrayBuffer;
  /** Passive-inventory sampling budgets (defaults: src/dataplane/stages/sampler.ts). */
  sampler?: SamplerSettings;
  /** This worker's sample ring (the Dataplane makes one per worker when the sampler runs). */
  sampleRing?: SharedArrayBuffer;
  /** fd of the map of flows that bypass the TUN (none: every flow crosses it). */
  bypassMapFd?: number;
  /** fd of the map of proxied connections the kernel translates (bpf/seqadj.c; none: the TUN does all). */
  xlateMapFd?: number;
  /** fd of its word "the map may hold a connection" (set with each hand-over; with xlateMapFd). */
  xlateHeldFd?: number;
  /** The kernel SYN fast path's maps (none: the proxy answers every SYN itself). */
  fastPath?: { fds: FastPathFds; cpus: number; settings: FastSettings; tunName: string };
}

const factories: Record<string, (env: StageEnv) => Stage> = {
  ratelimit: (env) =>
    new RateLimitStage(
      env.ratelimit ?? {},
      env.limitShare ? { share: { sab: env.limitShare, leader: (env.tierShare?.index ?? 0) === 0 } } : {},
      env.routerPrefixes,
    ),
  sampler: (env) => new SamplerStage(env.lanPrefixes, env.sampler, env.sampleRing),
  synproxy: (env) =>
    new SynProxyStage({
      gate: env.syn
        ? new TieredSynGate(
            env.syn,
            env.tierShare,
            env.fastPath && {
              maps: new FastPathMaps(
                loadAddon(),
                env.fastPath.fds,
                env.fastPath.cpus,
                env.fastPath.settings.keys,
              ),
              settings: { ...env.fastPath.settings },
              tunName: env.fastPath.tunName,
            },
          )
        : undefined,
      gateCounters: env.syn ? GATE_COUNTERS : [],
      lan: new PrefixMatcher(protectedPrefixes(env), { strict: false }),
      protectedWith: (router) =>
        new PrefixMatcher(protectedPrefixes({ ...env, routerPrefixes: [...router] }), { strict: false }),
      router: new PrefixMatcher([...(env.routerPrefixes ?? [])], { strict: false }),
      routerWith: (router) => new PrefixMatcher([...router], { strict: false }),
      keys: new CookieKeys(env.cookieKeys),
      maxConnections: env.maxConnections,
      ...(env.maxPerSource !== undefined ? { maxPerSource: env.maxPerSource } : {}),
      synCacheSize: env.synCacheSize,
      wscale: env.wscale,
      mss4: env.mss4,
      mss6: env.mss6,
      wanMss4: env.wanMss4,
      wanMss6: env.wanMss6,
      idleMs: env.idleSeconds * 1000,
      epochMs: env.epochMs,
      restored: env.restored,
    }),
};

/** What the SYN proxy protects: the LAN's prefixes, and the router itself when asked. */
export function protectedPrefixes(env: Pick<StageEnv, 'lanPrefixes' | 'routerPrefixes'>): string[] {
  return [...env.lanPrefixes, ...(env.routerPrefixes ?? [])];
}

export const DEFAULT_STAGES = ['ratelimit', 'synproxy'] as const;
export const STAGE_NAMES = Object.keys(factories);

export function buildStages(names: readonly string[], env: StageEnv): Stage[] {
  return names.map((n) => {
    const f = factories[n];
    if (!f) throw new Error(`unknown dataplane stage '${n}' (known: ${STAGE_NAMES.join(', ')})`);
    return f(env);
  });
}

/** An environment for tests and tools: no LAN, fresh keys. */
export function testStageEnv(over: Partial<StageEnv> = {}): StageEnv {
  return {
    lanPrefixes: [],
    cookieKeys: new Uint8Array(32).map((_, i) => i * 7 + 1),
    maxConnections: 1024,
    synCacheSize: 256,
    wscale: 7,
    mss4: 1460,
    mss6: 1440,
    idleSeconds: 7440,
    epochMs: Date.now() - performance.now(),
    restored: [],
    ...over,
  };
}
