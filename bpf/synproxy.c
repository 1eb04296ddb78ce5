/* The SYN proxy's kernel fast path: answers a SYN flood with SYN cookies in the kernel.
 *
 * Two entry points share one body (fast_syn), each specialised at build time by its hook:
 *
 * tg_fast_syn, attached (TCX, first in line) at the egress of each LAN device, where the kernel has
 * forwarded the SYN: fw4 has judged it and done any port forward's DNAT. So this program never
 * answers a SYN the firewall would refuse (a port scan sees what it sees without tunguard), and the
 * cookie covers the 4-tuple the proxy later sees in the third ACK. The price is the whole forwarding
 * path per flood SYN (raw prerouting, routing, fw4's forward chain, postrouting, the neighbour,
 * dev_queue_xmit), which costs more than the answer itself.
 *
 * tg_fast_syn_uplink, attached at the TCX ingress of each uplink, answers before any of that, but
 * only what the LAN-egress hook has shown fw4 accepts: when the egress hook answers a routed SYN
 * (one conntrack left alone: the notrack mark, so no DNAT) it records the (destination address,
 * port) pair in tg_fp_allowed, and for ALLOWED_S the uplink hook answers SYNs to that pair itself.
 * The TUN's egress hook does the same for the router's own services (their SYNs reach it only once
 * fw4's input chain has accepted them): a flood at the router is then answered before routing, the
 * local input path and the copy into the TUN, which cost the router core far more per SYN.
 * A port fw4 refuses is never learned, so never answered at either hook; a pair stops being learned
 * within ALLOWED_S of fw4 refusing it (the uplink hook never refreshes a pair: the next SYN after
 * its lifetime crosses fw4 again). The caveat: fw4 judges the pair by the first SYN it accepted,
 * not by each SYN's source. A rule that depends on the source (port 22 accepted only from one
 * address) is then enforced at the third ACK, which still crosses fw4's forward chain on its way to
 * the proxy: a refused source gets a SYN-ACK from the uplink hook once an allowed source has taught
 * the pair, but never a connection. The daemon narrows this: while fw4's forward chains for the
 * uplinks hold a rule matching a source address (src/netcfg/source-rules.ts), it empties
 * tg_fp_uplinks and this hook passes everything; a source rule it cannot see (another table, behind
 * a further jump, a firewall other than fw4) keeps the caveat. The uplink hook knows each uplink's link-layer header length from
 * tg_fp_uplinks (the daemon writes it when it attaches): 14 for Ethernet, 0 for L3 devices (PPPoE,
 * raw-IP LTE, tun); a device missing there is passed untouched. Its SYN-ACK is the SYN's own buffer,
 * rewritten, the Ethernet addresses swapped, sent back out of the same device.
 *
 * In the tiers where the proxy says so (the map tg_fp_conf, written by the proxy every tick), or at a
 * flood's start once the SYNs the program passed itself are past the tiers' thresholds (early_mode:
 * the proxy's tick comes too late there), a SYN
 * toward a protected address is turned, in its own buffer, into the SYN-ACK the TypeScript proxy
 * would send (src/dataplane/stages/synproxy.ts: same SipHash cookie, same options, byte for byte).
 * At a LAN device's egress it is handed to the receive path of the device it was leaving, as if the
 * LAN host had answered (conntrack sees the reply of the SYN's entry, undoing a DNAT, and fw4
 * forwards it to the client), or, for a SYN conntrack left alone, sent straight out by the route.
 * The third ACK then reaches the proxy through the TUN as today, which checks the cookie and
 * carries on. Everything stateful stays in the proxy; this program keeps no per-connection state.
 *
 * The router's own services (src/netcfg/router-local.ts): after fw4's input chain has accepted a
 * WAN client's SYN to one of the router's addresses, an nft chain copies it into the TUN. The same
 * program, attached at the TUN's egress, answers that copy in the same way (there the frame has no
 * Ethernet header), and sends the SYN-ACK from the router's address straight out of the device its
 * route names. Which addresses are which is in tg_fp_protected's value: PROT_LAN prefixes are
 * answered at a LAN device's egress (and, learned, at an uplink's ingress), PROT_ROUTER addresses at
 * the TUN's.
 *
 * What it does not handle it passes on unchanged (TCX_NEXT) to the program behind it:
 * IPv4 options, IPv6 extension headers, SYNs carrying data, fragments, martian sources, and a
 * source that is one of the router's own addresses (routing refuses those before either hook, but a
 * SYN-ACK to the router itself is never the right answer; at an uplink, where routing has not yet
 * run, a source inside a protected LAN prefix too).
 *
 * One file (about 900 lines): a BPF object is one compilation unit, and both entry points must share
 * the same maps and the one body that makes the SYN-ACK byte for byte as the TypeScript proxy does.
 */
#include "tg_bpf.h"

/* Modes the proxy sets (src/defense/fast-path.ts keeps the same numbers). */
#define FP_PASS 0   /* normal tier: every SYN goes to the proxy (its SYN cache keeps WS/SACK) */
#define FP_ANSWER 1 /* moderate and risky tiers: answer here */
#define FP_DROP 2   /* risky tier with risky_action 'drop': no new SYN */
#define FP_CHART 3  /* moderate tier: answer, and chart each SYN's 4-tuple (its retransmissions dropped) */

/* tg_fp_protected's values: where a destination's SYNs are answered. */
#define PROT_LAN 1    /* a routed LAN prefix: at the LAN device's egress */
#define PROT_ROUTER 2 /* one of the router's own addresses: at the TUN's egress */

/* How long a charted 4-tuple stays: a retransmission within it is not a new SYN (as the proxy's
 * SYN cache keeps its entries). */
#define CHART_S 10

/* Counter slots (per CPU; the proxy sums them each tick). */
#define ST_ANSWERED 0
#define ST_DROP_RISKY 1
#define ST_DROP_AGGRESSIVE 2
#define ST_BAD_CHECKSUM 3
#define ST_PASSED 4 /* protected SYNs left to the proxy (options, extension headers, data) */
#define ST_DUPLICATE 5 /* moderate tier: a charted 4-tuple's SYN again (neither taken nor counted) */
#define ST_ANSWERED_UPLINK 6 /* of ST_ANSWERED, those answered at an uplink's ingress */
#define ST_SLOTS 8

