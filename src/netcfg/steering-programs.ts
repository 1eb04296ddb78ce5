// The three tc programs that put tunguard on the LAN side of the router's own forwarding, so the
// kernel (conntrack, NAT, OpenWrt's fw4) sees every forwarded packet exactly once, with its real
// input and output devices, as on a router without tunguard:
//
//   LAN ingress: a packet a LAN host sends to be forwarded (not to the router, not LAN to LAN) goes
//                to the TUN before the kernel sees it.
//   LAN egress:  a packet the kernel forwarded (judged by the firewall, DNAT done) toward a LAN host
//                goes to the TUN before it leaves.
//   TUN ingress: what tunguard writes back. Toward a LAN host: out of that LAN device at once
//                (bpf_redirect_neigh, no second trip through netfilter: the kernel judged it already).
//                Toward anywhere else: into the receive path of the LAN device that faces its source,
//                as if that host had sent it, marked so the LAN ingress program lets it through.
//
// So a WAN→LAN packet is judged by the firewall before tunguard sees it (a SYN fw4 rejects is never
// answered by the SYN proxy), a LAN→WAN packet after, and the proxy's answers toward the WAN (SYN-ACK
// cookies, translated replies) meet the connection's conntrack entry as the LAN host's own replies
// would, which undoes a port forward's DNAT. The proxy's own connection to the LAN host never
// touches conntrack. Nothing is routed to the TUN, so nothing there needs a firewall rule.
import { Alu, Asm, FP, Helper, Jmp, type Reg, Size } from '../tun/ebpf.js';
import { BYPASS_KEY, BYPASS_KEY_SIZE } from '../tun/flow-bypass.js';

/** A LAN device as the programs know it. */
export interface SteeredLan {
  ifindex: number;
  /** Its MAC address: the destination of frames re-injected into its receive path. */
  mac: Uint8Array;
}

export interface SteeringProgramOptions {
  tunIfindex: number;
  lans: readonly SteeredLan[];
  /** Steer IPv6 too (IPv4 always). */
  ipv6: boolean;
  /** The skb mark bit on packets re-injected into a LAN device's receive path (cleared there). */
  mark: number;
  /** fd of the LRU hash of flows that bypass the TUN (src/tun/flow-bypass.ts); none: all are steered. */
  bypassMap?: number;
  /**
   * The skb mark bit of the proxy's packets for the router itself, re-injected through lo (see
   * src/netcfg/router-local.ts); none: the router's own services are not proxied.
   */
  localMark?: number;
}

/** The bit the TUN program sets and the LAN ingress program clears (never seen by netfilter). */
export const REINJECT_MARK = 0x20000000;

// struct __sk_buff offsets (include/uapi/linux/bpf.h).
const SKB_MARK = 8;
const SKB_PROTOCOL = 16;
const SKB_INGRESS_IFINDEX = 36;
const SKB_DATA = 76;
const SKB_DATA_END = 80;
// skb->protocol as the program reads it: the big-endian EtherType in a little-endian word.
const PROTO_IPV4 = 0x0008;
const PROTO_IPV6 = 0xdd86;
// struct bpf_fib_lookup (64 bytes) on the stack at FIB.
const FIB = -64;
const FIB_SIZE = 64;
const FIB_FAMILY = FIB + 0;
const FIB_IFINDEX = FIB + 8;
const FIB_SRC = FIB + 16;
const FIB_DST = FIB + 32;
const AF_INET = 2;
const AF_INET6 = 10;
const FIB_SKIP_NEIGH = 4;
/** bpf_fib_lookup's answer for a destination that is not forwarded: the router's own address. */
const FIB_NOT_FWDED = 4;
/** The loopback device: ifindex 1 in every network namespace. */
const LO_IFINDEX = 1;
// An Ethernet header under construction on the stack.
const ETH = -80;
const ETH_HLEN = 14;
// The bypass key under construction.
const KEY = -120;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;
const TCP_SYN = 0x02;
// TCX verdicts.
const TCX_NEXT = -1;
const TCX_DROP = 2;
const BPF_F_INGRESS = 1;

/** Zeroes the fib-lookup struct (the verifier wants helper memory initialized). */
function zeroFib(a: Asm): void {
  for (let o = 0; o < FIB_SIZE; o += 8) a.storeImm(Size.DW, FP, FIB + o, 0);
}

