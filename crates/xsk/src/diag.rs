//! Who holds a queue: AF_XDP socket diagnostics over `NETLINK_SOCK_DIAG`
//! (the kernel's `xsk_diag`, what `ss --xdp` reads), and the process that
//! owns a socket inode (from `/proc/PID/fd`).
//!
//! Message building and parsing are pure functions, unit tested with
//! hand-made replies; the query itself needs a kernel with `xsk_diag`
//! (built in or as a module). Where the kernel has none, [`holders`]
//! returns `None` and callers must treat the answer as unknown.

use crate::syscall;
use std::io;
use std::os::fd::AsFd;

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const XDP_SHOW_INFO: u32 = 1;
const XDP_DIAG_INFO: u16 = 1;
const NLMSGHDR_LEN: usize = 16;
const XDP_DIAG_MSG_LEN: usize = 16;

/// One live AF_XDP socket as the kernel lists it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Holder {
    /// Socket inode (what `/proc/PID/fd/N` links to as `socket:[INODE]`).
    pub inode: u32,
    /// Interface index it is bound to.
    pub ifindex: u32,
    /// Queue it is bound to.
    pub queue: u32,
}

/// The dump request: `nlmsghdr` + `xdp_diag_req` asking for basic info.
pub(crate) fn request(seq: u32) -> Vec<u8> {
    let len = (NLMSGHDR_LEN + 20) as u32;
    let mut m = Vec::with_capacity(len as usize);
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // xdp_diag_req: family, protocol, pad, ino, show, cookie[2].
    m.push(libc::AF_XDP as u8);
    m.push(0);
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&XDP_SHOW_INFO.to_ne_bytes());
    m.extend_from_slice(&[0u8; 8]);
    m
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// What one buffer of replies said.
#[derive(Debug, Eq, PartialEq)]
pub(crate) enum Parsed {
    /// More messages follow in the next read.
    More,
    /// `NLMSG_DONE` was seen.
    Done,
    /// The kernel answered with an error (positive errno).
    Error(i32),
}

/// Parses one `recv` worth of replies, appending the sockets found.
/// Malformed lengths end the parse with `EPROTO` instead of reading past
/// the buffer.
pub(crate) fn parse(buf: &[u8], out: &mut Vec<Holder>) -> Parsed {
    let mut at = 0;
    while at + NLMSGHDR_LEN <= buf.len() {
        let (Some(len), Some(ty)) = (u32_at(buf, at), u16_at(buf, at + 4)) else {
            return Parsed::Error(libc::EPROTO);
        };
        let len = len as usize;
        if len < NLMSGHDR_LEN || at + len > buf.len() {
            return Parsed::Error(libc::EPROTO);
        }
        let body = &buf[at + NLMSGHDR_LEN..at + len];
        match ty {
            NLMSG_DONE => return Parsed::Done,
            NLMSG_ERROR => {
                let errno = u32_at(body, 0).map_or(libc::EPROTO, |e| (e as i32).saturating_neg());
                return if errno == 0 {
                    Parsed::Done
                } else {
                    Parsed::Error(errno)
                };
            }
            SOCK_DIAG_BY_FAMILY if body.len() >= XDP_DIAG_MSG_LEN => {
                let inode = u32_at(body, 4).unwrap_or(0);
                let mut info = None;
                let mut a = XDP_DIAG_MSG_LEN;
                while a + 4 <= body.len() {
                    let alen = u16_at(body, a).unwrap_or(0) as usize;
                    let aty = u16_at(body, a + 2).unwrap_or(0) & 0x3fff;
                    if alen < 4 || a + alen > body.len() {
                        break;
                    }
                    if aty == XDP_DIAG_INFO && alen >= 12 {
                        info = u32_at(body, a + 4).zip(u32_at(body, a + 8));
                    }
                    a += (alen + 3) & !3;
                }
                if let Some((ifindex, queue)) = info {
                    out.push(Holder {
                        inode,
                        ifindex,
                        queue,
                    });
                }
            }
            _ => {}
        }
        at += (len + 3) & !3;
    }
    Parsed::More
}

/// Every bound AF_XDP socket of this network namespace, or `None` when the
/// kernel cannot say (no `xsk_diag`, or the query is refused).
pub fn holders() -> Option<Vec<Holder>> {
    let fd = syscall::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_SOCK_DIAG).ok()?;
    syscall::send(fd.as_fd(), &request(1)).ok()?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..10_000 {
        let n = match syscall::recv(fd.as_fd(), &mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        match parse(&buf[..n], &mut out) {
            Parsed::More if n > 0 => {}
            Parsed::Done => return Some(out),
            _ => return None,
        }
    }
    None
}

