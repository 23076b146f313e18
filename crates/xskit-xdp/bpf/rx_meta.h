/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The RX metadata xdp_redirect_meta writes in front of each frame it hands
 * to an AF_XDP socket (the XDP data_meta area, bpf_xdp_adjust_meta). The
 * Rust reader is xsk::RxMetadata (crates/xsk/src/rx_meta.rs), which must
 * keep this layout: 24 bytes, little-endian (the host's), ending exactly
 * where the frame's data begins.
 *
 *   offset  size  field
 *        0     8  timestamp   hardware RX timestamp, ns (valid: XSKIT_META_TIMESTAMP)
 *        8     4  hash        RX hash (valid: XSKIT_META_HASH)
 *       12     4  rss_type    enum xdp_rss_hash_type of the kernel (with hash)
 *       16     2  vlan_proto  VLAN protocol, host byte order (0x8100, 0x88a8)
 *       18     2  vlan_tci    VLAN TCI, host byte order (valid: XSKIT_META_VLAN)
 *       20     2  flags       which fields are valid (XSKIT_META_*)
 *       22     1  size        sizeof(struct xskit_rx_meta) = 24
 *       23     1  magic       XSKIT_META_MAGIC
 *
 * A field is valid only where its kfunc returned 0; a timestamp of 0 (what
 * a driver reports when nothing stamped the frame) is not valid.
 */
#ifndef XSKIT_RX_META_H
#define XSKIT_RX_META_H

#include <linux/types.h>

#define XSKIT_META_HASH 1
#define XSKIT_META_TIMESTAMP 2
#define XSKIT_META_VLAN 4
#define XSKIT_META_MAGIC 0x58

struct xskit_rx_meta {
	__u64 timestamp;
	__u32 hash;
	__u32 rss_type;
	__u16 vlan_proto;
	__u16 vlan_tci;
	__u16 flags;
	__u8 size;
	__u8 magic;
};

_Static_assert(sizeof(struct xskit_rx_meta) == 24, "rx_meta.h layout");

#endif
