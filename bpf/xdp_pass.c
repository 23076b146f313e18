/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Passes every frame to the kernel stack, counting it. */
#include "common.h"

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return xskit_count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