/** r2 = FP + off */
function stackPtr(a: Asm, reg: Reg, off: number): void {
  a.movReg(reg, FP).aluImm(Alu.ADD, reg, off);
}

/** bpf_skb_load_bytes(ctx=r6, from, FP+to, len); on failure goto `fail`. */
function loadBytes(a: Asm, from: number, to: number, len: number, fail: string): void {
  a.movReg(1, 6).movImm(2, from);
  stackPtr(a, 3, to);
  a.movImm(4, len).call(Helper.skbLoadBytes).jmpImm(Jmp.JNE, 0, 0, fail);
}

/**
 * Fills the fib struct with the packet's addresses (the IP header at `l3`; `swap`: source and
 * destination exchanged, to ask which device faces the source) and the lookup's input device.
 * r7 holds skb->protocol, already known to be IPv4 or IPv6. Failure goes to `fail`.
 */
function fillFib(a: Asm, p: string, l3: number, swap: boolean, ifindex: Reg, fail: string): void {
  zeroFib(a);
  a.store(Size.W, FP, FIB_IFINDEX, ifindex);
  a.jmpImm(Jmp.JEQ, 7, PROTO_IPV6, `${p}_v6`);
  a.storeImm(Size.B, FP, FIB_FAMILY, AF_INET);
  loadBytes(a, l3 + 12, swap ? FIB_DST : FIB_SRC, 4, fail);
  loadBytes(a, l3 + 16, swap ? FIB_SRC : FIB_DST, 4, fail);
  a.ja(`${p}_done`);
  a.label(`${p}_v6`);
  a.storeImm(Size.B, FP, FIB_FAMILY, AF_INET6);
  if (swap) {
    loadBytes(a, l3 + 8, FIB_DST, 16, fail);
    loadBytes(a, l3 + 24, FIB_SRC, 16, fail);
  } else {
    loadBytes(a, l3 + 8, FIB_SRC, 32, fail); // source and destination, contiguous in both
  }
  a.label(`${p}_done`);
}

/** bpf_fib_lookup(ctx, &fib, 64, SKIP_NEIGH); r0 = its result code. */
function fibLookup(a: Asm): void {
  a.movReg(1, 6);
  stackPtr(a, 2, FIB);
  a.movImm(3, FIB_SIZE).movImm(4, FIB_SKIP_NEIGH).call(Helper.fibLookup);
}

/** Jumps to `target` when r7 is neither IPv4 nor (if steered) IPv6. */
function requireIp(a: Asm, ipv6: boolean, ok: string, target: string): void {
  a.jmpImm(Jmp.JEQ, 7, PROTO_IPV4, ok);
  if (ipv6) a.jmpImm(Jmp.JEQ, 7, PROTO_IPV6, ok);
  a.ja(target);
}

/** A locally administered unicast MAC for headers that are replaced before anything reads them. */
const BLANK_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0);
const ZERO_MAC = new Uint8Array(6);

/** Destination and source MAC of the header under construction (2-byte stores: aligned on the stack). */
function writeMacs(a: Asm, mac: Uint8Array): void {
  for (const at of [ETH, ETH + 6])
    for (let k = 0; k < 6; k += 2) a.storeImm(Size.H, FP, at + k, mac[k] | (mac[k + 1] << 8));
}

/** Puts the header under construction (EtherType from r7, skb->protocol) in front of the packet. */
function pushEthernet(a: Asm, fail: string): void {
  a.store(Size.H, FP, ETH + 12, 7);
  a.movReg(1, 6).movImm(2, ETH_HLEN).movImm(3, 0).call(Helper.skbChangeHead).jmpImm(Jmp.JNE, 0, 0, fail);
  a.movReg(1, 6).movImm(2, 0);
  stackPtr(a, 3, ETH);
  a.movImm(4, ETH_HLEN).movImm(5, 0).call(Helper.skbStoreBytes).jmpImm(Jmp.JNE, 0, 0, fail);
}

/**
 * Looks the packet's flow up in the bypass map: found (and not a SYN) goes to `bypass`, anything
 * else (not TCP/UDP, a fragment, IPv6 extension headers, a SYN, headers outside the linear data,
 * not in the map) to `steer`. `lanIsSource`: the LAN host sent it (LAN ingress) or receives it (LAN
 * egress). Every packet of a bypassed flow runs this: direct packet access, no helper but the
 * lookup. r6 = ctx, r7 = skb->protocol (IPv4 or IPv6); clobbers r0-r5 and r9.
 */
