//! Raw echo-request frames for the differential test: built byte by byte so
//! that any field can hold any value, with checksums recomputed from the
//! lengths the headers themselves declare.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The IP part of a request.
#[derive(Clone, Debug)]
pub enum Ip {
    /// IPv4 with `options` (a multiple of 4 bytes) after the fixed header.
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        frag: u16,
        options: Vec<u8>,
    },
    /// IPv6 with extension headers `ext` (their first next-header value in
    /// `first`, each header's own next-header byte already set).
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop: u8,
        first: u8,
        ext: Vec<u8>,
    },
}

/// An echo request to build.
#[derive(Clone, Debug)]
pub struct Spec {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// TPID and TCI of each VLAN tag, outermost first.
    pub tags: Vec<(u16, u16)>,
    pub ip: Ip,
    pub icmp_type: u8,
    pub code: u8,
    pub data: Vec<u8>,
}

/// A built frame and where its parts are.
#[derive(Clone, Debug)]
pub struct Built {
    pub bytes: Vec<u8>,
    /// Offset of the IP header.
    pub l3: usize,
    /// Offset of the ICMP header.
    pub l4: usize,
    pub v6: bool,
}

impl Spec {
    /// A plain request from `src` to `dst` with `data`.
    pub fn v4(mac: ([u8; 6], [u8; 6]), src: Ipv4Addr, dst: Ipv4Addr, data: Vec<u8>) -> Spec {
        Spec {
            dst_mac: mac.1,
            src_mac: mac.0,
            tags: vec![],
            ip: Ip::V4 {
                src,
                dst,
                ttl: 64,
                frag: 0x4000,
                options: vec![],
            },
            icmp_type: 8,
            code: 0,
            data,
        }
    }

    /// A plain ICMPv6 request.
    pub fn v6(mac: ([u8; 6], [u8; 6]), src: Ipv6Addr, dst: Ipv6Addr, data: Vec<u8>) -> Spec {
        Spec {
            dst_mac: mac.1,
            src_mac: mac.0,
            tags: vec![],
            ip: Ip::V6 {
                src,
                dst,
                hop: 64,
                first: 58,
                ext: vec![],
            },
            icmp_type: 128,
            code: 0,
            data,
        }
    }

    /// The frame, tagged with `tag` as identifier and sequence number.
    pub fn build(&self, tag: (u16, u16)) -> Built {
        let mut f = Vec::with_capacity(128 + self.data.len());
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        for (tpid, tci) in &self.tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        let mut icmp = vec![self.icmp_type, self.code, 0, 0];
        icmp.extend_from_slice(&tag.0.to_be_bytes());
        icmp.extend_from_slice(&tag.1.to_be_bytes());
        icmp.extend_from_slice(&self.data);
        let l3 = f.len() + 2;
        let (l4, v6) = match &self.ip {
            Ip::V4 {
                src,
                dst,
                ttl,
                frag,
                options,
            } => {
                f.extend_from_slice(&0x0800u16.to_be_bytes());
                let hl = 20 + options.len();
                let total = (hl + icmp.len()) as u16;
                f.push(0x40 | (hl / 4) as u8);
                f.push(0);
                f.extend_from_slice(&total.to_be_bytes());
                f.extend_from_slice(&0x1234u16.to_be_bytes());
                f.extend_from_slice(&frag.to_be_bytes());
                f.extend_from_slice(&[*ttl, 1, 0, 0]);
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
                f.extend_from_slice(options);
                (l3 + hl, false)
            }
            Ip::V6 {
                src,
                dst,
                hop,
                first,
                ext,
            } => {
                f.extend_from_slice(&0x86ddu16.to_be_bytes());
                f.extend_from_slice(&[0x60, 0, 0, 0]);
                f.extend_from_slice(&((ext.len() + icmp.len()) as u16).to_be_bytes());
                f.extend_from_slice(&[*first, *hop]);
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
                f.extend_from_slice(ext);
                (l3 + 40 + ext.len(), true)
            }
        };
        f.extend_from_slice(&icmp);
        let mut b = Built {
            bytes: f,
            l3,
            l4,
            v6,
        };
        b.fix();
        b
    }
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

impl Built {
    /// Recomputes the IPv4 header checksum and the ICMP checksum over the
    /// lengths the headers declare (clipped to the frame). Never panics.
    pub fn fix(&mut self) {
        let f = &mut self.bytes;
        let (l3, l4) = (self.l3, self.l4);
        if l4 + 4 > f.len() {
            return;
        }
        if !self.v6 {
            let hl = ((f[l3] & 0x0f) as usize * 4).max(20);
            if l3 + hl <= f.len() {
                f[l3 + 10..l3 + 12].fill(0);
                let s = fold(sum16(&f[l3..l3 + hl], 0));
                f[l3 + 10..l3 + 12].copy_from_slice(&s.to_be_bytes());
            }
            let total = u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]) as usize;
            let end = (l3 + total).clamp(l4, f.len());
            f[l4 + 2..l4 + 4].fill(0);
            let s = fold(sum16(&f[l4..end], 0));
            f[l4 + 2..l4 + 4].copy_from_slice(&s.to_be_bytes());
        } else {
            let plen = u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]) as usize;
            let end = (l3 + 40 + plen).clamp(l4, f.len());
            let len = (end - l4) as u32;
            f[l4 + 2..l4 + 4].fill(0);
            let mut acc = sum16(&f[l3 + 8..l3 + 40], 0);
            acc += (len >> 16) + (len & 0xffff) + 58;
            let s = fold(sum16(&f[l4..end], acc));
            f[l4 + 2..l4 + 4].copy_from_slice(&s.to_be_bytes());
        }
    }
}

