// The proxied-connection table: open addressing over typed arrays, keyed by the 4-tuple as the
// client sent it (client address/port, server address/port). One record per connection joins the
// handshake (synproxy) and the translation (seqadj), like nf_conntrack's synproxy + seqadj extensions.
import { randomFillSync } from 'node:crypto';
import type { SeqAdj } from './seqadj.js';
import {
  hashTuple,
  packPorts,
  TUPLE_WORDS,
  tupleAddresses,
  tupleClientPort,
  tupleEquals,
  tuplePorts,
  tupleServerPort,
  writeTuple,
} from './tuple-key.js';

/** Connection states. */
export const ConnState = {
  FREE: 0,
  /** Cookie ACK accepted; the proxy's SYN to the server is outstanding. */
  SYN_SENT: 1,
  ESTABLISHED: 2,
  /** A FIN seen in one direction. */
  FIN_WAIT: 3,
  /** FIN both ways, or a RST: kept a little while to translate retransmissions. */
  CLOSED: 4,
} as const;

/** Flag bits per connection. */
export const ConnFlag = {
  TS: 0x01,
  SACK: 0x02,
  ECN: 0x04,
  FIN_CLIENT: 0x08,
  FIN_SERVER: 0x10,
  IPV6: 0x20,
  /** Restored from the store: translation continues, the handshake is history. */
  RESTORED: 0x40,
  /** Written to the connection store (its removal must be written too). */
  PERSISTED: 0x80,
} as const;

const PROBE_LIMIT = 64;