function bypassCheck(
  a: Asm,
  map: number,
  lanIsSource: boolean,
  l3: number,
  bypass: string,
  steer: string,
): void {
  for (let o = 0; o < BYPASS_KEY_SIZE; o += 8) a.storeImm(Size.DW, FP, KEY + o, 0);
  const [firstAddr, secondAddr] = lanIsSource
    ? [KEY + BYPASS_KEY.lanAddr, KEY + BYPASS_KEY.remoteAddr]
    : [KEY + BYPASS_KEY.remoteAddr, KEY + BYPASS_KEY.lanAddr];
  const [firstPort, secondPort] = lanIsSource
    ? [KEY + BYPASS_KEY.lanPort, KEY + BYPASS_KEY.remotePort]
    : [KEY + BYPASS_KEY.remotePort, KEY + BYPASS_KEY.lanPort];
  /** if (r2 + end > data_end) goto steer, with r2 = a packet pointer and r3 = data_end. */
  const need = (ptr: 2 | 9, end: number) =>
    a.movReg(4, ptr).aluImm(Alu.ADD, 4, end).jmpReg(Jmp.JGT, 4, 3, steer);
  a.load(Size.W, 2, 6, SKB_DATA).load(Size.W, 3, 6, SKB_DATA_END);
  a.jmpImm(Jmp.JEQ, 7, PROTO_IPV6, 'bp_v6');
  // IPv4: the fixed header in the linear data; not a fragment; the protocol and both addresses.
  a.storeImm(Size.B, FP, KEY + BYPASS_KEY.family, 4);
  need(2, l3 + 20);
  a.load(Size.H, 0, 2, l3 + 6)
    .aluImm(Alu.AND, 0, 0xff3f)
    .jmpImm(Jmp.JNE, 0, 0, steer); // MF or offset
  a.load(Size.B, 0, 2, l3 + 9).store(Size.B, FP, KEY + BYPASS_KEY.proto, 0);
  a.load(Size.W, 0, 2, l3 + 12).store(Size.W, FP, firstAddr, 0);
  a.load(Size.W, 0, 2, l3 + 16).store(Size.W, FP, secondAddr, 0);
  a.load(Size.B, 5, 2, l3).aluImm(Alu.AND, 5, 0x0f).aluImm(Alu.LSH, 5, 2); // header length, ≤ 60
  a.movReg(9, 2).aluReg(Alu.ADD, 9, 5).aluImm(Alu.ADD, 9, l3);
  a.ja('bp_l4');
  // IPv6: no extension header (the next header is the transport's), both addresses.
  a.label('bp_v6');
  a.storeImm(Size.B, FP, KEY + BYPASS_KEY.family, 6);
  need(2, l3 + 40);
  a.load(Size.B, 0, 2, l3 + 6).store(Size.B, FP, KEY + BYPASS_KEY.proto, 0);
  for (let w = 0; w < 16; w += 4) {
    a.load(Size.W, 0, 2, l3 + 8 + w).store(Size.W, FP, firstAddr + w, 0);
    a.load(Size.W, 0, 2, l3 + 24 + w).store(Size.W, FP, secondAddr + w, 0);
  }
  a.movReg(9, 2).aluImm(Alu.ADD, 9, l3 + 40);
  a.label('bp_l4');
  a.load(Size.B, 0, FP, KEY + BYPASS_KEY.proto);
  a.jmpImm(Jmp.JEQ, 0, IPPROTO_UDP, 'bp_udp');
  a.jmpImm(Jmp.JEQ, 0, IPPROTO_ICMP, 'bp_icmp');
  a.jmpImm(Jmp.JEQ, 0, IPPROTO_ICMPV6, 'bp_icmp');
  a.jmpImm(Jmp.JNE, 0, IPPROTO_TCP, steer);
  // A SYN never bypasses: new connections are counted (and WAN-opened ones proxied).
  need(9, 14);
  a.load(Size.B, 0, 9, 13).jmpImm(Jmp.JSET, 0, TCP_SYN, steer);
  a.ja('bp_ports');
  a.label('bp_icmp');
  // A ping the LAN sends (echo request) or its answer (echo reply), keyed by its identifier.
  need(9, 8);
  a.load(Size.B, 0, 9, 0);
  for (const type of lanIsSource ? [8, 128] : [0, 129]) a.jmpImm(Jmp.JEQ, 0, type, 'bp_echo');
  a.ja(steer);
  a.label('bp_echo');
  a.load(Size.H, 0, 9, 4).store(Size.H, FP, KEY + BYPASS_KEY.lanPort, 0);
  a.ja('bp_lookup');
  a.label('bp_udp');
  need(9, 4);
  a.label('bp_ports');
  a.load(Size.H, 0, 9, 0).store(Size.H, FP, firstPort, 0);
  a.load(Size.H, 0, 9, 2).store(Size.H, FP, secondPort, 0);
  a.label('bp_lookup').loadMap(1, map);
  stackPtr(a, 2, KEY);
  a.call(Helper.mapLookupElem).jmpImm(Jmp.JNE, 0, 0, bypass);
  a.ja(steer);
}

