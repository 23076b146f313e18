//! The corpus's header variants: IPv4 options, IPv6 extension headers,
//! VLAN tags, single fragments, and datagrams in fragments.

use super::corpus::{plain4, plain6, tag, Item, Out};
use super::fragments::split;
use super::frame::Ip;

pub fn ipv4_options(out: &mut Out) {
    let opts: Vec<Vec<u8>> = vec![
        vec![1, 1, 1, 1],                              // NOP
        vec![0, 0, 0, 0],                              // EOL
        vec![1, 1, 1, 0],                              // NOP then EOL
        vec![7, 7, 4, 0, 0, 0, 0, 0],                  // record route, room for one
        vec![7, 3, 4, 0],                              // record route, full
        vec![7, 7, 8, 1, 2, 3, 4, 0],                  // record route, pointer past the end
        vec![7, 7, 3, 0, 0, 0, 0, 0],                  // record route, pointer too small
        vec![68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0],    // timestamp, room for two
        vec![68, 4, 5, 0],                             // timestamp, no room, overflow 0
        vec![68, 12, 5, 3, 198, 18, 0, 1, 0, 0, 0, 0], // timestamp, prespecified
        vec![131, 7, 4, 8, 8, 8, 8, 0],                // loose source route
        vec![137, 7, 4, 8, 8, 8, 8, 0],                // strict source route
        vec![148, 4, 0, 0],                            // router alert
        vec![130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],   // security
        vec![134, 6, 0, 0, 0, 1, 0, 0],                // CIPSO (bad DOI)
        vec![25, 4, 0, 0],                             // unknown type
        vec![200, 2, 1, 1],                            // unknown, minimal length
        vec![200, 1, 1, 1],                            // length 1
        vec![200, 0, 1, 1],                            // length 0
        vec![200, 40, 1, 1],                           // length past the header
        vec![1, 1, 7, 7],                              // truncated record route
        vec![1; 40],                                   // the longest header
    ];
    for o in opts {
        for data in [0usize, 16] {
            let mut s = plain4(out, data);
            if let Ip::V4 { options, .. } = &mut s.ip {
                *options = o.clone();
            }
            out.push(&s, "ipv4-options");
        }
    }
}

pub fn ipv6_extensions(out: &mut Out) {
    // (first next header, extension bytes); ICMPv6 is 58, none is 59.
    let hbh = |opts: &[u8], next: u8| {
        let mut h = vec![next, 0];
        h.extend_from_slice(opts);
        h
    };
    let exts: Vec<(u8, Vec<u8>)> = vec![
        (0, hbh(&[1, 4, 0, 0, 0, 0], 58)),     // hop-by-hop, PadN
        (0, hbh(&[0, 0, 0, 0, 0, 0], 58)),     // hop-by-hop, Pad1s
        (0, hbh(&[0x1e, 4, 0, 0, 0, 0], 58)),  // unknown option, skip
        (0, hbh(&[0x5e, 4, 0, 0, 0, 0], 58)),  // unknown, discard
        (0, hbh(&[0x9e, 4, 0, 0, 0, 0], 58)),  // unknown, discard + ICMP
        (0, hbh(&[0xde, 4, 0, 0, 0, 0], 58)),  // unknown, ICMP unless multicast
        (0, hbh(&[5, 2, 0, 0, 1, 0], 58)),     // router alert (MLD)
        (60, hbh(&[1, 4, 0, 0, 0, 0], 58)),    // destination options
        (60, hbh(&[0x9e, 4, 0, 0, 0, 0], 58)), // destination options, unknown
        (
            0,
            [hbh(&[1, 4, 0, 0, 0, 0], 60), hbh(&[1, 4, 0, 0, 0, 0], 58)].concat(),
        ), // chain
        (
            60,
            [hbh(&[1, 4, 0, 0, 0, 0], 0), hbh(&[1, 4, 0, 0, 0, 0], 58)].concat(),
        ), // HBH not first
        (43, vec![58, 0, 0, 0, 0, 0, 0, 0]),   // routing type 0, segments left 0
        (
            43,
            vec![
                58, 2, 0, 1, 0, 0, 0, 0, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            ],
        ), // type 0, 1 left
        (43, vec![58, 0, 2, 0, 0, 0, 0, 0]),   // type 2, none left
        (43, vec![58, 0, 4, 0, 0, 0, 0, 0]),   // segment routing, none left
        (43, vec![58, 0, 253, 0, 0, 0, 0, 0]), // experimental, none left
        (44, vec![58, 0, 0, 0, 0, 0, 0, 1]),   // atomic fragment
        (44, vec![58, 0, 0, 1, 0, 0, 0, 2]),   // first fragment, more follow
        (44, vec![58, 0, 0, 8, 0, 0, 0, 3]),   // later fragment
        (59, vec![]),                          // no next header
        (0, hbh(&[1, 4, 0, 0, 0, 0], 59)),     // HBH then none
        (60, vec![58, 1, 1, 4, 0, 0, 0, 0]),   // bad length
    ];
    for (first, ext) in exts {
        for data in [0usize, 16] {
            let mut s = plain6(out, data);
            if let Ip::V6 {
                first: f, ext: x, ..
            } = &mut s.ip
            {
                *f = first;
                *x = ext.clone();
            }
            out.push(&s, "ipv6-extension");
        }
    }
}

pub fn vlans_and_fragments(out: &mut Out) {
    let tags: Vec<Vec<(u16, u16)>> = vec![
        vec![(0x8100, 0)],
        vec![(0x8100, 0xe000)],
        vec![(0x8100, 1)],
        vec![(0x8100, 7)],
        vec![(0x8100, 4095)],
        vec![(0x8100, 0x1000)],
        vec![(0x88a8, 0)],
        vec![(0x88a8, 5)],
        vec![(0x88a8, 0), (0x8100, 0)],
        vec![(0x8100, 0), (0x8100, 0)],
        vec![(0x88a8, 10), (0x8100, 20)],
    ];
    for t in tags {
        for mut s in [plain4(out, 8), plain6(out, 8)] {
            s.tags = t.clone();
            out.push(&s, "vlan");
        }
    }
    for frag in [
        0x2000u16, 0x0001, 0x2001, 0x1fff, 0x3fff, 0x4000, 0x0000, 0x8000, 0xc000, 0x6000,
    ] {
        let mut s = plain4(out, 16);
        if let Ip::V4 { frag: f, .. } = &mut s.ip {
            *f = frag;
        }
        out.push(&s, "fragment");
    }
}

/// Whole datagrams in fragments; the kernel reassembles them.
pub fn reassembled(out: &mut Out) {
    let ways: [(&[usize], &[usize], bool); 5] = [
        (&[8], &[0, 1], false),
        (&[64], &[0, 1], false),
        (&[64], &[1, 0], false),
        (&[64], &[0, 1], true),
        (&[40, 120], &[2, 0, 1], false),
    ];
    for (n, (cuts, order, overlap)) in ways.into_iter().enumerate() {
        for spec in [plain4(out, 192), plain6(out, 192)] {
            let b = spec.build(tag(out.items.len()));
            let mut frames = split(&b, cuts, order, overlap, 0xa000 + n as u16).into_iter();
            let Some(frame) = frames.next() else { continue };
            out.items.push(Item {
                frame,
                more: frames.collect(),
                class: "reassembly",
            });
        }
    }
}
