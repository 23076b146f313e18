//! The corpus of the differential test: addresses from every special range
//! of both families, Ethernet address classes, every truncation, each
//! header field at boundary and random values, IPv4 options, IPv6
//! extension headers, VLAN tags, fragments, and seeded random mutations.
//! Every frame carries a unique (identifier, sequence) tag outside the
//! bytes that are mutated, so a reply names the frame it answers.

use super::frame::{Built, Spec};
use super::headers::{ipv4_options, ipv6_extensions, reassembled, vlans_and_fragments};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The sandbox as the corpus sees it.
#[derive(Clone, Debug)]
pub struct Env {
    pub inner_mac: [u8; 6],
    pub outer_mac: [u8; 6],
    pub inner_v4: Ipv4Addr,
    pub outer_v4: Ipv4Addr,
    pub inner_v6: Ipv6Addr,
    pub outer_v6: Ipv6Addr,
    /// The inner end's link-local address.
    pub inner_ll: Ipv6Addr,
    /// On-link sources the inner namespace has neighbour entries for
    /// (the kernel must reach them to answer); off-link ones go by the
    /// default route.
    pub onlink_v4: Vec<Ipv4Addr>,
    pub onlink_v6: Vec<Ipv6Addr>,
}

/// One corpus frame.
#[derive(Clone, Debug)]
pub struct Item {
    /// The frame sent first (the one a reply names).
    pub frame: Vec<u8>,
    /// Frames sent right after it (the other fragments of a datagram).
    pub more: Vec<Vec<u8>>,
    pub class: &'static str,
}

/// Tag of corpus frame `i`.
pub fn tag(i: usize) -> (u16, u16) {
    (0x5800 + (i >> 16) as u16, i as u16)
}

/// Index of the corpus frame with `tag`, if it is one.
pub fn index(tag: (u16, u16)) -> Option<usize> {
    let hi = tag.0.checked_sub(0x5800)? as usize;
    (hi < 0x100).then_some(hi << 16 | tag.1 as usize)
}

/// Seeded xorshift64*.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub struct Out<'a> {
    pub items: Vec<Item>,
    pub env: &'a Env,
}

