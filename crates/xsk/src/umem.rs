//! UMEM: the packet memory shared with the kernel, and the frames cut from it.

use crate::error::{Error, Result};
use crate::mmap::Mmap;
use crate::tx_meta::TX_METADATA_LEN;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Headroom the kernel keeps in front of received data in every frame
/// (XDP_PACKET_HEADROOM), on top of the UMEM's own headroom.
pub const XDP_PACKET_HEADROOM: u32 = 256;

/// In unaligned mode the RX descriptor carries an offset in its top bits.
const UNALIGNED_OFFSET_SHIFT: u32 = 48;
const UNALIGNED_ADDR_MASK: u64 = (1 << UNALIGNED_OFFSET_SHIFT) - 1;

/// Shape of a UMEM.
///
/// Built from [`UmemConfig::default`] with one chainable setter per field
/// (each named after its field); the fields stay public for reading. The
/// struct is `#[non_exhaustive]`, so outside this crate it cannot be built
/// as a struct literal.
///
/// # Examples
///
/// ```
/// use xsk::UmemConfig;
///
/// let umem = UmemConfig::default().frame_count(1024).frame_size(2048);
/// assert_eq!(umem.len(), Some(1024 * 2048));
/// assert!(!umem.unaligned);
///
/// // Unaligned chunks: any frame size.
/// let odd = UmemConfig::default().unaligned(true).frame_size(3000);
/// assert_eq!(odd.frame_size, 3000);
/// ```
///
/// A struct literal does not compile outside the crate:
/// ```compile_fail,E0639
/// let umem = xsk::UmemConfig {
///     frame_count: 1024,
///     ..Default::default()
/// };
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct UmemConfig {
    /// Number of frames (default 4096, as in xdp-tutorial's advanced03-AF_XDP).
    pub frame_count: u32,
    /// Bytes per frame: 2048 or 4096 in aligned mode (default 4096).
    pub frame_size: u32,
    /// Extra bytes the kernel leaves free in front of each received frame.
    pub headroom: u32,
    /// Unaligned chunk mode: any frame size, frames may straddle pages.
    pub unaligned: bool,
    /// Map the UMEM in 2 MiB huge pages (`MAP_HUGETLB`): fewer TLB misses,
    /// and what unaligned chunks need in zero-copy mode. Needs huge pages
    /// reserved (`/proc/sys/vm/nr_hugepages`).
    pub huge_pages: bool,
    /// Register a TX metadata area of [`TX_METADATA_LEN`] bytes in front
    /// of each frame's data (Linux 6.8+), for [`Umem::set_tx_metadata`]. It
    /// lies inside [`headroom`](UmemConfig::headroom), which must be at
    /// least that long (the setter raises it).
    pub tx_metadata: bool,
    /// Have the kernel compute requested TX checksums in software in copy
    /// mode (`XDP_UMEM_TX_SW_CSUM`, Linux 6.8+): for testing checksum
    /// requests where nothing else would check them; slow, not for
    /// production. Needs [`tx_metadata`](UmemConfig::tx_metadata).
    pub tx_software_checksum: bool,
}

impl Default for UmemConfig {
    fn default() -> Self {
        UmemConfig {
            frame_count: 4096,
            frame_size: 4096,
            headroom: 0,
            unaligned: false,
            huge_pages: false,
            tx_metadata: false,
            tx_software_checksum: false,
        }
    }
}

impl UmemConfig {
    /// Sets [`frame_count`](UmemConfig::frame_count), the number of frames.
    #[must_use]
    pub fn frame_count(mut self, n: u32) -> Self {
        self.frame_count = n;
        self
    }

    /// Sets [`frame_size`](UmemConfig::frame_size), bytes per frame.
    #[must_use]
    pub fn frame_size(mut self, n: u32) -> Self {
        self.frame_size = n;
        self
    }

    /// Sets [`headroom`](UmemConfig::headroom), bytes the kernel leaves free
    /// in front of each received frame.
    #[must_use]
    pub fn headroom(mut self, n: u32) -> Self {
        self.headroom = n;
        self
    }

