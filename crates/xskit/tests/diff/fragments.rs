//! Echo requests cut into IP fragments that the kernel can reassemble:
//! in order, reversed, overlapping, in three pieces.

use super::frame::Built;

/// Pieces of the ICMP message of `b` (an unfragmented, option-free request)
/// as separate frames: `cuts` are the offsets (multiples of 8) where a new
/// fragment starts; `order` is the sending order of the pieces; `overlap`
/// makes each later piece start 8 bytes early (the kernel drops
/// overlapping fragments, RFC 5722). IP identification `id`.
pub fn split(b: &Built, cuts: &[usize], order: &[usize], overlap: bool, id: u16) -> Vec<Vec<u8>> {
    let msg = &b.bytes[b.l4..];
    let mut starts = vec![0];
    starts.extend(cuts.iter().copied().filter(|&c| c > 0 && c < msg.len()));
    let pieces: Vec<(usize, usize, bool)> = starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let end = starts.get(i + 1).copied().unwrap_or(msg.len());
            let s = if overlap && s >= 8 { s - 8 } else { s };
            (s, end, i + 1 < starts.len())
        })
        .collect();
    order
        .iter()
        .filter_map(|&i| pieces.get(i))
        .map(|&(s, e, more)| {
            if b.v6 {
                piece_v6(b, &msg[s..e], s, more, id)
            } else {
                piece_v4(b, &msg[s..e], s, more, id)
            }
        })
        .collect()
}

fn piece_v4(b: &Built, part: &[u8], off: usize, more: bool, id: u16) -> Vec<u8> {
    let mut f = b.bytes[..b.l3 + 20].to_vec();
    let ip = b.l3;
    f[ip] = 0x45;
    f[ip + 2..ip + 4].copy_from_slice(&((20 + part.len()) as u16).to_be_bytes());
    f[ip + 4..ip + 6].copy_from_slice(&id.to_be_bytes());
    let frag = (off / 8) as u16 | if more { 0x2000 } else { 0 };
    f[ip + 6..ip + 8].copy_from_slice(&frag.to_be_bytes());
    f[ip + 10..ip + 12].fill(0);
    let mut sum: u32 = f[ip..ip + 20]
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[ip + 10..ip + 12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(part);
    f
}

fn piece_v6(b: &Built, part: &[u8], off: usize, more: bool, id: u16) -> Vec<u8> {
    let mut f = b.bytes[..b.l3 + 40].to_vec();
    let ip = b.l3;
    f[ip + 4..ip + 6].copy_from_slice(&((8 + part.len()) as u16).to_be_bytes());
    f[ip + 6] = 44;
    let frag = (off as u16) | more as u16;
    f.extend_from_slice(&[58, 0]);
    f.extend_from_slice(&frag.to_be_bytes());
    f.extend_from_slice(&(0x7800_0000u32 | id as u32).to_be_bytes());
    f.extend_from_slice(part);
    f
}
