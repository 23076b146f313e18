//! The kernel's AF_XDP structures (linux/if_xdp.h) as this crate reads them,
//! with the older layouts older kernels return converted to the current one.
//!
//! Everything here is pure: it takes the bytes and the length a `getsockopt`
//! returned and decides what they mean, so the old-kernel paths are unit
//! tested by feeding the old sizes (no such kernel can be booted to test them).

use crate::error::{Error, Result};

/// One ring's offsets inside its mapping (`struct xdp_ring_offset`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct RingOffset {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

/// `struct xdp_mmap_offsets` (5.4 and later: every ring has a flags word).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub(crate) struct MmapOffsets {
    pub rx: RingOffset,
    pub tx: RingOffset,
    pub fr: RingOffset,
    pub cr: RingOffset,
}

/// Size of the current layout: four rings of four `u64`.
pub(crate) const MMAP_OFFSETS_LEN: usize = 4 * 4 * 8;
/// Size of the layout before 5.4 (`xdp_mmap_offsets_v1`): no flags field.
pub(crate) const MMAP_OFFSETS_V1_LEN: usize = 4 * 3 * 8;

fn u64_at(bytes: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
    u64::from_ne_bytes(b)
}

impl MmapOffsets {
    /// Decodes what `getsockopt(XDP_MMAP_OFFSETS)` wrote: `len` bytes of
    /// `bytes`. Kernels before 5.4 write the v1 layout without `flags`; as
    /// libxdp does, the flags word is then placed right after the consumer
    /// index (where those kernels would have had nothing; it stays zero, so
    /// need_wakeup reads as never set, which is true of such kernels).
    pub fn decode(bytes: &[u8], len: usize) -> Result<MmapOffsets> {
        let len = len.min(bytes.len());
        let ring = |fields: usize, r: usize| -> RingOffset {
            let base = r * fields;
            let producer = u64_at(bytes, base);
            let consumer = u64_at(bytes, base + 1);
            let desc = u64_at(bytes, base + 2);
            let flags = if fields == 4 {
                u64_at(bytes, base + 3)
            } else {
                consumer + 4
            };
            RingOffset {
                producer,
                consumer,
                desc,
                flags,
            }
        };
        let fields = match len {
            MMAP_OFFSETS_LEN => 4,
            MMAP_OFFSETS_V1_LEN => 3,
            _ => {
                return Err(Error::config(format!(
                    "the kernel returned {len} bytes of XDP_MMAP_OFFSETS; this crate knows the \
                     layouts of {MMAP_OFFSETS_V1_LEN} bytes (before Linux 5.4) and {MMAP_OFFSETS_LEN} bytes"
                )))
            }
        };
        Ok(MmapOffsets {
            rx: ring(fields, 0),
            tx: ring(fields, 1),
            fr: ring(fields, 2),
            cr: ring(fields, 3),
        })
    }
}

/// Size of `struct xdp_statistics` before 5.9: three counters.
pub(crate) const STATISTICS_V1_LEN: usize = 3 * 8;
/// Size with the three ring counters added in 5.9.
pub(crate) const STATISTICS_LEN: usize = 6 * 8;

/// The kernel's per-socket counters (`XDP_STATISTICS`).
///
/// The last three appeared in Linux 5.9; on older kernels they are `None`
/// (unknown), not zero. The default is all zeros (known), the start of a sum.
/// With the `serde` feature it serializes with these field names (an
/// unknown counter as `null`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Statistics {
    /// Frames dropped for reasons other than invalid descriptors (no room on
    /// the RX ring counts here too before 5.9).
    pub rx_dropped: u64,
    /// Invalid descriptors the kernel met on the RX path.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors seen on the TX ring (a zero length, an address
    /// outside the UMEM). In copy mode the kernel still completes such a
    /// frame; in zero-copy it skips it and it is never completed. This
    /// crate never queues a zero-length frame.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full (5.9+).
    pub rx_ring_full: Option<u64>,
    /// Times the FILL ring was empty when a frame arrived (5.9+).
    pub rx_fill_ring_empty_descs: Option<u64>,
    /// Times the TX ring was empty when the kernel looked for work (5.9+).
    pub tx_ring_empty_descs: Option<u64>,
}

impl Default for Statistics {
    fn default() -> Self {
        Statistics {
            rx_dropped: 0,
            rx_invalid_descs: 0,
            tx_invalid_descs: 0,
            rx_ring_full: Some(0),
            rx_fill_ring_empty_descs: Some(0),
            tx_ring_empty_descs: Some(0),
        }
    }
}

impl Statistics {
    /// Decodes what `getsockopt(XDP_STATISTICS)` wrote: `len` bytes.
    pub(crate) fn decode(bytes: &[u8], len: usize) -> Result<Statistics> {
        let len = len.min(bytes.len());
        if len < STATISTICS_V1_LEN {
            return Err(Error::config(format!(
                "the kernel returned {len} bytes of XDP_STATISTICS, fewer than the {STATISTICS_V1_LEN} of its oldest layout"
            )));
        }
        let extra = |i: usize| (len >= STATISTICS_LEN).then(|| u64_at(bytes, i));
        Ok(Statistics {
            rx_dropped: u64_at(bytes, 0),
            rx_invalid_descs: u64_at(bytes, 1),
            tx_invalid_descs: u64_at(bytes, 2),
            rx_ring_full: extra(3),
            rx_fill_ring_empty_descs: extra(4),
            tx_ring_empty_descs: extra(5),
        })
    }

