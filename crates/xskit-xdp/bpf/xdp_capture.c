/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Copies the head of every frame into a ring buffer for `xskit dump` and
 * passes the frame on: capture without taking traffic from the host.
 */
#include "common.h"

#define SNAPLEN 2048

struct capture_record {
	__u64 ktime_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 len;        /* length on the wire */
	__u32 caplen;     /* bytes in data[] */
	__u32 rx_queue;
	__u32 pad;
	__u8 data[SNAPLEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} capture_ring SEC(".maps");

/* Frames not captured because the ring was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} capture_lost SEC(".maps");

SEC("xdp")
int xdp_capture(struct xdp_md *ctx)
{
	/* 64-bit lengths: a 32-bit one is checked on a zero-extended copy while
	 * the helper gets the original register, which the verifier rejects. */
	__u64 len = (__u64)ctx->data_end - (__u64)ctx->data;
	__u64 cap = len < SNAPLEN ? len : SNAPLEN;
	struct capture_record *rec;
	__u32 zero = 0;

	/* The helper wants a size of at least 1 that the verifier can prove.
	 * One unsigned compare of cap - 1 bounds it to [0, SNAPLEN - 1], so
	 * cap is [1, SNAPLEN]; older verifiers (6.1) learn nothing from
	 * "cap != 0". The empty asm hides the range from the compiler, which
	 * would otherwise fold the check back into "cap == 0". */
	__u64 c1 = cap - 1;
	asm volatile("" : "+r"(c1));
	if (c1 > SNAPLEN - 1)
		return xskit_count(ctx, XDP_PASS);
	cap = c1 + 1;
	rec = bpf_ringbuf_reserve(&capture_ring, sizeof(*rec), 0);
	if (!rec) {
		__u64 *lost = bpf_map_lookup_elem(&capture_lost, &zero);

		if (lost)
			*lost += 1;
		return xskit_count(ctx, XDP_PASS);
	}
	rec->ktime_ns = bpf_ktime_get_ns();
	rec->len = len;
	rec->rx_queue = ctx->rx_queue_index;
	rec->pad = 0;
	if (bpf_xdp_load_bytes(ctx, 0, rec->data, cap) < 0)
		cap = 0;
	rec->caplen = cap;
	bpf_ringbuf_submit(rec, 0);
	return xskit_count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
