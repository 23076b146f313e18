//! AF_XDP TX metadata (Linux 6.8+): the offloads one frame asks of the
//! device, written in the UMEM headroom right before the frame's data.
//!
//! The area is the kernel's `struct xsk_tx_metadata`
//! (include/uapi/linux/if_xdp.h), [`TX_METADATA_LEN`] bytes ending where
//! the frame's data begins; host byte order:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | flags: 1 timestamp, 2 checksum (`XDP_TXMD_FLAGS_*`) |
//! | 8 | 2 | request: csum_start, from the frame's data start |
//! | 10 | 2 | request: csum_offset, from csum_start |
//! | 16 | 8 | request: launch_time (6.14+; this crate writes 0) |
//! | 8 | 8 | completion: tx_timestamp (the same bytes as the request) |
//!
//! Linux 6.8 to 6.13 know the first 16 bytes only; the kernel finds the
//! block at `data - tx_metadata_len`, so registering 24 bytes puts the
//! fields where every kernel since 6.8 looks for them.
//!
//! A frame carries its metadata only with `XDP_TX_METADATA` in its
//! descriptor's options, which [`Umem::set_tx_metadata`] sets on the token
//! together with the bytes. The bytes are written through `&mut Frame`,
//! before the token goes onto TX: once it is queued the token is gone, so
//! safe code cannot change a request the kernel may be reading (a kernel
//! without the fix for CVE-2026-53250 reads `csum_start`/`csum_offset` once
//! to check them and again to use them; a change between the reads could
//! put its checksum write outside the frame). The batch paths write the
//! bytes before they publish the descriptors.

use crate::error::{Error, Result};
use crate::umem::{Frame, Umem};

/// Bytes of TX metadata in front of each frame's data: the size of the
/// kernel's `struct xsk_tx_metadata` (24 since Linux 6.14; 16 before, which
/// read the same fields at the same offsets).
pub const TX_METADATA_LEN: usize = 24;

const FLAG_TIMESTAMP: u64 = libc::XDP_TXMD_FLAGS_TIMESTAMP as u64;
const FLAG_CHECKSUM: u64 = libc::XDP_TXMD_FLAGS_CHECKSUM as u64;
const FLAGS_AT: usize = 0;
const CSUM_START_AT: usize = 8;
const CSUM_OFFSET_AT: usize = 10;
const TIMESTAMP_AT: usize = 8;
/// Bytes the checksum takes at `start + offset` (`__sum16`).
const CSUM_LEN: usize = 2;

/// A checksum the device (or, in copy mode, the kernel's stack) computes
/// for the frame: the one's complement sum of the bytes from `start` to the
/// frame's end, stored at `start + offset` (the kernel's `CHECKSUM_PARTIAL`).
///
/// As for any `CHECKSUM_PARTIAL` packet, the frame must hold the
/// pseudo-header sum (not inverted) in the checksum field: the device adds
/// the bytes from `start` on to it. For UDP over IPv4, `start` is the UDP
/// header's offset in the frame and `offset` is 6.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub struct TxChecksum {
    /// Where the summing starts, in bytes from the frame's data start.
    pub start: u16,
    /// Where the checksum goes, in bytes from `start`.
    pub offset: u16,
}

impl TxChecksum {
    /// The checksum of an L4 header at `start` whose checksum field lies
    /// `offset` bytes into it (UDP: 6, TCP: 16).
    pub fn new(start: u16, offset: u16) -> Self {
        TxChecksum { start, offset }
    }

    /// First byte after the checksum field, from the frame's data start.
    fn end(self) -> usize {
        usize::from(self.start) + usize::from(self.offset) + CSUM_LEN
    }
}

/// The TX offloads asked for one frame; the default asks for none.
///
/// Built with chainable setters and written with
/// [`Umem::set_tx_metadata`] on a UMEM made with
/// [`UmemConfig::tx_metadata`](crate::UmemConfig::tx_metadata).
///
/// # Examples
///
/// ```
/// use xsk::{TxChecksum, TxMetadata};
///
/// // UDP after a 14-byte Ethernet and a 20-byte IPv4 header.
/// let meta = TxMetadata::default()
///     .checksum(Some(TxChecksum::new(34, 6)))
///     .timestamp(true);
/// assert_eq!(meta.checksum, Some(TxChecksum { start: 34, offset: 6 }));
/// ```
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Hash)]
#[non_exhaustive]
pub struct TxMetadata {
    /// A checksum to offload (`XDP_TXMD_FLAGS_CHECKSUM`).
    pub checksum: Option<TxChecksum>,
    /// Ask for the time the frame was sent, read back with
    /// [`Umem::tx_timestamp`] once the frame has completed
    /// (`XDP_TXMD_FLAGS_TIMESTAMP`).
    pub timestamp: bool,
}

impl TxMetadata {
    /// Sets [`checksum`](TxMetadata::checksum).
    #[must_use]
    pub fn checksum(mut self, c: Option<TxChecksum>) -> Self {
        self.checksum = c;
        self
    }