/// The tag of an echo reply (identifier, sequence) in `frame`, if it is an
/// untagged or VLAN-tagged ICMPv4 or ICMPv6 echo reply; with the IP
/// source, TTL / hop limit and whether its checksums verify.
pub fn reply_tag(frame: &[u8]) -> Option<Reply> {
    let mut l3 = 12;
    while frame.len() >= l3 + 2 && matches!([frame[l3], frame[l3 + 1]], [0x81, 0x00] | [0x88, 0xa8])
    {
        l3 += 4;
    }
    let ethertype = [*frame.get(l3)?, *frame.get(l3 + 1)?];
    let l3 = l3 + 2;
    match ethertype {
        [0x08, 0x00] => {
            let hl = (*frame.get(l3)? & 0x0f) as usize * 4;
            let total = u16::from_be_bytes([*frame.get(l3 + 2)?, *frame.get(l3 + 3)?]) as usize;
            let l4 = l3 + hl;
            if frame.get(l3 + 9)? != &1
                || frame.get(l4)? != &0
                || frame.len() < l3 + total
                || total < hl + 8
            {
                return None;
            }
            let ok =
                fold(sum16(&frame[l3..l4], 0)) == 0 && fold(sum16(&frame[l4..l3 + total], 0)) == 0;
            Some(Reply {
                tag: tag_at(frame, l4)?,
                src: std::net::IpAddr::V4(Ipv4Addr::from(
                    <[u8; 4]>::try_from(&frame[l3 + 12..l3 + 16]).ok()?,
                )),
                dst: std::net::IpAddr::V4(Ipv4Addr::from(
                    <[u8; 4]>::try_from(&frame[l3 + 16..l3 + 20]).ok()?,
                )),
                hops: frame[l3 + 8],
                checksums_ok: ok,
            })
        }
        [0x86, 0xdd] => {
            let l4 = l3 + 40;
            let plen = u16::from_be_bytes([*frame.get(l3 + 4)?, *frame.get(l3 + 5)?]) as usize;
            if frame.get(l3 + 6)? != &58
                || frame.get(l4)? != &129
                || frame.len() < l4 + plen
                || plen < 8
            {
                return None;
            }
            let mut acc = sum16(&frame[l3 + 8..l3 + 40], 0);
            acc += ((plen as u32) >> 16) + (plen as u32 & 0xffff) + 58;
            let ok = fold(sum16(&frame[l4..l4 + plen], acc)) == 0;
            Some(Reply {
                tag: tag_at(frame, l4)?,
                src: std::net::IpAddr::V6(Ipv6Addr::from(
                    <[u8; 16]>::try_from(&frame[l3 + 8..l3 + 24]).ok()?,
                )),
                dst: std::net::IpAddr::V6(Ipv6Addr::from(
                    <[u8; 16]>::try_from(&frame[l3 + 24..l3 + 40]).ok()?,
                )),
                hops: frame[l3 + 7],
                checksums_ok: ok,
            })
        }
        _ => None,
    }
}

fn tag_at(frame: &[u8], l4: usize) -> Option<(u16, u16)> {
    let b = frame.get(l4 + 4..l4 + 8)?;
    Some((
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ))
}

/// What [`reply_tag`] found.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub tag: (u16, u16),
    pub src: std::net::IpAddr,
    pub dst: std::net::IpAddr,
    pub hops: u8,
    pub checksums_ok: bool,
}
