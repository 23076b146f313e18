//! Making a state directory and putting something in it, while other
//! xskit processes remove the roots of state they find empty
//! ([`super::state::remove_empty_roots`]).
//!
//! An empty directory can be removed by another process at any moment
//! between its `mkdir` and the first file in it; once a file is in it, it
//! stays (`rmdir` removes only empty directories). Even
//! `std::fs::create_dir_all` can fail here: its `mkdir` sees `EEXIST`, and
//! by the time it checks that the path is a directory, another process has
//! removed it. So both steps are tried again while the directory is found
//! missing after a failure; a lock would have to be a file outside the
//! roots, left behind for good.

use anyhow::{Context, Result};
use std::path::Path;

/// How often a removal between the two steps is met before the error is
/// reported: each retry needs another process's `rmdir` to land in a
/// window of microseconds, after a pause (at most 3.5 ms in all).
const TRIES: usize = 8;

/// Creates `dir` and its parents, and calls `fill`, which puts something
/// in it; both again, after a short pause, if `dir` is missing after
/// either failed.
///
/// # Errors
/// The last error, once `dir` is there after a failure or after the
/// last try: of the creation (naming `dir`) or of `fill`.
pub fn make_and_fill<T>(dir: &Path, mut fill: impl FnMut() -> Result<T>) -> Result<T> {
    let mut tries = 0;
    loop {
        tries += 1;
        let r = std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))
            .and_then(|()| fill());
        match r {
            Err(_) if tries < TRIES && !dir.is_dir() => pause(tries),
            r => return r,
        }
    }
}

/// A pause before try `n + 1`: longer each time, and uneven, so that
/// a process removing roots in a loop does not meet every try in step.
fn pause(n: usize) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() % 100_000);
    std::thread::sleep(std::time::Duration::from_nanos(
        n as u64 * 100_000 + u64::from(jitter),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("xskit-made-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_directory_removed_before_the_file_is_made_again() {
        let root = scratch("once");
        let dir = root.join("a/b");
        let mut calls = 0;
        let r = make_and_fill(&dir, || {
            calls += 1;
            if calls == 1 {
                // Another process's `remove_empty_roots`, in between.
                std::fs::remove_dir(&dir)?;
                std::fs::remove_dir(dir.parent().unwrap())?;
            }
            Ok(std::fs::write(dir.join("f"), "x")?)
        });
        r.unwrap();
        assert_eq!(calls, 2);
        assert!(dir.join("f").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_failure_with_the_directory_there_is_reported_at_once() {
        let root = scratch("fails");
        let mut calls = 0;
        let e = make_and_fill(&root, || -> Result<()> {
            calls += 1;
            anyhow::bail!("full")
        })
        .unwrap_err();
        assert_eq!((calls, e.to_string()), (1, "full".to_string()));
        // A file where the directory should be: named, after the tries.
        let file = root.join("file");
        std::fs::write(&file, "").unwrap();
        let e = make_and_fill(&file.join("d"), || Ok(())).unwrap_err();
        assert!(e.to_string().starts_with("creating "), "{e:#}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// The race itself: one thread removes the empty roots in a loop, as
    /// concurrent xskit commands do, while another makes a directory under
    /// them and writes a file there, then removes it, many times.
    #[test]
    fn files_are_made_while_another_thread_removes_empty_roots() {
        let root = scratch("race");
        let dir = root.join("pending");
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::fs::remove_dir(&dir);
                    let _ = std::fs::remove_dir(&root);
                    // Other commands end now and then, here 500 times a
                    // second.
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            });
            for i in 0..5_000 {
                let f = dir.join(format!("{i}.json"));
                let r = make_and_fill(&dir, || Ok(std::fs::write(&f, "{}")?));
                if let Err(e) = r {
                    stop.store(true, Ordering::Relaxed);
                    panic!("try {i}: {e:#}");
                }
                std::fs::remove_file(&f).unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
        let _ = std::fs::remove_dir_all(&root);
    }
}
