//! The configuration parser on byte fixtures laid out as libxdp's C
//! struct is (native order, as this machine's libxdp writes it).

use super::*;

/// A configuration of `len` bytes: header, then the three arrays.
fn fixture(version: u8, slots: &[(u32, u32, u32)], frags: u8, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    b[0] = MAGIC;
    b[1] = version;
    b[2] = slots.len() as u8;
    b[3] = frags;
    for (i, (chain, prio, flags)) in slots.iter().enumerate() {
        b[4 + 4 * i..8 + 4 * i].copy_from_slice(&chain.to_ne_bytes());
        b[44 + 4 * i..48 + 4 * i].copy_from_slice(&prio.to_ne_bytes());
        b[84 + 4 * i..88 + 4 * i].copy_from_slice(&flags.to_ne_bytes());
    }
    b
}

const PASS_AND_OWN: u32 = (1 << 2) | (1 << 31);

#[test]
fn version_2_with_two_programs() {
    let b = fixture(
        2,
        &[(PASS_AND_OWN, 20, 0), ((1 << 2) | (1 << 1), 50, 32)],
        0,
        V2_LEN,
    );
    let c = DispatcherConfig::parse(&b).unwrap();
    assert_eq!(c.version, 2);
    assert_eq!(c.num_progs_enabled, 2);
    assert!(!c.is_xdp_frags);
    assert_eq!(c.is_xdp_devbound, None);
    assert_eq!(c.run_prios[..3], [20, 50, 0]);
    assert_eq!(action_names(c.chain_call_actions[0]), ["XDP_PASS"]);
    assert_eq!(
        action_names(c.chain_call_actions[1]),
        ["XDP_DROP", "XDP_PASS"]
    );
    assert_eq!(c.program_flags[1], HAS_FRAGS);
}

#[test]
fn version_2_bytes_by_hand() {
    // magic 236, v2, one program, no frags; slot 0 chains on XDP_PASS
    // (and the dispatcher's bit 31), priority 50 (0x32); little-endian.
    let mut b = vec![0xec, 0x02, 0x01, 0x00, 0x04, 0x00, 0x00, 0x80];
    b.resize(44, 0);
    b.extend_from_slice(&[0x32, 0, 0, 0]);
    b.resize(V2_LEN, 0);
    if cfg!(target_endian = "little") {
        let c = DispatcherConfig::parse(&b).unwrap();
        assert_eq!(c.num_progs_enabled, 1);
        assert_eq!(c.run_prios[0], 50);
        assert_eq!(action_names(c.chain_call_actions[0]), ["XDP_PASS"]);
    }
}

#[test]
fn version_3_reads_devbound() {
    let mut b = fixture(3, &[(PASS_AND_OWN, 10, 0)], 1, V3_LEN);
    b[124] = 1;
    let c = DispatcherConfig::parse(&b).unwrap();
    assert_eq!(c.version, 3);
    assert!(c.is_xdp_frags);
    assert_eq!(c.is_xdp_devbound, Some(true));
    assert_eq!(c.run_prios[0], 10);
}

#[test]
fn refusals_say_why() {
    let newer = fixture(4, &[], 0, 132);
    assert_eq!(DispatcherConfig::parse(&newer), Err(ConfigError::Newer(4)));
    assert!(ConfigError::Newer(4)
        .to_string()
        .contains("newer than the newest xskit reads (3)"));
    let mut v1 = fixture(2, &[], 0, V2_LEN);
    v1[0] = 1; // version 1 starts with num_progs_enabled
    assert_eq!(DispatcherConfig::parse(&v1), Err(ConfigError::NoMagic));
    assert_eq!(DispatcherConfig::parse(&[]), Err(ConfigError::NoMagic));
    let short = fixture(3, &[], 0, V2_LEN);
    assert_eq!(
        DispatcherConfig::parse(&short),
        Err(ConfigError::Size {
            version: 3,
            len: V2_LEN,
            expected: V3_LEN
        })
    );
    let mut many = fixture(2, &[], 0, V2_LEN);
    many[2] = 11;
    assert_eq!(
        DispatcherConfig::parse(&many),
        Err(ConfigError::TooManyPrograms(11))
    );
    assert_eq!(
        DispatcherConfig::parse(&fixture(1, &[], 0, V2_LEN)),
        Err(ConfigError::Unknown(1))
    );
}

#[test]
fn action_names_leave_out_the_dispatchers_bit() {
    assert_eq!(action_names(1 << 31), Vec::<String>::new());
    assert_eq!(
        action_names((1 << 4) | (1 << 3) | 1),
        ["XDP_ABORTED", "XDP_TX", "XDP_REDIRECT"]
    );
    assert_eq!(action_names(1 << 7), ["action 7"]);
}

#[test]
fn shown_in_one_line() {
    let c = DispatcherConfig::parse(&fixture(
        2,
        &[(PASS_AND_OWN, 20, 0), (PASS_AND_OWN, 50, 0)],
        0,
        V2_LEN,
    ))
    .unwrap();
    let comp = |slot, name: &str, priority| Component {
        slot,
        name: Some(name.into()),
        id: Some(9 + u32::from(slot)),
        priority,
        chain_actions: vec!["XDP_PASS".into()],
        frags: false,
    };
    let d = Dispatcher {
        id: 57,
        config: Ok(c),
        components: vec![comp(0, "xsk_def_prog", 20), comp(1, "xdpfilt_alw_all", 50)],
        pin_dir: "/sys/fs/bpf/xdp/dispatch-3-57".into(),
        note: None,
        by: "libxdp",
    };
    assert_eq!(
        d.to_string(),
        "a libxdp dispatcher (v2, program id 57, 2 programs: xsk_def_prog prio 20, xdpfilt_alw_all prio 50)"
    );
    let ours = Dispatcher {
        by: "xskit",
        ..d.clone()
    };
    assert!(
        ours.to_string()
            .starts_with("xskit's dispatcher of libxdp's protocol (v2, program id 57,"),
        "{ours}"
    );
    let bad = Dispatcher {
        config: Err(ConfigError::Newer(4)),
        components: vec![],
        ..d
    };
    assert!(bad
        .to_string()
        .contains("cannot read: dispatcher version 4 is newer"));
}