function returnVerdict(a: Asm, name: string, verdict: number): void {
  a.label(name).movImm(0, verdict).exit();
}

/** LAN ingress: forwarded LAN→elsewhere traffic to the TUN, before the kernel sees it. */
export function lanIngressProgram(o: SteeringProgramOptions): Uint8Array {
  const a = new Asm();
  a.movReg(6, 1);
  // Our own re-injection: take the mark off and hand it to the kernel.
  a.load(Size.W, 2, 6, SKB_MARK).movReg(3, 2).aluImm(Alu.AND, 3, o.mark).jmpImm(Jmp.JEQ, 3, 0, 'fresh');
  a.aluImm(Alu.AND, 2, ~o.mark).store(Size.W, 6, SKB_MARK, 2).ja('next');
  a.label('fresh').load(Size.W, 7, 6, SKB_PROTOCOL);
  requireIp(a, o.ipv6, 'ip', 'next');
  a.label('ip');
  // A LAN-opened flow the dataplane is done with: the kernel forwards it directly.
  if (o.bypassMap !== undefined) bypassCheck(a, o.bypassMap, true, ETH_HLEN, 'next', 'route');
  a.label('route').load(Size.W, 8, 6, SKB_INGRESS_IFINDEX);
  fillFib(a, 'in', ETH_HLEN, false, 8, 'next');
  fibLookup(a);
  // Not forwarded (for the router itself, broadcast, no route, forwarding off): the kernel's.
  a.jmpImm(Jmp.JNE, 0, 0, 'next');
  a.load(Size.W, 2, FP, FIB_IFINDEX);
  // LAN to LAN: the kernel forwards it first and the egress program takes it.
  for (const lan of o.lans) a.jmpImm(Jmp.JEQ, 2, lan.ifindex, 'next');
  a.movImm(1, o.tunIfindex).movImm(2, 0).call(Helper.redirect).exit();
  returnVerdict(a, 'next', TCX_NEXT);
  return a.assemble();
}

/** LAN egress: what the kernel forwarded toward a LAN host, to the TUN before it leaves. */
export function lanEgressProgram(o: SteeringProgramOptions): Uint8Array {
  const a = new Asm();
  a.movReg(6, 1).load(Size.W, 2, 6, SKB_INGRESS_IFINDEX);
  a.jmpImm(Jmp.JEQ, 2, 0, 'next'); // the router's own packets
  a.jmpImm(Jmp.JEQ, 2, o.tunIfindex, 'next'); // tunguard's, on their way out
  a.load(Size.W, 7, 6, SKB_PROTOCOL);
  requireIp(a, o.ipv6, 'ip', 'next');
  a.label('ip');
  if (o.bypassMap !== undefined) bypassCheck(a, o.bypassMap, false, ETH_HLEN, 'next', 'steer');
  a.label('steer').movImm(1, o.tunIfindex).movImm(2, 0).call(Helper.redirect).exit();
  returnVerdict(a, 'next', TCX_NEXT);
  return a.assemble();
}

