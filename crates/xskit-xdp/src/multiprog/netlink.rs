//! The XDP program of an interface through rtnetlink (`RTM_SETLINK` /
//! `RTM_GETLINK` with `IFLA_XDP`), as libxdp attaches its dispatchers: a
//! netlink attachment, not a BPF link, because libxdp can only replace the
//! former. Works in the calling thread's network namespace.

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLA_F_NESTED: u16 = 0x8000;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_EXPECTED_FD: u16 = 8;

/// `XDP_FLAGS_UPDATE_IF_NOEXIST`: fail with EBUSY if a program is attached.
pub(crate) const UPDATE_IF_NOEXIST: u32 = 1;
/// `XDP_FLAGS_SKB_MODE`.
pub(crate) const SKB_MODE: u32 = 2;
/// `XDP_FLAGS_DRV_MODE`.
pub(crate) const DRV_MODE: u32 = 4;
/// `XDP_FLAGS_REPLACE`: replace only the program of `IFLA_XDP_EXPECTED_FD`.
pub(crate) const REPLACE: u32 = 16;

/// What `IFLA_XDP` says of an interface: `XDP_ATTACHED_*` and the program
/// id (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Attached {
    /// `XDP_ATTACHED_NONE` 0, `DRV` 1, `SKB` 2, `HW` 3, `MULTI` 4.
    pub(crate) mode: u8,
    /// The program id, 0 if none (or several, `MULTI`).
    pub(crate) prog_id: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn attr(m: &mut Vec<u8>, ty: u16, value: &[u8]) {
    m.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(value);
    m.resize(align4(m.len()), 0);
}

/// nlmsghdr and ifinfomsg for interface `ifindex`, then `attrs` (already
/// encoded).
fn message(ty: u16, flags: u16, ifindex: u32, attrs: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 16];
    // ifinfomsg: family (AF_UNSPEC), pad, type, index, flags, change.
    m.extend_from_slice(&[0u8; 4]);
    m.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    m.extend_from_slice(&[0u8; 8]);
    m.extend_from_slice(attrs);
    let total = m.len() as u32;
    m[0..4].copy_from_slice(&total.to_ne_bytes());
    m[4..6].copy_from_slice(&ty.to_ne_bytes());
    m[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
    m[8..12].copy_from_slice(&1u32.to_ne_bytes());
    m
}

fn attributes(mut p: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while p.len() >= 4 {
        let len = u16::from_ne_bytes([p[0], p[1]]) as usize;
        let ty = u16::from_ne_bytes([p[2], p[3]]) & 0x3fff;
        if len < 4 || len > p.len() {
            break;
        }
        out.push((ty, &p[4..len]));
        p = &p[align4(len).min(p.len())..];
    }
    out
}

fn socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        // NETLINK_ROUTE is protocol 0.
        None,
    )?)
}

/// Sends `msg` and returns the first reply: its type and the bytes after
/// the nlmsghdr; an `NLMSG_ERROR` with a non-zero error is that error.
fn request(msg: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let fd = socket()?;
    rustix::net::send(&fd, msg, SendFlags::empty())?;
    let mut buf = vec![0u8; 65536];
    let (n, _) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty())?;
    if n < 20 {
        return Err(io::Error::other(format!(
            "short rtnetlink reply ({n} bytes)"
        )));
    }
    let len = (u32::from_ne_bytes(buf[0..4].try_into().expect("4 bytes")) as usize).min(n);
    let ty = u16::from_ne_bytes([buf[4], buf[5]]);
    if ty == NLMSG_ERROR {
        let err = i32::from_ne_bytes(buf[16..20].try_into().expect("4 bytes"));
        if err != 0 {
            return Err(io::Error::from_raw_os_error(-err));
        }
    }
    Ok((ty, buf[16..len].to_vec()))
}

/// Attaches `prog` (or detaches, with `None`) on interface `ifindex` with
/// `XDP_FLAGS_*` `flags`; with `expected`, only in place of that program
/// (add [`REPLACE`] to `flags`).
pub(crate) fn set_xdp(
    ifindex: u32,
    prog: Option<&impl AsFd>,
    flags: u32,
    expected: Option<&impl AsFd>,
) -> io::Result<()> {
    let fd: i32 = prog.map_or(-1, |p| p.as_fd().as_raw_fd());
    let expected = expected.map(|e| e.as_fd().as_raw_fd());
    request(&set_message(ifindex, fd, flags, expected)).map(|_| ())
}

