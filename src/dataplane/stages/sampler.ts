// The passive-inventory tap: copies a bounded sample of interesting packets from LAN hosts into a
// SharedArrayBuffer ring for the main thread (which fingerprints them off the hot path). Interesting:
// a LAN host's TCP SYN, its cleartext HTTP request to port 80, the first bytes its services send
// (SSH-, HTTP/, 220 greetings). Never drops or edits a packet. Bounded three ways: a (host, kind, port)
// seen recently is skipped, each host has a per-second budget, each worker a global one; a full ring
// loses the sample. All four outcomes are counted.
import { PrefixMatcher } from '../../defense/prefix.js';
import type { PacketInfo } from '../../packet/index.js';
import type { Batch } from '../../tun/packet-io.js';
import { SampleKind, SampleRing } from '../sample-ring.js';
import { PASS, type Stage, type StageContext } from '../stage.js';

export interface SamplerSettings {
  /** Samples one worker takes per second, all hosts together (default 200). */
  maxPerSecond?: number;
  /** Samples per LAN host per second (default 4). */
  perHostPerSecond?: number;
  /** The same host, kind and port is sampled again only after this many ms (default 10 000). */
  repeatMs?: number;
}

export const SAMPLER_DEFAULTS = { maxPerSecond: 200, perHostPerSecond: 4, repeatMs: 10_000 } as const;

/** Counters, in order: taken, skipped as a repeat, over a rate budget, ring full. */
export const SAMPLER_COUNTERS = [
  'sampler_samples',
  'sampler_skip_repeat',
  'sampler_drop_rate',
  'sampler_drop_full',
] as const;

const TAKEN = 0;
const REPEAT = 1;
const RATE = 2;
const FULL = 3;

const TCP = 6;
const FIN_SYN_RST = 0x07;
const SYN = 0x02;
const ACK = 0x10;

/** First four payload bytes, big-endian, of what we look for. */
const WORD = (s: string) =>
  ((s.charCodeAt(0) << 24) | (s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8) | s.charCodeAt(3)) >>> 0;
const METHODS = ['GET ', 'POST', 'HEAD', 'PUT ', 'DELE', 'OPTI', 'PATC'].map(WORD);
const SSH = WORD('SSH-');
const HTTP = WORD('HTTP');
const GREETING = WORD('220 ');
const GREETING_MULTI = WORD('220-');

/** Table sizes (powers of two): direct-mapped, a collision simply replaces the older entry. */
const HOST_SLOTS = 1024;
const REPEAT_SLOTS = 4096;

