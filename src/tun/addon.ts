// Loads the native TUN addon (native/tun.c) from the repo build or an installed location.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The functions native/tun.c exports; every one throws an Error whose `code` is the errno name. */
export interface TunAddon {
  /** Opens /dev/net/tun: flags bit0 multi-queue, bit1 vnet header + offloads. Returns [fd, name, offloads]. */
  open(name: string, flags: number): [number, string, number];
  configure(name: string, mtu: number, txqueuelen: number): void;
  readBatch(
    fd: number,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    spinUs: number,
    timeoutMs: number,
    wakeFd: number,
  ): number;
  writeBatch(
    fd: number,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    status: Uint32Array,
  ): number;
  eventfd(): number;
  wake(fd: number): void;
  close(fd: number): void;
  /** Loads an eBPF queue selector (8-byte instructions) and attaches it to the TUN of `fd`. */
  steer(fd: number, insns: Uint8Array): void;
  /**
   * A non-blocking packet socket on `ifname` that receives only unfragmented IPv4 UDP to port 67
   * (DHCP requests), from the IP header on; read with readBatch(fd, …, 0, 0, -1).
   */
  dhcpSocket(ifname: string): number;
  /** Loads an eBPF program of `progType` (8-byte instructions); returns its fd. */
  bpfLoad(progType: number, insns: Uint8Array): number;
  /**
   * Attaches a loaded tc program to a device's TCX hook; returns the link fd (closing it detaches).
   * `first`: in front of the programs already there (else behind them).
   */
  tcxAttach(progFd: number, ifindex: number, egress: boolean, first?: boolean): number;
  /** How many programs a device's TCX ingress or egress hook runs (whoever attached them). */
  tcxCount(ifindex: number, egress: boolean): number;
  /**
   * cls_bpf, for kernels without TCX: `progFd` >= 0 adds it as a direct-action filter at `prio` of
   * the device's clsact ingress or egress (creating the qdisc); < 0 deletes that prio and says
   * whether anything was there. Such a filter outlives the process (src/netcfg/tc-attach.ts).
   */
  tcFilter(ifindex: number, egress: boolean, prio: number, progFd: number, name?: string): boolean;
  /** Creates an eBPF map; returns its fd. `name`: what bpftool shows (15 bytes kept; other than
   * letters, digits, '_' and '.' become '_'). */
  bpfMapCreate(
    type: number,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    flags?: number,
    name?: string,
  ): number;
  /**
   * Updates (or, `remove`, deletes) `count` keys laid end to end; returns how many were refused.
   * All get `value`, or, with `valueSize`, each its own (values laid end to end in `value`).
   */
  bpfMapWrite(
    fd: number,
    keys: Uint8Array,
    keySize: number,
    count: number,
    value: Uint8Array,
    remove: boolean,
    valueSize?: number,
  ): number;
  /** How many keys a map holds (walks it). */
  bpfMapCount(fd: number, keySize: number): number;
  /** Reads a key's value into `value` (per-CPU maps: one 8-byte-aligned slot per possible CPU); false if absent. */
  bpfMapRead(fd: number, key: Uint8Array, value: Uint8Array): boolean;
  /** Takes the oldest value of a queue map into `value`; false when it is empty. */
  bpfMapPop(fd: number, value: Uint8Array): boolean;
  /**
   * Runs a loaded program on `dataIn` in the kernel (BPF_PROG_TEST_RUN); the packet it leaves goes to
   * `dataOut`, `ctx` (struct __sk_buff for tc, or empty) in and out. Returns [retval, outLength, ns per run].
   */
  bpfTestRun(
    progFd: number,
    dataIn: Uint8Array,
    dataOut: Uint8Array,
    ctx: Uint8Array,
    repeat: number,
  ): [number, number, number];
  /**
   * Registers (`add`) or deletes a user-space conntrack helper through nfnetlink_cthelper, disabled:
   * the kernel passes every packet of a connection carrying it untouched (src/netcfg/ct-helper.ts).
   * `family` 2 or 10, `l4proto` an IP protocol number; add updates one of that name and family.
   */
  ctHelper(add: boolean, name: string, family: number, l4proto: number): void;
  readonly MAX_PACKET: number;
}

const ADDON_FILE = 'tunguard_tun.node';

function findAddon(): string {
  const fromEnv = process.env.TUNGUARD_ADDON;
  if (fromEnv) return fromEnv;
  // Walk up from this module (src/tun or dist/src/tun) to the package root holding native/.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const cand of [join(dir, 'native', 'build', 'Release', ADDON_FILE), join(dir, ADDON_FILE)]) {
      if (existsSync(cand)) return cand;
    }
    dir = dirname(dir);
  }
  throw new Error(
    `native TUN addon ${ADDON_FILE} not found: run 'npm ci' (builds native/ with node-gyp) or set TUNGUARD_ADDON`,
  );
}

let cached: TunAddon | undefined;

/** Closes a descriptor that may be closed already (teardown paths that run more than once). */
export function closeQuietly(addon: Pick<TunAddon, 'close'>, fd: number): void {
  try {
    addon.close(fd);
  } catch {
    /* already closed */
  }
}

export function loadAddon(): TunAddon {
  if (!cached) cached = createRequire(import.meta.url)(findAddon()) as TunAddon;
  return cached;
}
