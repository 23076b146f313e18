//! What a kernel version and a driver support: the rules behind `xskit
//! doctor`. The driver's own answers come from the kernel's `netdev` netlink
//! family (6.3+); before that, from a short list of drivers whose support is
//! known, and otherwise "unknown" with the reason.

use crate::net::genl::{xdp_act, DevFeatures};
use serde::Serialize;
use xsk::netdev::{virtio_bit, VIRTIO_F_ACCESS_PLATFORM};

/// A yes/no answer that may not be known.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Value {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Cannot be told from here (the reason says why).
    Unknown,
}

/// An answer and where it comes from.
#[derive(Serialize, Clone, Debug)]
pub struct Answer {
    /// The answer.
    pub value: Value,
    /// Why, or what to do instead.
    pub why: String,
}

pub fn answer(value: Value, why: impl Into<String>) -> Answer {
    Answer {
        value,
        why: why.into(),
    }
}

/// Linux major.minor of a release string such as `6.12.117+deb12-amd64`.
pub fn kernel_version(release: &str) -> (u32, u32) {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|s| s.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Drivers with native XDP, for kernels that cannot say (before 6.3).
const NATIVE_XDP_DRIVERS: &[&str] = &[
    "veth",
    "virtio_net",
    "tun",
    "bond",
    "mlx4_en",
    "mlx5_core",
    "i40e",
    "ice",
    "ixgbe",
    "ixgbevf",
    "igb",
    "igc",
    "bnxt_en",
    "nfp",
    "ena",
    "qede",
    "thunder-nicvf",
    "stmmac",
    "mvneta",
    "mvpp2",
    "sfc",
    "hv_netvsc",
    "netsec",
    "fec",
    "enetc",
    "dpaa2-eth",
    "xen-netfront",
];
/// Drivers with AF_XDP zero-copy (as of 6.1), for kernels that cannot say.
const ZERO_COPY_DRIVERS: &[&str] = &[
    "i40e",
    "ice",
    "ixgbe",
    "igc",
    "mlx5_core",
    "stmmac",
    "mvneta",
    "dpaa2-eth",
];
/// Drivers that never had AF_XDP zero-copy up to 6.1.
const NO_ZERO_COPY_DRIVERS: &[&str] = &["veth", "tun", "bond", "virtio_net", "ena", "hv_netvsc"];

/// Names of the NETDEV_XDP_ACT_* bits in `bits`.
pub fn feature_names(bits: u64) -> Vec<&'static str> {
    [
        (xdp_act::BASIC, "basic"),
        (xdp_act::REDIRECT, "redirect"),
        (xdp_act::NDO_XMIT, "ndo-xmit"),
        (xdp_act::XSK_ZEROCOPY, "xsk-zerocopy"),
        (xdp_act::HW_OFFLOAD, "hw-offload"),
        (xdp_act::RX_SG, "rx-sg"),
        (xdp_act::NDO_XMIT_SG, "ndo-xmit-sg"),
    ]
    .iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|&(_, n)| n)
    .collect()
}

/// What one interface can do, each answer with its reason.
#[derive(Clone, Debug)]
pub struct Judgement {
    /// Native (driver) XDP.
    pub native_xdp: Answer,
    /// AF_XDP zero-copy.
    pub zero_copy: Answer,
    /// need_wakeup on the rings.
    pub need_wakeup: Answer,
    /// AF_XDP multi-buffer.
    pub multi_buffer: Answer,
}

/// Zero-copy on virtio-net, which reports xsk-zerocopy (6.13+) whatever
/// the device negotiated: a bind needs the DMA API on both queues of the
/// pair (virtnet_xsk_pool_enable: no DMA device, EINVAL), and virtio uses
/// it only with VIRTIO_F_ACCESS_PLATFORM. `xsk_zerocopy`: the driver's
/// xdp-features flag (None: not reported); `features`: the virtio device's
/// sysfs `features` (None: not read).
pub fn virtio_net_zero_copy(
    kernel: (u32, u32),
    xsk_zerocopy: Option<bool>,
    features: Option<&str>,
) -> Answer {
    use Value::*;
    if kernel < (6, 13) {
        return answer(
            No,
            format!(
                "virtio-net has AF_XDP zero-copy from Linux 6.13 (this is {}.{}): copy mode",
                kernel.0, kernel.1
            ),
        );
    }
    if xsk_zerocopy == Some(false) {
        return answer(
            No,
            "the driver has no AF_XDP zero-copy (no xsk-zerocopy feature): copy mode (`-c`)",
        );
    }
    match features.and_then(|f| virtio_bit(f, VIRTIO_F_ACCESS_PLATFORM)) {
        Some(true) => answer(
            Yes,
            "the driver reports xsk-zerocopy and the device negotiated VIRTIO_F_ACCESS_PLATFORM",
        ),
        Some(false) => answer(
            No,
            "virtio-net without VIRTIO_F_ACCESS_PLATFORM (the host must give the device iommu_platform=on): zero-copy binds fail; copy mode",
        ),
        None => answer(
            Unknown,
            "the virtio device's feature bits could not be read (/sys/class/net/IFACE/device/features): a zero-copy bind works only if it negotiated VIRTIO_F_ACCESS_PLATFORM (iommu_platform=on); `xskit doctor IFACE --try-bind` tries one",
        ),
    }
}

