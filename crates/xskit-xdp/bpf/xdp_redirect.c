/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Hands frames to the AF_XDP socket registered for the frame's rx queue.
 * A queue with no socket in the map gets XDP_PASS, so the kernel stack
 * keeps working.
 *
 *   xdp_redirect        every frame on the queue (the AF_XDP lesson's program)
 *   xdp_redirect_frags  the same, frags-aware (multi-buffer, jumbo MTU)
 *   xdp_redirect_echo   only ICMPv4 / ICMPv6 echo requests (and _frags) that the responder
 *                       may answer (see is_echo_request); ARP, neighbour
 *                       discovery, SSH and everything else go to the kernel
 *   xdp_redirect_port   only TCP or UDP to the destination ports in xsk_ports
 *                       (and _frags), and echo requests if xsk_port_config says
 *                       so; everything else goes to the kernel
 * Each counts its verdicts in xskit_stats unless loaded with xskit_counting
 * set to 0, and hands its verdict to a capture while one is on (tap.h).
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include "common.h"
#include "tap.h"

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

/* 0 from a loader whose caller reads no counters (xskit-xdp's
 * LoadOptions::uncounted): a read-only value the verifier knows at load,
 * so it drops the counting code and a frame costs the redirect alone. */
volatile const __u32 xskit_counting = 1;

static __always_inline __u32 count(struct xdp_md *ctx, __u32 action)
{
	if (!xskit_counting)
		return action;
	return xskit_count(ctx, action);
}

static __always_inline int redirect(struct xdp_md *ctx)
{
	return count(ctx, bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS));
}

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	return xskit_verdict(ctx, redirect(ctx), 0);
}

/* The same for multi-buffer frames (jumbo MTU in native mode): loaded with
 * BPF_F_XDP_HAS_FRAGS (Linux 5.18+), for sockets bound with XDP_USE_SG. */
SEC("xdp.frags")
int xdp_redirect_frags(struct xdp_md *ctx)
{
	return xskit_verdict(ctx, redirect(ctx), 1);
}

/* True for a frame the user-space responder may answer: an untagged
 * ICMPv4 or ICMPv6 echo request, to a destination of a class that can be
 * answered. The responder validates the frame fully (checksums, lengths,
 * source addresses, its own addresses); this only selects. What is left to
 * the kernel here the kernel answers or drops by its own rules:
 *   - Ethernet group source (the kernel answers through its neighbour table);
 *   - VLAN tags, IPv6 extension headers, IPv4 options and fragments;
 *   - IPv4 multicast or limited-broadcast destination
 *     (net.ipv4.icmp_echo_ignore_broadcasts decides);
 *   - IPv6 multicast destination of reserved (0) or interface-local (1)
 *     scope, which must not come from the wire (RFC 4291 2.7). */
static __always_inline int is_echo_request(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_source[0] & 1)
		return 0;

	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct icmp_head *icmp6 = (void *)(ip6 + 1);
		__u8 *dst;

		if ((void *)(icmp6 + 1) > end)
			return 0;
		if (ip6->nexthdr != IPPROTO_ICMPV6 ||
		    icmp6->type != ICMPV6_ECHO_REQUEST)
			return 0;
		dst = ip6->daddr.in6_u.u6_addr8;
		if (dst[0] == 0xff && (dst[1] & 0x0f) <= 1)
			return 0;
		return 1;
	}

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		struct icmp_head *icmp = (void *)(ip + 1);
		__u32 dst;

		if ((void *)(icmp + 1) > end)
			return 0;
		if (ip->ihl != 5 || ip->protocol != IPPROTO_ICMP ||
		    (ip->frag_off & bpf_htons(0x3fff)) != 0 ||
		    icmp->type != ICMP_ECHO_REQUEST)
			return 0;
		dst = bpf_ntohl(ip->daddr);
		if ((dst & 0xf0000000) == 0xe0000000 || dst == 0xffffffff)
			return 0;
		return 1;
	}
	return 0;
}

static __always_inline int redirect_echo(struct xdp_md *ctx)
{
	if (!is_echo_request(ctx))
		return count(ctx, XDP_PASS);
	return redirect(ctx);
}

SEC("xdp")
int xdp_redirect_echo(struct xdp_md *ctx)
{
	return xskit_verdict(ctx, redirect_echo(ctx), 0);
}

/* The same, frags-aware: the headers it reads lie in the first buffer. */
SEC("xdp.frags")
int xdp_redirect_echo_frags(struct xdp_md *ctx)
{
	return xskit_verdict(ctx, redirect_echo(ctx), 1);
}

/* The destination ports xdp_redirect_port hands to the socket. */
struct port_key {
	__u8 proto;	/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
	__u16 port;	/* network byte order */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct port_key);
	__type(value, __u8);
	__uint(max_entries, 64);
} xsk_ports SEC(".maps");

/* Slot 0: non-zero to hand ICMP echo requests to the socket too. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} xsk_port_config SEC(".maps");

/* True for an untagged IPv4 or IPv6 TCP or UDP segment to a port in
 * xsk_ports. IPv4 fragments and IPv6 with extension headers (fragments
 * included) go to the kernel, which reassembles or parses them. A NIC that
 * strips VLAN tags (rx-vlan-offload) shows tagged frames untagged here. */
static __always_inline int is_port(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct port_key key = {};
	__u16 *ports;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || bpf_ntohs(ip6->payload_len) < 4)
			return 0;
		key.proto = ip6->nexthdr;
		ports = (void *)(ip6 + 1);
	} else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		/* Fragments, the first one too (MF set), go to the kernel,
		 * which reassembles them: a datagram split between the socket
		 * and the kernel would be lost to both. */
		if ((void *)(ip + 1) > end || ip->ihl < 5 ||
		    (ip->frag_off & bpf_htons(0x3fff)) != 0 ||
		    bpf_ntohs(ip->tot_len) < ip->ihl * 4 + 4)
			return 0;
		key.proto = ip->protocol;
		ports = (void *)ip + ip->ihl * 4;
	} else {
		return 0;
	}
	if (key.proto != IPPROTO_TCP && key.proto != IPPROTO_UDP)
		return 0;
	if ((void *)(ports + 2) > end)
		return 0;
	key.port = ports[1];
	return bpf_map_lookup_elem(&xsk_ports, &key) != 0;
}

static __always_inline int redirect_port(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *echo = bpf_map_lookup_elem(&xsk_port_config, &zero);

	if (is_port(ctx) || (echo && *echo && is_echo_request(ctx)))
		return redirect(ctx);
	return count(ctx, XDP_PASS);
}

SEC("xdp")
int xdp_redirect_port(struct xdp_md *ctx)
{
	return xskit_verdict(ctx, redirect_port(ctx), 0);
}

/* The same, frags-aware: the headers it reads lie in the first buffer. */
SEC("xdp.frags")
int xdp_redirect_port_frags(struct xdp_md *ctx)
{
	return xskit_verdict(ctx, redirect_port(ctx), 1);
}

char _license[] SEC("license") = "GPL";
