/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * An in-kernel rule filter in the spirit of xdp-filter. Rules live in maps
 * pinned by name (shared by every interface the filter is loaded on) and
 * change while the program runs.
 *
 * Order of checks; the first rule that matches decides:
 *   1. source address      (longest prefix, IPv4 or IPv6 trie)
 *   2. destination address
 *   3. TCP/UDP source port
 *   4. TCP/UDP destination port
 * No match: the default policy. Frames that are not IP, and IP frames too
 * short for their headers, follow the default policy and are counted.
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "common.h"

#define MAX_RULES 1024
#define LIBBPF_PIN_BY_NAME 1

struct rule {
	__u32 deny;  /* 1: XDP_DROP, 0: XDP_PASS */
	__u32 id;    /* index into filter_hits */
};

struct v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct port_key {
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 dir;    /* 0: source port, 1: destination port */
	__u16 port;  /* network byte order */
};

#define TRIE(name, key_t)                                     \
	struct {                                              \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);          \
		__type(key, key_t);                           \
		__type(value, struct rule);                   \
		__uint(max_entries, MAX_RULES);               \
		__uint(map_flags, BPF_F_NO_PREALLOC);         \
		__uint(pinning, LIBBPF_PIN_BY_NAME);          \
	} name SEC(".maps")

TRIE(filter_src_v4, struct v4_key);
TRIE(filter_dst_v4, struct v4_key);
TRIE(filter_src_v6, struct v6_key);
TRIE(filter_dst_v6, struct v6_key);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct port_key);
	__type(value, struct rule);
	__uint(max_entries, MAX_RULES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} filter_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, MAX_RULES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} filter_hits SEC(".maps");

/* Slot 0: default policy (1 = deny). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} filter_config SEC(".maps");

/* Slot 0: frames that are not IP; slot 1: truncated IP frames. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} filter_misc SEC(".maps");

static __always_inline int verdict(struct xdp_md *ctx, struct rule *r)
{
	__u32 id = r->id;
	__u64 *hits;

	if (id < MAX_RULES) {
		hits = bpf_map_lookup_elem(&filter_hits, &id);
		if (hits)
			*hits += 1;
	}
	return xskit_count(ctx, r->deny ? XDP_DROP : XDP_PASS);
}

static __always_inline int by_default(struct xdp_md *ctx, int misc_slot)
{
	__u32 zero = 0;
	__u32 *deny = bpf_map_lookup_elem(&filter_config, &zero);

	if (misc_slot >= 0) {
		__u32 k = misc_slot;
		__u64 *n = bpf_map_lookup_elem(&filter_misc, &k);

		if (n)
			*n += 1;
	}
	return xskit_count(ctx, deny && *deny ? XDP_DROP : XDP_PASS);
}

static __always_inline int by_ports(struct xdp_md *ctx, void *l4, void *end, __u8 proto)
{
	struct udphdr *ports = l4;  /* TCP and UDP put the ports first */
	struct port_key k = { .proto = proto };
	struct rule *r;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -1;
	if ((void *)ports + 4 > end)
		return -2;
	k.dir = 0;
	k.port = ports->source;
	r = bpf_map_lookup_elem(&filter_ports, &k);
	if (r)
		return verdict(ctx, r);
	k.dir = 1;
	k.port = ports->dest;
	r = bpf_map_lookup_elem(&filter_ports, &k);
	if (r)
		return verdict(ctx, r);
	return -1;
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct rule *r;
	int ret;

	if ((void *)(eth + 1) > end)
		return by_default(ctx, 1);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		struct v4_key k = { .prefixlen = 32 };

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return by_default(ctx, 1);
		__builtin_memcpy(k.addr, &ip->saddr, 4);
		r = bpf_map_lookup_elem(&filter_src_v4, &k);
		if (r)
			return verdict(ctx, r);
		__builtin_memcpy(k.addr, &ip->daddr, 4);
		r = bpf_map_lookup_elem(&filter_dst_v4, &k);
		if (r)
			return verdict(ctx, r);
		/* Only the first fragment carries the ports. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return by_default(ctx, -1);
		ret = by_ports(ctx, (void *)ip + ip->ihl * 4, end, ip->protocol);
		if (ret == -2)
			return by_default(ctx, 1);
		if (ret >= 0)
			return ret;
		return by_default(ctx, -1);
	}

	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct v6_key k = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > end)
			return by_default(ctx, 1);
		__builtin_memcpy(k.addr, &ip6->saddr, 16);
		r = bpf_map_lookup_elem(&filter_src_v6, &k);
		if (r)
			return verdict(ctx, r);
		__builtin_memcpy(k.addr, &ip6->daddr, 16);
		r = bpf_map_lookup_elem(&filter_dst_v6, &k);
		if (r)
			return verdict(ctx, r);
		ret = by_ports(ctx, ip6 + 1, end, ip6->nexthdr);
		if (ret == -2)
			return by_default(ctx, 1);
		if (ret >= 0)
			return ret;
		return by_default(ctx, -1);
	}

	return by_default(ctx, 0);
}

char _license[] SEC("license") = "GPL";
