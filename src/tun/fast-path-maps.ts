// The maps through which the proxy programs and watches the SYN fast path (bpf/synproxy.c): the
// layouts here and the C structs there are the same bytes. The daemon creates them by loading the
// program (src/netcfg/fast-path.ts); the dataplane's SYN gate writes the tier's mode and the clock
// every tick and reads back what the program did.
import { endianness } from 'node:os';
import type { TunAddon } from './addon.js';

/** What the program does with a SYN toward a protected address (struct fp_conf's mode). */
export const FastMode = {
  /** Normal tier: every SYN goes to the proxy (its SYN cache keeps WS/SACK for clients without TS). */
  PASS: 0,
  /** Moderate and risky tiers: the program answers with a cookie SYN-ACK. */
  ANSWER: 1,
  /** Risky tier with risky_action 'drop': no new SYN gets through. */
  DROP: 2,
  /**
   * Moderate tier: answered, and each SYN's 4-tuple charted for 10 s; a retransmission of a charted
   * one is dropped and not counted as a new SYN (as the proxy's SYN cache does on the TUN path).
   */
  CHART: 3,
} as const;
export type FastMode = (typeof FastMode)[keyof typeof FastMode];

/** The program's per-CPU counters, in slot order (ST_* in bpf/synproxy.c). */
export const FAST_STATS = [
  'answered',
  'drop_risky',
  'drop_aggressive',
  'bad_checksum',
  'passed',
  'duplicate',
  /** Of `answered`, those answered at an uplink's ingress (a pair the LAN-egress hook learned). */
  'answered_uplink',
] as const;
export type FastStat = (typeof FAST_STATS)[number];

/** The program's map names (bpf/synproxy.c). */
export const FastMapName = {
  conf: 'tg_fp_conf',
  protected: 'tg_fp_protected',
  aggressive: 'tg_fp_aggressive',
  stats: 'tg_fp_stats',
  sources: 'tg_fp_sources',
  suspects: 'tg_fp_suspects',
  chart: 'tg_fp_chart',
  /** (destination, port) pairs fw4 let through, which the uplinks' program may answer. */
  allowed: 'tg_fp_allowed',
  /** The uplinks' link-layer header lengths by ifindex. */
  uplinks: 'tg_fp_uplinks',
} as const;

/** The fds a worker needs (plain numbers: they cross postMessage; fds are the process's). */
export interface FastPathFds {
  conf: number;
  aggressive: number;
  stats: number;
  sources: number;
  suspects: number;
}

/** Everything of struct fp_conf but the clock and the mode, which change every tick. */
export interface FastSettings {
  /** 32 bytes: the cookie keys (src/defense/cookie.ts). */
  keys: Uint8Array;
  mss4: number;
  mss6: number;
  wscale: number;
  /** The skb mark of packets re-injected into a LAN device (the steering's). */
  mark: number;
  /** The proxy's TUN: packets it sends toward the LAN (its own SYNs to hosts) are left alone. */
  tunIfindex: number;
  /** A source's answered SYNs are counted over windows this long (s)… */
  windowSeconds: number;
  /** …and past this many it is reported to the proxy (src/defense/sources.ts judges it). */
  maxUnfinished: number;
  /** The mark of SYNs conntrack left alone: their SYN-ACKs go straight out (0: none are). */
  notrackMark: number;
  /**
   * The mark the uplinks put on a protected LAN prefix's SYN they pass while the tier answers, for
   * the SYN police to skip conntrack (src/netcfg/syn-police.ts). Absent: none.
   */
  notrackAskMark?: number;
  /**
   * The tiers as the program applies them to the flood's first SYNs, while the proxy's mode is still
   * PASS (bpf/synproxy.c: early_mode); the SYN gate keeps it current. Absent: the program waits for
   * the proxy's tick.
   */
  early?: EarlyTiers;
}

/** The tiers' window and thresholds (src/defense/tiers.ts), and the risky tier's mode. */
export interface EarlyTiers {
  windowMs: number;
  /** More new SYNs than this in the window: moderate (the program charts and answers). */
  moderateAbove: number;
  /** More than this: `riskyMode`. */
  riskyAbove: number;
  riskyMode: FastMode;
}

/** sizeof(struct fp_conf): checked against the object's map at load. */
export const CONF_SIZE = 104;
const LE = endianness() === 'LE';