/* The hooks the body is specialised for. */
#define HOOK_EGRESS 0 /* a LAN device's egress, or the TUN's (told apart by the device) */
#define HOOK_UPLINK 1 /* an uplink's ingress */

/* How long a (destination, port) pair the LAN-egress hook answered stays answerable at the uplinks.
 * Long enough that a flood pays fw4's forward path about once per pair per lifetime, short enough
 * that a port fw4 stops accepting (a rule change, a service withdrawn) stops being answered by the
 * uplink hook within it. Refreshed by the egress hook once past half of it. */
#define ALLOWED_S 30

struct fp_conf {
  __u32 mode;
  __u32 minute;  /* cookie counter: wall-clock minutes */
  __u32 ts_now;  /* wall-clock ms, low 32 bits: the SYN-ACK's TSval before its option bits */
  __u32 mark;    /* skb mark of packets re-injected into a LAN device (the steering's) */
  __u16 mss4;
  __u16 mss6;
  __u8 wscale;
  __u8 pad[3];
  __u64 ka[2];   /* SipHash key of the tuple hash (little-endian words of key bytes 0..15) */
  __u64 kb[2];   /* SipHash key of the counter hash (bytes 16..31) */
  __u32 tun_ifindex; /* the proxy's TUN: what it sends the LAN (its own SYNs too) is not ours */
  __u32 now_s;       /* wall-clock seconds, for the per-source counts */
  __u32 window_s;    /* a source's answered SYNs are counted over this long */
  __u32 max_unfinished; /* past this many, the source is reported to the proxy (once a window) */
  __u32 notrack_mark;   /* a SYN conntrack left alone carries it: its SYN-ACK goes straight out */
  __u32 source_salt;    /* keys the source table's slot hash (src/tun/fast-path-maps.ts: sourceSlot) */
  /* The tiers' thresholds, for the flood's first SYNs (see early_mode): 0 ms, never early. */
  __u32 tier_window_ms;
  __u32 moderate_above; /* more new SYNs than this in the window: the moderate tier (FP_CHART) */
  __u32 risky_above;    /* more than this: the risky tier's mode (risky_mode) */
  __u32 risky_mode;     /* FP_ANSWER, or FP_DROP with risky_action 'drop' */
  /* The uplinks put it on a SYN to a protected LAN prefix they pass while the tier answers: the SYN
   * police's raw chain then skips conntrack for it (and sets notrack_mark), as it does for its own
   * sets once the daemon has filled them: the egress hook answers it by the route and teaches the
   * uplinks its pair at once, not after the daemon has heard of the tier (0: never). */
  __u32 notrack_ask_mark;
};

/* Answered SYNs of one source in its current window; the proxy takes one off per completed handshake.
 * The table is direct-mapped (one slot per hash, the newest source wins it): a spoofed flood brings
 * a new source with nearly every SYN, and a hash map's lookup, insert and LRU eviction for each cost
 * more than the rest of the answer; an array slot is one load. A source pushed out of its slot has its
 * count start over, as an LRU eviction would do. */
struct src_slot {
  __u8 addr[16]; /* IPv4 as ::ffff:a.b.c.d */
  __u32 count;
  __u32 start; /* wall-clock second the window began */
};
#define SOURCE_SLOTS 65536

/* An address as both families use it: IPv4 as ::ffff:a.b.c.d. */
struct fp_prefix {
  __u32 prefixlen;
  __u8 addr[16];
};

/* A (destination, port) pair fw4 let through to a LAN host, as the uplink hook looks it up. */
struct allowed_key {
  __u8 daddr[16]; /* IPv4 as ::ffff:a.b.c.d */
  __u16 dport;    /* network order */
  __u16 pad;
};

/* The moderate tier's chart key: the SYN's addresses and ports (not its ISN: a new ISN on the same
 * 4-tuple is still the same client trying again). */
struct chart_key {
  __u8 saddr[16];
  __u8 daddr[16];
  __u16 sport;
  __u16 dport;
};

/* What a SYN asks for, read before its buffer is rewritten. */
struct syn {
  __u8 saddr[16];
  __u8 daddr[16];
  __u32 seq;
  __u32 sport; /* host order */
  __u32 dport;
  __u32 ts_val;
  __s32 mss; /* -1: no MSS option */
  __s32 wscale;
  __u8 sack;
  __u8 ts;
  __u8 ecn;
  __u8 partial; /* the checksum field held only the pseudo-header sum (CHECKSUM_PARTIAL) */
};

struct tg_map_def SEC("maps") tg_fp_conf = {
    .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = sizeof(struct fp_conf), .max_entries = 1};
/* Protected destinations; the value (PROT_*) says at which hook. */
struct tg_map_def SEC("maps") tg_fp_protected = {.type = BPF_MAP_TYPE_LPM_TRIE,
                                                 .key_size = sizeof(struct fp_prefix),
                                                 .value_size = 1,
                                                 .max_entries = 1024,
                                                 .map_flags = BPF_F_NO_PREALLOC};
/* Sources marked aggressive (keyed as the protected prefixes: IPv4 as ::ffff:a.b.c.d), each with its
 * mark's end in CLOCK_MONOTONIC ms. The proxy lifts marks in order of expiry, so after a change of the
 * hold a mark may stay past its end: the end, not the key's presence, says whether it still drops. */
struct tg_map_def SEC("maps") tg_fp_aggressive = {
    .type = BPF_MAP_TYPE_HASH, .key_size = 16, .value_size = 8, .max_entries = 16384};
/* The flood's first SYNs while the proxy still says PASS (early_mode): one window of the tiers'
 * length at a time, its start (ns, monotonic) and the SYNs counted in it. */
struct burst {
  __u64 start_ns;
  __u32 count;
  __u32 pad;
};
struct tg_map_def SEC("maps") tg_fp_burst = {
    .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = sizeof(struct burst), .max_entries = 1};
