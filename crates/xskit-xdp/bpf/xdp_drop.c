/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Drops every frame: xdp-tutorial's DDoS example. Never on your uplink.
 * Passes everything once an unconfirmed `--confirm-within` deadline has
 * passed (guard.h). A capture sees each verdict (tap.h). */
#include "common.h"
#include "guard.h"
#include "tap.h"

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	__u32 action = xskit_reverted() ? XDP_PASS : XDP_DROP;

	return xskit_verdict(ctx, xskit_count(ctx, action), 0);
}

char _license[] SEC("license") = "GPL";
