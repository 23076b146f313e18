//! The `#[repr(C)]` structs xskit shares with its BPF programs through
//! maps, each the twin of a struct in `bpf/`. aya reads and writes map
//! entries as [`Pod`] values, which is an unsafe promise about the layout:
//! every such promise is made here, next to the layout it is about.

use aya::Pod;

/// Packets and bytes, as the programs count them (`struct xskit_counter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Counter {
    /// Frames.
    pub packets: u64,
    /// Bytes of those frames.
    pub bytes: u64,
}

// SAFETY: two u64s with no padding: any bit pattern is a valid value.
unsafe impl Pod for Counter {}

impl std::ops::AddAssign for Counter {
    fn add_assign(&mut self, o: Counter) {
        self.packets += o.packets;
        self.bytes += o.bytes;
    }
}

/// `struct gen_config` of bpf/xdp_gen.c.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GenConfig {
    pub(crate) base_port: u16,
    pub(crate) flows: u16,
}

// SAFETY: two u16s, no padding: any bit pattern is a valid value.
unsafe impl Pod for GenConfig {}

/// `struct rule` of bpf/xdp_filter.c.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct RuleValue {
    pub(crate) id: u32,
    pub(crate) deny: u16,
    pub(crate) plen: u16,
}

// SAFETY: u32, u16, u16: no padding; any bit pattern is a valid value.
unsafe impl Pod for RuleValue {}

/// `struct port_key` of bpf/xdp_filter.c (and of bpf/xdp_redirect.c,
/// where `dir` is padding, always 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct PortKey {
    pub(crate) proto: u8,
    pub(crate) dir: u8,
    pub(crate) port: u16,
}

// SAFETY: u8, u8, u16: no padding; any bit pattern is a valid value.
unsafe impl Pod for PortKey {}

/// `struct mac_key` of bpf/xdp_filter.c.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct MacKey {
    pub(crate) addr: [u8; 6],
    pub(crate) dir: u8,
    pub(crate) pad: u8,
}

// SAFETY: eight u8s: no padding; any bit pattern is a valid value.
unsafe impl Pod for MacKey {}
