//! `xskit doctor`: what this machine can do with XDP and AF_XDP, and why not.
//!
//! One [`Report`], rendered as text or JSON. Everything is read, nothing is
//! attached or bound: the driver's own answers come from the kernel's
//! `netdev` netlink family (6.3+); before that, from a short list of drivers
//! whose support is known, and otherwise "unknown" with the reason.

pub mod metadata;
mod multiprog;
mod render;
pub mod rules;
mod trybind;

pub use render::render;
pub use trybind::try_zero_copy_bind;

use crate::app::shared::records::state;
use crate::net::addrs::interfaces;
use crate::net::genl;
use crate::net::netns;
use anyhow::Result;
use rules::{feature_names, judge, kernel_version, Answer, Judgement};
use serde::Serialize;
use std::io::Write;

/// Arguments of `xskit doctor`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DoctorArgs {
    /// Only this interface [default: every interface in this namespace]
    pub interface: Option<String>,
    /// JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Try a zero-copy bind on this queue of IFACE (default 0; pick one that
    /// carries no traffic) and answer zero-copy from it. Some drivers reset
    /// the queue or the link for it (igb: ~2 s without carrier)
    #[arg(long, value_name = "QUEUE", num_args = 0..=1, default_missing_value = "0", requires = "interface")]
    pub try_bind: Option<u32>,
    #[command(flatten)]
    pub ns: crate::app::shared::ns::NsArgs,
}

/// The whole report.
#[derive(Serialize, Debug)]
pub struct Report {
    /// `uname -r`.
    pub kernel: String,
    /// BPF support around the programs.
    pub bpf: Bpf,
    /// Who we are and which capabilities we hold.
    pub privileges: Privileges,
    /// RLIMIT_MEMLOCK.
    pub memlock: Memlock,
    /// One entry per interface.
    pub interfaces: Vec<Interface>,
}

/// BPF facilities.
#[derive(Serialize, Debug)]
pub struct Bpf {
    /// /sys/kernel/btf/vmlinux exists (CO-RE, BTF-typed maps).
    pub btf_vmlinux: bool,
    /// Where a bpffs is mounted, if anywhere (`xskit load` pins need it).
    pub bpffs: Option<String>,
    /// bpf_jit_enable (0 off, 1 on, 2 on with debug output), where
    /// [`Bpf::jit_from`] says.
    pub jit: Option<u32>,
    /// Where `jit` was read: the sysctl (only the initial network namespace
    /// has it), that of PID 1's namespace, or whether a program loaded for
    /// the check was JIT-compiled (then 0 or 1).
    pub jit_from: String,
    /// /proc/sys/kernel/unprivileged_bpf_disabled.
    pub unprivileged_bpf_disabled: Option<u32>,
    /// Whether extension programs (BPF_PROG_TYPE_EXT) load, which
    /// libxdp's multi-program dispatcher needs (a real load, not a guess).
    pub extensions: Answer,
}

/// One capability.
#[derive(Serialize, Debug)]
pub struct Cap {
    /// CAP_... name.
    pub name: &'static str,
    /// Held in the effective set.
    pub held: bool,
    /// What xskit needs it for.
    pub for_what: &'static str,
}

/// Privileges held.
#[derive(Serialize, Debug)]
pub struct Privileges {
    /// Effective user id.
    pub euid: u32,
    /// CapEff of /proc/self/status.
    pub cap_eff: u64,
    /// The capabilities xskit uses.
    pub capabilities: Vec<Cap>,
}

/// RLIMIT_MEMLOCK (None: unlimited).
#[derive(Serialize, Debug)]
pub struct Memlock {
    /// Soft limit in bytes.
    pub soft: Option<u64>,
    /// Hard limit in bytes.
    pub hard: Option<u64>,
    /// What it limits here.
    pub note: String,
}

/// The XDP program attached to an interface now.
#[derive(Serialize, Debug)]
pub struct Attached {
    /// Program name.
    pub program: String,
    /// Kernel program id.
    pub id: u32,
    /// native, skb, offload, multi.
    pub mode: String,
    /// Who attached it / holds it.
    pub owner: String,
}

