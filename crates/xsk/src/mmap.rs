//! An owned memory mapping, unmapped on drop.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

/// Size of the huge pages [`Mmap::anonymous_huge`] uses.
pub(crate) const HUGE_PAGE: usize = 2 << 20;

/// A region returned by `mmap(2)`; dropping it calls `munmap(2)`.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; access to its
// contents is synchronised by the types built on top of it (rings use atomics,
// frames are handed out exclusively).
unsafe impl Send for Mmap {}
// SAFETY: as above; `Mmap` itself exposes only the base pointer and length.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Private anonymous memory, zeroed, page aligned (what UMEM needs).
    pub(crate) fn anonymous(len: usize) -> io::Result<Mmap> {
        // Miri models only plain private anonymous mappings; populating
        // early is an optimisation it does not need.
        let populate = if cfg!(miri) { 0 } else { libc::MAP_POPULATE };
        Self::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | populate,
            -1,
            0,
        )
    }

    /// Private anonymous memory in 2 MiB huge pages; `len` is rounded up to
    /// whole pages (the mapping's length says how much it holds).
    pub(crate) fn anonymous_huge(len: usize) -> io::Result<Mmap> {
        let len = len
            .checked_next_multiple_of(HUGE_PAGE)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        // MAP_HUGE_2MB: log2(2 MiB) = 21 in the size bits.
        let flags = libc::MAP_PRIVATE
            | libc::MAP_ANONYMOUS
            | libc::MAP_HUGETLB
            | (21 << libc::MAP_HUGE_SHIFT);
        Self::map(len, flags | libc::MAP_POPULATE, -1, 0)
    }

    /// A shared mapping of `fd` at `offset` (how AF_XDP rings are reached).
    pub(crate) fn socket_ring(fd: BorrowedFd<'_>, len: usize, offset: u64) -> io::Result<Mmap> {
        // Ring offsets are fixed page offsets above 2^32 (0x100000000 and
        // up), which an `off_t` of 32 bits cannot hold: refuse, do not truncate.
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        Self::map(
            len,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd.as_raw_fd(),
            offset,
        )
    }

    fn map(len: usize, flags: i32, fd: i32, offset: libc::off_t) -> io::Result<Mmap> {
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: a fresh mapping chosen by the kernel (addr = NULL) cannot
        // alias any Rust object; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap {
            ptr: NonNull::new(ptr.cast()).expect("mmap returned NULL without MAP_FIXED"),
            len,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a successful mmap and are unmapped once.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
