/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * An in-kernel rule filter in the spirit of xdp-filter. Rules live in maps
 * pinned by name (shared by every interface the filter is loaded on) and
 * change while the program runs. Each rule matches one field; the most
 * specific matching rule decides (`xskit filter --help`, docs/operations.md):
 *
 *   1. MAC address rules (source or destination; both match: deny wins)
 *   2. ARP and IPv6 neighbour discovery (ICMPv6 133-137): the `arp` / `nd`
 *      rule if there is one, else XDP_PASS whatever the default policy;
 *      address and port rules do not apply to them
 *   3. IP address rules: the longest matching prefix, source or
 *      destination (equal lengths: deny wins)
 *   4. TCP/UDP port rules (source or destination; both match: deny wins)
 *   5. IP protocol rules (`icmp`, `icmp6`, `tcp`, `ip proto 47`, ...): the
 *      IPv4 Protocol or the IPv6 Next Header of the fixed header (no
 *      extension header is walked)
 *   6. EtherType rules (`ether type 0x88cc`, also 0x0800 / 0x86dd for all
 *      of IPv4 / IPv6)
 *   7. the default policy
 * Frames too short for their headers follow the default policy and are
 * counted in filter_misc, as are the frames the default policy passed and
 * dropped. A rule's id is never given twice in the maps' life (user space
 * keeps the next one in filter_config); its counters are at id % MAX_RULES.
 * An unconfirmed `--confirm-within` deadline that has passed makes the
 * program pass everything (guard.h); for an unconfirmed rule change, user
 * space undoes the change and then clears the guard again. A capture sees
 * each verdict (tap.h).
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "common.h"
#include "guard.h"
#include "tap.h"

#define MAX_RULES 1024 /* a power of two: a rule's counters are at id & (MAX_RULES - 1) */
#define LIBBPF_PIN_BY_NAME 1
/* filter_ether key of the `nd` rule (EtherTypes are below 0x10000). */
#define ND_KEY 0x10000

struct rule {
	__u32 id;    /* index into filter_hits */
	__u16 deny;  /* 1: XDP_DROP, 0: XDP_PASS */
	__u16 plen;  /* prefix length of an address rule (LPM lookups do not say) */
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

struct mac_key {
	__u8 addr[6];
	__u8 dir;    /* 0: source, 1: destination */
	__u8 pad;
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

#define HASH(name, key_t)                                     \
	struct {                                              \
		__uint(type, BPF_MAP_TYPE_HASH);              \
		__type(key, key_t);                           \
		__type(value, struct rule);                   \
		__uint(max_entries, MAX_RULES);               \
		__uint(pinning, LIBBPF_PIN_BY_NAME);          \
	} name SEC(".maps")

HASH(filter_ports, struct port_key);
HASH(filter_mac, struct mac_key);
/* Key: EtherType in host order, or ND_KEY. */
HASH(filter_ether, __u32);
/* Key: (4 or 6) << 8 | IP protocol number. */
HASH(filter_proto, __u32);

/* Per rule (at id % MAX_RULES): frames and bytes it decided. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct xskit_counter);
	__uint(max_entries, MAX_RULES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} filter_hits SEC(".maps");

/* Slot 0: default policy (1 = deny); slot 1: the next rule id (user space's). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} filter_config SEC(".maps");

#define MISC_NOT_IP 0    /* neither IP, ARP nor a rule's EtherType: default */
#define MISC_TRUNCATED 1 /* too short for its headers: default */
#define MISC_ARP 2       /* ARP passed with no `arp` rule */
#define MISC_ND 3        /* neighbour discovery passed with no `nd` rule */
#define MISC_DEFAULT_PASS 4 /* passed by the default policy (all of them) */
#define MISC_DEFAULT_DROP 5 /* dropped by the default policy (all of them) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} filter_misc SEC(".maps");

static __always_inline void count_misc(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&filter_misc, &slot);

	if (n)
		*n += 1;
}

static __always_inline int verdict(struct xdp_md *ctx, struct rule *r)
{
	__u32 slot = r->id & (MAX_RULES - 1);
	struct xskit_counter *hits;

	hits = bpf_map_lookup_elem(&filter_hits, &slot);
	if (hits) {
		hits->packets += 1;
		hits->bytes += ctx->data_end - ctx->data;
	}
	return xskit_count(ctx, r->deny ? XDP_DROP : XDP_PASS);
}

static __always_inline int by_default(struct xdp_md *ctx, int misc_slot)
{
	__u32 zero = 0;
	__u32 *deny = bpf_map_lookup_elem(&filter_config, &zero);
	int drop = deny && *deny;

	if (misc_slot >= 0)
		count_misc(misc_slot);
	count_misc(drop ? MISC_DEFAULT_DROP : MISC_DEFAULT_PASS);
	return xskit_count(ctx, drop ? XDP_DROP : XDP_PASS);
}

/* Of two matching rules of the same kind, the one that decides. */
static __always_inline struct rule *stronger(struct rule *a, struct rule *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (a->plen != b->plen)
		return a->plen > b->plen ? a : b;
	return b->deny ? b : a;
}

static __always_inline struct rule *by_ether(__u32 key)
{
	return bpf_map_lookup_elem(&filter_ether, &key);
}

/* The IP protocol rule of `proto` in IPv4 (family 4) or IPv6 (6), or NULL. */
static __always_inline struct rule *by_proto(__u32 family, __u8 proto)
{
	__u32 key = family << 8 | proto;

	return bpf_map_lookup_elem(&filter_proto, &key);
}

/* The deciding port rule, or NULL; *truncated set if the ports are cut off. */
static __always_inline struct rule *by_ports(void *l4, void *end, __u8 proto, int *truncated)
{
	struct udphdr *ports = l4;  /* TCP and UDP put the ports first */
	struct port_key k = { .proto = proto };
	struct rule *s, *d;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return NULL;
	if ((void *)ports + 4 > end) {
		*truncated = 1;
		return NULL;
	}
	k.dir = 0;
	k.port = ports->source;
	s = bpf_map_lookup_elem(&filter_ports, &k);
	k.dir = 1;
	k.port = ports->dest;
	d = bpf_map_lookup_elem(&filter_ports, &k);
	return stronger(s, d);
}

static __always_inline int filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct mac_key mk = {};
	struct rule *r, *s;
	int truncated = 0;
	__u16 proto;