    /// Adds another socket's counters (unknown stays unknown).
    pub fn add(&mut self, o: &Statistics) {
        let add = |a: Option<u64>, b: Option<u64>| Some(a? + b?);
        self.rx_dropped += o.rx_dropped;
        self.rx_invalid_descs += o.rx_invalid_descs;
        self.tx_invalid_descs += o.tx_invalid_descs;
        self.rx_ring_full = add(self.rx_ring_full, o.rx_ring_full);
        self.rx_fill_ring_empty_descs =
            add(self.rx_fill_ring_empty_descs, o.rx_fill_ring_empty_descs);
        self.tx_ring_empty_descs = add(self.tx_ring_empty_descs, o.tx_ring_empty_descs);
    }
}

impl std::ops::AddAssign<&Statistics> for Statistics {
    fn add_assign(&mut self, o: &Statistics) {
        self.add(o);
    }
}

/// `struct sockaddr_xdp`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SockaddrXdp {
    pub family: u16,
    pub flags: u16,
    pub ifindex: u32,
    pub queue_id: u32,
    pub shared_umem_fd: u32,
}

/// `struct xdp_umem_reg` as of 6.8 (`tx_metadata_len` last). Its size, 32
/// bytes, is also the padded size of the 5.4 layout, so every kernel since
/// reads it; `tx_metadata_len` stays zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UmemReg {
    pub addr: u64,
    pub len: u64,
    pub chunk_size: u32,
    pub headroom: u32,
    pub flags: u32,
    pub tx_metadata_len: u32,
}

/// `struct xdp_options`.
pub(crate) const XDP_OPTIONS_ZEROCOPY: u32 = 1;

/// `SOL_XDP` option 9 (Linux 6.17; not in `libc` yet): how many frames one
/// copy-mode TX wake-up (`sendto`) may send, an `unsigned int`. The kernel
/// takes it once the socket has a TX ring, before or after the bind, and
/// refuses a value outside [`TX_BUDGET_MIN`] to the TX ring's size with
/// EACCES; older kernels refuse the unknown option with ENOPROTOOPT.
pub(crate) const XDP_MAX_TX_SKB_BUDGET: i32 = 9;

/// The smallest TX budget ([`XskConfig::tx_budget`](crate::XskConfig::tx_budget))
/// the kernel takes, which is also its default: frames one copy-mode
/// `sendto` sends (`TX_BATCH_SIZE` in the kernel's net/xdp/xsk.c).
pub const TX_BUDGET_MIN: u32 = 32;

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(words: &[u64]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    #[test]
    fn current_mmap_offsets_layout_is_read_field_by_field() {
        let words: Vec<u64> = (0..16).map(|i| 100 + i).collect();
        let b = bytes_of(&words);
        let o = MmapOffsets::decode(&b, b.len()).unwrap();
        assert_eq!(
            o.rx,
            RingOffset {
                producer: 100,
                consumer: 101,
                desc: 102,
                flags: 103
            }
        );
        assert_eq!(o.cr.flags, 115);
        assert_eq!(std::mem::size_of::<MmapOffsets>(), MMAP_OFFSETS_LEN);
    }

    #[test]
    fn pre_5_4_mmap_offsets_get_a_flags_word_after_the_consumer() {
        // v1: producer, consumer, desc per ring, 12 words.
        let words = [0, 64, 128, 0, 64, 192, 0, 64, 256, 0, 64, 320];
        let mut b = bytes_of(&words);
        // The caller's buffer is the new size; the kernel wrote 96 bytes.
        b.resize(MMAP_OFFSETS_LEN, 0xff);
        let o = MmapOffsets::decode(&b, MMAP_OFFSETS_V1_LEN).unwrap();
        assert_eq!(
            o.tx,
            RingOffset {
                producer: 0,
                consumer: 64,
                desc: 192,
                flags: 68
            }
        );
        assert_eq!(o.cr.desc, 320);
        assert_eq!(o.fr.flags, 68);
    }

    #[test]
    fn unknown_mmap_offsets_lengths_are_errors_not_guesses() {
        let b = vec![0u8; MMAP_OFFSETS_LEN];
        for len in [0, 8, 95, 97, 127] {
            let e = MmapOffsets::decode(&b, len).unwrap_err();
            assert!(e.to_string().contains("XDP_MMAP_OFFSETS"), "{e}");
        }
    }

    #[test]
    fn pre_5_9_statistics_leave_ring_counters_unknown() {
        let mut b = bytes_of(&[7, 8, 9]);
        b.resize(STATISTICS_LEN, 0xee);
        let s = Statistics::decode(&b, STATISTICS_V1_LEN).unwrap();
        assert_eq!(
            (s.rx_dropped, s.rx_invalid_descs, s.tx_invalid_descs),
            (7, 8, 9)
        );
        assert_eq!(s.rx_ring_full, None);
        assert_eq!(s.rx_fill_ring_empty_descs, None);
        assert_eq!(s.tx_ring_empty_descs, None);
        let b = bytes_of(&[1, 2, 3, 4, 5, 6]);
        let s = Statistics::decode(&b, b.len()).unwrap();
        assert_eq!(s.rx_ring_full, Some(4));
        assert_eq!(s.tx_ring_empty_descs, Some(6));
        assert!(Statistics::decode(&b, 16).is_err());
    }

    #[test]
    fn summing_statistics_keeps_unknown_unknown() {
        let known = Statistics {
            rx_ring_full: Some(2),
            ..Default::default()
        };
        let unknown = Statistics {
            rx_ring_full: None,
            ..Default::default()
        };
        let mut s = known;
        s += &known;
        assert_eq!(s.rx_ring_full, Some(4));
        s += &unknown;
        assert_eq!(s.rx_ring_full, None);
    }

    #[test]
    fn struct_sizes_match_the_kernel_headers() {
        assert_eq!(std::mem::size_of::<SockaddrXdp>(), 16);
        assert_eq!(std::mem::size_of::<UmemReg>(), 32);
        assert_eq!(std::mem::size_of::<RingOffset>(), 32);
    }
}
