/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Drops every frame: the seed's DDoS example. Never on your uplink.
 * Passes everything once an unconfirmed `--confirm-within` deadline has
 * passed (guard.h). */
#include "common.h"
#include "guard.h"

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	if (xskit_reverted())
		return xskit_count(ctx, XDP_PASS);
	return xskit_count(ctx, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