/* Per-CPU scratch: the SYN's facts and the reply under construction (too big for the 512-byte stack
 * once the compiler has unrolled the loops). */
struct scratch {
  struct syn s;
  __u64 w[5];
  __u8 out[80];
  __u8 mac[16];
  __u64 fib[8]; /* struct bpf_fib_lookup, 64 bytes */
  struct chart_key ck;
  struct allowed_key ak;
};
struct tg_map_def SEC("maps") tg_fp_scratch = {
    .type = BPF_MAP_TYPE_PERCPU_ARRAY, .key_size = 4, .value_size = sizeof(struct scratch), .max_entries = 1};
struct tg_map_def SEC("maps") tg_fp_sources = {
    .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = sizeof(struct src_slot), .max_entries = SOURCE_SLOTS};
/* Sources past max_unfinished, for the proxy to judge once its grace period has passed. */
struct tg_map_def SEC("maps") tg_fp_suspects = {
    .type = BPF_MAP_TYPE_QUEUE, .key_size = 0, .value_size = 16, .max_entries = 1024};
/* The chart of SYN 4-tuples (value: the wall-clock second it was charted): the moderate tier's, and
 * in the normal tier early_mode's while the tiers are given (chart_seen). The daemon sizes it from
 * syn_cache_size when it loads the object. */
struct tg_map_def SEC("maps") tg_fp_chart = {
    .type = BPF_MAP_TYPE_LRU_HASH, .key_size = sizeof(struct chart_key), .value_size = 4, .max_entries = 65536};
/* Pairs the LAN-egress hook answered (value: the wall-clock second it learned or refreshed them);
 * bounded, the least recently used go first. */
struct tg_map_def SEC("maps") tg_fp_allowed = {
    .type = BPF_MAP_TYPE_LRU_HASH, .key_size = sizeof(struct allowed_key), .value_size = 4, .max_entries = 4096};
/* The uplinks the uplink hook is attached to: ifindex -> link-layer header length (14 or 0). */
struct tg_map_def SEC("maps") tg_fp_uplinks = {
    .type = BPF_MAP_TYPE_HASH, .key_size = 4, .value_size = 4, .max_entries = 64};
struct tg_map_def SEC("maps") tg_fp_stats = {
    .type = BPF_MAP_TYPE_PERCPU_ARRAY, .key_size = 4, .value_size = 8, .max_entries = ST_SLOTS};

INLINE void count(__u32 slot) {
  __u64 *v = bpf_map_lookup_elem(&tg_fp_stats, &slot);
  if (v) *v += 1;
}

/* ---- SipHash-2-4, low 32 bits, over a message of a length known at compile time ---- */

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                      \
  do {                                                                                                \
    v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                         \
    v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                            \
    v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                            \
    v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                         \
  } while (0)

INLINE __u64 le64(const __u8 *p) {
  return (__u64)p[0] | (__u64)p[1] << 8 | (__u64)p[2] << 16 | (__u64)p[3] << 24 | (__u64)p[4] << 32 |
         (__u64)p[5] << 40 | (__u64)p[6] << 48 | (__u64)p[7] << 56;
}

/* SipHash-2-4 (low 32 bits) of a message given as n whole little-endian words, then its last
 * block `last` (the remaining bytes and the length in the top byte). One loop for both families
 * keeps the program small: IPv4 tuples are 1 word of addresses, IPv6 ones 4. */
/* The source table's slot of an address (16 bytes): a multiplicative hash of its four words, keyed
 * by a salt so that no one can aim spoofed sources at a chosen slot; fast-path-maps.ts computes it too. */
INLINE __u32 source_slot(const __u8 *a, __u32 salt) {
  __u32 h = salt;
#pragma unroll
  for (int i = 0; i < 16; i += 4) {
    h ^= (__u32)a[i] | (__u32)a[i + 1] << 8 | (__u32)a[i + 2] << 16 | (__u32)a[i + 3] << 24;
    h *= 0x9e3779b1u;
    h ^= h >> 16;
  }
  h ^= h >> 16; /* MurmurHash3's finaliser: every input bit reaches the slot's bits */
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h & (SOURCE_SLOTS - 1);
}

INLINE __u32 siphash32(const __u64 *k, const __u64 *w, __u32 n, __u64 last) {
  __u64 v0 = k[0] ^ 0x736f6d6570736575ULL;
  __u64 v1 = k[1] ^ 0x646f72616e646f6dULL;
  __u64 v2 = k[0] ^ 0x6c7967656e657261ULL;
  __u64 v3 = k[1] ^ 0x7465646279746573ULL;
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < 5; i++) {
    if (i >= n) break;
    __u64 m = w[i];
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  v3 ^= last;
  SIPROUND;
  SIPROUND;
  v0 ^= last;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return (__u32)(v0 ^ v1 ^ v2 ^ v3);
}

/* ---- checksums over big-endian 16-bit words ---- */

INLINE __u32 fold(__u32 s) {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return s;
}


INLINE void put16(__u8 *p, __u32 v) {
  p[0] = v >> 8;
  p[1] = v;
}

