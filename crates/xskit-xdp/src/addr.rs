//! Addresses in rules: prefixes (`198.18.0.0/24`, `fc00::/7`) as smoltcp's
//! [`IpCidr`], and MAC addresses.

use smoltcp::wire::{IpAddress, IpCidr, Ipv4Cidr};
use std::net::{IpAddr, Ipv6Addr};

/// `addr/len` as an [`IpCidr`], or `None` if `len` is longer than the
/// address (32 or 128 bits).
pub fn cidr(addr: IpAddr, len: u8) -> Option<IpCidr> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then(|| IpCidr::new(IpAddress::from(addr), len))
}

/// The network of `c`: its address with the host bits cleared.
///
/// ```
/// use xskit_xdp::addr::{cidr, network};
/// let c = cidr("198.18.0.7".parse().unwrap(), 24).unwrap();
/// assert_eq!(network(&c), "198.18.0.0".parse::<std::net::IpAddr>().unwrap());
/// ```
pub fn network(c: &IpCidr) -> IpAddr {
    match c {
        IpCidr::Ipv4(v4) => IpAddr::V4(Ipv4Cidr::network(v4).address()),
        IpCidr::Ipv6(v6) => {
            let keep = u128::MAX
                .checked_shl(128 - u32::from(v6.prefix_len()))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6.address()) & keep))
        }
    }
}

/// True if `addr` lies in `c` (never across address families).
pub fn contains(c: &IpCidr, addr: IpAddr) -> bool {
    c.contains_addr(&IpAddress::from(addr))
}

/// True if `a` and `b` share an address: one contains the other.
pub fn overlaps(a: &IpCidr, b: &IpCidr) -> bool {
    a.contains_subnet(b) || b.contains_subnet(a)
}

/// Parses a MAC address written `aa:bb:cc:dd:ee:ff` (or with `-`).
/// Written here rather than taken from smoltcp's `EthernetAddress`, whose
/// feature (`medium-ethernet`) drags in smoltcp's socket layer.
///
/// ```
/// use xskit_xdp::addr::parse_mac;
/// assert_eq!(parse_mac("02:00:00:00:00:0a").unwrap(), [2, 0, 0, 0, 0, 10]);
/// assert_eq!(parse_mac("02-00-00-00-00-0A").unwrap(), [2, 0, 0, 0, 0, 10]);
/// assert!(parse_mac("02:00:00:00:00").is_err());
/// assert!(parse_mac("02:00:00:00:00:0g").is_err());
/// ```
pub fn parse_mac(s: &str) -> anyhow::Result<[u8; 6]> {
    let bad = || anyhow::anyhow!("{s:?} is not a MAC address (e.g. 02:00:00:00:00:01)");
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut out = [0u8; 6];
    let mut parts = s.split(sep);
    for b in &mut out {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> IpCidr {
        let (a, l) = s.split_once('/').unwrap();
        cidr(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    #[test]
    fn networks_membership_and_overlap() {
        assert_eq!(
            network(&c("198.18.3.7/16")),
            "198.18.0.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            network(&c("fc00:dead:beef::1/64")),
            "fc00:dead:beef::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            network(&c("10.1.2.3/0")),
            "0.0.0.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(network(&c("::1/0")), "::".parse::<IpAddr>().unwrap());
        assert!(contains(&c("198.18.0.0/24"), "198.18.0.9".parse().unwrap()));
        assert!(!contains(
            &c("198.18.0.0/24"),
            "::ffff:198.18.0.9".parse().unwrap()
        ));
        assert!(overlaps(&c("198.18.0.0/15"), &c("198.18.0.0/24")));
        assert!(!overlaps(&c("fc00::/7"), &c("198.18.0.0/24")));
        assert!(cidr("198.18.0.0".parse().unwrap(), 33).is_none());
    }
}
