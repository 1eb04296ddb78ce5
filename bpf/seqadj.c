/* Translation of proxied connections in the kernel (cf. Linux nf_conntrack_seqadj.c): the segments of
 * a WAN-opened connection the proxy has set up and handed over no longer cross the TUN.
 *
 * The proxy (src/dataplane/stages/synproxy.ts) answers the client with its own ISN (the cookie) and
 * opens its own connection to the LAN host, so every later segment needs its seq/ack, SACK blocks,
 * timestamps and (when the window scales differ) window translated. src/defense/seqadj.ts does that
 * in the daemon; once the proxy has seen what it needs of a connection it writes the same record
 * into tg_xl_conns (src/tun/xlate-map.ts) and these programs do it here, in place:
 *
 *   tg_xlate_to_server at each LAN device's TCX egress, in front of the steering program: the
 *     client's segments, forwarded by the kernel (fw4 judged them, conntrack saw them as sent).
 *   tg_xlate_to_client at each LAN device's TCX ingress, in front of the steering program: the LAN
 *     host's segments, before the kernel sees them; conntrack then meets them translated, exactly as
 *     it meets the daemon's re-injected ones.
 *
 * A translated segment is returned as TCX_PASS: the steering program behind does not send it to the
 * TUN. Everything else is TCX_NEXT, the steering program carries on as without this program: a
 * connection not in the map, SYN/FIN/RST (the proxy sees the handshake and the teardown, and takes
 * the entry out on FIN/RST), IPv4 options or fragments, IPv6 extension headers, malformed TCP
 * options or a second TS/SACK option, the daemon's own packets (already translated: from the TUN at
 * egress, carrying the re-inject mark at ingress).
 *
 * Checksums: the edits are summed as one difference and handed to bpf_l4_csum_replace, which folds
 * it into a full checksum and leaves a CHECKSUM_PARTIAL one alone (the device or the peer's stack
 * sums the segment later), as seqadj.ts does with NEEDS_CSUM. GSO/GRO super-packets are rewritten
 * the same way: segmentation copies the translated header into each segment.
 */
#include "tg_bpf.h"

/* Directions: the index of the counters too. */
#define TO_SERVER 0
#define TO_CLIENT 1

/* xl_value.flags (src/tun/xlate-map.ts keeps the same numbers). */
#define XL_WIN_TO_SERVER 1 /* rewrite the client's window: (win << shift[0][0]) >> shift[0][1] */
#define XL_WIN_TO_CLIENT 2 /* rewrite the server's window: (win << shift[1][0]) >> shift[1][1] */
#define XL_TS 4            /* both ends use timestamps: translate them */

struct xl_conf {
  __u32 tun_ifindex;   /* the proxy's TUN: what it sends a LAN host is translated already */
  __u32 reinject_mark; /* the steering's mark on the proxy's packets re-injected at a LAN ingress */
};

/* The connection in the LAN host's view: src/tun/flow-bypass.ts's key layout (proto 6). */
struct xl_key {
  __u8 family; /* 4 or 6 */
  __u8 proto;
  __u8 pad[2];
  __u8 lan_port[2]; /* network order */
  __u8 remote_port[2];
  __u8 lan_addr[16]; /* IPv4 in the first 4 bytes */
  __u8 remote_addr[16];
};

/* What the proxy's SeqAdj record says, plus what the kernel reports back (56 bytes). */
struct xl_value {
  __u32 delta;  /* server->client seq += delta, client->server ack (and SACK edges) -= delta */
  __u32 ts_off; /* server->client TSval -= ts_off, client->server TSecr += ts_off */
  __u8 flags;
  __u8 shift[2][2]; /* per direction: left, right */
  __u8 pad[3];
  __u64 last_ns;    /* bpf_ktime_get_ns() of the last segment translated (CLOCK_MONOTONIC) */
  __u64 packets[2]; /* per direction */
  __u64 bytes[2];
};