/// One interface.
#[derive(Serialize, Debug)]
pub struct Interface {
    /// Name.
    pub name: String,
    /// Index.
    pub ifindex: u32,
    /// Driver (ethtool), if it says.
    pub driver: Option<String>,
    /// MTU now.
    pub mtu: Option<u32>,
    /// Largest MTU the device takes (0: the driver sets none, as loopback).
    pub max_mtu: Option<u32>,
    /// Rx queues (ethtool channels, else the device's rx queue count).
    pub rx_queues: Option<u32>,
    /// NETDEV_XDP_ACT_* names the driver reports (6.3+), None before.
    pub xdp_features: Option<Vec<&'static str>>,
    /// Native (driver) XDP.
    pub native_xdp: Answer,
    /// AF_XDP zero-copy.
    pub zero_copy: Answer,
    /// XDP_USE_NEED_WAKEUP.
    pub need_wakeup: Answer,
    /// AF_XDP multi-buffer (frames over several chunks).
    pub multi_buffer: Answer,
    /// RX metadata kfuncs and zero-copy TX metadata requests.
    pub metadata: metadata::Metadata,
    /// XDP program attached now.
    pub attached: Option<Attached>,
}

fn uname_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

fn read_u32(path: &str) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The capabilities xskit uses: (number, name, what for).
pub const CAPS: [(u32, &str, &str); 6] = [
    (
        12,
        "CAP_NET_ADMIN",
        "attach XDP, bind AF_XDP, make namespaces and links",
    ),
    (13, "CAP_NET_RAW", "AF_XDP and AF_PACKET sockets"),
    (
        39,
        "CAP_BPF",
        "load programs and maps (5.8+; CAP_SYS_ADMIN before)",
    ),
    (
        21,
        "CAP_SYS_ADMIN",
        "mount bpffs, enter namespaces, BPF before 5.8",
    ),
    (
        38,
        "CAP_PERFMON",
        "BPF programs that read kernel memory (5.8+)",
    ),
    (14, "CAP_IPC_LOCK", "UMEM above RLIMIT_MEMLOCK"),
];

/// CapEff of `status` (the text of /proc/PID/status), 0 if absent.
pub fn cap_eff(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

fn privileges() -> Privileges {
    let eff = cap_eff(&std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default());
    Privileges {
        euid: rustix::process::geteuid().as_raw(),
        cap_eff: eff,
        capabilities: CAPS
            .iter()
            .map(|&(bit, name, for_what)| Cap {
                name,
                held: eff & (1u64 << bit) != 0,
                for_what,
            })
            .collect(),
    }
}

fn memlock(kernel: (u32, u32), ipc_lock: bool) -> Memlock {
    // rustix reports an unlimited value as None.
    let r = rustix::process::getrlimit(rustix::process::Resource::Memlock);
    let maps = if kernel >= (5, 11) {
        "BPF maps are charged to the memory cgroup (5.11+), not to it"
    } else {
        "BPF maps are charged to it (before 5.11)"
    };
    let umem = if ipc_lock {
        "UMEM is not limited by it (CAP_IPC_LOCK held)"
    } else {
        "UMEM registration counts against it (no CAP_IPC_LOCK)"
    };
    Memlock {
        soft: r.current,
        hard: r.maximum,
        note: format!("{umem}; {maps}"),
    }
}

/// bpf_jit_enable and where it was read. The net.core BPF sysctls exist
/// only in the initial network namespace (the JIT is the machine's, not a
/// namespace's): inside another one they are read from PID 1's namespace,
/// and where that is refused, from whether a program loaded now (xdp_pass,
/// never attached) is JIT-compiled.
fn jit() -> (Option<u32>, String) {
    const SYSCTL: &str = "/proc/sys/net/core/bpf_jit_enable";
    if let Some(v) = read_u32(SYSCTL) {
        return (Some(v), "sysctl".into());
    }
    if let Ok(f) = std::fs::File::open("/proc/1/ns/net") {
        use std::os::fd::AsFd;
        if let Ok(Some(v)) =
            crate::app::shared::records::identity::run_in_fd(f.as_fd(), || read_u32(SYSCTL))
        {
            return (Some(v), "the sysctl of PID 1's network namespace".into());
        }
    }
    let Ok(prog) = crate::xdp::XdpProgram::load(crate::xdp::Program::Pass, 1) else {
        return (
            None,
            "unknown (no sysctl here, and no program could be loaded)".into(),
        );
    };
    // The newest xdp_pass: this one, or one loaded since (the same JIT).
    let jitted = aya::programs::loaded_programs()
        .flatten()
        .filter(|p| p.name_as_str() == Some("xdp_pass"))
        .max_by_key(|p| p.id())
        .map(|p| p.size_jitted() > 0);
    drop(prog);
    match jitted {
        Some(j) => (
            Some(u32::from(j)),
            "a test program's JIT size: no sysctl in this network namespace".into(),
        ),
        None => (None, "unknown (no sysctl here)".into()),
    }
}

fn bpffs_mount() -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "bpf").then(|| f[1].to_string())
    })
}

