//! The capture tap every attached xskit program carries (`bpf/tap.h`):
//! how a separate `xskit dump` finds the tap of the program attached to an
//! interface, switches it on, and reads what it copies.
//!
//! The program is found by the id the interface reports; its maps by name
//! among the map ids the kernel lists for it (`BPF_OBJ_GET_INFO_BY_FD`), so
//! pinned programs (`xskit load`) and unpinned ones (`echo`, `rxdrop`, ...)
//! are reached the same way, from any process.
//!
//! The switch is a deadline, not a flag or a count: a capture moves it
//! [`TTL`] ahead every [`REFRESH`] and writes 0 when it ends, and the
//! programs copy only while `bpf_ktime_get_ns()` is before it, so a capture
//! that dies in any way (SIGKILL included) leaves a deadline that passes,
//! and the kernel stops copying by itself. One capture per program at a
//! time (two readers would take each other's records from one ring): the
//! first holds an exclusive lock on a file named after the program's id in
//! a directory only root can write, which the kernel releases with its
//! process; program ids are global, and so is the file, whatever network
//! namespace each capture runs in.

use anyhow::{bail, Context, Result};
use aya::maps::{Array, Map, MapData, RingBuf};
use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Name of the switch map (`xskit_tap`).
pub const SWITCH: &str = "xskit_tap";
/// Name of the ring buffer (`xskit_tap_ring`).
pub const RING: &str = "xskit_tap_ring";
/// Bytes the programs copy of a frame at most (`XSKIT_TAP_MAX`).
pub const MAX_COPY: u32 = 2048;
/// How far ahead a capture sets the deadline.
pub const TTL: Duration = Duration::from_secs(2);
/// How often a running capture moves the deadline.
pub const REFRESH: Duration = Duration::from_millis(500);

/// Bytes of `struct xskit_tap_record` before the frame's data.
const HEAD: usize = 32;
const SLOT_DEADLINE: u32 = 0;
const SLOT_IFINDEX: u32 = 1;
const SLOT_SNAPLEN: u32 = 2;
const SLOT_LOST: u32 = 3;

/// The XDP action `action` in words: `aborted`, `drop`, `pass`, `tx`,
/// `redirect`.
pub fn verdict_name(action: u32) -> &'static str {
    match action {
        0 => "aborted",
        1 => "drop",
        2 => "pass",
        3 => "tx",
        4 => "redirect",
        _ => "unknown",
    }
}

/// One frame as a program's tap copied it.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// `bpf_ktime_get_ns()` when copied (CLOCK_MONOTONIC).
    pub ktime_ns: u64,
    /// Length of the whole frame.
    pub len: u32,
    /// Interface the frame came in on.
    pub ifindex: u32,
    /// Its rx queue.
    pub rx_queue: u32,
    /// The program's verdict (an XDP action code, see [`verdict_name`]).
    pub action: u32,
    /// The bytes copied.
    pub data: &'a [u8],
}

