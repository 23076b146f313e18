//! Which interfaces carry a default route, read from this thread's
//! network namespace (`/proc/thread-self/net/...`).

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