/// The `RTM_SETLINK` request of [`set_xdp`] (`fd` -1: detach).
fn set_message(ifindex: u32, fd: i32, flags: u32, expected: Option<i32>) -> Vec<u8> {
    let mut nested = Vec::new();
    attr(&mut nested, IFLA_XDP_FD, &fd.to_ne_bytes());
    attr(&mut nested, IFLA_XDP_FLAGS, &flags.to_ne_bytes());
    if let Some(e) = expected {
        attr(&mut nested, IFLA_XDP_EXPECTED_FD, &e.to_ne_bytes());
    }
    let mut attrs = Vec::new();
    attr(&mut attrs, IFLA_XDP | NLA_F_NESTED, &nested);
    message(RTM_SETLINK, NLM_F_ACK, ifindex, &attrs)
}

/// What is attached to interface `ifindex`.
pub(crate) fn get_xdp(ifindex: u32) -> io::Result<Attached> {
    let (ty, body) = request(&message(RTM_GETLINK, 0, ifindex, &[]))?;
    if ty != RTM_NEWLINK || body.len() < 16 {
        return Err(io::Error::other(format!(
            "unexpected rtnetlink reply of type {ty} to RTM_GETLINK"
        )));
    }
    Ok(parse_link(&body))
}

/// What `IFLA_XDP` says in an `RTM_NEWLINK` reply's body (ifinfomsg and
/// attributes).
fn parse_link(body: &[u8]) -> Attached {
    let mut a = Attached {
        mode: 0,
        prog_id: 0,
    };
    for (t, v) in attributes(&body[16..]) {
        if t != IFLA_XDP {
            continue;
        }
        for (t, v) in attributes(v) {
            match (t, v.len()) {
                (IFLA_XDP_ATTACHED, 1) => a.mode = v[0],
                (IFLA_XDP_PROG_ID, 4) => {
                    a.prog_id = u32::from_ne_bytes(v.try_into().expect("4 bytes"))
                }
                _ => {}
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], i: usize) -> u16 {
        u16::from_ne_bytes([b[i], b[i + 1]])
    }

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_ne_bytes(b[i..i + 4].try_into().unwrap())
    }

    #[test]
    fn replace_request_layout() {
        let m = set_message(7, 11, SKB_MODE | REPLACE, Some(13));
        // nlmsghdr: length, RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK.
        assert_eq!(u32_at(&m, 0) as usize, m.len());
        assert_eq!(u16_at(&m, 4), 19);
        assert_eq!(u16_at(&m, 6), 1 | 4);
        // ifinfomsg: family 0, index 7.
        assert_eq!(m[16], 0);
        assert_eq!(u32_at(&m, 20), 7);
        // IFLA_XDP (43), nested: FD 11, FLAGS 2|16, EXPECTED_FD 13.
        let outer = attributes(&m[32..]);
        assert_eq!(outer.len(), 1);
        assert_eq!(outer[0].0, 43);
        assert_eq!(u16_at(&m, 34) & NLA_F_NESTED, NLA_F_NESTED);
        let inner = attributes(outer[0].1);
        let got: Vec<(u16, u32)> = inner.iter().map(|(t, v)| (*t, u32_at(v, 0))).collect();
        assert_eq!(got, [(1, 11), (3, 18), (8, 13)]);
    }

    #[test]
    fn detach_request_has_no_program() {
        let m = set_message(3, -1, DRV_MODE | REPLACE, None);
        let outer = attributes(&m[32..]);
        let inner = attributes(outer[0].1);
        let got: Vec<(u16, i32)> = inner
            .iter()
            .map(|(t, v)| (*t, i32::from_ne_bytes(v[..4].try_into().unwrap())))
            .collect();
        assert_eq!(got, [(1, -1), (3, 20)]);
    }

    #[test]
    fn reply_names_the_program_and_mode() {
        let mut nested = Vec::new();
        attr(&mut nested, IFLA_XDP_ATTACHED, &[2]);
        attr(&mut nested, IFLA_XDP_PROG_ID, &57u32.to_ne_bytes());
        let mut body = vec![0u8; 16];
        attr(&mut body, 3, b"xsk0\0"); // IFLA_IFNAME first, as the kernel sends it
        attr(&mut body, IFLA_XDP | NLA_F_NESTED, &nested);
        assert_eq!(
            parse_link(&body),
            Attached {
                mode: 2,
                prog_id: 57
            }
        );
        assert_eq!(
            parse_link(&[0u8; 16]),
            Attached {
                mode: 0,
                prog_id: 0
            }
        );
    }
}
