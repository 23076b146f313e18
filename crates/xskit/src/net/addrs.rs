//! The IP addresses of an interface, from getifaddrs(3) (answered over
//! netlink in the calling thread's network namespace).

use std::ffi::CStr;
use std::net::{Ipv4Addr, Ipv6Addr};

/// IPv4 and IPv6 addresses configured on `iface`.
pub fn of_interface(iface: &str) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below; every node
    // and address is read only while the list is alive, and each sockaddr is
    // read as the type its family names.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return (v4, v6);
        }
        let mut p = head;
        while !p.is_null() {
            let ifa = &*p;
            p = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || CStr::from_ptr(ifa.ifa_name).to_bytes() != iface.as_bytes()
            {
                continue;
            }
            match (*ifa.ifa_addr).sa_family as i32 {
                libc::AF_INET => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    v4.push(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)));
                }
                libc::AF_INET6 => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    v6.push(Ipv6Addr::from(sa.sin6_addr.s6_addr));
                }
                _ => {}
            }
        }
        libc::freeifaddrs(head);
    }
    (v4, v6)
}
