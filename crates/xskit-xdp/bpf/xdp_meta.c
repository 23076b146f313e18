/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * xdp_redirect_meta: xdp_redirect (every frame to the AF_XDP socket of its
 * rx queue, XDP_PASS where the queue has none) that first writes the
 * frame's RX metadata (RSS hash, hardware timestamp, VLAN tag) in front of
 * it, in the layout of rx_meta.h.
 *
 * The metadata kfuncs (Linux 6.3; the VLAN one 6.8) work only in a
 * device-bound program (BPF_F_XDP_DEV_BOUND_ONLY, attached in native mode
 * to that device). They are declared here without __ksym: xskit's own
 * loader (src/meta.rs) points each call at the kernel's function by its
 * BTF id, or replaces it by `r0 = -EOPNOTSUPP` where the kernel lacks it.
 * No other loader can load this object. No other map than xsks_map: the
 * loader creates that one map itself.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "rx_meta.h"

/* include/net/xdp.h (not UAPI): only its width matters here. */
enum xdp_rss_hash_type { XDP_RSS_TYPE_NONE = 0 };

extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp);
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash,
				    enum xdp_rss_hash_type *rss_type);
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto,
					__u16 *vlan_tci);

/* Sized by the loader to the interface's queue count. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 64);
} xsks_map SEC(".maps");

SEC("xdp")
int xdp_redirect_meta(struct xdp_md *ctx)
{
	struct xskit_rx_meta *meta;
	enum xdp_rss_hash_type rss_type = XDP_RSS_TYPE_NONE;
	__u64 timestamp = 0;
	__u32 hash = 0;
	__be16 vlan_proto = 0;
	__u16 vlan_tci = 0;
	__u16 flags = 0;
	void *data;

	/* The kfuncs read the driver's descriptor or skb, not the frame:
	 * called before the frame moves. */
	if (bpf_xdp_metadata_rx_hash(ctx, &hash, &rss_type) == 0)
		flags |= XSKIT_META_HASH;
	if (bpf_xdp_metadata_rx_timestamp(ctx, &timestamp) == 0 && timestamp != 0)
		flags |= XSKIT_META_TIMESTAMP;
	if (bpf_xdp_metadata_rx_vlan_tag(ctx, &vlan_proto, &vlan_tci) == 0)
		flags |= XSKIT_META_VLAN;

	/* A driver without data_meta room refuses: the frame goes without
	 * metadata (the reader finds no magic and reports none). */
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)) == 0) {
		meta = (void *)(long)ctx->data_meta;
		data = (void *)(long)ctx->data;
		if ((void *)(meta + 1) <= data) {
			meta->timestamp = (flags & XSKIT_META_TIMESTAMP) ? timestamp : 0;
			meta->hash = (flags & XSKIT_META_HASH) ? hash : 0;
			meta->rss_type = (flags & XSKIT_META_HASH) ? (__u32)rss_type : 0;
			meta->vlan_proto = (flags & XSKIT_META_VLAN) ? bpf_ntohs(vlan_proto) : 0;
			meta->vlan_tci = (flags & XSKIT_META_VLAN) ? vlan_tci : 0;
			meta->flags = flags;
			meta->size = sizeof(*meta);
			meta->magic = XSKIT_META_MAGIC;
		}
	}
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
