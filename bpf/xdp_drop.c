/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Drops every frame: the seed's DDoS example. Never on your uplink. */
#include "common.h"

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return xskit_count(ctx, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