	if (xskit_reverted())
		return xskit_count(ctx, XDP_PASS);
	if ((void *)(eth + 1) > end)
		return by_default(ctx, MISC_TRUNCATED);

	/* 1. MAC addresses */
	__builtin_memcpy(mk.addr, eth->h_source, 6);
	s = bpf_map_lookup_elem(&filter_mac, &mk);
	__builtin_memcpy(mk.addr, eth->h_dest, 6);
	mk.dir = 1;
	r = stronger(s, bpf_map_lookup_elem(&filter_mac, &mk));
	if (r)
		return verdict(ctx, r);

	proto = bpf_ntohs(eth->h_proto);
	/* 2. ARP */
	if (proto == ETH_P_ARP) {
		r = by_ether(ETH_P_ARP);
		if (r)
			return verdict(ctx, r);
		count_misc(MISC_ARP);
		return xskit_count(ctx, XDP_PASS);
	}

	if (proto == ETH_P_IP) {
		struct iphdr *ip = (void *)(eth + 1);
		struct v4_key k = { .prefixlen = 32 };

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return by_default(ctx, MISC_TRUNCATED);
		/* 3. addresses */
		__builtin_memcpy(k.addr, &ip->saddr, 4);
		s = bpf_map_lookup_elem(&filter_src_v4, &k);
		__builtin_memcpy(k.addr, &ip->daddr, 4);
		r = stronger(s, bpf_map_lookup_elem(&filter_dst_v4, &k));
		if (r)
			return verdict(ctx, r);
		/* 4. ports; only the first fragment carries them */
		if (!(ip->frag_off & bpf_htons(0x1fff))) {
			r = by_ports((void *)ip + ip->ihl * 4, end, ip->protocol, &truncated);
			if (truncated)
				return by_default(ctx, MISC_TRUNCATED);
			if (r)
				return verdict(ctx, r);
		}
		/* 5. IP protocol (in every fragment) */
		r = by_proto(4, ip->protocol);
		if (r)
			return verdict(ctx, r);
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct v6_key k = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > end)
			return by_default(ctx, MISC_TRUNCATED);
		/* 2. neighbour discovery: RS, RA, NS, NA, redirect */
		if (ip6->nexthdr == IPPROTO_ICMPV6) {
			struct icmp6hdr *icmp = (void *)(ip6 + 1);

			if ((void *)(icmp + 1) > end)
				return by_default(ctx, MISC_TRUNCATED);
			if (icmp->icmp6_type >= 133 && icmp->icmp6_type <= 137) {
				r = by_ether(ND_KEY);
				if (r)
					return verdict(ctx, r);
				count_misc(MISC_ND);
				return xskit_count(ctx, XDP_PASS);
			}
		}
		/* 3. addresses */
		__builtin_memcpy(k.addr, &ip6->saddr, 16);
		s = bpf_map_lookup_elem(&filter_src_v6, &k);
		__builtin_memcpy(k.addr, &ip6->daddr, 16);
		r = stronger(s, bpf_map_lookup_elem(&filter_dst_v6, &k));
		if (r)
			return verdict(ctx, r);
		/* 4. ports */
		r = by_ports(ip6 + 1, end, ip6->nexthdr, &truncated);
		if (truncated)
			return by_default(ctx, MISC_TRUNCATED);
		if (r)
			return verdict(ctx, r);
		/* 5. IP protocol (the fixed header's Next Header) */
		r = by_proto(6, ip6->nexthdr);
		if (r)
			return verdict(ctx, r);
	}

	/* 6. EtherType */
	r = by_ether(proto);
	if (r)
		return verdict(ctx, r);
	/* 7. default */
	return by_default(ctx, proto == ETH_P_IP || proto == ETH_P_IPV6 ? -1 : MISC_NOT_IP);
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	return xskit_verdict(ctx, filter(ctx), 0);
}

char _license[] SEC("license") = "GPL";