fn attached(iface: &str, ifindex: u32) -> Result<Option<Attached>> {
    let Some((program, id, mode)) = netns::xdp_attachment(iface)? else {
        return Ok(None);
    };
    let dispatcher = crate::app::shared::records::owner::dispatcher_of(iface, &program, id);
    let owner = if let Some(d) = dispatcher {
        format!(
            "{d}, attached through netlink; xskit's commands join it as components (unless \
             --exclusive)"
        )
    } else if state::load_meta(iface)?.is_some_and(|m| m.prog_id == id) {
        "xskit load (BPF link pinned in bpffs; `xskit unload` detaches it)".to_string()
    } else {
        let holders = crate::app::shared::records::process::link_holders(id, ifindex);
        if holders.is_empty() {
            "no process holds a BPF link to it: attached through netlink (`ip link set ... xdp`, older loaders) or a link pinned in bpffs; it stays until detached".into()
        } else {
            format!(
                "BPF link held by {} (goes when that exits)",
                holders.join(", ")
            )
        }
    };
    Ok(Some(Attached {
        program,
        id,
        mode: mode.into(),
        owner,
    }))
}

/// The negotiated feature bits of the virtio device under interface `name`
/// (its sysfs `device/features`), if sysfs shows this very interface:
/// sysfs shows the network namespace it was mounted in, which `--netns`
/// does not change, so the ifindex must match too.
fn virtio_features(name: &str, ifindex: u32) -> Option<String> {
    let base = format!("/sys/class/net/{name}");
    if read_u32(&format!("{base}/ifindex"))? != ifindex {
        return None;
    }
    let f = std::fs::read_to_string(format!("{base}/device/features")).ok()?;
    Some(f.trim().to_string())
}

fn interface(name: &str, kernel: (u32, u32), data_meta: Option<bool>) -> Result<Interface> {
    let ifindex = xsk::netdev::ifindex(name)?;
    let link: serde_json::Value = serde_json::from_str(&netns::ip_output(&[
        "-d", "-j", "link", "show", "dev", name,
    ])?)?;
    let link = &link[0];
    let num = |k: &str| link.get(k).and_then(|v| v.as_u64()).map(|v| v as u32);
    let driver = xsk::netdev::driver(name).ok().flatten();
    let features = genl::netdev_features(ifindex)?;
    let virtio = match driver.as_deref() {
        Some("virtio_net") => virtio_features(name, ifindex),
        _ => None,
    };
    let Judgement {
        native_xdp,
        zero_copy,
        need_wakeup,
        multi_buffer,
    } = judge(
        kernel,
        driver.as_deref(),
        features.as_ref(),
        virtio.as_deref(),
    );
    let metadata = metadata::judge(kernel, features.as_ref(), native_xdp.value, data_meta);
    Ok(Interface {
        name: name.into(),
        ifindex,
        driver,
        mtu: num("mtu"),
        max_mtu: num("max_mtu"),
        rx_queues: xsk::netdev::rx_queue_count(name)
            .ok()
            .flatten()
            .or(num("num_rx_queues")),
        xdp_features: features.map(|f| feature_names(f.xdp_features)),
        native_xdp,
        zero_copy,
        need_wakeup,
        multi_buffer,
        metadata,
        attached: attached(name, ifindex)?,
    })
}

