//! The RX metadata an XDP program left in front of a received frame (the
//! XDP `data_meta` area, inside the UMEM chunk's headroom): the RSS hash,
//! hardware timestamp and VLAN tag that xskit-xdp's `RxMetaProgram` gets
//! from the driver (Linux 6.3+ metadata kfuncs).
//!
//! The layout is `struct xskit_rx_meta` of `crates/xskit-xdp/bpf/rx_meta.h`
//! (24 bytes ending where the frame's data begins; host byte order):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | timestamp (ns) |
//! | 8 | 4 | hash |
//! | 12 | 4 | rss_type (the kernel's `enum xdp_rss_hash_type`) |
//! | 16 | 2 | vlan_proto |
//! | 18 | 2 | vlan_tci |
//! | 20 | 2 | flags: 1 hash, 2 timestamp, 4 VLAN valid |
//! | 22 | 1 | size, 24 |
//! | 23 | 1 | magic, 0x58 |
//!
//! AF_XDP does not tell user space how long `data_meta` is, so the last two
//! bytes (the size and a magic) say that the program wrote it. Frames from
//! another program, or from a driver without `data_meta` room, read as
//! having none (`None`), unless stale headroom bytes happen to look like
//! the trailer: only trust the metadata on a socket fed by the metadata
//! program.

/// Size of the metadata block in front of the frame.
pub const RX_META_LEN: usize = 24;
const MAGIC: u8 = 0x58;
const HAS_HASH: u16 = 1;
const HAS_TIMESTAMP: u16 = 2;
const HAS_VLAN: u16 = 4;

/// What the NIC hashed to compute the RSS hash: the kernel's
/// `enum xdp_rss_hash_type` (include/net/xdp.h), kept as its bits.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub struct RssHashType(pub u32);

impl RssHashType {
    /// No header fields known (L2 only, or the driver does not say).
    pub const NONE: RssHashType = RssHashType(0);
    /// IPv4 addresses (`XDP_RSS_L3_IPV4`).
    pub const L3_IPV4: u32 = 1 << 0;
    /// IPv6 addresses (`XDP_RSS_L3_IPV6`).
    pub const L3_IPV6: u32 = 1 << 1;
    /// IPv6 extension headers (`XDP_RSS_L3_DYNHDR`).
    pub const L3_DYNHDR: u32 = 1 << 2;
    /// Layer-4 ports of some protocol (`XDP_RSS_L4`; veth's
    /// `XDP_RSS_TYPE_L4_ANY` is this bit alone).
    pub const L4: u32 = 1 << 3;
    /// TCP ports (`XDP_RSS_L4_TCP`).
    pub const L4_TCP: u32 = 1 << 4;
    /// UDP ports (`XDP_RSS_L4_UDP`).
    pub const L4_UDP: u32 = 1 << 5;
    /// SCTP ports (`XDP_RSS_L4_SCTP`).
    pub const L4_SCTP: u32 = 1 << 6;
    /// IPsec SPI (`XDP_RSS_L4_IPSEC`).
    pub const L4_IPSEC: u32 = 1 << 7;
    /// ICMP (`XDP_RSS_L4_ICMP`).
    pub const L4_ICMP: u32 = 1 << 8;

    /// True if the hash covers layer-4 fields (ports).
    pub fn is_l4(self) -> bool {
        self.0 & Self::L4 != 0
    }
}

/// The RX hash and what it covers.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub struct RxHash {
    /// The hash value.
    pub value: u32,
    /// What it was computed over.
    pub kind: RssHashType,
}

/// A VLAN tag the driver took off the frame (hardware VLAN offload): the
/// frame's data no longer carries it.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub struct Vlan {
    /// Tag protocol: 0x8100 (802.1Q) or 0x88a8 (802.1ad).
    pub proto: u16,
    /// Tag control information: priority (3 bits), DEI (1), VLAN id (12).
    pub tci: u16,
}

impl Vlan {
    /// The VLAN id (the TCI's low 12 bits).
    pub fn id(self) -> u16 {
        self.tci & 0x0fff
    }
}

/// The metadata of one received frame; each field `None` where the
/// program could not get it (driver without the kfunc, no tag, no
/// timestamp: a timestamp of 0 is reported as `None`).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Hash)]
pub struct RxMetadata {
    /// The RX (RSS) hash.
    pub hash: Option<RxHash>,
    /// The hardware RX timestamp, nanoseconds (the NIC's clock).
    pub timestamp: Option<u64>,
    /// The offloaded VLAN tag.
    pub vlan: Option<Vlan>,
}