impl Out<'_> {
    pub fn push(&mut self, spec: &Spec, class: &'static str) -> Built {
        let b = spec.build(tag(self.items.len()));
        self.items.push(Item {
            frame: b.bytes.clone(),
            more: vec![],
            class,
        });
        b
    }

    /// Builds `spec`, lets `edit` change the bytes, and optionally fixes
    /// the checksums afterwards.
    fn edited(
        &mut self,
        spec: &Spec,
        class: &'static str,
        fix: bool,
        edit: impl FnOnce(&mut Built),
    ) {
        let mut b = spec.build(tag(self.items.len()));
        edit(&mut b);
        if fix {
            b.fix();
        }
        self.items.push(Item {
            frame: b.bytes,
            more: vec![],
            class,
        });
    }

    fn macs(&self) -> ([u8; 6], [u8; 6]) {
        (self.env.outer_mac, self.env.inner_mac)
    }
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn group_mac_v6(a: Ipv6Addr) -> [u8; 6] {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

fn group_mac_v4(a: Ipv4Addr) -> [u8; 6] {
    let o = a.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

fn solicited(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// A random IPv4 source that is not on the sandbox's link.
fn random_v4(r: &mut Rng, env: &Env) -> Ipv4Addr {
    loop {
        let a = Ipv4Addr::from(r.next() as u32);
        if a.octets()[..3] != env.inner_v4.octets()[..3] {
            return a;
        }
    }
}

/// A random IPv6 source that is not on the sandbox's link.
fn random_v6(r: &mut Rng, env: &Env) -> Ipv6Addr {
    loop {
        let a = Ipv6Addr::from(((r.next() as u128) << 64) | r.next() as u128);
        let s = a.segments();
        let onlink = s[..4] == env.inner_v6.segments()[..4] || s[0] & 0xffc0 == 0xfe80;
        if !onlink {
            return a;
        }
    }
}

/// The corpus: about `target` frames (at least the structured part).
pub fn corpus(env: &Env, target: usize, seed: u64) -> Vec<Item> {
    let mut out = Out {
        items: Vec::with_capacity(target + 1000),
        env,
    };
    let mut r = Rng::new(seed);
    let dense = target >= 50_000;
    addresses(&mut out, &mut r, dense);
    truncations(&mut out);
    fields(&mut out, &mut r, if dense { 60 } else { 6 });
    ipv4_options(&mut out);
    ipv6_extensions(&mut out);
    vlans_and_fragments(&mut out);
    reassembled(&mut out);
    mutations(&mut out, &mut r, target);
    out.items
}

fn addresses(out: &mut Out, r: &mut Rng, dense: bool) {
    let e = out.env.clone();
    let data = b"xskit differential".to_vec();
    let mut src4: Vec<Ipv4Addr> = vec![
        e.outer_v4,
        e.inner_v4,
        v4("0.0.0.0"),
        v4("0.1.2.3"),
        v4("127.0.0.1"),
        v4("127.1.2.3"),
        v4("224.0.0.1"),
        v4("239.255.255.250"),
        v4("255.255.255.255"),
        v4("240.0.0.1"),
        v4("254.1.2.3"),
        v4("169.254.1.1"),
        v4("10.1.2.3"),
        v4("100.64.0.1"),
        v4("203.0.113.7"),
        v4("223.255.255.254"),
        v4("1.1.1.1"),
        Ipv4Addr::from(u32::from(e.inner_v4) | 0xff),
        Ipv4Addr::from(u32::from(e.inner_v4) & !0xff),
    ];
    src4.extend(&e.onlink_v4);
    for _ in 0..if dense { 40 } else { 4 } {
        src4.push(random_v4(r, &e));
    }
    let dst4 = [
        e.inner_v4,
        Ipv4Addr::from(u32::from(e.inner_v4) | 0xff),
        Ipv4Addr::from(u32::from(e.inner_v4) & !0xff),
        v4("255.255.255.255"),
        v4("224.0.0.1"),
        v4("224.0.0.251"),
        v4("239.1.1.1"),
        v4("0.0.0.0"),
        v4("127.0.0.1"),
        e.outer_v4,
        v4("8.8.8.8"),
    ];
    let foreign = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    let group_src = [0x03, 0x11, 0x22, 0x33, 0x44, 0x55];
    for &src in &src4 {
        for &dst in &dst4 {
            let l2dst = [e.inner_mac, [0xff; 6], group_mac_v4(dst), foreign];
            for (k, &dmac) in l2dst.iter().enumerate() {
                for &smac in &[e.outer_mac, foreign, group_src][..if k == 0 { 3 } else { 1 }] {
                    let spec = Spec::v4((smac, dmac), src, dst, data.clone());
                    out.push(&spec, "addr-v4");
                }
            }
        }
    }
    let mut src6: Vec<Ipv6Addr> = vec![
        e.outer_v6,
        e.inner_v6,
        e.inner_ll,
        v6("::"),
        v6("::1"),
        v6("::ffff:198.18.0.2"),
        v6("::ffff:0.0.0.0"),
        v6("::198.18.0.2"),
        v6("ff02::1"),
        v6("ff05::2"),
        v6("ff0e::1"),
        v6("ff01::1"),
        v6("2001:db8::1"),
        v6("2002::1"),
        v6("64:ff9b::1"),
        v6("fec0::1"),
        v6("fd00::1"),
    ];
    src6.extend(&e.onlink_v6);
    for _ in 0..if dense { 40 } else { 4 } {
        src6.push(random_v6(r, &e));
    }
    let mut dst6 = vec![
        e.inner_v6,
        e.inner_ll,
        v6("ff02::1"),
        v6("ff02::2"),
        solicited(e.inner_v6),
        solicited(e.inner_ll),
        v6("ff02::1:ff00:77"),
        v6("ff01::1"),
        v6("ff00::1"),
        v6("ff05::1"),
        v6("ff0e::1"),
        v6("ff12::1"),
        v6("::1"),
        v6("::"),
        e.outer_v6,
        v6("::ffff:198.18.0.1"),
    ];
    let mut anycast = e.inner_v6.segments();
    anycast[4..].fill(0);
    dst6.push(Ipv6Addr::from(anycast));
    for &src in &src6 {
        for &dst in &dst6 {
            let gm = group_mac_v6(dst);
            let l2dst = [e.inner_mac, gm, [0xff; 6], foreign];
            for (k, &dmac) in l2dst.iter().enumerate() {
                for &smac in &[e.outer_mac, foreign, group_src][..if k == 0 { 3 } else { 1 }] {
                    let spec = Spec::v6((smac, dmac), src, dst, data.clone());
                    out.push(&spec, "addr-v6");
                }
            }
        }
    }
}

pub fn plain4(out: &Out, data: usize) -> Spec {
    let e = out.env;
    Spec::v4(
        out.macs(),
        e.outer_v4,
        e.inner_v4,
        (0..data).map(|i| i as u8).collect(),
    )
}

pub fn plain6(out: &Out, data: usize) -> Spec {
    let e = out.env;
    Spec::v6(
        out.macs(),
        e.outer_v6,
        e.inner_v6,
        (0..data).map(|i| i as u8).collect(),
    )
}

fn truncations(out: &mut Out) {
    for data in [0usize, 1, 8, 56] {
        for spec in [plain4(out, data), plain6(out, data)] {
            let full = spec.build((0, 0)).bytes.len();
            // AF_PACKET refuses frames shorter than an Ethernet header.
            for len in 14..full {
                out.edited(&spec, "truncation", false, |b| b.bytes.truncate(len));
            }
            // The same lengths with the IP lengths shortened to match.
            for cut in 1..=(data + 8).min(12) {
                out.edited(&spec, "short-ip-length", true, |b| {
                    let (l3, v6) = (b.l3, b.v6);
                    let at = if v6 { l3 + 4 } else { l3 + 2 };
                    let n = u16::from_be_bytes([b.bytes[at], b.bytes[at + 1]]) - cut as u16;
                    b.bytes[at..at + 2].copy_from_slice(&n.to_be_bytes());
                    b.bytes.truncate(b.bytes.len() - cut);
                });
            }
            // Trailing bytes past the IP length (Ethernet padding).
            for pad in [1usize, 2, 7, 46] {
                out.edited(&spec, "padding", false, |b| {
                    b.bytes.extend(std::iter::repeat_n(0xa5, pad))
                });
            }
        }
    }
}

/// (offset from the IP header or from ICMP, width in bytes, fix checksums).
const V4_FIELDS: [(bool, usize, usize); 12] = [
    (false, 0, 1),  // version + IHL
    (false, 1, 1),  // TOS
    (false, 2, 2),  // total length
    (false, 4, 2),  // id
    (false, 6, 2),  // flags + fragment offset
    (false, 8, 1),  // TTL
    (false, 9, 1),  // protocol
    (false, 10, 2), // header checksum
    (true, 0, 1),   // ICMP type
    (true, 1, 1),   // ICMP code
    (true, 2, 2),   // ICMP checksum
    (false, 12, 1), // first source byte
];
const V6_FIELDS: [(bool, usize, usize); 9] = [
    (false, 0, 1), // version + traffic class
    (false, 1, 3), // traffic class + flow label
    (false, 4, 2), // payload length
    (false, 6, 1), // next header
    (false, 7, 1), // hop limit
    (true, 0, 1),  // ICMPv6 type
    (true, 1, 1),  // ICMPv6 code
    (true, 2, 2),  // ICMPv6 checksum
    (false, 8, 1), // first source byte
];

fn fields(out: &mut Out, r: &mut Rng, randoms: usize) {
    for v6 in [false, true] {
        let spec = if v6 { plain6(out, 16) } else { plain4(out, 16) };
        let list: &[(bool, usize, usize)] = if v6 { &V6_FIELDS } else { &V4_FIELDS };
        for &(icmp, off, width) in list {
            let max = (1u64 << (8 * width)) - 1;
            let mut values = vec![0, 1, 2, max / 2, max / 2 + 1, max - 1, max];
            let base = spec.build((0, 0));
            let at = if icmp { base.l4 + off } else { base.l3 + off };
            let cur = base.bytes[at..at + width]
                .iter()
                .fold(0u64, |a, &b| a << 8 | b as u64);
            values.extend([cur.saturating_sub(1), cur + 1, cur.wrapping_add(2) & max]);
            for _ in 0..randoms {
                values.push(r.next() & max);
            }
            let is_checksum = (icmp && off == 2) || (!v6 && !icmp && off == 10);
            for &val in &values {
                for fix in [true, false] {
                    if fix && is_checksum {
                        continue;
                    }
                    out.edited(&spec, if v6 { "field-v6" } else { "field-v4" }, fix, |b| {
                        let at = if icmp { b.l4 + off } else { b.l3 + off };
                        for i in 0..width {
                            b.bytes[at + i] = (val >> (8 * (width - 1 - i))) as u8;
                        }
                    });
                }
            }
        }
        // Ethertype and Ethernet addresses.
        for et in [
            0x0800u16, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x0000, 0xffff, 0x05dc, 0x0600,
        ] {
            out.edited(&spec, "field-eth", false, |b| {
                b.bytes[12..14].copy_from_slice(&et.to_be_bytes())
            });
        }
        for _ in 0..randoms {
            let (d, s) = (r.bytes(6), r.bytes(6));
            out.edited(&spec, "field-eth", false, |b| {
                b.bytes[0..6].copy_from_slice(&d);
                b.bytes[6..12].copy_from_slice(&s);
            });
        }
    }
}

fn mutations(out: &mut Out, r: &mut Rng, target: usize) {
    let e = out.env.clone();
    let mut bases = vec![
        plain4(out, 0),
        plain4(out, 56),
        plain6(out, 0),
        plain6(out, 56),
    ];
    bases.push(Spec::v6(
        (e.outer_mac, group_mac_v6(v6("ff02::1"))),
        e.outer_v6,
        v6("ff02::1"),
        vec![1; 8],
    ));
    bases.push(Spec::v6(out.macs(), e.outer_v6, e.inner_ll, vec![2; 8]));
    bases.push(Spec::v4(out.macs(), e.outer_v4, e.inner_v4, vec![3; 1000]));
    while out.items.len() < target {
        let spec = bases[r.below(bases.len())].clone();
        let n = 1 + r.below(4);
        let fix = r.below(4) != 0;
        let cut = r.below(8) == 0;
        let picks: Vec<(usize, u8)> = (0..n)
            .map(|_| (r.next() as usize, r.next() as u8))
            .collect();
        let cut_at = r.next() as usize;
        out.edited(&spec, "random", fix, |b| {
            // Mostly the headers: where a responder makes decisions.
            let span = (b.l4 + 8).min(b.bytes.len());
            for (at, val) in picks {
                let at = if at % 8 == 0 {
                    at % b.bytes.len()
                } else {
                    at % span
                };
                if (b.l4 + 4..b.l4 + 8).contains(&at) {
                    continue; // the tag
                }
                b.bytes[at] = val;
            }
            if cut {
                b.bytes.truncate(14.max(cut_at % (b.bytes.len() + 1)));
            }
        });
    }
}
