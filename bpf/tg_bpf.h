/* The little this repo's eBPF programs need from libbpf's headers, declared here so the build needs
 * only clang and the kernel's UAPI headers (no libbpf on the build machine or the router). */
#ifndef TG_BPF_H
#define TG_BPF_H

#include <linux/bpf.h>
#include <linux/types.h>

#define SEC(name) __attribute__((section(name), used))
#define INLINE static __attribute__((always_inline)) inline

/* Maps in the legacy "maps" section: the loader (src/tun/bpf-object.ts) reads these five words. */
struct tg_map_def {
  __u32 type;
  __u32 key_size;
  __u32 value_size;
  __u32 max_entries;
  __u32 map_flags;
};

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)BPF_FUNC_map_update_elem;
static long (*bpf_map_push_elem)(void *map, const void *value, __u64 flags) = (void *)BPF_FUNC_map_push_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;
static long (*bpf_fib_lookup)(void *ctx, struct bpf_fib_lookup *params, int plen, __u32 flags) = (void *)BPF_FUNC_fib_lookup;
static long (*bpf_redirect_neigh)(__u32 ifindex, struct bpf_redir_neigh *params, int plen, __u64 flags) = (void *)BPF_FUNC_redirect_neigh;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, const void *from, __u32 len,
                                  __u64 flags) = (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_skb_change_tail)(struct __sk_buff *skb, __u32 len, __u64 flags) = (void *)BPF_FUNC_skb_change_tail;
static long (*bpf_l4_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to,
                                  __u64 flags) = (void *)BPF_FUNC_l4_csum_replace;
static long (*bpf_skb_pull_data)(struct __sk_buff *skb, __u32 len) = (void *)BPF_FUNC_skb_pull_data;
static long (*bpf_skb_change_head)(struct __sk_buff *skb, __u32 len, __u64 flags) = (void *)BPF_FUNC_skb_change_head;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define tg_htons(x) __builtin_bswap16(x)
#define tg_htonl(x) __builtin_bswap32(x)
#else
#define tg_htons(x) (x)
#define tg_htonl(x) (x)
#endif
#define tg_ntohs tg_htons
#define tg_ntohl tg_htonl

/* TCX verdicts (include/uapi/linux/bpf.h): TCX_NEXT hands the packet to the next program. */
#define TCX_PASS 0
#define TCX_NEXT -1
#define TCX_DROP 2

#define ETH_HLEN 14
#define IPPROTO_TCP 6
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* A big-endian 16-bit field. */
INLINE __u32 be16(const __u8 *p) { return (__u32)p[0] << 8 | p[1]; }

#endif