/** TUN ingress: tunguard's packets out of a LAN device, or into the receive path of one. */
export function tunIngressProgram(o: SteeringProgramOptions): Uint8Array {
  const a = new Asm();
  a.movReg(6, 1).load(Size.W, 7, 6, SKB_PROTOCOL);
  requireIp(a, true, 'ip', 'drop');
  a.label('ip').movImm(8, o.tunIfindex);
  fillFib(a, 'out', 0, false, 8, 'drop');
  fibLookup(a);
  if (o.localMark !== undefined) a.jmpImm(Jmp.JEQ, 0, FIB_NOT_FWDED, 'to_router');
  a.jmpImm(Jmp.JNE, 0, 0, 'back');
  a.load(Size.W, 1, FP, FIB_IFINDEX);
  for (const lan of o.lans) a.jmpImm(Jmp.JEQ, 1, lan.ifindex, 'out_lan');
  a.ja('back');
  // Toward a LAN host: the kernel has judged it on the way in; out it goes, with the neighbour's MAC.
  // bpf_redirect_neigh takes packets with an Ethernet header (it replaces it): give it a blank one.
  a.label('out_lan').movReg(9, 1);
  writeMacs(a, BLANK_MAC);
  pushEthernet(a, 'drop');
  a.movReg(1, 9).movImm(2, 0).movImm(3, 0).movImm(4, 0).call(Helper.redirectNeigh).exit();
  // Toward the WAN (or anywhere not LAN): it enters the router from the LAN device facing its source.
  a.label('back');
  fillFib(a, 'src', 0, true, 8, 'drop');
  fibLookup(a);
  if (o.localMark !== undefined) a.jmpImm(Jmp.JEQ, 0, FIB_NOT_FWDED, 'from_router');
  a.jmpImm(Jmp.JNE, 0, 0, 'drop');
  a.load(Size.W, 2, FP, FIB_IFINDEX);
  o.lans.forEach((_, i) => {
    a.jmpImm(Jmp.JEQ, 2, o.lans[i].ifindex, `lan${i}`);
  });
  a.ja('drop');
  o.lans.forEach((lan, i) => {
    // Addressed to the LAN device itself, so its receive path takes it as the router's to forward.
    a.label(`lan${i}`).movImm(9, lan.ifindex);
    writeMacs(a, lan.mac);
    a.ja('inject');
  });
  a.label('inject');
  pushEthernet(a, 'drop');
  a.load(Size.W, 2, 6, SKB_MARK).aluImm(Alu.OR, 2, o.mark).store(Size.W, 6, SKB_MARK, 2);
  a.movReg(1, 9).movImm(2, BPF_F_INGRESS).call(Helper.redirect).exit();
  if (o.localMark !== undefined) {
    // For the router itself: into lo's receive path (its address is all zeros, so the frame is
    // the host's), marked: fw4 accepts what comes from lo, and the local chain tags it.
    a.label('to_router');
    writeMacs(a, ZERO_MAC);
    pushEthernet(a, 'drop');
    a.load(Size.W, 2, 6, SKB_MARK).aluImm(Alu.OR, 2, o.localMark).store(Size.W, 6, SKB_MARK, 2);
    a.movImm(1, LO_IFINDEX).movImm(2, BPF_F_INGRESS).call(Helper.redirect).exit();
    // From the router's own address (the proxy answering for it): out where its route says.
    a.label('from_router');
    fillFib(a, 'fr', 0, false, 8, 'drop');
    fibLookup(a);
    a.jmpImm(Jmp.JNE, 0, 0, 'drop');
    a.load(Size.W, 1, FP, FIB_IFINDEX).ja('out_lan');
  }
  returnVerdict(a, 'drop', TCX_DROP);
  return a.assemble();
}

/** TC_ACT_REDIRECT: what bpf_redirect returns (and a test run reports) when it took the packet. */
export const TC_ACT_REDIRECT = 7;

/**
 * Uplink egress: the router's own answers on a connection the proxy carries (`mark`, set by the
 * router-local output chain, src/netcfg/router-local.ts) go into the TUN instead of out, with the
 * mark taken off; everything else passes. The mark is all it reads: nothing of the packet is parsed,
 * so an uplink without an Ethernet header (PPPoE, WireGuard, a tunnel) is the same as one with
 * (bpf_redirect pulls whatever link-layer header there is, the TUN has none). A policy rule did this
 * before; any rule makes every route lookup of the router walk the rule list, this costs the
 * uplink's packets one load and one test.
 */
export function uplinkEgressProgram(o: { tunIfindex: number; mark: number }): Uint8Array {
  const a = new Asm();
  a.load(Size.W, 2, 1, SKB_MARK).movReg(3, 2).aluImm(Alu.AND, 3, o.mark).jmpImm(Jmp.JEQ, 3, 0, 'next');
  a.aluImm(Alu.AND, 2, ~o.mark).store(Size.W, 1, SKB_MARK, 2);
  a.movImm(1, o.tunIfindex).movImm(2, 0).call(Helper.redirect).exit();
  returnVerdict(a, 'next', TCX_NEXT);
  return a.assemble();
}
