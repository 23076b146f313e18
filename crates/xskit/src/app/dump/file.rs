//! `dump -r`: frames from a pcap or pcapng file, filtered, to the sink;
//! the verdicts and times a pcapng file of xskit's own carries.

use super::sink::{Sink, Verdict};
use super::{DumpArgs, DumpSummary};
use anyhow::{Context, Result};
use std::io::Write;
use std::time::Duration;

/// The first bytes of a pcapng file (a section header block's type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Frames from a pcap or pcapng file (`-r`; told apart by their first
/// bytes), filtered, to the sink.
pub(super) fn read_file(
    args: &DumpArgs,
    path: &std::path::Path,
    out: &mut dyn Write,
) -> Result<DumpSummary> {
    use std::io::BufRead;
    let filter = args.filter()?;
    if filter.as_ref().is_some_and(|f| f.uses_direction()) {
        anyhow::bail!(
            "inbound/outbound are known only for a live capture (every frame XDP sees was received): not for a file read with -r"
        );
    }
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut input = std::io::BufReader::new(f);
    let pcapng = input
        .fill_buf()
        .with_context(|| format!("reading {}", path.display()))?
        .starts_with(&PCAPNG_MAGIC);
    let mut sink = Sink::open(&args.sink_options("file"), out)?;
    let mut sum = DumpSummary::default();
    let limit = args.count.unwrap_or(u64::MAX);
    let mut each = |when: Duration, orig_len: u32, data: &[u8], verdict: Option<Verdict>| {
        // `len`, `greater` and `less` judge the length on the wire.
        if filter
            .as_ref()
            .is_some_and(|f| !f.matches_frame(data, orig_len as usize))
        {
            sum.filtered_out += 1;
            return Ok(false);
        }
        sink.frame_with(when, orig_len, data, verdict)?;
        // -c counts the frames kept.
        Ok::<bool, anyhow::Error>(sink.captured >= limit)
    };
    let ctx = || format!("reading {}", path.display());
    if pcapng {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
        use pcap_file::pcapng::Block;
        let mut r = pcap_file::pcapng::PcapNgReader::new(input).with_context(ctx)?;
        // Each interface's `if_tsresol`, in the order of the section.
        let mut resol: Vec<u8> = Vec::new();
        let of = |resol: &[u8], id: usize| resol.get(id).copied().unwrap_or(6);
        while let Some(block) = r.next_block() {
            match block.with_context(ctx)? {
                Block::SectionHeader(_) => resol.clear(),
                Block::InterfaceDescription(i) => resol.push(idb_resolution(&i)),
                Block::EnhancedPacket(p) => {
                    // pcap-file reads the timestamp's units as nanoseconds.
                    let units = p.timestamp.as_nanos() as u64;
                    let when = pcapng_time(units, of(&resol, p.interface_id as usize));
                    let verdict = p.options.iter().find_map(|o| match o {
                        EnhancedPacketOption::Comment(c) => verdict_of_comment(c),
                        _ => None,
                    });
                    if each(when, p.original_len, &p.data, verdict)? {
                        break;
                    }
                }
                Block::SimplePacket(p) => {
                    // No time; the data is padded to 32 bits.
                    let len = (p.original_len as usize).min(p.data.len());
                    if each(Duration::ZERO, p.original_len, &p.data[..len], None)? {
                        break;
                    }
                }
                Block::Packet(p) => {
                    let when = pcapng_time(p.timestamp, of(&resol, usize::from(p.interface_id)));
                    if each(when, p.original_len, &p.data, None)? {
                        break;
                    }
                }
                _ => {}
            }
        }
    } else {
        let mut r = pcap_file::pcap::PcapReader::new(input).with_context(ctx)?;
        let nano = r.header().ts_resolution == pcap_file::TsResolution::NanoSecond;
        // Raw packets: pcap-file's checked ones refuse a frame longer than the
        // snap length, which is what a capture with -s writes.
        while let Some(p) = r.next_raw_packet() {
            let p = p.with_context(ctx)?;
            let frac = if nano {
                p.ts_frac
            } else {
                p.ts_frac.saturating_mul(1000)
            };
            let when = Duration::new(u64::from(p.ts_sec), frac.min(999_999_999));
            if each(when, p.orig_len, &p.data, None)? {
                break;
            }
        }
    }
    sink.flush()?;
    sum.captured = sink.captured;
    Ok(sum)
}

/// `if_tsresol` of an interface description (6, microseconds, if absent).
fn idb_resolution(
    i: &pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock,
) -> u8 {
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    i.options
        .iter()
        .find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
            _ => None,
        })
        .unwrap_or(6)
}

/// A pcapng timestamp of `units` at resolution `resol` (`if_tsresol`:
/// 10^-n seconds, or 2^-n with the top bit set) since the Unix epoch.
fn pcapng_time(units: u64, resol: u8) -> Duration {
    let n = u32::from(resol & 0x7f);
    let per_sec: u128 = if resol & 0x80 == 0 {
        10u128.checked_pow(n).unwrap_or(u128::MAX)
    } else {
        1u128.checked_shl(n).unwrap_or(u128::MAX)
    };
    let units = u128::from(units);
    let secs = units / per_sec;
    let nanos = (units % per_sec) * 1_000_000_000 / per_sec;
    Duration::new(u64::try_from(secs).unwrap_or(u64::MAX), nanos as u32)
}

/// The verdict `dump --pcapng` wrote in a packet's comment (`verdict pass,
/// rx queue 0; ...`).
fn verdict_of_comment(c: &str) -> Option<Verdict> {
    let rest = c.strip_prefix("verdict ")?;
    let (action, rest) = rest.split_once(", rx queue ")?;
    let queue: u32 = rest.split(';').next()?.trim().parse().ok()?;
    let action = ["aborted", "drop", "pass", "tx", "redirect", "unknown"]
        .into_iter()
        .find(|a| *a == action)?;
    Some(Verdict {
        action,
        rx_queue: queue,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn pcapng_times_follow_the_interfaces_resolution() {
        use super::pcapng_time;
        use std::time::Duration;
        assert_eq!(pcapng_time(1_500_000, 6), Duration::from_millis(1500));
        assert_eq!(pcapng_time(1_500_000_001, 9), Duration::new(1, 500_000_001));
        assert_eq!(pcapng_time(3, 0x81), Duration::from_millis(1500));
        assert_eq!(pcapng_time(u64::MAX, 127), Duration::ZERO);
    }

    #[test]
    fn the_verdict_in_a_pcapng_comment_is_read_back() {
        let v = super::verdict_of_comment("verdict redirect, rx queue 3; UDP 1 > 2; copied by x")
            .unwrap();
        assert_eq!((v.action, v.rx_queue), ("redirect", 3));
        assert!(super::verdict_of_comment("IPv4 198.18.0.2 > 198.18.0.1; copied").is_none());
        assert!(super::verdict_of_comment("verdict maybe, rx queue 3; x").is_none());
    }
}