    /// Sets [`unaligned`](UmemConfig::unaligned) chunk mode.
    #[must_use]
    pub fn unaligned(mut self, on: bool) -> Self {
        self.unaligned = on;
        self
    }

    /// Sets [`huge_pages`](UmemConfig::huge_pages) (`MAP_HUGETLB`).
    #[must_use]
    pub fn huge_pages(mut self, on: bool) -> Self {
        self.huge_pages = on;
        self
    }

    /// Sets [`tx_metadata`](UmemConfig::tx_metadata); turning it on raises
    /// [`headroom`](UmemConfig::headroom) to [`TX_METADATA_LEN`] if it is
    /// lower.
    #[must_use]
    pub fn tx_metadata(mut self, on: bool) -> Self {
        self.tx_metadata = on;
        if on {
            self.headroom = self.headroom.max(TX_METADATA_LEN as u32);
        }
        self
    }

    /// Sets [`tx_software_checksum`](UmemConfig::tx_software_checksum).
    #[must_use]
    pub fn tx_software_checksum(mut self, on: bool) -> Self {
        self.tx_software_checksum = on;
        self
    }

    /// Total bytes of packet memory, or `None` if `frame_count x frame_size`
    /// does not fit this machine's address space.
    pub fn len(&self) -> Option<usize> {
        usize::try_from(self.frame_count)
            .ok()?
            .checked_mul(usize::try_from(self.frame_size).ok()?)
    }

    /// True when the UMEM would hold no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Checks the shape; every size and address computed from a valid
    /// config fits in `usize` and `u64` without wrapping.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidConfig`] naming the value that is wrong.
    pub fn validate(&self) -> Result<usize> {
        if self.frame_count == 0 {
            return Err(Error::config("UMEM needs at least one frame"));
        }
        if self.frame_size < 2048 {
            return Err(Error::config(format!(
                "frame size {} is below the kernel's minimum of 2048",
                self.frame_size
            )));
        }
        if self.unaligned && !self.huge_pages && self.frame_size > 4096 {
            return Err(Error::config(format!(
                "frame size {} is above the page size (4096), which the kernel refuses for chunks",
                self.frame_size
            )));
        }
        if !self.unaligned && (!self.frame_size.is_power_of_two() || self.frame_size > 4096) {
            return Err(Error::config(format!(
                "frame size {} needs unaligned chunk mode (`UmemConfig::unaligned`): aligned frames are 2048 or 4096 bytes",
                self.frame_size
            )));
        }
        // In u64: headroom is caller-chosen and u32 addition could wrap.
        if u64::from(self.headroom) + u64::from(XDP_PACKET_HEADROOM) + 64
            > u64::from(self.frame_size)
        {
            return Err(Error::config(format!(
                "headroom {} leaves no room for a packet in a {}-byte frame",
                self.headroom, self.frame_size
            )));
        }
        if self.tx_metadata && self.headroom < TX_METADATA_LEN as u32 {
            return Err(Error::config(format!(
                "headroom {} leaves no room for {TX_METADATA_LEN} bytes of TX metadata in front of the frames",
                self.headroom
            ))
            .with_hint("set the headroom after tx_metadata(true), or to at least TX_METADATA_LEN"));
        }
        if self.tx_software_checksum && !self.tx_metadata {
            return Err(Error::config(
                "software TX checksums need the TX metadata area (UmemConfig::tx_metadata)",
            ));
        }
        self.len().ok_or_else(|| {
            Error::config(format!(
                "{} frames of {} bytes do not fit this machine's address space",
                self.frame_count, self.frame_size
            ))
        })
    }
}

/// The packet memory: `frame_count x frame_size` bytes, page aligned.
///
/// Frame contents are reached through [`Frame`] tokens: only the holder of a
/// frame's token may read or write it, so the kernel and the application
/// never touch the same frame at once.
pub struct Umem {
    area: Mmap,
    config: UmemConfig,
    id: u32,
}

impl fmt::Debug for Umem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Umem")
            .field("config", &self.config)
            .field("id", &self.id)
            .finish()
    }
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

