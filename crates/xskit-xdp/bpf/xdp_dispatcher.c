/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* xskit's multi-program dispatcher (src/multiprog.rs), written to the
 * protocol of libxdp's version 2 dispatcher (and, built by
 * xdp_dispatcher_v3.c with XSKIT_DISP_V3, version 3's) so that libxdp's
 * tools (xdp-loader, xdp-filter, ...) recognise it and can add their
 * programs:
 *
 * - the program is named xdp_dispatcher and has one map, its .rodata,
 *   frozen and read-only to programs, holding only `xskit_disp_config`
 *   (124 bytes, or 128 in version 3, laid out as dispatcher.rs
 *   documents: libxdp wants exactly its own version's size);
 * - it calls the global functions prog0 .. prog9 in turn, up to the
 *   number of slots in use; a component (an extension program) replaces
 *   each; after slot i the next one runs only if the bit of the returned
 *   action is set in chain_call_actions[i], else that action is the
 *   verdict; past the last slot in use the verdict is XDP_PASS.
 *
 * A stub nobody replaced returns 31, a bit every chain mask has, so an
 * empty slot never ends the chain. Each stub calls bpf_xdp_adjust_tail()
 * with a delta of 0, which changes nothing but marks it as a function
 * that may change packet data: kernels that check (6.13, 6.12.25) then let
 * components that do change it replace the stub. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XSKIT_DISP_SLOTS 10
#define XSKIT_DISP_EMPTY_SLOT 31

struct xskit_disp_config {
	__u8 magic;             /* 236 */
	__u8 version;           /* 2 or 3 */
	__u8 slots_in_use;
	__u8 frags;             /* built for frags-aware components */
	__u32 chain[XSKIT_DISP_SLOTS];
	__u32 priority[XSKIT_DISP_SLOTS];
	__u32 flags[XSKIT_DISP_SLOTS];
#ifdef XSKIT_DISP_V3
	__u8 devbound;          /* bound to a device: never, for xskit's */
#endif
};

/* const: placed in .rodata, which the loader freezes, so the verifier
 * prunes the slots not in use; volatile: the compiler must read the value
 * the loader wrote, not assume the zeros below. */
volatile const struct xskit_disp_config xskit_disp_config = {};

#define XSKIT_STUB(n)                                                         \
	__attribute__((noinline)) int prog##n(struct xdp_md *ctx)             \
	{                                                                     \
		volatile int verdict = XSKIT_DISP_EMPTY_SLOT;                 \
                                                                              \
		if (!ctx)                                                     \
			return XDP_ABORTED;                                   \
		bpf_xdp_adjust_tail(ctx, 0);                                  \
		return verdict;                                               \
	}

XSKIT_STUB(0)
XSKIT_STUB(1)
XSKIT_STUB(2)
XSKIT_STUB(3)
XSKIT_STUB(4)
XSKIT_STUB(5)
XSKIT_STUB(6)
XSKIT_STUB(7)
XSKIT_STUB(8)
XSKIT_STUB(9)

#define XSKIT_SLOT(n)                                                         \
	if (in_use <= n)                                              \
		return XDP_PASS;                                              \
	verdict = prog##n(ctx);                                               \
	if (!((1U << verdict) & xskit_disp_config.chain[n]))                  \
		return verdict;

SEC("xdp")
int xdp_dispatcher(struct xdp_md *ctx)
{
	__u8 in_use = xskit_disp_config.slots_in_use;
	int verdict;

	XSKIT_SLOT(0)
	XSKIT_SLOT(1)
	XSKIT_SLOT(2)
	XSKIT_SLOT(3)
	XSKIT_SLOT(4)
	XSKIT_SLOT(5)
	XSKIT_SLOT(6)
	XSKIT_SLOT(7)
	XSKIT_SLOT(8)
	XSKIT_SLOT(9)
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
