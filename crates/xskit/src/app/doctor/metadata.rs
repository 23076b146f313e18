//! What `xskit doctor` says about frame metadata on one interface: the RX
//! metadata kfuncs its driver implements (what `RxMetaProgram` and `dump
//! --rx-meta` can read) and the AF_XDP TX metadata requests its driver
//! carries out in zero-copy mode, as the `netdev` family lists them (6.8+).

use super::rules::{answer, Answer, Value};
use crate::net::genl::{rx_meta, xsk_flags, DevFeatures};
use serde::Serialize;

/// Frame metadata on one interface.
#[derive(Serialize, Debug)]
pub struct Metadata {
    /// Whether each frame can reach an AF_XDP socket with the driver's RX
    /// metadata (`xskit_xdp::RxMetaProgram`).
    pub rx: Answer,
    /// The RX metadata kfuncs the driver implements (`hash`, `timestamp`,
    /// `vlan-tag`); `None` where the kernel does not list them (before 6.8).
    pub rx_kfuncs: Option<Vec<&'static str>>,
    /// The TX metadata requests the driver carries out in zero-copy mode
    /// (`checksum`, `timestamp`, `launch-time`); `None` before 6.8.
    pub tx_zero_copy: Option<Vec<&'static str>>,
}

fn names(bits: u64, table: &[(u64, &'static str)]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|&(_, n)| n)
        .collect()
}

/// The answer for a kernel of version `kernel`, a driver that reported
/// `features` (`None`: no `netdev` family), with native XDP or not, on a
/// kernel whose XDP programs may call `bpf_xdp_adjust_meta` or not (`None`:
/// could not be probed).
pub fn judge(
    kernel: (u32, u32),
    features: Option<&DevFeatures>,
    native: Value,
    data_meta: Option<bool>,
) -> Metadata {
    let rx_kfuncs = features.and_then(|f| f.rx_metadata).map(|b| {
        names(
            b,
            &[
                (rx_meta::HASH, "hash"),
                (rx_meta::TIMESTAMP, "timestamp"),
                (rx_meta::VLAN_TAG, "vlan-tag"),
            ],
        )
    });
    let tx_zero_copy = features.and_then(|f| f.xsk_features).map(|b| {
        names(
            b,
            &[
                (xsk_flags::TX_CHECKSUM, "checksum"),
                (xsk_flags::TX_TIMESTAMP, "timestamp"),
                (xsk_flags::TX_LAUNCH_TIME_FIFO, "launch-time"),
            ],
        )
    });
    let rx = if kernel < (6, 3) {
        answer(Value::No, "the RX metadata kfuncs need Linux 6.3")
    } else if data_meta == Some(false) {
        answer(Value::No, xskit_xdp::meta::REFUSES_DATA_META)
    } else if native == Value::No {
        answer(
            Value::No,
            "RX metadata needs a device-bound program attached in native mode, which this driver lacks",
        )
    } else {
        match &rx_kfuncs {
            Some(k) if k.is_empty() => answer(
                Value::No,
                "the driver implements no RX metadata kfunc: every field would be absent",
            ),
            Some(k) => answer(
                if data_meta.is_some() {
                    Value::Yes
                } else {
                    Value::Unknown
                },
                format!(
                    "{} from the driver (`dump --rx-meta`, xskit_xdp::RxMetaProgram){}",
                    k.join(", "),
                    if data_meta.is_some() {
                        ""
                    } else {
                        "; whether XDP programs may call bpf_xdp_adjust_meta could not be checked"
                    }
                ),
            ),
            None => answer(
                Value::Unknown,
                "the kernel lists a driver's RX metadata kfuncs from 6.8; the program's load tells",
            ),
        }
    };
    Metadata {
        rx,
        rx_kfuncs,
        tx_zero_copy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(rx: Option<u64>, tx: Option<u64>) -> DevFeatures {
        DevFeatures {
            rx_metadata: rx,
            xsk_features: tx,
            ..Default::default()
        }
    }

    #[test]
    fn rx_metadata_is_yes_only_with_kfuncs_native_xdp_and_the_helper() {
        let veth = dev(Some(7), Some(0));
        let m = judge((6, 18), Some(&veth), Value::Yes, Some(true));
        assert_eq!(m.rx.value, Value::Yes, "{}", m.rx.why);
        assert_eq!(m.rx_kfuncs, Some(vec!["hash", "timestamp", "vlan-tag"]));
        assert_eq!(m.tx_zero_copy, Some(vec![]));
        assert!(
            m.rx.why.starts_with("hash, timestamp, vlan-tag"),
            "{}",
            m.rx.why
        );
        // A kernel whose XDP programs may not call bpf_xdp_adjust_meta.
        let m = judge((6, 18), Some(&veth), Value::Yes, Some(false));
        assert_eq!(m.rx.value, Value::No);
        assert!(m.rx.why.contains("bpf_xdp_adjust_meta"), "{}", m.rx.why);
        // Before 6.3; no native XDP; a driver without kfuncs; before 6.8.
        assert_eq!(
            judge((6, 1), Some(&veth), Value::Yes, Some(true)).rx.value,
            Value::No
        );
        assert_eq!(
            judge((6, 18), Some(&veth), Value::No, Some(true)).rx.value,
            Value::No
        );
        let bare = dev(
            Some(0),
            Some(xsk_flags::TX_CHECKSUM | xsk_flags::TX_TIMESTAMP),
        );
        let m = judge((6, 18), Some(&bare), Value::Yes, Some(true));
        assert_eq!(m.rx.value, Value::No);
        assert_eq!(m.tx_zero_copy, Some(vec!["checksum", "timestamp"]));
        // Each bit by the kernel's value (linux/netdev.h): RX timestamp 1,
        // hash 2, VLAN tag 4; TX timestamp 1, checksum 2, launch time 4.
        for (bit, name) in [(1, "timestamp"), (2, "hash"), (4, "vlan-tag")] {
            let m = judge((6, 18), Some(&dev(Some(bit), Some(bit))), Value::Yes, None);
            assert_eq!(m.rx_kfuncs, Some(vec![name]));
        }
        for (bit, name) in [(1, "timestamp"), (2, "checksum"), (4, "launch-time")] {
            let m = judge((6, 18), Some(&dev(Some(0), Some(bit))), Value::Yes, None);
            assert_eq!(m.tx_zero_copy, Some(vec![name]));
        }
        let m = judge((6, 6), Some(&dev(None, None)), Value::Yes, Some(true));
        assert_eq!(
            (m.rx.value, m.rx_kfuncs, m.tx_zero_copy),
            (Value::Unknown, None, None)
        );
    }
}