impl Umem {
    /// Maps the memory and returns it with one token per frame. The tokens
    /// are made here and only here: a frame cannot be duplicated later.
    ///
    /// # Errors
    /// An invalid shape ([`UmemConfig::validate`]) or a failed `mmap`.
    pub fn new(config: UmemConfig) -> Result<(Arc<Umem>, Vec<Frame>)> {
        let len = config.validate()?;
        let area = if config.huge_pages {
            Mmap::anonymous_huge(len).map_err(|e| {
                let code = e.raw_os_error();
                let err = Error::os(format!("cannot map {len} bytes of UMEM in 2 MiB huge pages"), e);
                match code {
                    Some(libc::ENOMEM) => err.with_hint(format!(
                        "not enough huge pages are reserved: it needs {} (echo N > /proc/sys/vm/nr_hugepages)",
                        len.div_ceil(crate::mmap::HUGE_PAGE)
                    )),
                    _ => err,
                }
            })?
        } else {
            Mmap::anonymous(len)
                .map_err(|e| Error::os(format!("cannot map {len} bytes of UMEM"), e))?
        };
        // Ids are never reused: a reused id would let one UMEM accept
        // another's tokens. 2^32 UMEMs in one process is the limit.
        let id = NEXT_ID
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .expect("more than 2^32 UMEMs made in one process");
        lost::register(id);
        let umem = Arc::new(Umem { area, config, id });
        let frames = (0..config.frame_count)
            .map(|i| Frame {
                options: 0,
                addr: i as u64 * config.frame_size as u64 + config.headroom as u64,
                len: 0,
                umem: id,
            })
            .collect();
        Ok((umem, frames))
    }

    /// The shape this UMEM was made with.
    pub fn config(&self) -> &UmemConfig {
        &self.config
    }

    pub(crate) fn area_addr(&self) -> u64 {
        self.area.as_ptr() as u64
    }

    pub(crate) fn area_len(&self) -> usize {
        self.area.len()
    }

    /// Frame tokens of this UMEM that were dropped instead of being given
    /// back (released, sent or refilled): frames lost until the UMEM goes.
    pub fn lost_frames(&self) -> usize {
        lost::count(self.id)
    }

    /// True if `frame` is a token of this UMEM.
    pub fn owns(&self, frame: &Frame) -> bool {
        frame.umem == self.id
    }

    /// Start of the frame (chunk) holding `addr`.
    pub(crate) fn chunk_base(&self, addr: u64) -> u64 {
        let fs = self.config.frame_size as u64;
        if fs.is_power_of_two() {
            addr & !(fs - 1)
        } else {
            addr / fs * fs
        }
    }

    /// Turns an address the kernel handed back into a frame token, checking
    /// that it lies inside this UMEM.
    pub(crate) fn frame_from_kernel(&self, raw_addr: u64, len: u32) -> Frame {
        Frame {
            addr: self.decode(raw_addr, len),
            len,
            umem: self.id,
            options: 0,
        }
    }