/** 32-bit mix (murmur3 finaliser): spreads addresses that differ in a few bits. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class SamplerStage implements Stage {
  readonly name = 'sampler';
  readonly dropReasons = SAMPLER_COUNTERS;
  readonly ring: SampleRing;
  private readonly lan: PrefixMatcher;
  private readonly maxPerSecond: number;
  private readonly perHost: number;
  private readonly repeatMs: number;
  private counters: Float64Array = new Float64Array(SAMPLER_COUNTERS.length);
  private readonly idx = new Int32Array(SAMPLER_COUNTERS.length).map((_, i) => i);
  private clock: { now: number } = { now: 0 };
  /** Per-host budget: address hash, second it counts, samples in that second. */
  private readonly hostKey = new Uint32Array(HOST_SLOTS);
  private readonly hostSecond = new Float64Array(HOST_SLOTS).fill(-1);
  private readonly hostCount = new Uint16Array(HOST_SLOTS);
  /** Recently sampled (host, kind, port): key hash and when. */
  private readonly repeatKey = new Uint32Array(REPEAT_SLOTS);
  private readonly repeatAt = new Float64Array(REPEAT_SLOTS).fill(Number.NEGATIVE_INFINITY);
  private globalSecond = -1;
  private globalCount = 0;

  /** `ring` is the worker's end of a ring the main thread made; without one the stage makes its own. */
  constructor(lanPrefixes: readonly string[], settings: SamplerSettings = {}, ring?: SharedArrayBuffer) {
    this.lan = new PrefixMatcher(lanPrefixes, { strict: false });
    this.ring = ring ? new SampleRing(ring) : SampleRing.create();
    this.maxPerSecond = settings.maxPerSecond ?? SAMPLER_DEFAULTS.maxPerSecond;
    this.perHost = settings.perHostPerSecond ?? SAMPLER_DEFAULTS.perHostPerSecond;
    this.repeatMs = settings.repeatMs ?? SAMPLER_DEFAULTS.repeatMs;
  }

  bind(reasonIndex: readonly number[], ctx?: StageContext, counters?: Float64Array): void {
    if (counters) {
      this.counters = counters;
      for (let i = 0; i < reasonIndex.length; i++) this.idx[i] = reasonIndex[i];
    }
    if (ctx) this.clock = ctx;
  }

  /** Sets the clock (ms) outside a pipeline (unit tests). */
  setNow(ms: number): void {
    this.clock.now = ms;
  }

  handle(batch: Batch, _i: number, info: PacketInfo): number {
    // Non-first fragments have no L4 view (l4Off 0): nothing to read.
    if (info.proto !== TCP || info.l4Off === 0) return PASS;
    const buf = batch.buf;
    const flags = info.tcpFlags;
    let kind: number;
    let port: number;
    if ((flags & FIN_SYN_RST) === SYN) {
      if ((flags & ACK) !== 0) return PASS; // a SYN-ACK says little the SYN did not
      kind = SampleKind.SYN;
      port = 0;
    } else {
      if (info.payloadLen < 4) return PASS;
      const p = info.payloadOff;
      const w = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
      if (info.dstPort === 80 && METHODS.includes(w)) {
        kind = SampleKind.HTTP_REQUEST;
        port = 80;
      } else if (w === SSH || w === HTTP || w === GREETING || w === GREETING_MULTI) {
        kind = SampleKind.BANNER;
        port = info.srcPort;
      } else return PASS;
    }
    // Only what LAN hosts send describes the hosts we protect.
    if (!this.lan.matches(buf, info.srcAddrOff, info.ipVersion)) return PASS;
    this.take(buf, info, kind, port);
    return PASS;
  }

  private addressHash(buf: Uint8Array, off: number, version: number): number {
    let h = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
    if (version === 6)
      for (let o = off + 4; o < off + 16; o += 4)
        h = mix(h ^ (((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0));
    return mix(h);
  }

  private take(buf: Uint8Array, info: PacketInfo, kind: number, port: number): void {
    const c = this.counters;
    const now = this.clock.now;
    const host = this.addressHash(buf, info.srcAddrOff, info.ipVersion);
    const key = mix(host ^ Math.imul(kind, 0x9e3779b1) ^ (port << 3));
    const r = key & (REPEAT_SLOTS - 1);
    if (this.repeatKey[r] === key && now - this.repeatAt[r] < this.repeatMs) {
      c[this.idx[REPEAT]]++;
      return;
    }
    const second = Math.floor(now / 1000);
    if (second !== this.globalSecond) {
      this.globalSecond = second;
      this.globalCount = 0;
    }
    const s = host & (HOST_SLOTS - 1);
    if (this.hostKey[s] !== host || this.hostSecond[s] !== second) {
      this.hostKey[s] = host;
      this.hostSecond[s] = second;
      this.hostCount[s] = 0;
    }
    if (this.hostCount[s] >= this.perHost || this.globalCount >= this.maxPerSecond) {
      c[this.idx[RATE]]++;
      return;
    }
    if (!this.ring.push(kind, buf, info.l3Off, info.ipLen)) {
      c[this.idx[FULL]]++;
      return;
    }
    this.hostCount[s]++;
    this.globalCount++;
    this.repeatKey[r] = key;
    this.repeatAt[r] = now;
    c[this.idx[TAKEN]]++;
  }
}
