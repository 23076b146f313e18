//! Incremental Internet checksum update (RFC 1624, equation 3).
//!
//! smoltcp recomputes checksums over whole packets; changing one 16-bit word
//! of an echo request (its type) only needs this constant-time update, as the
//! AF_XDP lesson's `csum_replace2` does.

/// Returns the checksum field value after the 16-bit word `old` covered by
/// it changed to `new`: HC' = ~(~HC + ~m + m').
pub fn replace_u16(checksum: u16, old: u16, new: u16) -> u16 {
    let mut sum = (!checksum as u32) + (!old as u32) + new as u32;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// Returns the checksum field value after the bytes `old` covered by it
/// (an even count, starting on a 16-bit boundary, e.g. an address in the
/// pseudo-header) changed to `new` of the same length: equation 3 applied
/// word by word. Equal slices leave the checksum as it was.
pub fn replace_bytes(checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    if old == new {
        return checksum;
    }
    old.chunks_exact(2)
        .zip(new.chunks_exact(2))
        .fold(checksum, |sum, (o, n)| {
            replace_u16(
                sum,
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([n[0], n[1]]),
            )
        })
}

/// Where a UDP frame's checksum lies, for a TX checksum offload request:
/// `start` is the UDP header's offset in the frame, the field is `offset`
/// bytes into it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct UdpChecksumAt {
    /// Offset of the UDP header from the frame's start.
    pub start: u16,
    /// Offset of the checksum field in the UDP header (6).
    pub offset: u16,
}

/// Prepares an Ethernet + IPv4/IPv6 + UDP `frame` for a checksum offload
/// (the kernel's `CHECKSUM_PARTIAL`): its UDP checksum field gets the
/// pseudo-header's one's complement sum, folded and not inverted, which
/// the device (or the kernel) completes with the sum of the UDP header and
/// payload. `None`, leaving the frame as it was, if it is not UDP over IP
/// without IPv6 extension headers.
pub fn udp_partial(frame: &mut [u8]) -> Option<UdpChecksumAt> {
    const ETH: usize = 14;
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    let (l4, addrs, proto) = match ethertype {
        0x0800 => {
            let ihl = usize::from(frame.get(ETH)? & 0x0f) * 4;
            (ETH + ihl, ETH + 12..ETH + 20, *frame.get(ETH + 9)?)
        }
        0x86dd => (ETH + 40, ETH + 8..ETH + 40, *frame.get(ETH + 6)?),
        _ => return None,
    };
    if proto != 17 || frame.len() < l4 + 8 {
        return None;
    }
    let udp_len = u16::from_be_bytes([frame[l4 + 4], frame[l4 + 5]]);
    let mut sum: u32 = frame[addrs]
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    sum += u32::from(proto) + u32::from(udp_len);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    frame[l4 + 6..l4 + 8].copy_from_slice(&(sum as u16).to_be_bytes());
    Some(UdpChecksumAt {
        start: u16::try_from(l4).ok()?,
        offset: 6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One's complement sum over big-endian words, as a reference.
    fn full(words: &[u16]) -> u16 {
        let mut sum: u32 = words.iter().map(|&w| w as u32).sum();
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn matches_a_full_recomputation() {
        let mut state = 0x1234_5678u32;
        for _ in 0..10_000 {
            let mut words: Vec<u16> = (0..8)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (state >> 8) as u16
                })
                .collect();
            let before = full(&words);
            let new = (state >> 3) as u16;
            let old = std::mem::replace(&mut words[3], new);
            let after = full(&words);
            let inc = replace_u16(before, old, new);
            // 0x0000 and 0xffff are the same value in one's complement.
            assert!(
                inc == after || (inc ^ after) == 0xffff && (inc == 0 || inc == 0xffff),
                "{inc:#x} vs {after:#x}"
            );
        }
    }

    #[test]
    fn replacing_many_words_matches_a_full_recomputation() {
        let mut state = 0x9abc_def0u32;
        for _ in 0..2_000 {
            let mut next = || {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 8) as u16
            };
            let mut words: Vec<u16> = (0..16).map(|_| next()).collect();
            let before = full(&words);
            let new: Vec<u16> = (0..8).map(|_| next()).collect();
            let old: Vec<u16> = words[4..12].to_vec();
            words[4..12].copy_from_slice(&new);
            let bytes = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
            let inc = replace_bytes(before, &bytes(&old), &bytes(&new));
            let after = full(&words);
            assert!(
                inc == after || (inc ^ after) == 0xffff && (inc == 0 || inc == 0xffff),
                "{inc:#x} vs {after:#x}"
            );
        }
        assert_eq!(replace_bytes(0x1234, &[1, 2], &[1, 2]), 0x1234);
    }

    /// The offload's arithmetic: summing from the UDP header with the
    /// pseudo-header sum in the field gives the full checksum.
    fn complete(frame: &[u8], at: UdpChecksumAt) -> u16 {
        let words: Vec<u16> = frame[usize::from(at.start)..]
            .chunks(2)
            .map(|w| u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))
            .collect();
        full(&words)
    }

    #[test]
    fn udp_partial_leaves_what_the_device_completes_to_the_real_checksum() {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let v4 = |a| IpAddr::V4(Ipv4Addr::new(198, 18, 0, a));
        let v6 = |a| IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, a));
        for (src, dst, len) in [(v4(1), v4(2), 18), (v4(1), v4(2), 33), (v6(1), v6(2), 7)] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let mut f = crate::wire::build::udp([2; 6], [4; 6], src, dst, 1024, 9, &payload);
            let start = if src.is_ipv4() { 34 } else { 54 };
            let real = u16::from_be_bytes([f[start + 6], f[start + 7]]);
            let at = udp_partial(&mut f).unwrap();
            assert_eq!(
                at,
                UdpChecksumAt {
                    start: start as u16,
                    offset: 6
                }
            );
            assert_ne!(u16::from_be_bytes([f[start + 6], f[start + 7]]), real);
            assert_eq!(complete(&f, at), real, "{src} {len}");
        }
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(udp_partial(&mut arp), None);
        assert_eq!(udp_partial(&mut [0u8; 10]), None);
    }

    #[test]
    fn echo_request_to_reply() {
        // ICMPv6: type 128 -> 129 lowers the sum by 0x0100.
        assert_eq!(replace_u16(0x1234, 0x8000, 0x8100), 0x1134);
        // ICMPv4: type 8 -> 0 raises it by 0x0800.
        assert_eq!(replace_u16(0x1234, 0x0800, 0x0000), 0x1a34);
    }
}
