//! How a command ends on a signal: a stop flag for the running loops, and
//! for the commands that make a sandbox of their own, its removal.

use super::sandbox;
use anyhow::{Context, Result};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Stop flag set by SIGINT and SIGTERM.
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    Ok(stop)
}

/// For the commands that make a sandbox of their own (demo, bench,
/// latency): the kernel removes BPF links with the process, but not named
/// network namespaces. A closed pipe becomes an error that unwinds through
/// the sandbox's guard, and SIGINT, SIGTERM or SIGHUP remove the sandbox
/// before the process ends (exit 128 + the signal).
pub fn remove_sandbox_on_exit(name: &str) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    crate::sys::ignore_sigpipe();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing signal handlers")?;
    let name = name.to_string();
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // Not halfway through making it: wait for `up` to finish.
            let _made = sandbox::SETTING_UP.lock();
            let _ = sandbox::down(&name);
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}
