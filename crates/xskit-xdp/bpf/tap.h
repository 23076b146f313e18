/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The capture tap of every program xskit attaches, so `xskit dump -i IFACE`
 * can watch what a running program decides: while a capture is on, each
 * frame's first bytes, the verdict the program gave it and its rx queue go
 * to a ring buffer. A separate `xskit dump` finds these maps by name from
 * the attached program's id (crates/xskit/src/xdp/tap.rs).
 *
 *   xskit_tap       ARRAY of __u64:
 *                   slot 0  deadline, bpf_ktime_get_ns() (CLOCK_MONOTONIC):
 *                           capture while now < deadline; 0: off. The only
 *                           slot read while off: one lookup and a branch
 *                   slot 1  ifindex to capture (0: any; one program can be
 *                           attached to several interfaces)
 *                   slot 2  bytes to copy of each frame (at most XSKIT_TAP_MAX)
 *                   slot 3  frames not captured because the ring was full
 *   xskit_tap_ring  the records: struct xskit_tap_record, its header and
 *                   `caplen` bytes of data
 *   xskit_tap_buf   per-CPU scratch where a record is put together
 *
 * The dumper moves the deadline a few seconds ahead every half second and
 * writes 0 when it ends; a dumper that dies (SIGKILL included) leaves a
 * deadline that passes, and the tap is off again by itself.
 *
 * The copy reads the packet directly (no bpf_xdp_load_bytes, 5.18+), so
 * the programs still load where they did before; frags-aware programs
 * copy from the first buffer and report the whole length.
 */
#ifndef XSKIT_TAP_H
#define XSKIT_TAP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XSKIT_TAP_MAX 2048
#define XSKIT_TAP_HEAD 32

struct xskit_tap_record {
	__u64 ktime_ns;   /* bpf_ktime_get_ns() */
	__u32 len;        /* frame length (all buffers) */
	__u32 caplen;     /* bytes in data[] */
	__u32 ifindex;    /* ingress interface */
	__u32 rx_queue;
	__u32 action;     /* the verdict: XDP_ABORTED .. XDP_REDIRECT */
	__u32 pad;
	/* Room for the copy's last partial word past XSKIT_TAP_MAX. */
	__u8 data[XSKIT_TAP_MAX + 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} xskit_tap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 << 20);
} xskit_tap_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct xskit_tap_record);
	__uint(max_entries, 1);
} xskit_tap_buf SEC(".maps");

/* The bytes copied so far, read back from the record. The verifier then
 * knows only the bounds checked after each read, not the value, so the
 * paths of all lengths meet again: tracked as a constant, each of the 2049
 * lengths was a path of its own through the rest of the program (about
 * 217,000 instructions to verify instead of a few thousand). */
static __always_inline __u32 xskit_tap_done(struct xskit_tap_record *rec)
{
	return *(volatile __u32 *)&rec->caplen;
}

static __always_inline void xskit_tap_set_done(struct xskit_tap_record *rec, __u32 n)
{
	*(volatile __u32 *)&rec->caplen = n;
}

/* The slow path, while a capture is on: 8 bytes at a time, then single
 * bytes, read from the packet directly (a bounded offset and a check
 * against data_end before each read, as parsers of IP options do). */
static __always_inline void xskit_tap_copy(struct xdp_md *ctx, __u32 action,
					   __u64 len, __u64 now)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 k1 = 1, k2 = 2, k3 = 3, zero = 0;
	__u64 *ifindex = bpf_map_lookup_elem(&xskit_tap, &k1);
	__u64 *snap = bpf_map_lookup_elem(&xskit_tap, &k2);
	struct xskit_tap_record *rec;
	__u64 cap;
	__u32 n;
	int i;

	if (!ifindex || !snap)
		return;
	if (*ifindex && *ifindex != ctx->ingress_ifindex)
		return;
	rec = bpf_map_lookup_elem(&xskit_tap_buf, &zero);
	if (!rec)
		return;
	cap = *snap;
	xskit_tap_set_done(rec, 0);
#pragma clang loop unroll(disable)
	for (i = 0; i < XSKIT_TAP_MAX / 8; i++) {
		__u64 off = xskit_tap_done(rec);
		void *p;

		if (off > XSKIT_TAP_MAX - 8)
			break;
		/* The bound stays on this register: clang may not fold the
		 * check into one on off + 8, which the verifier would not
		 * carry back to off. */
		asm volatile("" : "+r"(off));
		if (off + 8 > cap)
			break;
		p = data + off;
		if (p + 8 > end)
			break;
		*(__u64 *)(rec->data + off) = *(__u64 *)p;
		xskit_tap_set_done(rec, off + 8);
	}
#pragma clang loop unroll(disable)
	for (i = 0; i < 7; i++) {
		__u64 off = xskit_tap_done(rec);
		void *p;

		if (off > XSKIT_TAP_MAX + 6)
			break;
		asm volatile("" : "+r"(off));
		if (off + 1 > cap)
			break;
		p = data + off;
		if (p + 1 > end)
			break;
		rec->data[off] = *(__u8 *)p;
		xskit_tap_set_done(rec, off + 1);
	}
	n = xskit_tap_done(rec);
	if (n > XSKIT_TAP_MAX + 7)
		return;
	rec->ktime_ns = now;
	rec->len = len;
	rec->ifindex = ctx->ingress_ifindex;
	rec->rx_queue = ctx->rx_queue_index;
	rec->action = action;
	rec->pad = 0;
	if (bpf_ringbuf_output(&xskit_tap_ring, rec, XSKIT_TAP_HEAD + n, 0) < 0) {
		__u64 *lost = bpf_map_lookup_elem(&xskit_tap, &k3);

		if (lost)
			__sync_fetch_and_add(lost, 1);
	}
}

/* Hands the frame and the program's verdict to a capture, if one is on,
 * and returns the verdict. `frags`: the program is frags-aware (loaded
 * with BPF_F_XDP_HAS_FRAGS, 5.18+), so it may ask for the whole length.
 * Call it once, where the program returns. */
static __always_inline __u32 xskit_verdict(struct xdp_md *ctx, __u32 action, int frags)
{
	__u32 zero = 0;
	__u64 *deadline = bpf_map_lookup_elem(&xskit_tap, &zero);
	__u64 now, len;

	if (!deadline || !*deadline)
		return action;
	now = bpf_ktime_get_ns();
	if (now >= *deadline)
		return action;
	if (frags)
		len = bpf_xdp_get_buff_len(ctx);
	else
		len = ctx->data_end - ctx->data;
	xskit_tap_copy(ctx, action, len, now);
	return action;
}

#endif