INLINE void put32(__u8 *p, __u32 v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* Parses the options of the TCP header at tcp (hl bytes). 0, or -1 when malformed or longer than
 * the few options real SYNs carry (8 at most, padding included, from the stacks we know): those go
 * to the proxy, which reads any number. A short loop keeps the verifier's work small. */
#define MAX_OPTIONS 12
INLINE int parse_options(const __u8 *tcp, __u32 hl, const void *end, struct syn *s) {
  __u32 off = 20;
#pragma clang loop unroll(disable)
  for (int i = 0; i <= MAX_OPTIONS; i++) {
    if (off >= hl || off >= 60) return 0;
    if (i == MAX_OPTIONS) return -1;
    const __u8 *o = tcp + off;
    if ((const void *)(o + 1) > end) return -1;
    __u8 kind = o[0];
    if (kind == 0) return 0;    /* end of options */
    if (kind == 1) {            /* NOP */
      off++;
      continue;
    }
    if ((const void *)(o + 2) > end) return -1;
    __u8 len = o[1];
    if (len < 2 || off + len > hl) return -1;
    /* A known option of the wrong length: the proxy refuses it (src/packet/tcp-options.ts), so
     * no answer here either. */
    /* The lengths of MSS (2), WS (3), SACK_PERM (4) and TS (8), a nibble each, looked up without a
     * branch per kind: branches here multiply the verifier's paths through the loop. */
    __u32 want = kind <= 8 ? (__u32)(0xa00023400ULL >> (kind * 4)) & 0xf : 0;
    if (want != 0 && want != len) return -1;
    if (kind == 5 && (len < 10 || ((len - 2) & 7) != 0)) return -1; /* SACK blocks, 8 bytes each */
    if (kind == 2) {
      if ((const void *)(o + 4) > end) return -1;
      s->mss = be16(o + 2);
    } else if (kind == 3) {
      if ((const void *)(o + 3) > end) return -1;
      s->wscale = o[2];
    } else if (kind == 4) {
      s->sack = 1;
    } else if (kind == 8) {
      if ((const void *)(o + 10) > end) return -1;
      s->ts = 1;
      s->ts_val = (__u32)o[2] << 24 | (__u32)o[3] << 16 | (__u32)o[4] << 8 | o[5];
    }
    off += len;
  }
  return 0;
}

/* Sum of the TCP header's 16-bit words (hl bytes, checksum field included). */
INLINE __u32 sum_tcp_header(const __u8 *tcp, __u32 hl, const void *end) {
  __u32 sum = 0;
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < 30; i++) {
    if (i * 2 >= hl) break;
    const __u8 *p = tcp + i * 2;
    if ((const void *)(p + 2) > end) break;
    sum += be16(p);
  }
  return sum;
}

INLINE __u32 sum_addrs(const __u8 *a, __u32 n) {
  __u32 sum = 0;
#pragma unroll
  for (__u32 i = 0; i < 16; i += 2)
    if (i < n) sum += be16(a + i);
  return sum;
}

INLINE int v4_martian(const __u8 *a) {
  return a[0] == 0 || a[0] == 127 || a[0] >= 224;
}

INLINE int v6_martian(const __u8 *a) {
  if (a[0] == 0xff) return 1; /* multicast */
  __u8 z = 0;
#pragma unroll
  for (int i = 0; i < 10; i++) z |= a[i];
  /* ::, ::1 and ::ffff:0:0/96 (an IPv4 address in IPv6 clothing) */
  return z == 0;
}

INLINE __u32 mss_index(__s32 mss, int v6) {
  __u32 m = mss < 0 ? 536 : (__u32)mss;
  if (v6) return m >= 8940 ? 3 : m >= 1440 ? 2 : m >= 1420 ? 1 : 0;
  return m >= 1460 ? 3 : m >= 1440 ? 2 : m >= 1300 ? 1 : 0;
}

/* The mode for a protected SYN while the proxy says PASS. The proxy learns of a flood only from the
 * SYNs it reads through the TUN, and sets the mode at its next tick (100 ms at most, much later when
 * the flood's softirqs starve it of the CPU): until then the flood crossed the TUN, overflowed its
 * queue and took the legitimate SYNs with it. So the program counts the protected SYNs it passes
 * itself, over windows of the tiers' length, and past the tiers' thresholds behaves as their mode
 * until the proxy's tick says what the tier is. A fixed window counts no more than the proxy's
 * sliding one over the same SYNs, so this never answers sooner than the tiers would; a SYN of a
 * 4-tuple in the chart (a retransmission) is not counted, as the proxy does not count it
 * (chart_seen). Only the egress hooks (a LAN device's, the TUN's) count: every protected SYN
 * crosses one of them once; the uplinks read (early_peek). */
INLINE __u32 early_mode(const struct fp_conf *c) {
  __u32 zero = 0;
  struct burst *b = bpf_map_lookup_elem(&tg_fp_burst, &zero);
  if (!b) return FP_PASS;
  __u64 now = bpf_ktime_get_ns();
  __u32 n;
  if (now - b->start_ns >= (__u64)c->tier_window_ms * 1000000) {
    b->start_ns = now; /* two CPUs starting one window at once lose a count or two */
    b->count = 1;
    n = 1;
  } else {
    n = __sync_fetch_and_add(&b->count, 1) + 1;
  }
  return n > c->risky_above ? c->risky_mode : n > c->moderate_above ? FP_CHART : FP_PASS;
}

/* Whether the SYN's 4-tuple was charted within CHART_S; if not, it is charted now (key built in ck).
 * The one chart for both of its readers: the moderate tier, which drops a charted 4-tuple's SYN, and
 * early_mode, which counts a 4-tuple once. It is the proxy's SYN cache's rule too
 * (src/dataplane/stages/synproxy.ts): that cache charts every SYN in the normal and moderate tiers,
 * a SYN of a charted 4-tuple is not counted in either and is dropped in the moderate one. */
INLINE int chart_seen(struct chart_key *ck, const struct syn *sp, const __u8 *tcp, int v6, const struct fp_conf *c) {
  __builtin_memset(ck, 0, sizeof *ck);
  if (!v6) {
    ck->saddr[10] = ck->saddr[11] = ck->daddr[10] = ck->daddr[11] = 0xff;
#pragma unroll
    for (int i = 0; i < 4; i++) {
      ck->saddr[12 + i] = sp->saddr[i];
      ck->daddr[12 + i] = sp->daddr[i];
    }
  } else {
#pragma unroll
    for (int i = 0; i < 16; i++) {
      ck->saddr[i] = sp->saddr[i];
      ck->daddr[i] = sp->daddr[i];
    }
  }
  ck->sport = (__u16)be16(tcp);
  ck->dport = (__u16)be16(tcp + 2);
  __u32 *at = bpf_map_lookup_elem(&tg_fp_chart, ck);
  if (at && c->now_s - *at < CHART_S) return 1;
  __u32 now = c->now_s;
  bpf_map_update_elem(&tg_fp_chart, ck, &now, BPF_ANY);
  return 0;
}

