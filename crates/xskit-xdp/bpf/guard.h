/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The dead man's switch of `xskit load --confirm-within`: a program that
 * can drop traffic reads a deadline from this map and behaves as XDP_PASS
 * once it has passed unconfirmed. The kernel itself restores traffic on
 * time, whatever happened to the process that loaded the program.
 *
 *   slot 0: deadline, bpf_ktime_get_ns() (CLOCK_MONOTONIC); 0: no deadline
 *           (no guard, or confirmed: `xskit confirm` writes 0)
 *   slot 1: 0, or the time the program first saw the deadline passed; once
 *           set, the program passes everything until it is detached, so a
 *           late confirmation cannot bring a reverted program back
 */
#ifndef XSKIT_GUARD_H
#define XSKIT_GUARD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} xskit_guard SEC(".maps");

/* True once the deadline has passed unconfirmed: then pass everything. */
static __always_inline int xskit_reverted(void)
{
	__u32 k0 = 0, k1 = 1;
	__u64 *deadline = bpf_map_lookup_elem(&xskit_guard, &k0);
	__u64 *reverted = bpf_map_lookup_elem(&xskit_guard, &k1);
	__u64 now;

	if (!deadline || !reverted)
		return 0;
	if (*reverted)
		return 1;
	if (*deadline == 0)
		return 0;
	now = bpf_ktime_get_ns();
	if (now < *deadline)
		return 0;
	*reverted = now;
	return 1;
}

#endif
