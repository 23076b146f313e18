/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Shared by every xskit XDP program: the per-action counter map. */
#ifndef XSKIT_COMMON_H
#define XSKIT_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* One slot per XDP action code (XDP_ABORTED .. XDP_REDIRECT). */
#define XSKIT_ACTIONS 5

struct xskit_counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct xskit_counter);
	__uint(max_entries, XSKIT_ACTIONS);
} xskit_stats SEC(".maps");

/* Counts the frame under the action it is about to get and returns it. */
static __always_inline __u32 xskit_count(struct xdp_md *ctx, __u32 action)
{
	struct xskit_counter *c;
	__u32 key = action;

	if (key >= XSKIT_ACTIONS)
		return action;
	c = bpf_map_lookup_elem(&xskit_stats, &key);
	if (c) {
		c->packets += 1;
		c->bytes += ctx->data_end - ctx->data;
	}
	return action;
}

#endif
