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

    #[test]
    fn echo_request_to_reply() {
        // ICMPv6: type 128 -> 129 lowers the sum by 0x0100.
        assert_eq!(replace_u16(0x1234, 0x8000, 0x8100), 0x1134);
        // ICMPv4: type 8 -> 0 raises it by 0x0800.
        assert_eq!(replace_u16(0x1234, 0x0800, 0x0000), 0x1a34);
    }
}
