use super::Filter;
use crate::wire::build;

fn f(s: &str) -> Filter {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn primitives_and_combinations() {
    let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let udp = build::udp(
        a,
        b,
        "198.18.0.2".parse().unwrap(),
        "198.18.0.1".parse().unwrap(),
        1024,
        53,
        &[0; 20],
    );
    let udp6 = build::udp(
        a,
        b,
        "fc00::2".parse().unwrap(),
        "fc00::1".parse().unwrap(),
        5,
        80,
        &[0; 20],
    );
    for (e, want4, want6) in [
        ("udp", true, true),
        ("tcp", false, false),
        ("ip", true, false),
        ("ip6", false, true),
        ("host 198.18.0.1", true, false),
        ("src host 198.18.0.1", false, false),
        ("dst 198.18.0.1", true, false),
        ("net 198.18.0.0/24 or net fc00::/7", true, true),
        ("port 53 or 80", true, true),
        ("udp dst port 53", true, false),
        ("not (port 53 or arp)", false, true),
        ("!ip && udp", false, true),
        ("ether src 02:00:00:00:00:01 and vlan", false, false),
        ("icmp or icmp6", false, false),
        ("portrange 50-60", true, false),
        ("udp dst portrange 70-90", false, true),
        ("src portrange 1-5", false, true),
        ("ip proto 17", true, false),
        ("ip6 proto 17", false, true),
        ("proto 6", false, false),
        ("greater 60", true, true),
        ("less 70", true, false),
        ("len > 70", false, true),
        ("len != 82", true, false),
        ("len>70", false, true),
        ("len<=62&&ip", true, false),
        ("ip&&!tcp", true, false),
        ("!!udp", true, true),
        ("net 198.18", true, false),
        ("src net 198", true, false),
        ("inbound", true, true),
        ("outbound", false, false),
    ] {
        assert_eq!(f(e).matches(&udp), want4, "{e} on IPv4");
        assert_eq!(f(e).matches(&udp6), want6, "{e} on IPv6");
    }
    for bad in [
        "",
        "host",
        "port 70000",
        "host 1.2.3.4/8",
        "(udp",
        "udp udp",
        "vlan 5000",
        "ether x",
    ] {
        assert!(bad.parse::<Filter>().is_err(), "{bad}");
    }
    // Errors that say what was expected.
    for (bad, says) in [
        ("portrange 20", "FIRST-LAST"),
        ("portrange 20-x", "\"x\" is not a port number"),
        ("greater x", "`greater` needs a number"),
        ("len 70", "`len` is compared with"),
        ("tcp[tcpflags] & 2 != 0", "byte-offset expressions"),
        ("tcp [13] = 2", "byte-offset expressions"),
        ("ip proto tcp", "protocol number 0 to 255"),
        ("net 198.18.5.1/24", "the network is 198.18.5.0/24"),
        ("net fc00::1/64", "the network is fc00::/64"),
        ("foo", "expected host, net"),
        ("udp and bar", "unknown word \"bar\""),
    ] {
        let e = bad.parse::<Filter>().unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
    // Only a live capture knows the direction.
    assert!(f("udp or not inbound").uses_direction());
    assert!(!f("udp or len > 5").uses_direction());
    // `len` compares the length on the wire, not what was captured.
    assert!(f("greater 100").matches_frame(&udp[..40], 100));
    assert!(!f("greater 100").matches_frame(&udp, 99));
}