/* Whether the egress hooks' count is past the moderate threshold in a window still running: the
 * uplinks' first test in the normal tier, one inlined array load for every packet. A window found
 * over is emptied here, so the packets after it leave at the load again. */
INLINE int early_pending(const struct fp_conf *c) {
  __u32 zero = 0;
  struct burst *b = bpf_map_lookup_elem(&tg_fp_burst, &zero);
  if (!b || b->count <= c->moderate_above) return 0;
  if (bpf_ktime_get_ns() - b->start_ns < (__u64)c->tier_window_ms * 1000000) return 1;
  b->count = 0;
  return 0;
}

/* The SYN's source as the protected prefixes key addresses (IPv4 as ::ffff:a.b.c.d). */
INLINE void source_key(__u8 *src, const struct syn *sp, int v6) {
  if (!v6) {
    __builtin_memset(src, 0, 10);
    src[10] = 0xff;
    src[11] = 0xff;
#pragma unroll
    for (int i = 0; i < 4; i++) src[12 + i] = sp->saddr[i];
  } else {
#pragma unroll
    for (int i = 0; i < 16; i++) src[i] = sp->saddr[i];
  }
}

/* Whether the source's aggressive mark is running (the clock is read only for a marked source). */
INLINE int marked(const __u8 *src) {
  __u64 *end = bpf_map_lookup_elem(&tg_fp_aggressive, src);
  return end && bpf_ktime_get_ns() / 1000000 < *end;
}

/* early_mode's answer without counting: at the uplinks, whose SYNs an egress hook counts when they pass. */
INLINE __u32 early_peek(const struct fp_conf *c) {
  if (c->tier_window_ms == 0) return FP_PASS;
  __u32 zero = 0;
  struct burst *b = bpf_map_lookup_elem(&tg_fp_burst, &zero);
  if (!b || bpf_ktime_get_ns() - b->start_ns >= (__u64)c->tier_window_ms * 1000000) return FP_PASS;
  __u32 n = b->count;
  return n > c->risky_above ? c->risky_mode : n > c->moderate_above ? FP_CHART : FP_PASS;
}

/* Writes the SYN-ACK's TCP header (checksum 0) at t; returns its length. Linux's option layout, as
 * src/packet/build.ts writes it: MSS; SACK_PERM+TS or NOP NOP TS or NOP NOP SACK_PERM; NOP WS. */
INLINE __u32 write_tcp(__u8 *t, const struct syn *s, const struct fp_conf *c, __u32 cookie, int v6) {
  __u32 p = 20;
  t[p] = 2;
  t[p + 1] = 4;
  put16(t + p + 2, v6 ? c->mss6 : c->mss4);
  p += 4;
  __u8 sack = s->sack && s->ts; /* only what the third ACK can recover: the TS bits carry it */
  if (s->ts) {
    t[p] = sack ? 4 : 1;
    t[p + 1] = sack ? 2 : 1;
    t[p + 2] = 8;
    t[p + 3] = 10;
    __u32 ws = s->wscale < 0 ? 0x0f : s->wscale > 14 ? 14 : (__u32)s->wscale;
    __u32 tsval = (c->ts_now & ~0x3fu) | ws | (s->sack ? 0x10 : 0) | (s->ecn ? 0x20 : 0);
    put32(t + p + 4, tsval);
    put32(t + p + 8, s->ts_val);
    p += 12;
  }
  if (s->wscale >= 0 && s->ts) {
    t[p] = 1;
    t[p + 1] = 3;
    t[p + 2] = 3;
    t[p + 3] = c->wscale;
    p += 4;
  }
  put16(t, s->dport);
  put16(t + 2, s->sport);
  put32(t + 4, cookie);
  put32(t + 8, s->seq + 1);
  t[12] = (p >> 2) << 4;
  t[13] = TCP_SYN | TCP_ACK | (s->ecn && s->ts ? TCP_ECE : 0);
  put16(t + 14, 0); /* window 0: no data before the server has answered */
  put16(t + 16, 0);
  put16(t + 18, 0);
  return p;
}