/// `pid (comm)` of the processes that hold socket `inode` open, as far as
/// this process can see them in `/proc`.
pub fn owners(inode: u32) -> Vec<String> {
    let want = format!("socket:[{inode}]");
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for p in procs.flatten() {
        let name = p.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == want.as_str()));
        if holds {
            let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            found.push(format!("pid {pid} ({})", comm.trim()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsg(ty: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSGHDR_LEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn diag_msg(inode: u32, info: Option<(u32, u32)>, extra_attr: bool) -> Vec<u8> {
        let mut b = vec![libc::AF_XDP as u8, libc::SOCK_RAW as u8, 0, 0];
        b.extend_from_slice(&inode.to_ne_bytes());
        b.extend_from_slice(&[0u8; 8]);
        if extra_attr {
            // XDP_DIAG_UID: 4-byte header + u32.
            b.extend_from_slice(&8u16.to_ne_bytes());
            b.extend_from_slice(&2u16.to_ne_bytes());
            b.extend_from_slice(&1000u32.to_ne_bytes());
        }
        if let Some((ifindex, queue)) = info {
            b.extend_from_slice(&12u16.to_ne_bytes());
            b.extend_from_slice(&XDP_DIAG_INFO.to_ne_bytes());
            b.extend_from_slice(&ifindex.to_ne_bytes());
            b.extend_from_slice(&queue.to_ne_bytes());
        }
        b
    }

    #[test]
    fn request_is_a_dump_of_af_xdp_with_info() {
        let r = request(7);
        assert_eq!(r.len(), 36);
        assert_eq!(u32_at(&r, 0), Some(36));
        assert_eq!(u16_at(&r, 4), Some(SOCK_DIAG_BY_FAMILY));
        assert_eq!(u16_at(&r, 6), Some(NLM_F_REQUEST | NLM_F_DUMP));
        assert_eq!(r[16], libc::AF_XDP as u8);
        assert_eq!(u32_at(&r, 24), Some(XDP_SHOW_INFO));
    }

    #[test]
    fn replies_give_inode_ifindex_and_queue() {
        let mut buf = nlmsg(SOCK_DIAG_BY_FAMILY, &diag_msg(4242, Some((3, 1)), true));
        buf.extend(nlmsg(SOCK_DIAG_BY_FAMILY, &diag_msg(77, None, false)));
        buf.extend(nlmsg(
            SOCK_DIAG_BY_FAMILY,
            &diag_msg(99, Some((5, 0)), false),
        ));
        let mut out = Vec::new();
        assert_eq!(parse(&buf, &mut out), Parsed::More);
        assert_eq!(
            out,
            [
                Holder {
                    inode: 4242,
                    ifindex: 3,
                    queue: 1
                },
                Holder {
                    inode: 99,
                    ifindex: 5,
                    queue: 0
                }
            ]
        );
        let done = nlmsg(NLMSG_DONE, &0u32.to_ne_bytes());
        assert_eq!(parse(&done, &mut out), Parsed::Done);
    }

    #[test]
    fn kernel_errors_and_bad_lengths_are_reported_not_overread() {
        let err = nlmsg(NLMSG_ERROR, &(-libc::ENOENT).to_ne_bytes());
        assert_eq!(parse(&err, &mut Vec::new()), Parsed::Error(libc::ENOENT));
        let mut bad = nlmsg(SOCK_DIAG_BY_FAMILY, &diag_msg(1, Some((1, 1)), false));
        bad[0] = 200; // claims more than the buffer holds
        assert_eq!(parse(&bad, &mut Vec::new()), Parsed::Error(libc::EPROTO));
        // Every truncation parses without panicking.
        let full = nlmsg(SOCK_DIAG_BY_FAMILY, &diag_msg(1, Some((1, 1)), true));
        for n in 0..full.len() {
            let _ = parse(&full[..n], &mut Vec::new());
        }
    }

    #[test]
    fn owners_finds_this_process_by_socket_inode() {
        if cfg!(miri) {
            return; // no /proc under Miri
        }
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", s.as_raw_fd())).unwrap();
        let inode: u32 = link.to_str().unwrap()[8..]
            .trim_end_matches(']')
            .parse()
            .unwrap();
        let me = format!("pid {} ", std::process::id());
        assert!(
            owners(inode).iter().any(|o| o.starts_with(&me)),
            "{:?}",
            owners(inode)
        );
    }
}
