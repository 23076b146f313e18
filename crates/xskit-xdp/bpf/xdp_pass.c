/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Passes every frame to the kernel stack, counting it. It has the guard
 * map of guard.h like every program `xskit load` attaches, so a load with
 * `--confirm-within` works the same for it (passing is all it does).
 * A capture sees each frame (tap.h). */
#include "common.h"
#include "guard.h"
#include "tap.h"

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	xskit_reverted();
	return xskit_verdict(ctx, xskit_count(ctx, XDP_PASS), 0);
}

char _license[] SEC("license") = "GPL";
