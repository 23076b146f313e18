//! The few C library calls that neither rustix nor the `xsk` crate wrap,
//! each behind a safe function: the addresses of this network namespace's
//! interfaces (`getifaddrs(3)`), AF_PACKET's
//! link-layer address (`sockaddr_ll`), its transmit bypass and a socket
//! filter (`setsockopt(2)` options rustix does not name) and the
//! disposition of SIGPIPE.
//! Everything else goes through rustix.

use std::ffi::CStr;
use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

/// One address of an interface, as `getifaddrs(3)` lists it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum IfAddr {
    /// An IPv4 address and its netmask, if the entry has one.
    V4(Ipv4Addr, Option<Ipv4Addr>),
    /// An IPv6 address.
    V6(Ipv6Addr),
    /// The Ethernet address (an AF_PACKET entry with a 6-byte address).
    Mac([u8; 6]),
}

/// The addresses of `iface` (answered over netlink in the calling thread's
/// network namespace); empty if the call fails.
pub fn interface_addresses(iface: &str) -> Vec<IfAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free once below; every
    // node, name and address is read only while the list is alive, and each
    // sockaddr (and netmask) is read as the type its family names:
    // sockaddr_in for AF_INET, sockaddr_in6 for AF_INET6, sockaddr_ll for
    // AF_PACKET.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut p = head;
        while !p.is_null() {
            let ifa = &*p;
            p = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || CStr::from_ptr(ifa.ifa_name).to_bytes() != iface.as_bytes()
            {
                continue;
            }
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let mask = (!ifa.ifa_netmask.is_null()).then(|| {
                        let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                        Ipv4Addr::from(u32::from_be(m.sin_addr.s_addr))
                    });
                    out.push(IfAddr::V4(
                        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
                        mask,
                    ));
                }
                libc::AF_INET6 => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    out.push(IfAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
                }
                libc::AF_PACKET => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_ll);
                    if sa.sll_halen == 6 {
                        let mut mac = [0; 6];
                        mac.copy_from_slice(&sa.sll_addr[..6]);
                        out.push(IfAddr::Mac(mac));
                    }
                }
                _ => {}
            }
        }
        libc::freeifaddrs(head);
    }
    out
}

/// Binds an AF_PACKET socket to interface `ifindex` for frames of
/// `protocol` (an ETH_P_* value in host order).
pub fn bind_packet(fd: BorrowedFd<'_>, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: all-zero is a valid sockaddr_ll (plain integers and bytes).
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = protocol.to_be();
    sa.sll_ifindex = ifindex as i32;
    // SAFETY: `sa` is a valid sockaddr_ll of the size passed, alive for the call.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `setsockopt(2)` with `value` (a C integer or struct, passed by pointer;
/// a pointer inside it must be valid for the call, as the kernel follows it).
fn set_option<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` is a live T of the size passed; the kernel reads it,
    // and what pointers in it point at (the callers' are alive for the
    // call), during the call only.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes an AF_PACKET socket transmit without the interface's queueing
/// discipline (`PACKET_QDISC_BYPASS`), as an AF_XDP socket in copy mode does.
pub fn packet_qdisc_bypass(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_option(
        fd,
        libc::SOL_PACKET,
        libc::PACKET_QDISC_BYPASS,
        &(1 as libc::c_int),
    )
}

/// Attaches a classic BPF filter that takes nothing (`ret #0`) to a socket:
/// what the kernel hands the socket is consumed by the filter, never queued.
pub fn filter_out_everything(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut code = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: 0,
    }];
    // The kernel copies the program and keeps no pointer to `code`.
    let prog = libc::sock_fprog {
        len: code.len() as u16,
        filter: code.as_mut_ptr(),
    };
    set_option(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
}

/// Receives one frame from an AF_PACKET socket without waiting; returns its
/// length and its packet type (`PACKET_HOST`, `PACKET_OUTGOING`, ...).
pub fn recv_packet(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, u8)> {
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_ll>() as u32;
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf` and at
    // most `len` bytes into `sa`; both are alive and writable for the call.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
            (&mut sa as *mut libc::sockaddr_ll).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, sa.sll_pkttype))
}

/// Restores SIGPIPE's default action (Rust starts programs with it
/// ignored), so a closed pipe ends the process quietly as it does C tools.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler
    // and has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// Ignores SIGPIPE again: a write to a closed pipe then fails with EPIPE,
/// and the error unwinds through whatever must be cleaned up on the way.
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler
    // and has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Moves the calling thread into a new, empty network namespace
/// (`unshare(CLONE_NEWNET)`).
pub fn unshare_net() -> io::Result<()> {
    // SAFETY: rustix marks unshare unsafe because CLONE_FILES would give
    // this thread a descriptor table of its own, invalidating descriptors
    // other threads hand it; CLONE_NEWNET alone touches no descriptor table.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
        .map_err(io::Error::from)
}