struct tg_map_def SEC("maps") tg_xl_conf = {
    .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = sizeof(struct xl_conf), .max_entries = 1};
/* Owned by the proxy: it adds and removes; the programs only update a value's counters. Bounded (the
 * daemon sizes it); full, a connection stays on the TUN path. */
struct tg_map_def SEC("maps") tg_xl_conns = {
    .type = BPF_MAP_TYPE_HASH, .key_size = sizeof(struct xl_key), .value_size = sizeof(struct xl_value),
    .max_entries = 32768};

/* 1 while the map may hold a connection, 0 when it holds none (written by the daemon: a worker sets it
 * with each hand-over, the main thread sets it from the counters once a second). While 0, a segment is
 * passed on without the hash lookup: the LAN's own (bypassed) flows then pay one lookup per packet, the
 * steering program's, not two. Stale either way is only slower, never wrong: 1 with an empty map costs
 * the lookup as before; 0 with a connection in it sends its segments to the proxy, which translates
 * every segment it gets. */
struct tg_map_def SEC("maps") tg_xl_held = {
    .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1};

/* Per-CPU scratch for the option walk's findings: kept out of the stack, where each combination of
 * their values would be one more state for the verifier to walk the loop with. */
struct tg_map_def SEC("maps") tg_xl_scratch = {
    .type = BPF_MAP_TYPE_PERCPU_ARRAY, .key_size = 4, .value_size = 16, .max_entries = 1};


/* One's-complement difference of one byte changed at offset `rel` of the TCP header: the checksum
 * sums big-endian 16-bit words from the header's start, so an even offset is a word's high byte. */
INLINE __u32 byte_diff(__u32 rel, __u32 old, __u32 now) {
  __u32 sh = (rel & 1) ? 0 : 8;
  return (0xffff - (old << sh)) + (now << sh);
}

/* Adds `add` to the 32-bit big-endian field at p (offset rel in the TCP header); returns the
 * checksum difference. */
INLINE __u32 add32(__u8 *p, __u32 rel, __u32 add) {
  __u32 old = (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
  __u32 now = old + add;
  __u32 d = 0;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    __u32 ob = (old >> (24 - 8 * i)) & 0xff;
    __u32 nb = (now >> (24 - 8 * i)) & 0xff;
    d += byte_diff(rel + i, ob, nb);
    p[i] = nb;
  }
  return d;
}

/* Where the options this translation touches are (offsets in the TCP header; 0: absent). */
struct opts {
  __u32 ts;   /* TSval; TSecr follows */
  __u32 sack; /* the first edge */
  __u32 sack_blocks;
  __u32 off; /* the walk's position, kept here so its value is not the verifier's to track */
};

/* Walks the options of the TCP header at tcp (hl bytes, all in the linear data): 0, or -1 when one
 * is malformed, a known one has the wrong length, or TS/SACK come twice (the TUN path decides). */
#define MAX_OPTIONS 40 /* 40 bytes of options: 40 NOPs at most */
INLINE int find_options(const __u8 *tcp, __u32 hl, const void *end, struct opts *o) {
  o->off = 20;
#pragma clang loop unroll(disable)
  for (int i = 0; i <= MAX_OPTIONS; i++) {
    /* Read back from the map: one state per iteration for the verifier, whatever came before. */
    __u32 off = *(volatile __u32 *)&o->off;
    if (off >= hl || off >= 60) return 0;
    if (i == MAX_OPTIONS) return -1;
    const __u8 *p = tcp + off;
    if ((const void *)(p + 1) > end) return -1;
    __u8 kind = p[0];
    if (kind == 0) return 0; /* end of options: the rest is padding */
    if (kind == 1) {         /* NOP */
      o->off = off + 1;
      continue;
    }
    if ((const void *)(p + 2) > end) return -1;
    __u32 len = p[1];
    if (len < 2 || off + len > hl) return -1;
    /* Lengths of MSS (2), WS (3), SACK_PERM (4) and TS (8), as src/packet/tcp-options.ts checks. */
    __u32 want = kind <= 8 ? (__u32)(0xa00023400ULL >> (kind * 4)) & 0xf : 0;
    if (want != 0 && want != len) return -1;
    if (kind == 5) {
      if (len < 10 || ((len - 2) & 7) != 0 || o->sack) return -1;
      o->sack = off + 2;
      o->sack_blocks = (len - 2) >> 3;
    } else if (kind == 8) {
      if (o->ts) return -1;
      o->ts = off + 2;
    }
    o->off = off + len;
  }
  return 0;
}