impl RxMetadata {
    /// Reads the metadata from `head`, the chunk's bytes before the frame's
    /// data: its last [`RX_META_LEN`] bytes. `None` if `head` is shorter
    /// or the block's trailer (size and magic) is not there.
    pub fn from_head(head: &[u8]) -> Option<RxMetadata> {
        let start = head.len().checked_sub(RX_META_LEN)?;
        let b: &[u8; RX_META_LEN] = head[start..].try_into().ok()?;
        if usize::from(b[22]) != RX_META_LEN || b[23] != MAGIC {
            return None;
        }
        let u16_at = |o: usize| u16::from_ne_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let flags = u16_at(20);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        let timestamp = u64::from_ne_bytes(ts);
        Some(RxMetadata {
            hash: (flags & HAS_HASH != 0).then(|| RxHash {
                value: u32_at(8),
                kind: RssHashType(u32_at(12)),
            }),
            timestamp: (flags & HAS_TIMESTAMP != 0 && timestamp != 0).then_some(timestamp),
            vlan: (flags & HAS_VLAN != 0).then(|| Vlan {
                proto: u16_at(16),
                tci: u16_at(18),
            }),
        })
    }
}

impl crate::Umem {
    /// The RX metadata an XDP program wrote in front of `frame`
    /// ([`crate::RxMetadata::from_head`] of its chunk's headroom); `None`
    /// if there is none. Ask it of a packet's first frame only: the
    /// headroom of a multi-buffer packet's later frames holds whatever an
    /// earlier use of the chunk left there.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn rx_metadata(&self, frame: &crate::Frame) -> Option<RxMetadata> {
        self.check(frame);
        // SAFETY: the token proves exclusive ownership of the chunk, and the
        // borrow of `frame` keeps it while the slice lives (it ends here).
        RxMetadata::from_head(unsafe { self.head_before(frame.addr()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(flags: u16, ts: u64, hash: u32, kind: u32, proto: u16, tci: u16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&ts.to_ne_bytes());
        b.extend_from_slice(&hash.to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&proto.to_ne_bytes());
        b.extend_from_slice(&tci.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&[24, 0x58]);
        b
    }

    #[test]
    fn reads_every_field_the_flags_mark_valid() {
        let mut head = vec![0xee; 100];
        head.extend(block(7, 123, 0xdead_beef, 8, 0x8100, 0x2064));
        let m = RxMetadata::from_head(&head).unwrap();
        assert_eq!(
            m.hash,
            Some(RxHash {
                value: 0xdead_beef,
                kind: RssHashType(8)
            })
        );
        assert!(m.hash.unwrap().kind.is_l4());
        assert_eq!(m.timestamp, Some(123));
        assert_eq!(
            m.vlan,
            Some(Vlan {
                proto: 0x8100,
                tci: 0x2064
            })
        );
        assert_eq!(m.vlan.unwrap().id(), 100);
    }

    #[test]
    fn fields_not_flagged_and_a_zero_timestamp_are_absent() {
        let m = RxMetadata::from_head(&block(0, 5, 1, 8, 0x8100, 1)).unwrap();
        assert_eq!(m, RxMetadata::default());
        let m = RxMetadata::from_head(&block(HAS_TIMESTAMP | HAS_HASH, 0, 9, 0, 0, 0)).unwrap();
        assert_eq!(m.timestamp, None);
        assert_eq!(m.hash.unwrap().kind, RssHashType::NONE);
    }

    #[test]
    fn no_metadata_without_the_trailer_or_room() {
        assert_eq!(RxMetadata::from_head(&[]), None);
        let b = block(7, 1, 1, 1, 1, 1);
        assert_eq!(RxMetadata::from_head(&b[1..]), None, "too short");
        let mut bad = b.clone();
        bad[23] = 0;
        assert_eq!(RxMetadata::from_head(&bad), None, "magic");
        let mut bad = b;
        bad[22] = 32;
        assert_eq!(RxMetadata::from_head(&bad), None, "size");
        assert_eq!(RxMetadata::from_head(&[0u8; 256]), None, "zeroed headroom");
    }
}
