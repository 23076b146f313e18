//! The zero-copy suite: the socket layer and the commands on NICs that bind
//! in zero-copy mode, run by `scripts/vm-test --zero-copy` in a guest with
//! two emulated NICs of one model joined by a QEMU hub (igb, or virtio-net
//! with `iommu_platform=on`): what one sends, the other receives.
//!
//! Built only with the `zero-copy-tests` feature. The runner names the two
//! interfaces in `XSKIT_ZC_NICS` ("A B", both up, one queue each, carrier
//! on). Every test asserts that the kernel reports its bind as zero-copy
//! (XDP_OPTIONS through `Socket::zero_copy`, or the commands' report of
//! it), so a silent fallback to copy mode fails. `XSKIT_ZC_FORCE_COPY=1`
//! binds in copy mode instead, the mutation check: then every test must
//! fail on that assertion.
//!
//! Every test is `#[ignore]`d: the host's `cargo test --all-features` lists
//! them as ignored, never as passed; `scripts/vm-test --zero-copy` runs them
//! with `--ignored`. Run without `XSKIT_ZC_NICS`, anywhere, a test fails.
//!
//! Modules: `nics` (the NIC pair and the helpers every test uses),
//! `socket` (the socket layer), `commands` (echo and the xdpsock modes),
//! `faults` (a NIC removed or downed under a command, a bind under an
//! attached program).

#[path = "../common/mod.rs"]
mod common;

mod commands;
mod faults;
mod features;
mod nics;
mod socket;