/* The body of both entry points; `hook` is a constant in each, so each gets only its own branches. */
INLINE int fast_syn(struct __sk_buff *skb, const int hook) {
  const int uplink = hook == HOOK_UPLINK;
  /* Forwarded packets only: what the router sends itself never enters a proxied connection, and
   * what the proxy sends (its own SYN to the host, for one) is the proxy's business. */
  if (skb->ingress_ifindex == 0) return TCX_NEXT;
  __u32 zero = 0;
  struct fp_conf *c = bpf_map_lookup_elem(&tg_fp_conf, &zero);
  if (!c || skb->ingress_ifindex == c->tun_ifindex) return TCX_NEXT;
  /* The normal tier: every packet leaves here unless the program may answer a flood's start
   * itself (early_mode); a non-SYN leaves at the TCP flags test below. */
  if (c->mode == FP_PASS && (c->tier_window_ms == 0 || (uplink && !early_pending(c)))) return TCX_NEXT;
  /* At an uplink: its link-layer header length, as the daemon found it when it attached. */
  __u32 l2 = ETH_HLEN;
  if (uplink) {
    __u32 dev = skb->ifindex;
    __u32 *hlen = bpf_map_lookup_elem(&tg_fp_uplinks, &dev);
    if (!hlen || (*hlen != 0 && *hlen != ETH_HLEN)) return TCX_NEXT;
    l2 = *hlen;
    /* Before routing: an Ethernet frame not addressed to this device (another host's, seen in
     * promiscuous mode; broadcast, multicast) is one routing would not forward, so not one to answer.
     * (An L3 device's packets are all its own.) */
    if (l2 == ETH_HLEN && skb->pkt_type != 0 /* PACKET_HOST */) return TCX_NEXT;
  }
  /* At the TUN's egress (the router's own services): an IP packet, no Ethernet header. */
  int at_tun = !uplink && skb->ifindex == c->tun_ifindex;
  if (at_tun) l2 = 0;
  const __u8 *data = (const __u8 *)(long)skb->data;
  const void *end = (const void *)(long)skb->data_end;
  int v6;
  __u32 iphl;
  __u32 proto = skb->protocol;
  if (l2 == 0) {
    /* A TUN's packets are IP by their version nibble (as the TUN itself reads them). */
    if ((const void *)(data + 1) > end) return TCX_NEXT;
    proto = (data[0] >> 4) == 4 ? tg_htons(0x0800) : (data[0] >> 4) == 6 ? tg_htons(0x86dd) : 0;
  }
  if (proto == tg_htons(0x0800)) {
    v6 = 0;
    iphl = 20;
  } else if (proto == tg_htons(0x86dd)) {
    v6 = 1;
    iphl = 40;
  } else {
    return TCX_NEXT;
  }
  const __u8 *ip = data + l2;
  const __u8 *tcp;
  __u32 l4len;
  if (!v6) {
    if ((const void *)(ip + 40) > end) return TCX_NEXT;
    if (ip[0] != 0x45 || ip[9] != IPPROTO_TCP) return TCX_NEXT;    /* options: the proxy's */
    tcp = ip + 20;
    /* What is not a pure SYN (nearly every packet) leaves here, before any other work. */
    if ((tcp[13] & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN) return TCX_NEXT;
    if ((be16(ip + 6) & 0x3fff) != 0) return TCX_NEXT;              /* a fragment */
    /* The kernel checked it on receive; a header changed since is not one to answer. */
    __u32 hsum = 0;
#pragma unroll
    for (int i = 0; i < 20; i += 2) hsum += be16(ip + i);
    if (fold(hsum) != 0xffff) return TCX_NEXT;
    __u32 total = be16(ip + 2);
    if (total < 40) return TCX_NEXT;
    l4len = total - 20;
  } else {
    if ((const void *)(ip + 60) > end) return TCX_NEXT;
    if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_TCP) return TCX_NEXT; /* extension headers: the proxy's */
    tcp = ip + 40;
    if ((tcp[13] & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN) return TCX_NEXT;
    l4len = be16(ip + 4);
  }
  struct scratch *x = bpf_map_lookup_elem(&tg_fp_scratch, &zero);
  if (!x) return TCX_NEXT;
  struct syn *sp = &x->s;
  __builtin_memset(sp, 0, sizeof *sp);
  sp->mss = -1;
  sp->wscale = -1;
  if (!v6) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
      sp->saddr[i] = ip[12 + i];
      sp->daddr[i] = ip[16 + i];
    }
    if (v4_martian(sp->saddr)) return TCX_NEXT;
  } else {
#pragma unroll
    for (int i = 0; i < 16; i++) {
      sp->saddr[i] = ip[8 + i];
      sp->daddr[i] = ip[24 + i];
    }
    if (v6_martian(sp->saddr)) return TCX_NEXT;
  }

  /* Before routing, a SYN whose hop limit ends here is the kernel's (ICMP time exceeded, as a
   * TCP traceroute expects), not the LAN host's to answer. */
  if (uplink && (v6 ? ip[7] : ip[8]) <= 1) return TCX_NEXT;

  /* Protected destinations only. */
  struct fp_prefix key = {.prefixlen = 128};
  if (!v6) {
    key.addr[10] = 0xff;
    key.addr[11] = 0xff;
#pragma unroll
    for (int i = 0; i < 4; i++) key.addr[12 + i] = sp->daddr[i];
  } else {
#pragma unroll
    for (int i = 0; i < 16; i++) key.addr[i] = sp->daddr[i];
  }
  __u8 *kind = bpf_map_lookup_elem(&tg_fp_protected, &key);
  /* At an uplink both kinds: a pair is answered there only once its own hook has taught it. */
  if (!kind || (uplink ? *kind == 0 : *kind != (at_tun ? PROT_ROUTER : PROT_LAN))) return TCX_NEXT;
  struct allowed_key *ak = &x->ak;
  if (uplink) {
    /* Only a pair the LAN-egress hook has answered lately: fw4 accepted it there. */
    __builtin_memcpy(ak->daddr, key.addr, 16);
    __builtin_memcpy(&ak->dport, tcp + 2, 2); /* network order, as the egress hook writes it */
    ak->pad = 0;
    __u32 *learned = bpf_map_lookup_elem(&tg_fp_allowed, ak);
    if (!learned || c->now_s - *learned >= ALLOWED_S) {
      /* Not answerable here yet: while the tier answers, it is asked to skip conntrack, so that
       * the egress hook's answer teaches the pair (a LAN prefix only: a port forward's SYN to the
       * router's address needs its entry for the DNAT). */
      if (*kind == PROT_LAN && (c->mode != FP_PASS || early_peek(c) != FP_PASS)) skb->mark |= c->notrack_ask_mark;
      return TCX_NEXT;
    }
  }
  if (at_tun || uplink) {
    /* The router's own address as the source: never answered (a SYN-ACK to ourselves). */
    if (!v6) {
#pragma unroll
      for (int i = 0; i < 4; i++) key.addr[12 + i] = sp->saddr[i];
    } else {
#pragma unroll
      for (int i = 0; i < 16; i++) key.addr[i] = sp->saddr[i];
    }
    kind = bpf_map_lookup_elem(&tg_fp_protected, &key);
    /* Before routing (the uplink), a source inside a protected LAN prefix is spoofed too. */
    if (kind && (*kind == PROT_ROUTER || uplink)) return TCX_NEXT;
  }
  /* The tier's mode: the proxy's, or in its normal tier the one the SYNs counted here say. Below the
   * risky threshold a SYN of a charted 4-tuple is not a new one (the proxy's tiers do not count it
   * either): it takes the mode without counting, so one client's retransmissions never start the
   * flood's mode. Past it, as the proxy in the risky tier, nothing is charted: every SYN counts, and
   * the flood pays no chart update per SYN until the proxy's tick takes over. */
  __u32 mode = c->mode;
  int charted = -1; /* not looked up yet */
  /* The source as tg_fp_aggressive and tg_fp_sources key it (scratch until the frame is rewritten). */
  __u8 *src = x->mac;
  int judged = 0; /* keyed, and the aggressive check done */
  if (mode == FP_PASS) {
    mode = early_peek(c);
    if (!uplink) {
      source_key(src, sp, v6);
      /* In the normal tier too a marked source is dropped, before it counts, as the proxy's gate drops
       * it: the map is the one place that holds every worker's marks (the leader alone judges the
       * sources this program reports, while a source's SYNs reach the worker its hash names). */
      if (marked(src)) {
        count(ST_DROP_AGGRESSIVE);
        return TCX_DROP;
      }
      judged = 1;
      if (mode == FP_PASS || mode == FP_CHART) charted = chart_seen(&x->ck, sp, tcp, v6, c);
      if (charted != 1) mode = early_mode(c);
    }
    if (mode == FP_PASS) return TCX_NEXT;
  }

  __u32 hl = (tcp[12] >> 4) * 4;
  /* A SYN with data (TCP Fast Open), a bad header length or a truncated frame: the proxy'sp-> */
  if (hl < 20 || hl != l4len || (const void *)(tcp + hl) > end) {
    count(ST_PASSED);
    return TCX_NEXT;
  }
  if (parse_options(tcp, hl, end, sp) < 0) {
    count(ST_PASSED);
    return TCX_NEXT;
  }
  sp->seq = (__u32)tcp[4] << 24 | (__u32)tcp[5] << 16 | (__u32)tcp[6] << 8 | tcp[7];
  sp->sport = be16(tcp);
  sp->dport = be16(tcp + 2);
  sp->ecn = (tcp[13] & (TCP_ECE | TCP_CWR)) == (TCP_ECE | TCP_CWR);

  /* A corrupt SYN gets no answer. A SYN from a local stack may carry only the pseudo-header sum
   * (CHECKSUM_PARTIAL, the device completes it): accept that form, and answer in the same form. */
  __u32 alen = v6 ? 16 : 4;
  __u32 pseudo = sum_addrs(sp->saddr, alen) + sum_addrs(sp->daddr, alen) + IPPROTO_TCP + hl;
  __u32 check = be16(tcp + 16);
  __u32 full = fold(pseudo + sum_tcp_header(tcp, hl, end));
  if (full != 0xffff) {
    if (check != fold(pseudo)) {
      count(ST_BAD_CHECKSUM);
      return TCX_DROP;
    }
    sp->partial = 1;
  }

  /* The proxy's judgement of the source and the tier. */
  if (!judged) {
    source_key(src, sp, v6);
    if (marked(src)) {
      count(ST_DROP_AGGRESSIVE);
      return TCX_DROP;
    }
  }
  if (mode == FP_DROP) {
    count(ST_DROP_RISKY);
    return TCX_DROP;
  }
  if (mode == FP_CHART) {
    if (charted < 0) charted = chart_seen(&x->ck, sp, tcp, v6, c);
    if (charted) {
      count(ST_DUPLICATE);
      return TCX_DROP;
    }
  }
  /* Count the source's handshakes, as the proxy's own tracker would: the proxy decides. */
  __u32 slot = source_slot(src, c->source_salt);
  struct src_slot *sc = bpf_map_lookup_elem(&tg_fp_sources, &slot);
  if (sc) {
    if (le64(sc->addr) != le64(src) || le64(sc->addr + 8) != le64(src + 8) || c->now_s - sc->start >= c->window_s) {
      __builtin_memcpy(sc->addr, src, 16);
      sc->count = 1;
      sc->start = c->now_s;
    } else if (__sync_fetch_and_add(&sc->count, 1) == c->max_unfinished) {
      bpf_map_push_elem(&tg_fp_suspects, src, 0);
    }
  }

  /* The cookie, as src/defense/cookie.ts makes it (client = the SYN's source): the tuple's bytes
   * are addresses, then the ports big-endian, then (second hash) the minute little-endian. */
  __u64 *w = x->w;
  w[1] = w[2] = w[3] = w[4] = 0;
  __u32 nw;
  if (!v6) {
    w[0] = (__u64)sp->saddr[0] | (__u64)sp->saddr[1] << 8 | (__u64)sp->saddr[2] << 16 | (__u64)sp->saddr[3] << 24 |
           (__u64)sp->daddr[0] << 32 | (__u64)sp->daddr[1] << 40 | (__u64)sp->daddr[2] << 48 |
           (__u64)sp->daddr[3] << 56;
    nw = 1;
  } else {
    w[0] = le64(sp->saddr);
    w[1] = le64(sp->saddr + 8);
    w[2] = le64(sp->daddr);
    w[3] = le64(sp->daddr + 8);
    nw = 4;
  }
  __u64 ports = (__u64)(sp->sport >> 8) | (__u64)(sp->sport & 0xff) << 8 | (__u64)(sp->dport >> 8) << 16 |
                (__u64)(sp->dport & 0xff) << 24;
  __u32 minute = c->minute;
  __u32 h0 = siphash32(c->ka, w, nw, ports | (__u64)(nw * 8 + 4) << 56);
  if (nw == 1) w[1] = ports | (__u64)minute << 32;
  else w[4] = ports | (__u64)minute << 32;
  __u32 h1 = siphash32(c->kb, w, nw + 1, (__u64)(nw * 8 + 8) << 56);
  __u32 cookie = h0 + sp->seq + ((minute & 0xff) << 24) + ((h1 + mss_index(sp->mss, v6)) & 0xffffff);

  /* The SYN-ACK, built on the stack (IP + TCP headers) and written over the SYN's own buffer. */
  __u8 *out = x->out;
  __builtin_memset(out, 0, 80);
  __u8 *t = out + iphl;
  __u32 tl = write_tcp(t, sp, c, cookie, v6);
  if (!v6) {
    out[0] = 0x45;
    put16(out + 2, 20 + tl);
    put16(out + 6, 0x4000);
    out[8] = 64;
    out[9] = IPPROTO_TCP;
#pragma unroll
    for (int i = 0; i < 4; i++) {
      out[12 + i] = sp->daddr[i];
      out[16 + i] = sp->saddr[i];
    }
    __u32 ipsum = 0;
#pragma unroll
    for (int i = 0; i < 20; i += 2) ipsum += be16(out + i);
    put16(out + 10, ~fold(ipsum) & 0xffff);
  } else {
    out[0] = 0x60;
    put16(out + 4, tl);
    out[6] = IPPROTO_TCP;
    out[7] = 64;
#pragma unroll
    for (int i = 0; i < 16; i++) {
      out[8 + i] = sp->daddr[i];
      out[24 + i] = sp->saddr[i];
    }
  }
  __u32 sum = pseudo - hl + tl;
  __u32 psum = fold(sum);
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < 20; i++) {
    if (i * 2 >= tl) break;
    sum += be16(t + i * 2);
  }
  /* Partial in, partial out: the device (or the peer's stack) adds the segment's own words. */
  put16(t + 16, sp->partial ? psum : ~fold(sum) & 0xffff);

  __u32 len = iphl + tl;
  if (len > 80) return TCX_DROP;
  int by_route = !uplink && (at_tun || (c->notrack_mark && (skb->mark & c->notrack_mark)));
  if (l2 == 0) {
    if (bpf_skb_change_tail(skb, len, 0) < 0) {
      count(ST_PASSED);
      return TCX_NEXT;
    }
    if (bpf_skb_store_bytes(skb, 0, out, len, 0) < 0) return TCX_DROP;
    if (at_tun) {
      /* No Ethernet header here: a blank one in front for bpf_redirect_neigh to fill. */
      __u8 *mac = x->mac;
      __builtin_memset(mac, 0, 14);
      mac[0] = 0x02;
      mac[12] = v6 ? 0x86 : 0x08;
      mac[13] = v6 ? 0xdd : 0x00;
      if (bpf_skb_change_head(skb, ETH_HLEN, 0) < 0 || bpf_skb_store_bytes(skb, 0, mac, ETH_HLEN, 0) < 0)
        return TCX_DROP;
    }
  } else {
    __u8 *mac = x->mac;
#pragma unroll
    for (int i = 0; i < 6; i++) {
      /* Egress: back toward the device's own receive path, as the LAN host's frame. Uplink: back
       * to the neighbour that sent it, from the address it was sent to. */
      mac[i] = data[6 + i];
      mac[6 + i] = data[i];
    }
    if (bpf_skb_change_tail(skb, ETH_HLEN + len, 0) < 0) {
      count(ST_PASSED);
      return TCX_NEXT;
    }
    if (bpf_skb_store_bytes(skb, 0, mac, 12, 0) < 0 || bpf_skb_store_bytes(skb, ETH_HLEN, out, len, 0) < 0)
      return TCX_DROP;
  }
  count(ST_ANSWERED);
  if (uplink) {
    count(ST_ANSWERED_UPLINK);
    return bpf_redirect(skb->ifindex, 0); /* out of the device it came in by */
  }
  if (by_route) {
    {
      /* A routed SYN fw4 let through (a port forward's keeps its conntrack entry, so never has the
       * mark), or one to the router fw4's input chain accepted (the router-local chain copies only
       * those): the uplinks may answer its pair for a while. Written only when new or half-aged, so
       * a flood does not write the map for each SYN. */
      if (!v6) {
        __builtin_memset(ak->daddr, 0, 10);
        ak->daddr[10] = ak->daddr[11] = 0xff;
#pragma unroll
        for (int i = 0; i < 4; i++) ak->daddr[12 + i] = sp->daddr[i];
      } else {
        __builtin_memcpy(ak->daddr, sp->daddr, 16);
      }
      ak->dport = tg_htons((__u16)sp->dport);
      ak->pad = 0;
      __u32 *learned = bpf_map_lookup_elem(&tg_fp_allowed, ak);
      if (!learned || c->now_s - *learned >= ALLOWED_S / 2) {
        __u32 now = c->now_s;
        bpf_map_update_elem(&tg_fp_allowed, ak, &now, BPF_ANY);
      }
    }
    /* No conntrack entry to meet (the SYN skipped conntrack, or was a copy of one to the router
     * whose original the router-local chain dropped): out toward the client at once, by the route
     * and neighbour the kernel would use for the host's (or the router's) own reply. */
    skb->mark &= ~c->notrack_mark;
    struct bpf_fib_lookup *fib = (struct bpf_fib_lookup *)x->fib;
    __builtin_memset(fib, 0, sizeof *fib);
    fib->ifindex = skb->ifindex;
    fib->l4_protocol = IPPROTO_TCP;
    fib->tot_len = len;
    if (!v6) {
      fib->family = 2; /* AF_INET */
      __builtin_memcpy(&fib->ipv4_src, sp->daddr, 4);
      __builtin_memcpy(&fib->ipv4_dst, sp->saddr, 4);
    } else {
      fib->family = 10; /* AF_INET6 */
      __builtin_memcpy(fib->ipv6_src, sp->daddr, 16);
      __builtin_memcpy(fib->ipv6_dst, sp->saddr, 16);
    }
    if (bpf_fib_lookup(skb, fib, sizeof *fib, BPF_FIB_LOOKUP_SKIP_NEIGH) != BPF_FIB_LKUP_RET_SUCCESS)
      return TCX_DROP; /* no route back: the client's retransmission will meet the proxy */
    return bpf_redirect_neigh(fib->ifindex, 0, 0, 0);
  }
  skb->mark |= c->mark;
  return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

/* At each LAN device's egress and the TUN's. */
SEC("tc")
int tg_fast_syn(struct __sk_buff *skb) { return fast_syn(skb, HOOK_EGRESS); }

/* At each uplink's ingress. */
SEC("tc/uplink")
int tg_fast_syn_uplink(struct __sk_buff *skb) { return fast_syn(skb, HOOK_UPLINK); }

char _license[] SEC("license") = "GPL";