/// Builds the report for `only` or every interface of this namespace.
pub fn report(only: Option<&str>) -> Result<Report> {
    let kernel = uname_release();
    let kv = kernel_version(&kernel);
    let privileges = privileges();
    let ipc_lock = privileges
        .capabilities
        .iter()
        .any(|c| c.name == "CAP_IPC_LOCK" && c.held);
    let names = match only {
        Some(i) => vec![i.to_string()],
        None => interfaces(),
    };
    let (jit, jit_from) = jit();
    // Kernel-wide: may XDP programs put metadata in front of a frame?
    // (None where the probe could not load, e.g. without CAP_BPF.)
    let data_meta = xskit_xdp::meta::kernel_allows_data_meta().ok();
    Ok(Report {
        bpf: Bpf {
            btf_vmlinux: std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
            bpffs: bpffs_mount(),
            jit,
            jit_from,
            unprivileged_bpf_disabled: read_u32("/proc/sys/kernel/unprivileged_bpf_disabled"),
            extensions: multiprog::extensions(),
        },
        memlock: memlock(kv, ipc_lock),
        privileges,
        interfaces: names
            .iter()
            .map(|n| interface(n, kv, data_meta))
            .collect::<Result<_>>()?,
        kernel,
    })
}

/// `xskit doctor`.
pub fn run(args: &DoctorArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter_network_only()?;
    let mut r = report(args.interface.as_deref())?;
    if let (Some(q), Some(i)) = (args.try_bind, r.interfaces.first_mut()) {
        i.zero_copy = try_zero_copy_bind(&i.name, q);
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
    } else {
        render(&r, out)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::rules::Value;
    use super::*;

    #[test]
    fn kernel_versions_and_capabilities_parse() {
        assert_eq!(kernel_version("6.12.117+deb12-amd64"), (6, 12));
        assert_eq!(kernel_version("6.1.0-56-amd64"), (6, 1));
        assert_eq!(kernel_version("5.4.0"), (5, 4));
        assert_eq!(
            cap_eff("Name:\tx\nCapEff:\t000001ffffffffff\n"),
            0x1ffffffffff
        );
        assert_eq!(cap_eff("CapEff:\t0000000000003000\n") & (1 << 12), 1 << 12);
        assert_eq!(cap_eff("nothing"), 0);
    }

    #[test]
    fn doctor_report_text_and_json_carry_the_same_values() {
        let a = |v, why: &str| super::rules::answer(v, why);
        let r = Report {
            kernel: "6.12.9-test".into(),
            bpf: Bpf {
                btf_vmlinux: true,
                bpffs: Some("/sys/fs/bpf".into()),
                jit: Some(1),
                jit_from: "sysctl".into(),
                unprivileged_bpf_disabled: Some(2),
                extensions: rules::answer(
                    rules::Value::No,
                    "EPERM: this kernel refuses extension programs",
                ),
            },
            privileges: Privileges {
                euid: 4242,
                cap_eff: 0x3000,
                capabilities: vec![Cap {
                    name: "CAP_NET_RAW",
                    held: true,
                    for_what: "AF_XDP and AF_PACKET sockets",
                }],
            },
            memlock: Memlock {
                soft: Some(8 << 20),
                hard: None,
                note: "UMEM registration counts against it".into(),
            },
            interfaces: vec![Interface {
                name: "xsk0".into(),
                ifindex: 77,
                driver: Some("veth".into()),
                mtu: Some(1500),
                max_mtu: Some(65535),
                rx_queues: Some(3),
                xdp_features: Some(vec!["basic", "redirect"]),
                native_xdp: a(Value::Yes, "the driver reports basic"),
                zero_copy: a(Value::No, "veth copies"),
                need_wakeup: a(Value::Yes, "since 5.4"),
                multi_buffer: a(Value::Unknown, "not reported"),
                metadata: metadata::Metadata {
                    rx: a(Value::Yes, "hash, vlan-tag from the driver"),
                    rx_kfuncs: Some(vec!["hash", "vlan-tag"]),
                    tx_zero_copy: Some(vec!["checksum"]),
                },
                attached: Some(Attached {
                    program: "xdp_pass".into(),
                    id: 991,
                    mode: "native".into(),
                    owner: "xskit load (pinned)".into(),
                }),
            }],
        };
        // CapEff is shown in hex, memlock in MiB, JIT and the unprivileged
        // switch in words, features joined by commas.
        crate::app::shared::report::assert_text_shows_json(
            &r,
            &[
                "privileges.cap_eff",
                "memlock.soft",
                "bpf.unprivileged_bpf_disabled",
                "interfaces.xdp_features",
            ],
        );
        let text = r.to_string();
        assert!(
            text.contains("CapEff 0x3000") && text.contains("soft 8 MiB"),
            "{text}"
        );
        assert!(
            text.contains("basic,redirect") && text.contains("disabled"),
            "{text}"
        );
    }
}