impl<'a> Record<'a> {
    /// Reads a record of the ring; `None` if it is too short to be one.
    pub fn parse(rec: &'a [u8]) -> Option<Record<'a>> {
        if rec.len() < HEAD {
            return None;
        }
        let u32_at = |i: usize| u32::from_ne_bytes(rec[i..i + 4].try_into().expect("4 bytes"));
        let caplen = u32_at(12) as usize;
        Some(Record {
            ktime_ns: u64::from_ne_bytes(rec[0..8].try_into().expect("8 bytes")),
            len: u32_at(8),
            ifindex: u32_at(16),
            rx_queue: u32_at(20),
            action: u32_at(24),
            data: &rec[HEAD..(HEAD + caplen).min(rec.len())],
        })
    }
}

/// The switch and ring of program `prog_id`'s tap; `None` if it has none
/// (another tool's program, or one loaded by an xskit without taps).
fn maps_of(prog_id: u32) -> Result<Option<(MapData, MapData)>> {
    let info = match crate::loader::loaded_program(prog_id) {
        Ok(Some(info)) => info,
        // Programs and maps are opened by id: CAP_SYS_ADMIN.
        Err(e) => bail!(
            "cannot open XDP program id {prog_id} to capture beside it: {e} \
             (opening another process's program and maps needs CAP_SYS_ADMIN)"
        ),
        Ok(None) => bail!("XDP program id {prog_id} is gone (detached meanwhile?)"),
    };
    let ids = info
        .map_ids()
        .with_context(|| format!("listing the maps of XDP program id {prog_id}"))?
        .unwrap_or_default();
    let (mut switch, mut ring) = (None, None);
    for id in ids {
        let Ok(map) = MapData::from_id(id) else {
            continue;
        };
        let name = map
            .info()
            .ok()
            .and_then(|i| i.name_as_str().map(str::to_string));
        match name.as_deref() {
            Some(SWITCH) => switch = Some(map),
            Some(RING) => ring = Some(map),
            _ => {}
        }
    }
    Ok(switch.zip(ring))
}

fn switch_array(map: MapData) -> Result<Array<MapData, u64>> {
    Array::try_from(Map::from_map_data(map)?).context("opening the tap's switch")
}

/// The deadline (CLOCK_MONOTONIC nanoseconds, 0: off) in the switch of
/// program `prog_id`'s tap, and its count of frames not captured because
/// the ring was full; `None` if the program has no tap.
pub fn read_switch(prog_id: u32) -> Result<Option<(u64, u64)>> {
    let Some((sw, _)) = maps_of(prog_id)? else {
        return Ok(None);
    };
    let sw = switch_array(sw)?;
    Ok(Some((sw.get(&SLOT_DEADLINE, 0)?, sw.get(&SLOT_LOST, 0)?)))
}

/// The ring of program `prog_id`'s tap, to read without switching anything
/// on (for tests: what a program still copies).
pub fn ring_of(prog_id: u32) -> Result<Option<RingBuf<MapData>>> {
    let Some((_, ring)) = maps_of(prog_id)? else {
        return Ok(None);
    };
    Ok(Some(
        RingBuf::try_from(Map::from_map_data(ring)?).context("opening the tap's ring")?,
    ))
}

/// Where the captures' claims are (root's, 0700: no other user can take a
/// program's claim, as anyone could an abstract socket name).
const CLAIMS: &str = "/run/xskit/taps";

/// The one capture a program may have at a time: an exclusive flock(2) on
/// `CLAIMS/<id>.lock`, released by the kernel when the process ends
/// (SIGKILL included), and the file removed when dropped.
struct Claim {
    path: PathBuf,
    _file: File,
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Removed while still locked (the file closes after this): one
        // who opened it meanwhile sees, once locked, that the path holds
        // another file or none, and starts over.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes program `prog_id`'s claim, or says who has it.
fn claim(prog_id: u32) -> Result<Claim> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(CLAIMS)
        .with_context(|| format!("creating {CLAIMS}"))?;
    let path = Path::new(CLAIMS).join(format!("{prog_id}.lock"));
    for _ in 0..16 {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // flock(2) through rustix: std's File::try_lock is newer than the
        // crate's minimum Rust.
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == Errno::WOULDBLOCK => bail!(
                "another `xskit dump` is capturing from this program (id {prog_id}) already: \
                 one capture per program at a time; stop that one first"
            ),
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("locking {}", path.display()))
            }
        }
        let ours = file.metadata()?.ino();
        if std::fs::metadata(&path).is_ok_and(|m| m.ino() == ours) {
            return Ok(Claim { path, _file: file });
        }
    }
    bail!(
        "could not claim program {prog_id}'s capture tap: {} keeps changing",
        path.display()
    )
}

/// A capture switched on in a program's tap; switched off when dropped.
pub struct Tap {
    switch: Array<MapData, u64>,
    ring: RingBuf<MapData>,
    refreshed: Instant,
    lost_before: u64,
    /// CLOCK_MONOTONIC nanoseconds when this capture began: records older
    /// than that are left from an earlier one.
    pub since_ns: u64,
    /// Released after the switch is off (fields drop after `Drop::drop`).
    _claim: Claim,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("since_ns", &self.since_ns)
            .finish()
    }
}

impl Tap {
    /// Whether program `prog_id` has a tap, without switching it on.
    ///
    /// # Errors
    /// When the kernel's programs or their maps cannot be listed.
    pub fn exists(prog_id: u32) -> Result<bool> {
        Ok(maps_of(prog_id)?.is_some())
    }

