//! Incremental Internet checksum update (RFC 1624, equation 3).
//!
//! smoltcp recomputes checksums over whole packets; changing one 16-bit word
//! of an echo request (its type) only needs this constant-time update, as the
//! seed's `csum_replace2` does.

/// Returns the checksum field value after the 16-bit word `old` covered by
/// it changed to `new`: HC' = ~(~HC + ~m + m').
pub fn replace_u16(checksum: u16, old: u16, new: u16) -> u16 {
    let mut sum = (!checksum as u32) + (!old as u32) + new as u32;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
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
    fn echo_request_to_reply() {
        // ICMPv6: type 128 -> 129 lowers the sum by 0x0100.
        assert_eq!(replace_u16(0x1234, 0x8000, 0x8100), 0x1134);
        // ICMPv4: type 8 -> 0 raises it by 0x0800.
        assert_eq!(replace_u16(0x1234, 0x0800, 0x0000), 0x1a34);
    }
}