export class ConnTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly seed: number;
  count = 0;
  /** The 4-tuple of each slot (tuple-key.ts layout) and its IP version. */
  private readonly keys: Uint32Array;
  private readonly family: Uint8Array;
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  /**
   * 1 once the proxy handed the connection to the kernel translation (bpf/seqadj.c), until it takes it
   * back; the kernel may have refused it (its map full: the proxy goes on translating it, and does not
   * ask again). Never persisted: a restarted daemon's map is new, and it hands the connection over again.
   */
  readonly handed: Uint8Array;
  /** Client payload bytes seen before the hand-over (saturating): an upload the host never answers is handed over too. */
  readonly clientBytes: Uint32Array;
  /** Client ISN, proxy ISN (the cookie), server ISN. */
  readonly isnC: Uint32Array;
  readonly isnP: Uint32Array;
  readonly isnS: Uint32Array;
  /** Sequence offset: server→client seq += delta, client→server ack −= delta (= isnP − isnS). */
  readonly delta: Uint32Array;
  /** Timestamp offset τ: server→client TSval −= tsOff, client→server TSecr += tsOff. */
  readonly tsOff: Uint32Array;
  /** The TSval the client was given in the proxy's SYN-ACK, and the client's latest TSval. */
  readonly tsProxy: Uint32Array;
  readonly tsClient: Uint32Array;
  /** Window scale of the client, told to the client (ours), and of the server; −1 = none. */
  readonly wsClient: Int8Array;
  readonly wsAdv: Int8Array;
  readonly wsServer: Int8Array;
  readonly mss: Uint16Array;
  /** Client's window from its third ACK (raw field). */
  readonly winClient: Uint16Array;
  readonly lastSeen: Float64Array;
  /** Next proxy-SYN retransmission (SYN_SENT) or expiry (CLOSED). */
  readonly timerAt: Float64Array;
  readonly retries: Uint8Array;
  /** Changed since the last export to the connection store. */
  readonly dirty: Uint8Array;
  private readonly valueArrays: (Uint32Array | Uint8Array | Int8Array | Uint16Array | Float64Array)[];

  constructor(capacity: number) {
    let cap = 1024;
    while (cap < capacity * 2) cap *= 2; // load factor ≤ 0.5
    this.capacity = capacity;
    this.mask = cap - 1;
    const seed = new Uint32Array(1);
    randomFillSync(seed);
    this.seed = seed[0];
    this.keys = new Uint32Array(cap * TUPLE_WORDS);
    this.family = new Uint8Array(cap);
    this.state = new Uint8Array(cap);
    this.flags = new Uint8Array(cap);
    this.isnC = new Uint32Array(cap);
    this.isnP = new Uint32Array(cap);
    this.isnS = new Uint32Array(cap);
    this.delta = new Uint32Array(cap);
    this.tsOff = new Uint32Array(cap);
    this.tsProxy = new Uint32Array(cap);
    this.tsClient = new Uint32Array(cap);
    this.wsClient = new Int8Array(cap);
    this.wsAdv = new Int8Array(cap);
    this.wsServer = new Int8Array(cap);
    this.mss = new Uint16Array(cap);
    this.winClient = new Uint16Array(cap);
    this.lastSeen = new Float64Array(cap);
    this.timerAt = new Float64Array(cap);
    this.retries = new Uint8Array(cap);
    this.dirty = new Uint8Array(cap);
    this.handed = new Uint8Array(cap);
    this.clientBytes = new Uint32Array(cap);
    this.valueArrays = [
      this.handed,
      this.clientBytes,
      this.dirty,
      this.state,
      this.flags,
      this.isnC,
      this.isnP,
      this.isnS,
      this.delta,
      this.tsOff,
      this.tsProxy,
      this.tsClient,
      this.wsClient,
      this.wsAdv,
      this.wsServer,
      this.mss,
      this.winClient,
      this.lastSeen,
      this.timerAt,
      this.retries,
    ];
  }

  /** Number of slots (iterate 0..slots-1 and skip FREE ones). */
  get slots(): number {
    return this.mask + 1;
  }

  private home(buf: Uint8Array, cOff: number, sOff: number, ver: number, ports: number): number {
    return hashTuple(this.seed, buf, cOff, sOff, ver, ports) & this.mask;
  }

  /** Slot of the connection (client side addresses at cOff, server side at sOff), or −1. */
  find(buf: Uint8Array, cOff: number, sOff: number, ver: number, cPort: number, sPort: number): number {
    const ports = packPorts(cPort, sPort);
    let slot = this.home(buf, cOff, sOff, ver, ports);
    for (let p = 0; p < PROBE_LIMIT; p++) {
      if (this.state[slot] === ConnState.FREE) return -1;
      if (
        this.family[slot] === ver &&
        tupleEquals(this.keys, slot * TUPLE_WORDS, buf, cOff, sOff, ver, ports)
      )
        return slot;
      slot = (slot + 1) & this.mask;
    }
    return -1;
  }

  /** Claims a slot for a new connection (state SYN_SENT, values zeroed); −1 when full. */
  insert(buf: Uint8Array, cOff: number, sOff: number, ver: number, cPort: number, sPort: number): number {
    if (this.count >= this.capacity) return -1;
    const ports = packPorts(cPort, sPort);
    let slot = this.home(buf, cOff, sOff, ver, ports);
    for (let p = 0; p < PROBE_LIMIT; p++) {
      if (this.state[slot] === ConnState.FREE) {
        writeTuple(this.keys, slot * TUPLE_WORDS, buf, cOff, sOff, ver, ports);
        this.family[slot] = ver;
        for (const a of this.valueArrays) a[slot] = 0;
        this.state[slot] = ConnState.SYN_SENT;
        this.flags[slot] = ver === 6 ? ConnFlag.IPV6 : 0;
        this.count++;
        return slot;
      }
      slot = (slot + 1) & this.mask;
    }
    return -1;
  }

  /** Frees a slot, shifting later entries of its probe run back (no tombstones). */
  remove(slot: number): void {
    if (this.state[slot] === ConnState.FREE) return;
    this.count--;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & this.mask;
      if (this.state[j] === ConnState.FREE) break;
      const home = this.homeOf(j);
      // Move j into the hole when its home position does not lie cyclically in (hole, j].
      const inRange = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (!inRange) {
        const k = j * TUPLE_WORDS;
        this.keys.copyWithin(hole * TUPLE_WORDS, k, k + TUPLE_WORDS);
        this.family[hole] = this.family[j];
        for (const a of this.valueArrays) a[hole] = a[j];
        hole = j;
      }
    }
    this.state[hole] = ConnState.FREE;
  }

  private readonly scratch = new Uint8Array(32);

  private homeOf(slot: number): number {
    const k = slot * TUPLE_WORDS;
    tupleAddresses(this.keys, k, this.scratch);
    return this.home(this.scratch, 0, 16, this.family[slot], tuplePorts(this.keys, k));
  }

  /** Claims a slot from a stored key ("ver|clientHex|cPort|serverHex|sPort"); −1 when full/bad. */
  insertKey(key: string): number {
    const parts = key.split('|');
    if (parts.length !== 5) return -1;
    const [v, c, cp, sv, sp] = parts;
    const ver = Number(v);
    const n = ver === 4 ? 4 : 16;
    if ((ver !== 4 && ver !== 6) || c.length !== 2 * n || sv.length !== 2 * n) return -1;
    if (!/^[0-9a-f]+$/i.test(c) || !/^[0-9a-f]+$/i.test(sv)) return -1;
    if (!/^\d{1,5}$/.test(cp) || !/^\d{1,5}$/.test(sp) || Number(cp) > 65535 || Number(sp) > 65535) return -1;
    const b = new Uint8Array(32);
    for (let i = 0; i < n; i++) {
      b[i] = Number.parseInt(c.slice(2 * i, 2 * i + 2), 16);
      b[16 + i] = Number.parseInt(sv.slice(2 * i, 2 * i + 2), 16);
    }
    return this.insert(b, 0, 16, ver, Number(cp), Number(sp));
  }

  /** The store key of a slot ("ver|clientHex|cPort|serverHex|sPort"). */
  keyString(slot: number): string {
    const k = this.keyOf(slot);
    const hex = (a: Uint8Array) => Buffer.from(a).toString('hex');
    return `${k.ver}|${hex(k.client)}|${k.cPort}|${hex(k.server)}|${k.sPort}`;
  }

  /** Writes the client address of a slot to out[0..] (4 or 16 bytes); returns its IP version. */
  clientAddr(slot: number, out: Uint8Array): number {
    const s = this.scratch;
    tupleAddresses(this.keys, slot * TUPLE_WORDS, s);
    const ver = this.family[slot];
    const n = ver === 4 ? 4 : 16;
    for (let i = 0; i < n; i++) out[i] = s[i];
    return ver;
  }

  /** Writes both addresses of a slot (client at out[0..16), server at out[16..32)); returns its IP version. */
  addresses(slot: number, out: Uint8Array): number {
    tupleAddresses(this.keys, slot * TUPLE_WORDS, out);
    return this.family[slot];
  }

  /** The IP version of a slot's connection. */
  familyOf(slot: number): number {
    return this.family[slot];
  }

  clientPort(slot: number): number {
    return tupleClientPort(this.keys, slot * TUPLE_WORDS);
  }

  serverPort(slot: number): number {
    return tupleServerPort(this.keys, slot * TUPLE_WORDS);
  }

  /** Loads a slot's translation state into `out` (reused by the caller: nothing allocated). */
  seqAdj(slot: number, out: SeqAdj): SeqAdj {
    out.delta = this.delta[slot];
    out.ts = (this.flags[slot] & ConnFlag.TS) !== 0;
    out.tsOff = this.tsOff[slot];
    out.wsClient = this.wsClient[slot];
    out.wsAdv = this.wsAdv[slot];
    out.wsServer = this.wsServer[slot];
    return out;
  }

  /** The key of a slot, for listing and persisting (allocation is fine there). */
  keyOf(slot: number): { ver: number; client: Uint8Array; server: Uint8Array; cPort: number; sPort: number } {
    const ver = this.family[slot];
    const n = ver === 4 ? 4 : 16;
    const both = new Uint8Array(32);
    tupleAddresses(this.keys, slot * TUPLE_WORDS, both);
    return {
      ver,
      client: both.slice(0, n),
      server: both.slice(16, 16 + n),
      cPort: this.clientPort(slot),
      sPort: this.serverPort(slot),
    };
  }
}
