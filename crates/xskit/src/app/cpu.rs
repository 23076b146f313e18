//! CPU lists (`0-3`, `0,2`) and pinning the calling thread.

use anyhow::{bail, Context, Result};

/// A list of numbers given as `0-3` or `0,2` on the command line.
#[derive(Clone, Debug)]
pub struct List(pub Vec<u32>);

impl std::str::FromStr for List {
    type Err = String;

    fn from_str(s: &str) -> Result<List, String> {
        parse_list(s).map(List)
    }
}

/// Parses `0-3`, `1,3`, `0-1,4` into a sorted list without duplicates.
pub fn parse_list(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = match part.split_once('-') {
            Some((a, b)) => {
                let a: u32 = a
                    .trim()
                    .parse()
                    .map_err(|_| format!("{part:?} is not a range like 0-3"))?;
                let b: u32 = b
                    .trim()
                    .parse()
                    .map_err(|_| format!("{part:?} is not a range like 0-3"))?;
                if b < a || b - a > 4096 {
                    return Err(format!("range {part:?} runs backwards or is too long"));
                }
                (a..=b).collect::<Vec<_>>()
            }
            None => vec![part
                .parse()
                .map_err(|_| format!("{part:?} is not a number"))?],
        };
        out.extend(parsed);
    }
    if out.is_empty() {
        return Err("empty list".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Pins the calling thread to `cpu`.
pub fn pin(cpu: u32) -> Result<()> {
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as u32;
    if cpu >= n.max(1024) {
        bail!("CPU {cpu} does not exist");
    }
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu as usize);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        return Err(std::io::Error::from(e))
            .with_context(|| format!("pinning a thread to CPU {cpu} (is it online? see nproc)"));
    }
    Ok(())
}

/// Resident set size of this process, in bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * rustix::param::page_size() as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists() {
        assert_eq!(super::parse_list("0-3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(super::parse_list("3,1,1").unwrap(), [1, 3]);
        assert_eq!(super::parse_list("0-1,4").unwrap(), [0, 1, 4]);
        assert!(super::parse_list("3-1").is_err());
        assert!(super::parse_list("x").is_err());
    }
}
