//! Whether this kernel loads extension programs (`BPF_PROG_TYPE_EXT`),
//! which libxdp's multi-program dispatcher is made of: answered by a real
//! load (`xskit_xdp::ext_probe`), never by the kernel's version.

use super::rules::{answer, Answer, Value};
use crate::xdp::ext_probe::{probe, ExtSupport};

/// The answer for what the probe saw.
pub fn judge(seen: &ExtSupport) -> Answer {
    match seen {
        ExtSupport::Loads => answer(
            Value::Yes,
            "extension programs load: multi-program dispatchers work here; xskit's commands join \
             one that is attached, and make one with --multiprog",
        ),
        ExtSupport::Refused {
            errno: Some(libc::EPERM),
            ..
        } => answer(
            Value::No,
            "EPERM: this kernel refuses extension programs, BPF_PROG_TYPE_EXT, though it loads XDP \
             programs; so no dispatcher can run here and an interface takes one XDP program: \
             libxdp attaches a lone program without a dispatcher and refuses a second, and xskit's \
             --multiprog is refused",
        ),
        ExtSupport::Refused { error, .. } => answer(
            Value::No,
            format!(
                "the kernel refused an extension program: {error}; so no libxdp dispatcher can run here \
                 and an interface takes one XDP program"
            ),
        ),
        ExtSupport::NoTarget(why) => answer(
            Value::Unknown,
            format!("the probe's XDP program did not load: {why}; loading BPF programs needs CAP_BPF and CAP_SYS_ADMIN"),
        ),
    }
}

/// Probes the kernel and answers.
pub fn extensions() -> Answer {
    judge(&probe())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_after_a_loaded_target_is_a_refusal_of_extensions() {
        let a = judge(&ExtSupport::Refused {
            errno: Some(libc::EPERM),
            error: "x".into(),
        });
        assert_eq!(a.value, Value::No);
        assert!(a
            .why
            .starts_with("EPERM: this kernel refuses extension programs"));
        assert_eq!(judge(&ExtSupport::Loads).value, Value::Yes);
        assert_eq!(
            judge(&ExtSupport::NoTarget("EPERM".into())).value,
            Value::Unknown
        );
    }
}