    /// The bytes from `addr` to the end of its chunk.
    ///
    /// # Safety
    /// `addr` must come from [`Umem::decode`] or a token of this UMEM, and
    /// the caller must hold the chunk exclusively (its token, or its
    /// descriptor taken from RX and not yet given on) and create no other
    /// slice of it while this one lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn chunk_from(&self, addr: u64) -> &mut [u8] {
        let cap = (self.chunk_base(addr) + u64::from(self.config.frame_size) - addr) as usize;
        // SAFETY: `decode` or a token bounded `addr`'s chunk inside the
        // mapping; exclusivity is the caller's contract above.
        unsafe { std::slice::from_raw_parts_mut(self.area.as_ptr().add(addr as usize), cap) }
    }

    /// The bytes of `addr`'s chunk before `addr`: the headroom in front of a
    /// received frame, where an XDP program's metadata lies.
    ///
    /// # Safety
    /// As [`Umem::chunk_from`], for the chunk's bytes before `addr`: the
    /// caller holds the chunk and writes none of them while this lives.
    pub(crate) unsafe fn head_before(&self, addr: u64) -> &[u8] {
        let base = self.chunk_base(addr);
        // SAFETY: `decode` or a token bounded `addr`'s chunk inside the
        // mapping, so [base, addr) is too; exclusivity is the caller's.
        unsafe {
            std::slice::from_raw_parts(
                self.area.as_ptr().add(base as usize),
                (addr - base) as usize,
            )
        }
    }

    /// As [`Umem::head_before`], writable.
    ///
    /// # Safety
    /// As [`Umem::chunk_from`], for the chunk's bytes before `addr`.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn head_before_mut(&self, addr: u64) -> &mut [u8] {
        let base = self.chunk_base(addr);
        // SAFETY: as in `head_before`; exclusivity is the caller's.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.area.as_ptr().add(base as usize),
                (addr - base) as usize,
            )
        }
    }

    /// Decodes a descriptor address from the kernel (unaligned mode carries
    /// an offset in the top bits) and checks that `len` bytes from it lie
    /// inside one chunk of this UMEM.
    pub(crate) fn decode(&self, raw_addr: u64, len: u32) -> u64 {
        let addr = if self.config.unaligned {
            (raw_addr & UNALIGNED_ADDR_MASK) + (raw_addr >> UNALIGNED_OFFSET_SHIFT)
        } else {
            raw_addr
        };
        let end = self
            .chunk_base(addr)
            .checked_add(u64::from(self.config.frame_size));
        let inside = end.is_some_and(|end| {
            end <= self.area.len() as u64
                && addr.checked_add(u64::from(len)).is_some_and(|e| e <= end)
        });
        // The kernel checks every address it takes from FILL and TX against
        // the UMEM, so this fires only on a kernel bug; minting a token for
        // memory outside the mapping would be unsound, so stop.
        assert!(
            inside,
            "kernel returned a descriptor outside the UMEM (addr {raw_addr:#x}, len {len})"
        );
        addr
    }

    /// Resets a frame to an empty buffer at the start of its chunk (plus the
    /// UMEM headroom), ready to be written for transmit.
    pub fn reset(&self, frame: &mut Frame) {
        self.check(frame);
        frame.addr = self.chunk_base(frame.addr) + self.config.headroom as u64;
        frame.len = 0;
        frame.options = 0;
    }

    pub(crate) fn check(&self, frame: &Frame) {
        assert_eq!(
            frame.umem, self.id,
            "frame used with a UMEM it does not belong to"
        );
    }

    fn chunk_end(&self, frame: &Frame) -> u64 {
        self.chunk_base(frame.addr) + self.config.frame_size as u64
    }

    /// Bytes a frame can hold from its data start to the end of its chunk.
    pub fn capacity(&self, frame: &Frame) -> usize {
        self.check(frame);
        (self.chunk_end(frame) - frame.addr) as usize
    }

    /// Sets a frame's length; fails if it exceeds [`Umem::capacity`], or
    /// would cut the checksum field its TX metadata asks for.
    pub fn set_len(&self, frame: &mut Frame, len: usize) -> Result<()> {
        if len > self.capacity(frame) {
            return Err(Error::config(format!(
                "frame length {len} exceeds its capacity {}",
                self.capacity(frame)
            )));
        }
        self.check_tx_len(frame, len)?;
        frame.len = len as u32;
        Ok(())
    }

    /// The frame's data (`len` bytes from its data start). The slice borrows
    /// the token too, so the frame cannot be given back while it lives:
    ///
    /// ```compile_fail
    /// let (umem, mut frames) = xsk::Umem::new(Default::default()).unwrap();
    /// let frame = frames.pop().unwrap();
    /// let bytes = umem.data(&frame);
    /// drop(frame); // error: `frame` is still borrowed by `bytes`
    /// assert!(bytes.is_empty());
    /// ```
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn data<'a>(&'a self, frame: &'a Frame) -> &'a [u8] {
        self.check(frame);
        // SAFETY: the token proves exclusive ownership of this frame's chunk
        // (tokens are unique and not Clone), `frame_from_kernel`/`new` keep
        // addr+len inside the mapping, and the borrow of `frame` keeps the
        // token alive and unmoved while the slice lives.
        unsafe {
            std::slice::from_raw_parts(
                self.area.as_ptr().add(frame.addr as usize),
                frame.len as usize,
            )
        }
    }

    /// The frame's data, writable.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn data_mut<'a>(&'a self, frame: &'a mut Frame) -> &'a mut [u8] {
        self.check(frame);
        // SAFETY: as in `data`; the `&mut Frame` borrow makes this the only
        // live slice into the chunk, and chunks of distinct tokens are disjoint.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.area.as_ptr().add(frame.addr as usize),
                frame.len as usize,
            )
        }
    }

    /// The whole writable buffer from the frame's data start to the end of its
    /// chunk, for building a frame to send; follow with [`Umem::set_len`].
    pub fn buffer_mut<'a>(&'a self, frame: &'a mut Frame) -> &'a mut [u8] {
        let cap = self.capacity(frame);
        // SAFETY: as in `data_mut`; `cap` ends at the chunk's end, inside the mapping.
        unsafe { std::slice::from_raw_parts_mut(self.area.as_ptr().add(frame.addr as usize), cap) }
    }
}