INLINE int xlate(struct __sk_buff *skb, const int dir) {
  __u32 zero = 0;
  __u32 *held = bpf_map_lookup_elem(&tg_xl_held, &zero);
  if (!held || !*held) return TCX_NEXT;
  struct xl_conf *c = bpf_map_lookup_elem(&tg_xl_conf, &zero);
  if (!c) return TCX_NEXT;
  if (dir == TO_SERVER) {
    /* The router's own packets, and the proxy's (out of the TUN, translated already). */
    if (skb->ingress_ifindex == 0 || skb->ingress_ifindex == c->tun_ifindex) return TCX_NEXT;
  } else if (skb->mark & c->reinject_mark) {
    return TCX_NEXT; /* the proxy's, re-injected: translated already */
  }
  int v6;
  if (skb->protocol == tg_htons(0x0800)) v6 = 0;
  else if (skb->protocol == tg_htons(0x86dd)) v6 = 1;
  else return TCX_NEXT;
  __u32 l4 = ETH_HLEN + (v6 ? 40 : 20);
  __u8 *data = (__u8 *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  if ((void *)(data + l4 + 20) > end) {
    /* Headers outside the linear data (rare: GRO and the drivers put them there). */
    bpf_skb_pull_data(skb, l4 + 20);
    data = (__u8 *)(long)skb->data;
    end = (void *)(long)skb->data_end;
    if ((void *)(data + l4 + 20) > end) return TCX_NEXT;
  }
  __u8 *ip = data + ETH_HLEN;
  __u8 *tcp = data + l4;
  if (!v6) {
    if (ip[0] != 0x45 || ip[9] != IPPROTO_TCP) return TCX_NEXT; /* options: the TUN's */
    if ((be16(ip + 6) & 0x3fff) != 0) return TCX_NEXT;          /* a fragment */
  } else if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_TCP) {
    return TCX_NEXT; /* extension headers: the TUN's */
  }
  if (tcp[13] & (TCP_SYN | TCP_FIN | TCP_RST)) return TCX_NEXT;

  struct xl_key k;
  __builtin_memset(&k, 0, sizeof k);
  k.family = v6 ? 6 : 4;
  k.proto = IPPROTO_TCP;
  /* The LAN host is the destination toward the server, the source toward the client. */
  const __u8 *lan = ip + (v6 ? 8 : 12) + (dir == TO_SERVER ? (v6 ? 16 : 4) : 0);
  const __u8 *remote = ip + (v6 ? 8 : 12) + (dir == TO_SERVER ? 0 : (v6 ? 16 : 4));
  if (!v6) {
    __builtin_memcpy(k.lan_addr, lan, 4);
    __builtin_memcpy(k.remote_addr, remote, 4);
  } else {
    __builtin_memcpy(k.lan_addr, lan, 16);
    __builtin_memcpy(k.remote_addr, remote, 16);
  }
  const __u8 *lan_port = tcp + (dir == TO_SERVER ? 2 : 0);
  const __u8 *remote_port = tcp + (dir == TO_SERVER ? 0 : 2);
  __builtin_memcpy(k.lan_port, lan_port, 2);
  __builtin_memcpy(k.remote_port, remote_port, 2);
  struct xl_value *v = bpf_map_lookup_elem(&tg_xl_conns, &k);
  if (!v) return TCX_NEXT;

  __u32 hl = (tcp[12] >> 4) * 4;
  if (hl < 20) return TCX_NEXT;
  if ((void *)(tcp + hl) > end) {
    bpf_skb_pull_data(skb, l4 + hl);
    data = (__u8 *)(long)skb->data;
    end = (void *)(long)skb->data_end;
    tcp = data + l4;
    if ((void *)(tcp + 20) > end || (void *)(tcp + hl) > end) return TCX_NEXT;
  }
  struct opts *op = bpf_map_lookup_elem(&tg_xl_scratch, &zero);
  if (!op) return TCX_NEXT;
  __builtin_memset(op, 0, sizeof *op);
  if (find_options(tcp, hl, end, op) < 0) return TCX_NEXT;
  struct opts o = *op;

  __u32 sum = 0;
  __u8 flags = v->flags;
  if (dir == TO_SERVER) {
    __u32 neg = 0 - v->delta;
    if (tcp[13] & TCP_ACK) sum += add32(tcp + 8, 8, neg);
    if (o.sack) {
#pragma clang loop unroll(disable)
      for (__u32 i = 0; i < 8; i++) {
        if (i >= o.sack_blocks * 2) break;
        __u32 at = o.sack + i * 4;
        if (at > 56) break; /* for the verifier: inside the 60-byte header */
        __u8 *p = tcp + at;
        if ((void *)(p + 4) > end) return TCX_NEXT;
        sum += add32(p, at, neg);
      }
    }
    if (o.ts && (flags & XL_TS)) {
      __u32 at = o.ts + 4; /* TSecr */
      if (at > 56) return TCX_NEXT;
      __u8 *p = tcp + at;
      if ((void *)(p + 4) > end) return TCX_NEXT;
      sum += add32(p, at, v->ts_off);
    }
  } else {
    sum += add32(tcp + 4, 4, v->delta);
    if (o.ts && (flags & XL_TS)) {
      __u32 at = o.ts; /* TSval */
      if (at > 56) return TCX_NEXT;
      __u8 *p = tcp + at;
      if ((void *)(p + 4) > end) return TCX_NEXT;
      sum += add32(p, at, 0 - v->ts_off);
    }
  }
  if (flags & (dir == TO_SERVER ? XL_WIN_TO_SERVER : XL_WIN_TO_CLIENT)) {
    /* The window as the other end reads it with the scale it agreed to (seqadj.ts: *WindowTo*). */
    __u32 win = be16(tcp + 14);
    __u64 bytes = (__u64)win << (v->shift[dir][0] & 31);
    __u64 w = bytes >> (v->shift[dir][1] & 31);
    if (w == 0 && bytes > 0) w = 1;
    if (w > 65535) w = 65535;
    sum += byte_diff(14, win >> 8, w >> 8) + byte_diff(15, win & 0xff, w & 0xff);
    tcp[14] = w >> 8;
    tcp[15] = w;
  }
  v->last_ns = bpf_ktime_get_ns();
  __sync_fetch_and_add(&v->packets[dir], 1);
  __sync_fetch_and_add(&v->bytes[dir], skb->len);
  /* The folded difference in memory order (what the kernel's __wsum is); a PARTIAL checksum is left
   * alone by the helper. */
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  /* Cannot fail once the header was written directly; should it, the segment must not reach the TUN
   * (it would be translated twice). */
  if (bpf_l4_csum_replace(skb, l4 + 16, 0, tg_htons((__u16)sum), 0) < 0) return TCX_DROP;
  return TCX_PASS;
}

/* At each LAN device's egress: client -> server. */
SEC("tc/to_server")
int tg_xlate_to_server(struct __sk_buff *skb) { return xlate(skb, TO_SERVER); }

/* At each LAN device's ingress: server -> client. */
SEC("tc/to_client")
int tg_xlate_to_client(struct __sk_buff *skb) { return xlate(skb, TO_CLIENT); }

char _license[] SEC("license") = "GPL";