/** struct fp_conf in this machine's byte order (the program reads it natively). */
export function encodeConf(
  s: FastSettings,
  mode: FastMode,
  wallMs: number,
  out = new Uint8Array(CONF_SIZE),
): Uint8Array {
  if (s.keys.length !== 32) throw new Error('fast path: cookie keys must be 32 bytes');
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint32(0, mode, LE);
  dv.setUint32(4, Math.floor(wallMs / 60_000) >>> 0, LE);
  dv.setUint32(8, (wallMs % 2 ** 32) >>> 0, LE);
  dv.setUint32(12, s.mark >>> 0, LE);
  dv.setUint16(16, s.mss4, LE);
  dv.setUint16(18, s.mss6, LE);
  out[20] = s.wscale;
  // SipHash takes its key as little-endian 64-bit words; the program reads them as native ones.
  const kv = new DataView(s.keys.buffer, s.keys.byteOffset, 32);
  for (let i = 0; i < 4; i++) dv.setBigUint64(24 + 8 * i, kv.getBigUint64(8 * i, true), LE);
  dv.setUint32(56, s.tunIfindex >>> 0, LE);
  dv.setUint32(60, Math.floor(wallMs / 1000) >>> 0, LE);
  dv.setUint32(64, s.windowSeconds, LE);
  dv.setUint32(68, s.maxUnfinished, LE);
  dv.setUint32(72, s.notrackMark >>> 0, LE);
  dv.setUint32(76, sourceSalt(s.keys), LE);
  const e = s.early;
  dv.setUint32(80, e ? Math.max(1, Math.round(e.windowMs)) : 0, LE);
  dv.setUint32(84, e ? Math.min(e.moderateAbove, 0xffffffff) : 0, LE);
  dv.setUint32(88, e ? Math.min(e.riskyAbove, 0xffffffff) : 0, LE);
  dv.setUint32(92, e ? e.riskyMode : 0, LE);
  dv.setUint32(96, (s.notrackAskMark ?? 0) >>> 0, LE);
  return out;
}

/** Slots of the program's source table (SOURCE_SLOTS in bpf/synproxy.c). */
export const SOURCE_SLOTS = 65536;
/** struct src_slot: the address (16 bytes), its count, the second its window began. */
const SOURCE_SLOT_SIZE = 24;

/** The source table's salt: secret as the cookie keys are, and fixed while they are. */
export function sourceSalt(keys: Uint8Array): number {
  return new DataView(keys.buffer, keys.byteOffset, 32).getUint32(28, LE);
}

/** The slot of a 16-byte (mapped) address, as bpf/synproxy.c's source_slot computes it. */
export function sourceSlot(addr: Uint8Array, salt: number): number {
  const dv = new DataView(addr.buffer, addr.byteOffset, 16);
  let h = salt >>> 0;
  for (let i = 0; i < 16; i += 4) {
    h = Math.imul(h ^ dv.getUint32(i, LE), 0x9e3779b1);
    h ^= h >>> 16;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) & (SOURCE_SLOTS - 1);
}

/** The address at buf[at] (4 bytes for IPv4, else 16) as the program keys it: IPv4 as ::ffff:a.b.c.d. */
export function mapAddressAt(buf: Uint8Array, at: number, ver: number, out: Uint8Array, off: number): void {
  if (ver === 4) {
    out.fill(0, off, off + 10);
    out[off + 10] = 0xff;
    out[off + 11] = 0xff;
    for (let i = 0; i < 4; i++) out[off + 12 + i] = buf[at + i];
  } else for (let i = 0; i < 16; i++) out[off + i] = buf[at + i];
}

/** An address (4 or 16 bytes) as the program keys it: IPv4 as ::ffff:a.b.c.d (16 bytes). */
export function mappedAddress(bytes: Uint8Array, out = new Uint8Array(16), off = 0): Uint8Array {
  if (bytes.length !== 4 && bytes.length !== 16) throw new Error('fast path: an address is 4 or 16 bytes');
  mapAddressAt(bytes, 0, bytes.length === 4 ? 4 : 6, out, off);
  return out;
}

/** The LPM-trie key of a prefix: the length (over the mapped address) and the address. */
export function prefixKey(bytes: Uint8Array, bits: number): Uint8Array {
  const key = new Uint8Array(20);
  new DataView(key.buffer).setUint32(0, bytes.length === 4 ? bits + 96 : bits, LE);
  mappedAddress(bytes, key, 4);
  return key;
}

