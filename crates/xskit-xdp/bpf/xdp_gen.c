/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The traffic generator's program. `xskit gen` runs it with BPF_PROG_RUN
 * and BPF_F_TEST_XDP_LIVE_FRAMES: the kernel builds frames from a template
 * and transmits whatever this program returns XDP_TX for, without socket
 * buffers. For UDP templates it writes a rotating source port (so flows
 * differ) and updates the UDP checksum to match.
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "common.h"

struct gen_config {
	__u16 base_port;  /* first source port, host order */
	__u16 flows;      /* number of source ports; 0 or 1 leaves the template alone */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct gen_config);
	__uint(max_entries, 1);
} gen_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} gen_seq SEC(".maps");

/* One's complement update of a checksum for one changed 16-bit word. */
static __always_inline __u16 csum_replace(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp = 0;
	struct gen_config *cfg;
	__u32 zero = 0;
	__u64 *seq;
	__u16 port;
	int v6 = 0;

	cfg = bpf_map_lookup_elem(&gen_config, &zero);
	seq = bpf_map_lookup_elem(&gen_seq, &zero);
	if (!cfg || !seq || cfg->flows <= 1)
		return xskit_count(ctx, XDP_TX);
	if ((void *)(eth + 1) > end)
		return xskit_count(ctx, XDP_TX);
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
			return xskit_count(ctx, XDP_TX);
		udp = (void *)(ip + 1);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP)
			return xskit_count(ctx, XDP_TX);
		udp = (void *)(ip6 + 1);
		v6 = 1;
	}
	if (!udp || (void *)(udp + 1) > end)
		return xskit_count(ctx, XDP_TX);

	port = bpf_htons(cfg->base_port + (__u16)(*seq % cfg->flows));
	*seq += 1;
	/* An IPv4 UDP checksum of zero means "none" and stays so. */
	if (udp->check || v6) {
		__u16 check = csum_replace(udp->check, udp->source, port);

		udp->check = check ? check : 0xffff;
	}
	udp->source = port;
	return xskit_count(ctx, XDP_TX);
}

char _license[] SEC("license") = "GPL";