    /// Sets [`timestamp`](TxMetadata::timestamp).
    #[must_use]
    pub fn timestamp(mut self, on: bool) -> Self {
        self.timestamp = on;
        self
    }

    /// The kernel's bytes for this request, for a frame of `len` bytes.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidConfig`] if the checksum field does not
    /// lie inside the frame: the kernel would refuse the descriptor with
    /// EINVAL and leave it at the head of the TX ring, blocking the ring.
    pub fn encode(&self, len: usize) -> Result<[u8; TX_METADATA_LEN]> {
        let mut b = [0u8; TX_METADATA_LEN];
        let mut flags = 0;
        if let Some(c) = self.checksum {
            check_fits(c, len)?;
            flags |= FLAG_CHECKSUM;
            b[CSUM_START_AT..CSUM_START_AT + 2].copy_from_slice(&c.start.to_ne_bytes());
            b[CSUM_OFFSET_AT..CSUM_OFFSET_AT + 2].copy_from_slice(&c.offset.to_ne_bytes());
        }
        if self.timestamp {
            flags |= FLAG_TIMESTAMP;
        }
        b[FLAGS_AT..FLAGS_AT + 8].copy_from_slice(&flags.to_ne_bytes());
        Ok(b)
    }

    /// Reads back a request from the kernel's bytes (after completion the
    /// checksum fields may hold the timestamp instead).
    pub fn decode(b: &[u8; TX_METADATA_LEN]) -> TxMetadata {
        let flags = flags_of(b);
        let u16_at = |o: usize| u16::from_ne_bytes([b[o], b[o + 1]]);
        TxMetadata {
            checksum: (flags & FLAG_CHECKSUM != 0)
                .then(|| TxChecksum::new(u16_at(CSUM_START_AT), u16_at(CSUM_OFFSET_AT))),
            timestamp: flags & FLAG_TIMESTAMP != 0,
        }
    }
}

fn check_fits(c: TxChecksum, len: usize) -> Result<()> {
    if c.end() > len {
        return Err(Error::config(format!(
            "the TX checksum at {} + {} does not fit a {len}-byte frame",
            c.start, c.offset
        ))
        .with_hint("set the frame's length (Umem::set_len) before its TX metadata"));
    }
    Ok(())
}

fn flags_of(b: &[u8; TX_METADATA_LEN]) -> u64 {
    let mut f = [0u8; 8];
    f.copy_from_slice(&b[FLAGS_AT..FLAGS_AT + 8]);
    u64::from_ne_bytes(f)
}

/// The TX timestamp in a completed frame's metadata bytes: `Some` when the
/// request asked for one and the kernel wrote a non-zero time.
pub(crate) fn timestamp_of(b: &[u8; TX_METADATA_LEN]) -> Option<u64> {
    if flags_of(b) & FLAG_TIMESTAMP == 0 {
        return None;
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&b[TIMESTAMP_AT..TIMESTAMP_AT + 8]);
    Some(u64::from_ne_bytes(t)).filter(|&t| t != 0)
}

impl Umem {
    /// True if this UMEM was registered with a TX metadata area.
    pub fn has_tx_metadata(&self) -> bool {
        self.config().tx_metadata
    }

