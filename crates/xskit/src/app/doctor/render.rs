//! The doctor's report as text: one screen, a line per answer.

use super::rules::Value;
use super::Report;
use std::fmt;
use std::io::Write;

fn yn(v: Value) -> &'static str {
    match v {
        Value::Yes => "yes",
        Value::No => "no",
        Value::Unknown => "unknown",
    }
}

fn bytes(v: Option<u64>) -> String {
    match v {
        None => "unlimited".into(),
        Some(b) if b >= 1 << 20 => format!("{} MiB", b >> 20),
        Some(b) => format!("{} KiB", b >> 10),
    }
}

/// The report as text, one screen (each line ends with a newline).
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        let o = |v: Option<u32>| v.map_or("?".to_string(), |v| v.to_string());
        writeln!(f, "kernel      {}", r.kernel)?;
        writeln!(
            f,
            "bpf         BTF {}, bpffs {}, JIT {} (from {}), unprivileged BPF {}",
            if r.bpf.btf_vmlinux {
                "yes (/sys/kernel/btf/vmlinux)"
            } else {
                "no"
            },
            r.bpf
                .bpffs
                .as_deref()
                .unwrap_or("not mounted (`xskit load` mounts /sys/fs/bpf)"),
            o(r.bpf.jit),
            r.bpf.jit_from,
            match r.bpf.unprivileged_bpf_disabled {
                Some(0) => "allowed",
                Some(_) => "disabled",
                None => "?",
            }
        )?;
        writeln!(
            f,
            "extensions  {} ({})",
            yn(r.bpf.extensions.value),
            r.bpf.extensions.why
        )?;
        writeln!(
            f,
            "privileges  euid {}, CapEff {:#x}",
            r.privileges.euid, r.privileges.cap_eff
        )?;
        for c in &r.privileges.capabilities {
            writeln!(
                f,
                "  {:<3} {:<14} {}",
                if c.held { "yes" } else { "NO" },
                c.name,
                c.for_what
            )?;
        }
        writeln!(
            f,
            "memlock     soft {}, hard {}: {}",
            bytes(r.memlock.soft),
            bytes(r.memlock.hard),
            r.memlock.note
        )?;
        for i in &r.interfaces {
            writeln!(f)?;
            writeln!(
                f,
                "{} (index {}): driver {}, mtu {} ({}), rx queues {}, xdp-features {}",
                i.name,
                i.ifindex,
                i.driver.as_deref().unwrap_or("?"),
                o(i.mtu),
                match i.max_mtu {
                    Some(0) => "no maximum set by the driver".to_string(),
                    m => format!("max {}", o(m)),
                },
                o(i.rx_queues),
                i.xdp_features
                    .as_ref()
                    .map_or("not reported (kernel < 6.3)".into(), |f| if f.is_empty() {
                        "none".into()
                    } else {
                        f.join(",")
                    })
            )?;
            for (k, a) in [
                ("native XDP", &i.native_xdp),
                ("zero-copy", &i.zero_copy),
                ("need_wakeup", &i.need_wakeup),
                ("multi-buffer", &i.multi_buffer),
            ] {
                writeln!(f, "  {k:<13}{:<8} {}", yn(a.value), a.why)?;
            }
            let m = &i.metadata;
            writeln!(
                f,
                "  {:<13}{:<8} {}",
                "RX metadata",
                yn(m.rx.value),
                m.rx.why
            )?;
            writeln!(
                f,
                "  {:<13}{}",
                "TX metadata",
                match &m.tx_zero_copy {
                    None => "not listed by the kernel (before 6.8)".to_string(),
                    Some(t) if t.is_empty() =>
                        "the driver carries out no request in zero-copy mode".into(),
                    Some(t) => format!("{} in zero-copy mode (the driver's)", t.join(", ")),
                }
            )?;
            match &i.attached {
                None => writeln!(f, "  {:<13}none", "attached")?,
                Some(a) => writeln!(
                    f,
                    "  {:<13}{} (id {}, {} mode): {}",
                    "attached", a.program, a.id, a.mode, a.owner
                )?,
            }
        }
        Ok(())
    }
}

impl crate::app::shared::report::Report for Report {}

/// The report as text, one screen.
pub fn render(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    write!(out, "{r}")
}