/// The per-interface answers from the kernel version, the driver's name
/// and, where the kernel reports them (6.3+), the driver's features;
/// `virtio_features` is the sysfs `features` string of a virtio device
/// (virtio-net only, None elsewhere or where unreadable).
pub fn judge(
    kernel: (u32, u32),
    driver: Option<&str>,
    features: Option<&DevFeatures>,
    virtio_features: Option<&str>,
) -> Judgement {
    use Value::*;
    let drv = driver.unwrap_or("?");
    let listed = |l: &[&str]| driver.is_some_and(|d| l.contains(&d));
    let old = format!(
        "kernel {}.{} < 6.3 cannot report driver XDP features",
        kernel.0, kernel.1
    );
    let (native, zc) = match features {
        Some(f) => {
            (
                if f.xdp_features & xdp_act::BASIC != 0 {
                    answer(Yes, "the driver reports native XDP (netdev xdp-features)")
                } else {
                    answer(No, "the driver has no XDP support: only generic (skb) mode, `--mode skb`, slower")
                },
                if f.xdp_features & xdp_act::XSK_ZEROCOPY != 0 {
                    answer(Yes, "the driver reports xsk-zerocopy")
                } else {
                    answer(No, "the driver has no AF_XDP zero-copy (no xsk-zerocopy feature): copy mode (`-c`)")
                },
            )
        }
        None => (
            if listed(NATIVE_XDP_DRIVERS) {
                answer(
                    Yes,
                    format!("{drv} has native XDP (xskit's driver list; {old})"),
                )
            } else {
                answer(Unknown, format!("{old}; {drv} is not in xskit's driver list; `xskit echo --mode native` tries"))
            },
            if listed(ZERO_COPY_DRIVERS) {
                answer(
                    Yes,
                    format!("{drv} has zero-copy (xskit's driver list; {old})"),
                )
            } else if listed(NO_ZERO_COPY_DRIVERS) {
                answer(
                    No,
                    format!("{drv} has no zero-copy up to 6.1 (xskit's driver list): copy mode"),
                )
            } else {
                answer(
                    Unknown,
                    format!("{old}; `xskit doctor IFACE --try-bind` tries a zero-copy bind"),
                )
            },
        ),
    };
    let zc = if driver == Some("virtio_net") {
        virtio_net_zero_copy(
            kernel,
            features.map(|f| f.xdp_features & xdp_act::XSK_ZEROCOPY != 0),
            virtio_features,
        )
    } else {
        zc
    };
    let wakeup = if kernel >= (5, 4) {
        answer(
            Yes,
            "XDP_USE_NEED_WAKEUP (5.4+); copy mode always, zero-copy drivers implement it",
        )
    } else {
        answer(No, "needs 5.4; sockets are woken on every batch instead")
    };
    let multi = if kernel < (6, 6) {
        answer(
            No,
            "AF_XDP multi-buffer (XDP_USE_SG) needs 6.6; frames must fit one chunk",
        )
    } else {
        match features {
            Some(f) if f.xdp_features & xdp_act::RX_SG != 0 => answer(
                Yes,
                format!(
                    "XDP_USE_SG (6.6+) in copy mode, driver reports rx-sg{}",
                    f.zc_max_segs
                        .map_or(String::new(), |n| format!("; zero-copy: up to {n} buffers per frame"))
                ),
            ),
            Some(_) => answer(No, "the driver does not pass multi-buffer frames to XDP (no rx-sg): frames must fit one chunk"),
            None => answer(Unknown, "kernel does not report rx-sg"),
        }
    };
    Judgement {
        native_xdp: native,
        zero_copy: zc,
        need_wakeup: wakeup,
        multi_buffer: multi,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_kernels_fall_back_to_the_driver_list_and_say_so() {
        let Judgement {
            native_xdp: n,
            zero_copy: z,
            need_wakeup: w,
            multi_buffer: m,
        } = judge((6, 1), Some("veth"), None, None);
        assert_eq!(
            (n.value, z.value, w.value, m.value),
            (Value::Yes, Value::No, Value::Yes, Value::No)
        );
        assert!(n.why.contains("< 6.3"), "{}", n.why);
        assert!(m.why.contains("6.6"), "{}", m.why);
        let Judgement {
            native_xdp: n,
            zero_copy: z,
            ..
        } = judge((6, 1), Some("exotic"), None, None);
        assert_eq!((n.value, z.value), (Value::Unknown, Value::Unknown));
        let w = judge((5, 3), Some("veth"), None, None).need_wakeup;
        assert_eq!(w.value, Value::No);
    }

    #[test]
    fn reported_features_decide_on_new_kernels() {
        let f = DevFeatures {
            xdp_features: xdp_act::BASIC | xdp_act::XSK_ZEROCOPY | xdp_act::RX_SG,
            zc_max_segs: Some(4),
            ..Default::default()
        };
        let Judgement {
            native_xdp: n,
            zero_copy: z,
            multi_buffer: m,
            ..
        } = judge((6, 12), Some("exotic"), Some(&f), None);
        assert_eq!(
            (n.value, z.value, m.value),
            (Value::Yes, Value::Yes, Value::Yes)
        );
        assert!(m.why.contains('4'));
        let none = DevFeatures::default();
        let Judgement {
            native_xdp: n,
            zero_copy: z,
            multi_buffer: m,
            ..
        } = judge((6, 12), Some("veth"), Some(&none), None);
        assert_eq!(
            (n.value, z.value, m.value),
            (Value::No, Value::No, Value::No)
        );
        assert_eq!(
            feature_names(xdp_act::BASIC | xdp_act::RX_SG),
            ["basic", "rx-sg"]
        );
    }

    /// A virtio device's features string with `bits` set (128 chars, as sysfs).
    fn virtio(bits: &[usize]) -> String {
        (0..128)
            .map(|i| if bits.contains(&i) { '1' } else { '0' })
            .collect()
    }

    #[test]
    fn virtio_net_zero_copy_needs_access_platform_and_6_13() {
        let zc = DevFeatures {
            xdp_features: xdp_act::BASIC | xdp_act::REDIRECT | xdp_act::XSK_ZEROCOPY,
            zc_max_segs: Some(1),
            ..Default::default()
        };
        // VERSION_1 (32) and ACCESS_PLATFORM (33), on 6.13: yes.
        let with = virtio(&[0, 5, 32, 33]);
        let z = judge((6, 13), Some("virtio_net"), Some(&zc), Some(&with)).zero_copy;
        assert_eq!(z.value, Value::Yes, "{}", z.why);
        assert!(z.why.contains("VIRTIO_F_ACCESS_PLATFORM"), "{}", z.why);
        // Without bit 33 (this host's eth0, as sysfs prints it): no, why.
        let host = "11000101101110110000000000000100100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\n";
        assert_eq!(virtio_bit(host, 32), Some(true));
        assert_eq!(virtio_bit(host, 33), Some(false));
        for without in [virtio(&[0, 5, 32]), host.to_string()] {
            let z = judge((6, 18), Some("virtio_net"), Some(&zc), Some(&without)).zero_copy;
            assert_eq!(z.value, Value::No, "{}", z.why);
            assert_eq!(
                z.why,
                "virtio-net without VIRTIO_F_ACCESS_PLATFORM (the host must give the device iommu_platform=on): zero-copy binds fail; copy mode"
            );
        }
        // 6.12: no, whatever the device has.
        let z = judge((6, 12), Some("virtio_net"), Some(&zc), Some(&with)).zero_copy;
        assert_eq!(z.value, Value::No, "{}", z.why);
        assert!(z.why.contains("6.13"), "{}", z.why);
        let z = judge((6, 1), Some("virtio_net"), None, Some(&with)).zero_copy;
        assert_eq!(z.value, Value::No, "{}", z.why);
        // The driver not reporting xsk-zerocopy: no; the bits unreadable
        // (or too short to hold bit 33): unknown, saying what decides.
        let none = DevFeatures {
            xdp_features: xdp_act::BASIC,
            zc_max_segs: None,
            ..Default::default()
        };
        let z = judge((6, 13), Some("virtio_net"), Some(&none), Some(&with)).zero_copy;
        assert_eq!(z.value, Value::No, "{}", z.why);
        for unread in [None, Some("0101")] {
            let z = judge((6, 13), Some("virtio_net"), Some(&zc), unread).zero_copy;
            assert_eq!(z.value, Value::Unknown, "{}", z.why);
            assert!(z.why.contains("iommu_platform=on"), "{}", z.why);
        }
        // Other drivers: as before, the features string changes nothing.
        for (drv, f, want) in [
            ("igb", Some(&zc), Value::Yes),
            ("veth", Some(&none), Value::No),
            ("i40e", None, Value::Yes),
        ] {
            for v in [None, Some(with.as_str()), Some(host)] {
                assert_eq!(
                    judge((6, 18), Some(drv), f, v).zero_copy.value,
                    want,
                    "{drv}"
                );
                assert_eq!(
                    judge((6, 1), Some(drv), None, v).zero_copy.value,
                    judge((6, 1), Some(drv), None, None).zero_copy.value
                );
            }
        }
    }
}
