// Flows that bypass the TUN: the LAN's own connections (and pings), once the dataplane has seen what it needs of
// them (the sampler its first request, the counters the SYN), take the kernel path both ways. The
// dataplane asks for it; the LAN programs (src/netcfg/steering-programs.ts) look each packet's flow
// up in an LRU hash map the daemon owns. A proxied connection is never added, and is removed when
// the proxy opens one with the same addresses and ports. When the map is full the least recently
// used flow falls out and crosses the TUN again, which is always safe: the proxy passes what it does
// not know of a LAN-opened flow. A hostile LAN host can only push other flows back through the TUN.
//
// Key (40 bytes), one per flow in the LAN host's view:
//   [0] family 4|6  [1] protocol 6|17|1|58  [2..3] 0  [4..5] LAN port  [6..7] remote port (network
//   order); for an ICMP echo the LAN port is the echo identifier and the remote port 0
//   [8..23] LAN address  [24..39] remote address (IPv4 in the first 4 bytes, the rest 0)

export const BYPASS_KEY_SIZE = 40;
export const BYPASS_KEY = {
  family: 0,
  proto: 1,
  lanPort: 4,
  remotePort: 6,
  lanAddr: 8,
  remoteAddr: 24,
} as const;
/** Flows the map holds (kernel memory about 100 bytes each). */
export const BYPASS_MAX_FLOWS = 32768;

/** Keys to write to the map after a batch (one native call), added and removed. */
export class BypassQueue {
  /** Requests per batch; more are dropped (their flows ask again with their next packet). */
  static readonly CAPACITY = 256;
  readonly adds = new Uint8Array(BypassQueue.CAPACITY * BYPASS_KEY_SIZE);
  readonly removes = new Uint8Array(BypassQueue.CAPACITY * BYPASS_KEY_SIZE);
  addCount = 0;
  removeCount = 0;
  /** Whether requests are taken at all (no map: nothing to ask for). */
  enabled = false;

  /**
   * Asks for the flow of a packet to bypass the TUN. `lanOff`/`remoteOff`: the addresses in `buf`
   * (4 or 16 bytes by `ver`), ports as numbers (an ICMP echo: its identifier and 0).
   */
  add(
    buf: Uint8Array,
    ver: number,
    proto: number,
    lanOff: number,
    lanPort: number,
    remoteOff: number,
    remotePort: number,
  ): void {
    if (this.enabled && this.addCount < BypassQueue.CAPACITY)
      this.addCount += queueKey(
        this.adds,
        this.addCount,
        buf,
        ver,
        proto,
        lanOff,
        lanPort,
        remoteOff,
        remotePort,
      );
  }

  /** Takes a flow off the map (the proxy is about to own a connection with these addresses and ports). */
  remove(
    buf: Uint8Array,
    ver: number,
    proto: number,
    lanOff: number,
    lanPort: number,
    remoteOff: number,
    remotePort: number,
  ): void {
    if (this.enabled && this.removeCount < BypassQueue.CAPACITY)
      this.removeCount += queueKey(
        this.removes,
        this.removeCount,
        buf,
        ver,
        proto,
        lanOff,
        lanPort,
        remoteOff,
        remotePort,
      );
  }

  reset(): void {
    this.addCount = 0;
    this.removeCount = 0;
  }
}

/**
 * Writes the key after the `count` already in `keys`; answers 1, or 0 when it repeats the one
 * before (a flow's packets come in runs: one request is enough).
 */
function queueKey(
  keys: Uint8Array,
  count: number,
  buf: Uint8Array,
  ver: number,
  proto: number,
  lanOff: number,
  lanPort: number,
  remoteOff: number,
  remotePort: number,
): number {
  const at = count * BYPASS_KEY_SIZE;
  writeKey(keys, at, buf, ver, proto, lanOff, lanPort, remoteOff, remotePort);
  if (count === 0) return 1;
  for (let k = 0; k < BYPASS_KEY_SIZE; k++) if (keys[at + k] !== keys[at - BYPASS_KEY_SIZE + k]) return 1;
  return 0;
}

/** Writes one key at `at` of `keys` (the layout above). */
export function writeKey(
  keys: Uint8Array,
  at: number,
  buf: Uint8Array,
  ver: number,
  proto: number,
  lanOff: number,
  lanPort: number,
  remoteOff: number,
  remotePort: number,
): void {
  keys.fill(0, at, at + BYPASS_KEY_SIZE);
  keys[at] = ver;
  keys[at + 1] = proto;
  keys[at + 4] = lanPort >>> 8;
  keys[at + 5] = lanPort & 0xff;
  keys[at + 6] = remotePort >>> 8;
  keys[at + 7] = remotePort & 0xff;
  const n = ver === 4 ? 4 : 16;
  for (let k = 0; k < n; k++) {
    keys[at + BYPASS_KEY.lanAddr + k] = buf[lanOff + k];
    keys[at + BYPASS_KEY.remoteAddr + k] = buf[remoteOff + k];
  }
}