/// One UMEM frame, owned by whoever holds this token.
///
/// A `Frame` is moved (never copied) between the free list, the rings and the
/// application, so a frame cannot be submitted twice or used after it was
/// handed back. Dropping a token loses the frame until the socket is closed;
/// [`crate::Xsk::accounting`] shows such leaks.
#[must_use = "a Frame is a UMEM buffer: give it back (release, send or refill) or it leaks"]
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    addr: u64,
    len: u32,
    umem: u32,
    /// Descriptor options: `XDP_PKT_CONTD` when more buffers of the same
    /// packet follow (multi-buffer sockets), `XDP_TX_METADATA` when TX
    /// metadata lies in front of the data.
    options: u32,
}

impl Frame {
    /// Offset of the frame's data in the UMEM (what descriptors carry).
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Length of the frame's data.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True if the frame holds no data.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if more buffers of the same packet follow this one (a socket
    /// opened with [`crate::XskConfig::multi_buffer`] receives packets larger
    /// than a frame as such chains, in order).
    pub fn is_continued(&self) -> bool {
        self.options & libc::XDP_PKT_CONTD != 0
    }

    /// Marks the frame as followed (or not) by more buffers of the same
    /// packet, for sending a packet larger than a frame as a chain.
    pub fn set_continued(&mut self, more: bool) {
        if more {
            self.options |= libc::XDP_PKT_CONTD;
        } else {
            self.options &= !libc::XDP_PKT_CONTD;
        }
    }

    pub(crate) fn set_tx_metadata_flag(&mut self, on: bool) {
        if on {
            self.options |= libc::XDP_TX_METADATA;
        } else {
            self.options &= !libc::XDP_TX_METADATA;
        }
    }

    pub(crate) fn has_tx_metadata_flag(&self) -> bool {
        self.options & libc::XDP_TX_METADATA != 0
    }

    /// Consumes the token for a ring descriptor: the frame now belongs to
    /// the kernel, and it is not counted as lost.
    pub(crate) fn into_desc(self) -> libc::xdp_desc {
        let d = libc::xdp_desc {
            addr: self.addr,
            len: self.len,
            options: self.options,
        };
        std::mem::forget(self);
        d
    }

    /// Consumes the token where the crate itself keeps the frame's address
    /// (the FILL ring, or a socket closing with frames on its free list).
    pub(crate) fn into_addr(self) -> u64 {
        let a = self.addr;
        std::mem::forget(self);
        a
    }
}

/// Dropping a token instead of giving it back loses its frame; the UMEM
/// counts such losses ([`Umem::lost_frames`]) so that accounting sees them.
impl Drop for Frame {
    fn drop(&mut self) {
        lost::record(self.umem);
    }
}

/// Lost-frame counts by UMEM id.
mod lost;

impl Drop for Umem {
    fn drop(&mut self) {
        lost::unregister(self.id);
    }
}

#[cfg(test)]
mod tests;
