//! How a command ends on a signal: a stop flag for the running loops, and
//! for the commands that make a sandbox of their own, its removal.

use super::sandbox;
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The signal a sandbox's handler thread is ending the process for (0:
/// none yet).
static ENDING: AtomicI32 = AtomicI32::new(0);

/// Stop flag set by SIGINT, SIGTERM and SIGHUP (a closed terminal or SSH
/// session): the command ends as on Ctrl-C, taking out what it attached
/// (a component of a dispatcher would otherwise stay; a BPF link would go
/// anyway).
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
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
            // From here the command's own thread may fail (its namespaces
            // are going away); `ending` keeps it from exiting first.
            ENDING.store(sig, Ordering::SeqCst);
            // Not halfway through making it: wait for `up` to finish.
            let _made = sandbox::SETTING_UP.lock();
            let _ = sandbox::down(&name);
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}

/// Where a signal is ending the process ([`remove_sandbox_on_exit`]'s
/// thread is removing the sandbox and then exits 128 + the signal): waits
/// for that thread to end the process, and returns 128 + the signal should
/// it not have within 10 s. The command's own result, success or the error
/// its vanishing namespaces caused ("Network is unreachable"), is not what
/// ended it. `None` where no signal came.
pub fn ending() -> Option<i32> {
    let sig = ENDING.load(Ordering::SeqCst);
    if sig == 0 {
        return None;
    }
    std::thread::sleep(Duration::from_secs(10));
    Some(128 + sig)
}
