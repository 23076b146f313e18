//! Packets, as typed views over frame bytes (smoltcp's `wire` types):
//! the echo responder's rewrite, one-line summaries, and frame builders.

pub mod build;
pub mod checksum;
pub mod cidr;
pub mod echo;
pub mod policy;
pub mod summary;

use smoltcp::wire::EthernetAddress;

/// Parses a MAC address written `aa:bb:cc:dd:ee:ff` (or with `-`), by
/// smoltcp's [`EthernetAddress`] parser.
///
/// ```
/// assert_eq!(xskit::wire::parse_mac("02:00:00:00:00:0a").unwrap(), [2, 0, 0, 0, 0, 10]);
/// assert!(xskit::wire::parse_mac("02:00:00:00:00").is_err());
/// ```
pub fn parse_mac(s: &str) -> anyhow::Result<[u8; 6]> {
    s.parse::<EthernetAddress>()
        .map(|a| a.0)
        .map_err(|()| anyhow::anyhow!("{s:?} is not a MAC address (e.g. 02:00:00:00:00:01)"))
}
