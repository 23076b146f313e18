/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Hands frames to the AF_XDP socket registered for the frame's rx queue.
 * A queue with no socket in the map gets XDP_PASS, so the kernel stack
 * keeps working.
 *
 *   xdp_redirect        every frame on the queue (the seed's program)
 *   xdp_redirect_echo   only ICMPv4 / ICMPv6 echo requests; ARP, neighbour
 *                       discovery, SSH and everything else go to the kernel
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include "common.h"

/* The first four bytes of ICMPv4 and ICMPv6 headers share this shape.
 * (linux/icmp.h would drag in libc headers that do not build for bpf.) */
struct icmp_head {
	__u8 type;
	__u8 code;
	__u16 checksum;
};
#define ICMP_ECHO_REQUEST 8
#define ICMPV6_ECHO_REQUEST 128

/* Sized by the loader to the interface's queue count. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 64);
} xsks_map SEC(".maps");

static __always_inline int redirect(struct xdp_md *ctx)
{
	__u32 action = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);

	return xskit_count(ctx, action);
}

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	return redirect(ctx);
}

/* True for an untagged ICMPv4 echo request or ICMPv6 echo request. The
 * user-space responder validates the frame fully; this only selects. */
static __always_inline int is_echo_request(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return 0;

	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct icmp_head *icmp6 = (void *)(ip6 + 1);

		if ((void *)(icmp6 + 1) > end)
			return 0;
		return ip6->nexthdr == IPPROTO_ICMPV6 &&
		       icmp6->type == ICMPV6_ECHO_REQUEST;
	}

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		struct icmp_head *icmp;

		if ((void *)(ip + 1) > end)
			return 0;
		if (ip->ihl < 5 || ip->protocol != IPPROTO_ICMP)
			return 0;
		icmp = (void *)ip + ip->ihl * 4;
		if ((void *)(icmp + 1) > end)
			return 0;
		return icmp->type == ICMP_ECHO_REQUEST;
	}
	return 0;
}

SEC("xdp")
int xdp_redirect_echo(struct xdp_md *ctx)
{
	if (!is_echo_request(ctx))
		return xskit_count(ctx, XDP_PASS);
	return redirect(ctx);
}

char _license[] SEC("license") = "GPL";