    /// Writes `meta` in front of `frame`'s data and marks the frame's
    /// descriptor as carrying it (`XDP_TX_METADATA`); a default `meta`
    /// writes an empty request and clears the mark. Call it after
    /// [`Umem::set_len`] and before the frame is queued for sending.
    ///
    /// A frame copied by the kernel (copy mode) has its checksum computed
    /// by the stack or the device the frame leaves by; over a veth pair the
    /// peer trusts it unchecked (`CHECKSUM_PARTIAL`), unless the UMEM has
    /// [`UmemConfig::tx_software_checksum`](crate::UmemConfig::tx_software_checksum).
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidConfig`] if the UMEM has no TX metadata
    /// area ([`UmemConfig::tx_metadata`](crate::UmemConfig::tx_metadata)),
    /// the frame's data starts less than [`TX_METADATA_LEN`] bytes into its
    /// chunk, or the checksum field does not lie inside the frame.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn set_tx_metadata(&self, frame: &mut Frame, meta: &TxMetadata) -> Result<()> {
        self.check(frame);
        if !self.has_tx_metadata() {
            return Err(Error::config("this UMEM has no TX metadata area")
                .with_hint("make it with UmemConfig::tx_metadata(true) (Linux 6.8+)"));
        }
        let bytes = meta.encode(frame.len())?;
        let area = self.tx_meta_area_mut(frame)?;
        *area = bytes;
        frame.set_tx_metadata_flag(*meta != TxMetadata::default());
        Ok(())
    }

    /// The TX metadata request in front of `frame`, if its descriptor is
    /// marked as carrying one.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn tx_metadata(&self, frame: &Frame) -> Option<TxMetadata> {
        self.check(frame);
        if !frame.has_tx_metadata_flag() {
            return None;
        }
        self.tx_meta_area(frame).map(|b| TxMetadata::decode(&b))
    }

    /// The time the kernel or the device recorded for `frame`'s
    /// transmission, for a frame sent with [`TxMetadata::timestamp`] and
    /// given back by the completion ring (before it is written again: the
    /// token from [`crate::Xsk::alloc`] after [`crate::Xsk::complete`]
    /// still has it). `None` for a frame whose request is not sent yet,
    /// if the last request written in front of the frame did not ask for
    /// one, or if no time was written.
    ///
    /// In copy mode the kernel writes a software time when it frees the
    /// frame's socket buffer (`CLOCK_TAI`, nanoseconds: after the device
    /// took it, not when it left the wire). In zero-copy mode a driver that
    /// supports it (netdev `xsk-features`: `tx-timestamp`) writes its
    /// hardware time; where it does not, the bytes keep what the request
    /// put there, 0 (read as `None`) unless a checksum was asked for too.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn tx_timestamp(&self, frame: &Frame) -> Option<u64> {
        self.check(frame);
        if frame.has_tx_metadata_flag() {
            // Not sent yet: the bytes hold the request, not a time.
            return None;
        }
        self.tx_meta_area(frame).and_then(|b| timestamp_of(&b))
    }

    /// A copy of the metadata bytes in front of `frame`; `None` without a
    /// TX metadata area or room for it.
    fn tx_meta_area(&self, frame: &Frame) -> Option<[u8; TX_METADATA_LEN]> {
        if !self.has_tx_metadata() {
            return None;
        }
        // SAFETY: the token proves exclusive ownership of the chunk and the
        // borrow of `frame` keeps it while the slice lives (it ends here).
        let head = unsafe { self.head_before(frame.addr()) };
        let start = head.len().checked_sub(TX_METADATA_LEN)?;
        head[start..].try_into().ok()
    }

    fn tx_meta_area_mut<'a>(
        &'a self,
        frame: &'a mut Frame,
    ) -> Result<&'a mut [u8; TX_METADATA_LEN]> {
        // SAFETY: the `&mut Frame` borrow proves exclusive ownership of the
        // chunk (the token is not on a ring) and keeps it for the slice's
        // life; no other slice of the chunk is made while it lives.
        let head = unsafe { self.head_before_mut(frame.addr()) };
        let room = head.len();
        let start = room.checked_sub(TX_METADATA_LEN).ok_or_else(|| {
            Error::config(format!(
                "the frame's data starts {room} bytes into its chunk, leaving no room for \
                 {TX_METADATA_LEN} bytes of TX metadata"
            ))
            .with_hint("reset the frame (Umem::reset) to start it after the UMEM headroom")
        })?;
        Ok((&mut head[start..])
            .try_into()
            .expect("a slice of TX_METADATA_LEN bytes"))
    }

    /// The batch paths' write: `meta` in front of the frame at `addr` of
    /// `len` bytes; returns the descriptor options that mark it, or `None`
    /// (nothing written) if the checksum field is outside the frame or the
    /// chunk has no room before `addr`.
    ///
    /// # Safety
    /// As [`Umem::head_before_mut`]: the caller holds `addr`'s chunk
    /// exclusively (its address off the free list or the pool, its
    /// descriptor not yet published) and has no other slice of it alive.
    pub(crate) unsafe fn write_tx_meta_at(
        &self,
        addr: u64,
        meta: &TxMetadata,
        len: usize,
    ) -> Option<u32> {
        let bytes = meta.encode(len).ok()?;
        // SAFETY: the caller's contract above.
        let head = unsafe { self.head_before_mut(addr) };
        let at = head.len().checked_sub(TX_METADATA_LEN)?;
        head[at..].copy_from_slice(&bytes);
        Some(libc::XDP_TX_METADATA)
    }

    /// Checks that `len` keeps the checksum `frame`'s TX metadata asks for
    /// inside the frame (see [`TxMetadata::encode`]).
    pub(crate) fn check_tx_len(&self, frame: &Frame, len: usize) -> Result<()> {
        match self.tx_metadata(frame).and_then(|m| m.checksum) {
            Some(c) => check_fits(c, len),
            None => Ok(()),
        }
    }
}

/// The running kernel's release (`/proc/sys/kernel/osrelease`).
pub(crate) fn kernel_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Whether the running kernel has TX metadata (6.8+); `None` if its
/// release cannot be read.
pub(crate) fn kernel_has_tx_metadata() -> Option<bool> {
    release_at_least(&kernel_release()?, (6, 8))
}

/// Whether a release string (`6.18.44-foo`) is at least `want`.
pub(crate) fn release_at_least(release: &str, want: (u32, u32)) -> Option<bool> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor) >= want)
}

#[cfg(test)]
mod tests;