    /// Switches on the tap of program `prog_id` for frames of interface
    /// `ifindex`, copying up to `snaplen` bytes of each (at most
    /// [`MAX_COPY`]). `Ok(None)`: the program has no tap.
    pub fn open(prog_id: u32, ifindex: u32, snaplen: u32) -> Result<Option<Tap>> {
        let Some((sw, ring)) = maps_of(prog_id)? else {
            return Ok(None);
        };
        let held = claim(prog_id)?;
        let mut switch = switch_array(sw)?;
        let ring =
            RingBuf::try_from(Map::from_map_data(ring)?).context("opening the tap's ring")?;
        switch.set(SLOT_IFINDEX, u64::from(ifindex), 0)?;
        switch.set(SLOT_SNAPLEN, u64::from(snaplen.min(MAX_COPY)), 0)?;
        let lost_before = switch.get(&SLOT_LOST, 0)?;
        let mut tap = Tap {
            switch,
            ring,
            refreshed: Instant::now(),
            lost_before,
            since_ns: crate::guard::monotonic_ns(),
            _claim: held,
        };
        tap.arm()?;
        Ok(Some(tap))
    }

    fn arm(&mut self) -> Result<()> {
        let deadline = crate::guard::monotonic_ns() + TTL.as_nanos() as u64;
        self.switch
            .set(SLOT_DEADLINE, deadline, 0)
            .context("moving the capture's deadline")?;
        self.refreshed = Instant::now();
        Ok(())
    }

    /// Moves the deadline [`TTL`] ahead once [`REFRESH`] has passed since
    /// the last time; call it at least that often. Returns how long the
    /// tap was off if the deadline had passed meanwhile (the caller was held
    /// up longer than [`TTL`]): the frames of that time were not copied.
    pub fn keep_alive(&mut self) -> Result<Option<Duration>> {
        let since = self.refreshed.elapsed();
        if since >= REFRESH {
            self.arm()?;
            if since > TTL {
                return Ok(Some(since - TTL));
            }
        }
        Ok(None)
    }

    /// The ring the program writes records to.
    pub fn ring(&mut self) -> &mut RingBuf<MapData> {
        &mut self.ring
    }

    /// Frames the program could not copy during this capture (ring full).
    pub fn lost(&self) -> Result<u64> {
        Ok(self
            .switch
            .get(&SLOT_LOST, 0)?
            .saturating_sub(self.lost_before))
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        let _ = self.switch.set(SLOT_DEADLINE, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_as_bpf_tap_h_lays_it_out() {
        let mut rec = Vec::new();
        rec.extend_from_slice(&123_456_789u64.to_ne_bytes()); // ktime_ns
        rec.extend_from_slice(&1500u32.to_ne_bytes()); // len
        rec.extend_from_slice(&3u32.to_ne_bytes()); // caplen
        rec.extend_from_slice(&7u32.to_ne_bytes()); // ifindex
        rec.extend_from_slice(&2u32.to_ne_bytes()); // rx_queue
        rec.extend_from_slice(&4u32.to_ne_bytes()); // action
        rec.extend_from_slice(&0u32.to_ne_bytes()); // pad
        rec.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0, 0, 0, 0, 0]); // data, ring padding
        let r = Record::parse(&rec).unwrap();
        assert_eq!(
            (r.ktime_ns, r.len, r.ifindex, r.rx_queue, r.action),
            (123_456_789, 1500, 7, 2, 4)
        );
        assert_eq!(r.data, &[0xaa, 0xbb, 0xcc]);
        assert_eq!(verdict_name(r.action), "redirect");
        assert!(Record::parse(&rec[..31]).is_none());
        // A caplen past the record is cut to what is there.
        rec[12..16].copy_from_slice(&5000u32.to_ne_bytes());
        assert_eq!(Record::parse(&rec).unwrap().data.len(), 8);
    }

    #[test]
    fn verdicts_are_named_by_their_xdp_action_codes() {
        let names: Vec<_> = (0..6).map(verdict_name).collect();
        assert_eq!(
            names,
            ["aborted", "drop", "pass", "tx", "redirect", "unknown"]
        );
    }
}
