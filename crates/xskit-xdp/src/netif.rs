//! The interfaces of the calling thread's network namespace, and which of
//! them carry a default route (`/proc/thread-self/net/...`): what the
//! loader checks before it attaches.

use std::ffi::CStr;
use std::fs;

/// Names of the interfaces that hold an IPv4 or IPv6 default route.
pub fn default_route_interfaces() -> Vec<String> {
    let mut out = Vec::new();
    // /proc/net/route: Iface Destination Gateway Flags ... Mask ...
    if let Ok(text) = fs::read_to_string("/proc/thread-self/net/route") {
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 7 && f[1] == "00000000" && f[7] == "00000000" {
                out.push(f[0].to_string());
            }
        }
    }
    // /proc/net/ipv6_route: dest plen src splen nexthop metric ref use flags iface
    if let Ok(text) = fs::read_to_string("/proc/thread-self/net/ipv6_route") {
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() == 10 && f[0].bytes().all(|b| b == b'0') && f[1] == "00" && f[9] != "lo" {
                out.push(f[9].to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Names of the interfaces in this thread's network namespace
/// (`if_nameindex(3)` asks the kernel through a socket of this thread's
/// namespace, unlike /sys/class/net); empty if the call fails.
pub fn interfaces() -> Vec<String> {
    let mut out = Vec::new();
    // SAFETY: if_nameindex returns NULL or an array terminated by an entry
    // with index 0; each name is a NUL-terminated string. We read the array
    // before freeing it once with if_freenameindex.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return out;
        }
        let mut p = list;
        while (*p).if_index != 0 {
            out.push(CStr::from_ptr((*p).if_name).to_string_lossy().into_owned());
            p = p.add(1);
        }
        libc::if_freenameindex(list);
    }
    out
}