/** Possible CPUs (/sys/devices/system/cpu/possible): a per-CPU map value has a slot for each. */
export function possibleCpus(text: string): number {
  let n = 0;
  for (const part of text.trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (!Number.isInteger(a) || (b !== undefined && !(Number.isInteger(b) && b >= a)))
      throw new Error(`cannot read the possible CPUs from '${text.trim()}'`);
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

/**
 * Reads the per-CPU counters (summed) and writes the mode; one worker drives it. Every worker has
 * one: each takes its completed handshakes off the source table (`completed`), so each knows the
 * table's salt from the keys it is built with, not from a settings write only the driver makes.
 */
export class FastPathMaps {
  private readonly conf = new Uint8Array(CONF_SIZE);
  private readonly key = new Uint8Array(4);
  private readonly value: Uint8Array;
  private readonly valueView: DataView;
  private readonly aggKey = new Uint8Array(16);
  /** One mark's end, for aggressive(). */
  private readonly one = new Float64Array(1);
  /** The marks' ends as the map takes them (u64 ms, CLOCK_MONOTONIC), 1024 a native call. */
  private readonly ends = new Uint8Array(8 * 1024);
  private readonly endsView = new DataView(this.ends.buffer);
  /** CLOCK_MONOTONIC − this thread's performance.now(), in ms: both read the same clock. */
  private readonly monotonicOffsetMs = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  /** struct src_slot */
  private readonly src = new Uint8Array(SOURCE_SLOT_SIZE);
  private readonly srcView = new DataView(this.src.buffer);
  private readonly slotKey = new Uint8Array(4);
  private readonly slotView = new DataView(this.slotKey.buffer);
  /** The source table's salt: from the keys at construction, then from the settings last written. */
  private salt: number;
  private readonly keyView = new DataView(this.key.buffer);

  constructor(
    private readonly addon: TunAddon,
    readonly fds: FastPathFds,
    cpus: number,
    /** The cookie keys the program is given (FastSettings.keys): the source table's salt is theirs. */
    keys: Uint8Array,
  ) {
    this.salt = sourceSalt(keys);
    this.value = new Uint8Array(8 * cpus);
    this.valueView = new DataView(this.value.buffer);
  }

  /** The clock and the mode (one syscall). */
  write(s: FastSettings, mode: FastMode, wallMs: number): void {
    encodeConf(s, mode, wallMs, this.conf);
    this.salt = sourceSalt(s.keys);
    this.key.fill(0);
    if (this.addon.bpfMapWrite(this.fds.conf, this.key, 4, 1, this.conf, false) !== 0)
      throw new Error('fast path: the kernel refused the settings');
  }

  /** A counter summed over the CPUs (one syscall). */
  read(stat: FastStat): number {
    this.keyView.setUint32(0, FAST_STATS.indexOf(stat), LE);
    if (!this.addon.bpfMapRead(this.fds.stats, this.key, this.value)) return 0;
    let sum = 0;
    for (let o = 0; o < this.value.length; o += 8) sum += Number(this.valueView.getBigUint64(o, LE));
    return sum;
  }

  /** The next source the program reported past max_unfinished (16 bytes, IPv4 mapped), or none. */
  popSuspect(out: Uint8Array): boolean {
    return this.addon.bpfMapPop(this.fds.suspects, out);
  }

  /** Answered SYNs the program counts for a source in its current window (0: none). */
  sourceCount(bytes: Uint8Array): number {
    mappedAddress(bytes, this.aggKey);
    return this.readSlot(this.aggKey) ? this.srcView.getUint32(16, LE) : 0;
  }

  /** A handshake of the source completed: one answered SYN less (a lost race costs one count). */
  completed(buf: Uint8Array, off: number, ver: number): void {
    const k = this.aggKey;
    mapAddressAt(buf, off, ver, k, 0);
    if (!this.readSlot(k)) return;
    const n = this.srcView.getUint32(16, LE);
    if (n === 0) return;
    this.srcView.setUint32(16, n - 1, LE);
    this.addon.bpfMapWrite(this.fds.sources, this.slotKey, 4, 1, this.src, false);
  }

  /** Reads the slot of a mapped address into `src`; false when another source holds it. */
  private readSlot(addr: Uint8Array): boolean {
    this.slotView.setUint32(0, sourceSlot(addr, this.salt), LE);
    if (!this.addon.bpfMapRead(this.fds.sources, this.slotKey, this.src)) return false;
    for (let i = 0; i < 16; i++) if (this.src[i] !== addr[i]) return false;
    return true;
  }

  /**
   * Marks a source the program drops SYNs of until `untilMs` (this thread's performance.now()), or
   * clears its mark (undefined). False when the map is full.
   */
  aggressive(bytes: Uint8Array, untilMs: number | undefined): boolean {
    mappedAddress(bytes, this.aggKey);
    if (untilMs === undefined) {
      this.clearAggressive(this.aggKey, 1);
      return true;
    }
    this.one[0] = untilMs;
    return this.markAggressive(this.aggKey, 1, this.one) === 0;
  }

  /**
   * Marks `count` sources at once, 16-byte keys as the program's (IPv4 mapped) laid end to end in
   * `keys`, each until `untilMs[k]` (this thread's performance.now()): one native call. Returns how
   * many the map refused (full).
   */
  markAggressive(keys: Uint8Array, count: number, untilMs: Float64Array): number {
    const room = this.ends.length / 8;
    let refused = 0;
    for (let done = 0; done < count; done += room) {
      const n = Math.min(room, count - done);
      // The program reads bpf_ktime_get_ns(): CLOCK_MONOTONIC, performance.now()'s clock from another
      // origin. Whole ms, rounded up: a mark never ends in the kernel before it ends in the proxy.
      for (let k = 0; k < n; k++) {
        const ms = Math.max(0, Math.ceil(untilMs[done + k] + this.monotonicOffsetMs));
        this.endsView.setUint32(k * 8 + (LE ? 0 : 4), ms % 0x1_0000_0000, LE);
        this.endsView.setUint32(k * 8 + (LE ? 4 : 0), Math.floor(ms / 0x1_0000_0000), LE);
      }
      refused += this.addon.bpfMapWrite(
        this.fds.aggressive,
        keys.subarray(done * 16),
        16,
        n,
        this.ends,
        false,
        8,
      );
    }
    return refused;
  }

  /** Clears `count` marks (keys as markAggressive's); clearing one that is not there is harmless. */
  clearAggressive(keys: Uint8Array, count: number): void {
    if (count > 0) this.addon.bpfMapWrite(this.fds.aggressive, keys, 16, count, this.ends, true);
  }
}
