/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* doctor's probe of extension programs (BPF_PROG_TYPE_EXT), which a
 * multi-program dispatcher needs: probe_target calls the global function
 * probe_stub, and probe_ext is loaded to replace it. Neither is ever
 * attached. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((noinline)) int probe_stub(struct xdp_md *ctx)
{
	volatile int ret = XDP_PASS;

	if (!ctx)
		return XDP_ABORTED;
	return ret;
}

SEC("xdp")
int probe_target(struct xdp_md *ctx)
{
	return probe_stub(ctx);
}

SEC("freplace/probe_stub")
int probe_ext(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* An extension that changes packet data (a zero move of the frame's
 * head): from Linux 6.13 (and 6.12.25) the kernel lets it replace only a
 * function that may change packet data too, as the stubs of xskit's
 * dispatcher do (bpf/xdp_dispatcher.c); multiprog_kernel loads it there. */
SEC("freplace/probe_stub")
int probe_ext_pkt(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_head(ctx, 0))
		return XDP_ABORTED;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
