//! The AF_XDP socket: creation, ring set-up, bind, wake-ups, statistics, and
//! [`Xsk`], which ties a socket, its rings and its frames together.

use crate::error::{Error, ErrorKind, Result};
use crate::mmap::Mmap;
use crate::netdev;
use crate::ring::{CompletionRing, FillRing, RingOffsets, RxRing, TxRing};
use crate::umem::{Frame, Umem, UmemConfig};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Queues whose socket this process closed recently. The kernel frees a
/// closed AF_XDP socket after an RCU grace period and then releases the
/// queue from a work item, so a bind right after a close can see EBUSY for a
/// few milliseconds. Binds to such a queue retry EBUSY for a short while;
/// binds to queues held by someone else fail at once.
static RECENTLY_CLOSED: Mutex<Vec<(u32, u32, Instant)>> = Mutex::new(Vec::new());
const RELEASE_GRACE: Duration = Duration::from_secs(2);

/// The recently-closed list, without entries older than [`RELEASE_GRACE`].
fn closed_queues() -> std::sync::MutexGuard<'static, Vec<(u32, u32, Instant)>> {
    let mut list = RECENTLY_CLOSED.lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|e| e.2.elapsed() < RELEASE_GRACE);
    list
}

fn recently_closed(ifindex: u32, queue: u32) -> bool {
    closed_queues()
        .iter()
        .any(|e| e.0 == ifindex && e.1 == queue)
}

/// How to bind: copy, zero-copy, or try zero-copy and fall back to copy.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum BindMode {
    /// Zero-copy if the driver supports it, copy otherwise.
    #[default]
    Auto,
    /// Always copy frames between the driver and the UMEM.
    Copy,
    /// The driver DMAs straight into the UMEM; fails if unsupported.
    ZeroCopy,
}

/// Everything needed to open an [`Xsk`].
#[derive(Clone, Copy, Debug)]
pub struct XskConfig {
    /// The packet memory.
    pub umem: UmemConfig,
    /// FILL ring size (power of two).
    pub fill_size: u32,
    /// COMPLETION ring size (power of two).
    pub comp_size: u32,
    /// RX ring size (power of two).
    pub rx_size: u32,
    /// TX ring size (power of two).
    pub tx_size: u32,
    /// Copy, zero-copy or auto.
    pub bind: BindMode,
    /// Ask the kernel to set need_wakeup flags instead of being kicked always.
    pub need_wakeup: bool,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            umem: UmemConfig::default(),
            fill_size: 2048,
            comp_size: 2048,
            rx_size: 2048,
            tx_size: 2048,
            bind: BindMode::Auto,
            need_wakeup: true,
        }
    }
}

/// The kernel's per-socket counters (XDP_STATISTICS).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Statistics {
    /// Frames dropped for reasons other than invalid descriptors.
    pub rx_dropped: u64,
    /// Invalid descriptors seen on the FILL ring.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors seen on the TX ring.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the FILL ring was empty when a frame arrived.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the TX ring was empty when the kernel looked for work.
    pub tx_ring_empty_descs: u64,
}

/// Where every frame of an [`Xsk`] is right now.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct FrameAccounting {
    /// Frames this socket was given.
    pub total: usize,
    /// On the free list.
    pub free: usize,
    /// On the FILL ring, not yet taken by the kernel.
    pub fill: usize,
    /// On the RX ring, not yet taken by the application.
    pub rx: usize,
    /// On the TX ring, not yet taken by the kernel.
    pub tx: usize,
    /// On the COMPLETION ring, not yet reaped.
    pub completion: usize,
    /// Taken by the kernel from FILL or TX and not yet returned on RX or
    /// COMPLETION (zero when the link is idle).
    pub kernel: usize,
    /// Held by the application as [`Frame`] tokens.
    pub application: usize,
}

impl FrameAccounting {
    /// True when the places add up to the total.
    pub fn is_consistent(&self) -> bool {
        self.free + self.fill + self.rx + self.tx + self.completion + self.kernel + self.application
            == self.total
    }
}

/// An AF_XDP socket file descriptor.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// Creates an unbound AF_XDP socket.
    pub fn new() -> Result<Socket> {
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            let err = Error::os("cannot create an AF_XDP socket", e);
            return Err(match err.raw_os_error() {
                Some(libc::EAFNOSUPPORT) => err.with_hint("this kernel lacks CONFIG_XDP_SOCKETS"),
                Some(libc::EPERM) | Some(libc::EACCES) => {
                    err.with_hint("AF_XDP sockets need CAP_NET_RAW: run as root")
                }
                _ => err,
            });
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(Socket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn setsockopt_raw<T>(&self, level: i32, opt: i32, value: &T) -> io::Result<()> {
        // SAFETY: `value` points to a live T of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                opt,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn setsockopt<T>(&self, opt: i32, value: &T, what: &str) -> Result<()> {
        self.setsockopt_raw(libc::SOL_XDP, opt, value)
            .map_err(|e| Error::os(what.to_string(), e))
    }

    fn getsockopt<T: Default>(&self, opt: i32, what: &str) -> Result<T> {
        let mut value = T::default();
        let mut len = size_of::<T>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes into `value`.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                opt,
                (&mut value as *mut T).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(Error::os(what.to_string(), io::Error::last_os_error()));
        }
        Ok(value)
    }

    /// A second descriptor for the same socket (for reading statistics from
    /// another thread while the owner runs its loop).
    pub fn try_clone(&self) -> Result<Socket> {
        Ok(Socket {
            fd: self
                .fd
                .try_clone()
                .map_err(|e| Error::os("dup of the AF_XDP socket", e))?,
        })
    }

    /// Reads the kernel's counters for this socket.
    pub fn statistics(&self) -> Result<Statistics> {
        let s: XdpStatistics =
            self.getsockopt(libc::XDP_STATISTICS, "getsockopt(XDP_STATISTICS)")?;
        Ok(Statistics {
            rx_dropped: s.0.rx_dropped,
            rx_invalid_descs: s.0.rx_invalid_descs,
            tx_invalid_descs: s.0.tx_invalid_descs,
            rx_ring_full: s.0.rx_ring_full,
            rx_fill_ring_empty_descs: s.0.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.0.tx_ring_empty_descs,
        })
    }

    /// True if the socket is bound in zero-copy mode (XDP_OPTIONS).
    pub fn zero_copy(&self) -> Result<bool> {
        let o: XdpOptions = self.getsockopt(libc::XDP_OPTIONS, "getsockopt(XDP_OPTIONS)")?;
        Ok(o.0.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
    }

    /// Asks the kernel to transmit what is on the TX ring.
    pub fn kick_tx(&self) -> Result<()> {
        // SAFETY: a zero-length sendto with no buffer and no address.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            // Transient: the kernel is busy or the ring is being drained.
            if !matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN)
            ) {
                return Err(Error::os("sendto (TX wake-up)", e));
            }
        }
        Ok(())
    }

    /// Asks the kernel to take buffers from the FILL ring and receive.
    pub fn kick_rx(&self) -> Result<()> {
        // SAFETY: a zero-length recvfrom with no buffer and no address.
        let rc = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if !matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN | libc::EBUSY | libc::ENETDOWN)
            ) {
                return Err(Error::os("recvfrom (RX wake-up)", e));
            }
        }
        Ok(())
    }

    /// Turns on preferred busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL
    /// of `usecs`, SO_BUSY_POLL_BUDGET of `budget`): the application then
    /// drives the driver's NAPI loop from its own wake-ups.
    pub fn set_busy_poll(&self, usecs: u32, budget: u32) -> Result<()> {
        for (opt, value, name) in [
            (libc::SO_PREFER_BUSY_POLL, 1i32, "SO_PREFER_BUSY_POLL"),
            (libc::SO_BUSY_POLL, usecs as i32, "SO_BUSY_POLL"),
            (
                libc::SO_BUSY_POLL_BUDGET,
                budget as i32,
                "SO_BUSY_POLL_BUDGET",
            ),
        ] {
            if let Err(e) = self.setsockopt_raw(libc::SOL_SOCKET, opt, &value) {
                let e = Error::os(format!("setsockopt({name})"), e);
                return Err(if e.kind() == ErrorKind::Permission {
                    e.with_hint(
                        "SO_BUSY_POLL_BUDGET above the default needs CAP_NET_ADMIN: run as root",
                    )
                } else {
                    e
                });
            }
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` (-1: forever) for frames on RX; true if ready.
    pub fn poll_rx(&self, timeout_ms: i32) -> Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(false);
            }
            return Err(Error::os("poll", e));
        }
        Ok(rc > 0 && pfd.revents & libc::POLLIN != 0)
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

// libc's structs lack Default; these newtypes give getsockopt a zeroed value.
struct XdpStatistics(libc::xdp_statistics);
impl Default for XdpStatistics {
    fn default() -> Self {
        // SAFETY: a plain struct of integers; all-zero is a valid value.
        XdpStatistics(unsafe { std::mem::zeroed() })
    }
}
struct XdpOptions(libc::xdp_options);
impl Default for XdpOptions {
    fn default() -> Self {
        XdpOptions(libc::xdp_options { flags: 0 })
    }
}
struct MmapOffsets(libc::xdp_mmap_offsets);
impl Default for MmapOffsets {
    fn default() -> Self {
        // SAFETY: a plain struct of integers; all-zero is a valid value.
        MmapOffsets(unsafe { std::mem::zeroed() })
    }
}

fn offsets(o: &libc::xdp_ring_offset) -> RingOffsets {
    RingOffsets {
        producer: o.producer as usize,
        consumer: o.consumer as usize,
        flags: o.flags as usize,
        desc: o.desc as usize,
    }
}

fn map_ring(
    sock: &Socket,
    o: &libc::xdp_ring_offset,
    size: u32,
    desc: usize,
    pgoff: u64,
    name: &str,
) -> Result<Arc<Mmap>> {
    let len = o.desc as usize + size as usize * desc;
    Mmap::socket_ring(sock.as_fd(), len, pgoff)
        .map(Arc::new)
        .map_err(|e| Error::os(format!("cannot map the {name} ring"), e))
}

fn check_ring_size(name: &str, size: u32) -> Result<()> {
    if size == 0 || !size.is_power_of_two() {
        return Err(Error::config(format!(
            "{name} ring size {size} must be a power of two"
        )));
    }
    Ok(())
}

/// A bound AF_XDP socket with its rings and its frames.
///
/// Frames move between places only through methods that take or return
/// [`Frame`] tokens by value; [`Xsk::accounting`] reports where each is.
pub struct Xsk {
    // Field order is drop order: the ring mappings go first, then the socket
    // is closed. Closing with rings still mapped keeps the queue busy (EBUSY
    // on the next bind) until the mappings are gone.
    rx: RxRing,
    tx: TxRing,
    fill: FillRing,
    comp: CompletionRing,
    socket: Socket,
    umem: Arc<Umem>,
    free: Vec<Frame>,
    total: usize,
    /// Frames given to FILL and not yet taken back from RX.
    in_rx_path: usize,
    /// Frames given to TX and not yet taken back from COMPLETION.
    in_tx_path: usize,
    /// Frames the application holds.
    handed_out: usize,
    ifindex: u32,
    queue: u32,
    zero_copy: bool,
    need_wakeup: bool,
}

impl std::fmt::Debug for Xsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xsk")
            .field("ifindex", &self.ifindex)
            .field("queue", &self.queue)
            .field("zero_copy", &self.zero_copy)
            .field("umem", &self.umem)
            .finish()
    }
}

impl Xsk {
    /// Opens a socket on `queue` of `interface` with its own UMEM.
    pub fn new(interface: &str, queue: u32, config: &XskConfig) -> Result<Xsk> {
        let (umem, frames) = Umem::new(config.umem)?;
        Xsk::with_umem(interface, queue, config, umem, frames)
    }

    /// Opens a socket that registers `umem` (made with [`Umem::new`]) and
    /// takes `frames`, some or all of its frames. Other sockets can then
    /// share the UMEM through [`Xsk::shared`] with the rest.
    pub fn with_umem(
        interface: &str,
        queue: u32,
        config: &XskConfig,
        umem: Arc<Umem>,
        frames: Vec<Frame>,
    ) -> Result<Xsk> {
        Xsk::open(interface, queue, config, umem, frames, None)
    }

    /// Opens a socket on another queue that shares `owner`'s UMEM
    /// (XDP_SHARED_UMEM), with its own FILL and COMPLETION rings and the
    /// `frames` given to it (cut from the owner's UMEM).
    pub fn shared(
        owner: &Xsk,
        interface: &str,
        queue: u32,
        config: &XskConfig,
        frames: Vec<Frame>,
    ) -> Result<Xsk> {
        Xsk::open(
            interface,
            queue,
            config,
            owner.umem.clone(),
            frames,
            Some(owner.socket.as_raw_fd()),
        )
    }

    fn open(
        interface: &str,
        queue: u32,
        config: &XskConfig,
        umem: Arc<Umem>,
        frames: Vec<Frame>,
        shared_fd: Option<RawFd>,
    ) -> Result<Xsk> {
        for (name, size) in [
            ("FILL", config.fill_size),
            ("COMPLETION", config.comp_size),
            ("RX", config.rx_size),
            ("TX", config.tx_size),
        ] {
            check_ring_size(name, size)?;
        }
        let ifindex = netdev::ifindex(interface)?;
        if let Some(n) = netdev::rx_queue_count(interface)? {
            if queue >= n {
                return Err(Error::new(
                    ErrorKind::QueueOutOfRange,
                    format!(
                        "queue {queue} does not exist on {interface}, which has {n} rx queue(s)"
                    ),
                )
                .with_hint("pick a queue id below that count (ethtool -l shows the channels)"));
            }
        }

        let socket = Socket::new()?;
        if shared_fd.is_none() {
            let uc = umem.config();
            let reg = libc::xdp_umem_reg {
                addr: umem.area_addr(),
                len: uc.len() as u64,
                chunk_size: uc.frame_size,
                headroom: uc.headroom,
                flags: if uc.unaligned {
                    libc::XDP_UMEM_UNALIGNED_CHUNK_FLAG
                } else {
                    0
                },
                tx_metadata_len: 0,
            };
            socket.setsockopt_raw(libc::SOL_XDP, libc::XDP_UMEM_REG, &reg).map_err(|e| {
                let code = e.raw_os_error();
                let err = Error::os(format!("cannot register {} bytes of UMEM", uc.len()), e);
                match code {
                    Some(libc::ENOMEM) | Some(libc::EPERM) => err.with_kind(ErrorKind::Permission).with_hint(
                        "pinning UMEM needs CAP_IPC_LOCK (root) or an RLIMIT_MEMLOCK above its size",
                    ),
                    _ => err,
                }
            })?;
        }
        socket.setsockopt(
            libc::XDP_UMEM_FILL_RING,
            &config.fill_size,
            "setsockopt(XDP_UMEM_FILL_RING)",
        )?;
        socket.setsockopt(
            libc::XDP_UMEM_COMPLETION_RING,
            &config.comp_size,
            "setsockopt(XDP_UMEM_COMPLETION_RING)",
        )?;
        socket.setsockopt(
            libc::XDP_RX_RING,
            &config.rx_size,
            "setsockopt(XDP_RX_RING)",
        )?;
        socket.setsockopt(
            libc::XDP_TX_RING,
            &config.tx_size,
            "setsockopt(XDP_TX_RING)",
        )?;

        let off: MmapOffsets =
            socket.getsockopt(libc::XDP_MMAP_OFFSETS, "getsockopt(XDP_MMAP_OFFSETS)")?;
        let off = off.0;
        let desc = size_of::<libc::xdp_desc>();
        let rx_map = map_ring(
            &socket,
            &off.rx,
            config.rx_size,
            desc,
            libc::XDP_PGOFF_RX_RING as u64,
            "RX",
        )?;
        let tx_map = map_ring(
            &socket,
            &off.tx,
            config.tx_size,
            desc,
            libc::XDP_PGOFF_TX_RING as u64,
            "TX",
        )?;
        let fill_map = map_ring(
            &socket,
            &off.fr,
            config.fill_size,
            8,
            libc::XDP_UMEM_PGOFF_FILL_RING,
            "FILL",
        )?;
        let comp_map = map_ring(
            &socket,
            &off.cr,
            config.comp_size,
            8,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            "COMPLETION",
        )?;

        let total = frames.len();
        let mut xsk = Xsk {
            rx: RxRing::new(rx_map, offsets(&off.rx), config.rx_size),
            tx: TxRing::new(tx_map, offsets(&off.tx), config.tx_size),
            fill: FillRing::new(fill_map, offsets(&off.fr), config.fill_size),
            comp: CompletionRing::new(comp_map, offsets(&off.cr), config.comp_size),
            socket,
            umem,
            free: frames,
            total,
            in_rx_path: 0,
            in_tx_path: 0,
            handed_out: 0,
            ifindex,
            queue,
            zero_copy: false,
            need_wakeup: config.need_wakeup,
        };
        xsk.bind(interface, config.bind, shared_fd)?;
        xsk.zero_copy = xsk.socket.zero_copy()?;
        Ok(xsk)
    }

    fn bind(&self, interface: &str, mode: BindMode, shared_fd: Option<RawFd>) -> Result<()> {
        // A socket sharing another's UMEM takes copy/zero-copy and
        // need_wakeup from that socket: the kernel refuses those flags here.
        let flags: u16 = match shared_fd {
            Some(_) => libc::XDP_SHARED_UMEM,
            None if self.need_wakeup => libc::XDP_USE_NEED_WAKEUP,
            None => 0,
        };
        let attempt = |extra: u16| -> io::Result<()> {
            let sa = libc::sockaddr_xdp {
                sxdp_family: libc::AF_XDP as u16,
                sxdp_flags: flags | extra,
                sxdp_ifindex: self.ifindex,
                sxdp_queue_id: self.queue,
                sxdp_shared_umem_fd: shared_fd.unwrap_or(0) as u32,
            };
            // SAFETY: `sa` is a valid sockaddr_xdp of the size passed.
            let rc = unsafe {
                libc::bind(
                    self.socket.as_raw_fd(),
                    (&sa as *const libc::sockaddr_xdp).cast(),
                    size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        let try_mode = |mode: BindMode| match mode {
            _ if shared_fd.is_some() => attempt(0),
            BindMode::Copy => attempt(libc::XDP_COPY),
            BindMode::ZeroCopy => attempt(libc::XDP_ZEROCOPY),
            BindMode::Auto => match attempt(libc::XDP_ZEROCOPY) {
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT)
                    ) =>
                {
                    attempt(libc::XDP_COPY)
                }
                r => r,
            },
        };
        let mut result = try_mode(mode);
        let mut pause = Duration::from_millis(1);
        let start = Instant::now();
        while matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EBUSY))
            && start.elapsed() < RELEASE_GRACE
            && recently_closed(self.ifindex, self.queue)
        {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
            result = try_mode(mode);
        }
        let q = self.queue;
        result.map_err(|e| {
            let code = e.raw_os_error();
            let err = Error::os(format!("cannot bind an AF_XDP socket to {interface} queue {q}"), e);
            match code {
                Some(libc::EBUSY) => err.with_kind(ErrorKind::QueueBusy).with_hint(
                    "another AF_XDP socket holds this queue: stop it (or its program) or pick another queue",
                ),
                Some(libc::EOPNOTSUPP) | Some(libc::EPROTONOSUPPORT) if mode == BindMode::ZeroCopy => err
                    .with_kind(ErrorKind::ZeroCopyUnsupported)
                    .with_hint("this driver has no zero-copy AF_XDP support: use copy mode (-c) or auto"),
                Some(libc::EINVAL) => err.with_kind(ErrorKind::QueueOutOfRange).with_hint(
                    "the queue id may be out of range for this interface, or the flags unsupported",
                ),
                Some(libc::ENETDOWN) => err.with_hint("bring the interface up first (ip link set dev IFACE up)"),
                _ => err,
            }
        })
    }

    /// The socket, for registering in an XSKMAP or reading options.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The packet memory; frame data is read and written through it.
    pub fn umem(&self) -> &Arc<Umem> {
        &self.umem
    }

    /// The interface index this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The queue this socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// True if bound in zero-copy mode.
    pub fn is_zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Frames on the free list.
    pub fn free_frames(&self) -> usize {
        self.free.len()
    }

    /// Takes a free frame (reset to an empty buffer) to build a frame to send.
    pub fn alloc(&mut self) -> Option<Frame> {
        let mut f = self.free.pop()?;
        self.umem.reset(&mut f);
        self.handed_out += 1;
        Some(f)
    }

    /// Gives a frame back to the free list. (Per-socket accounting assumes
    /// a frame comes back to the socket it left; moving frames between
    /// sockets that share a UMEM works, but shifts their counts.)
    pub fn release(&mut self, frame: Frame) {
        self.handed_out = self.handed_out.saturating_sub(1);
        self.free.push(frame);
    }

    /// Moves free frames onto the FILL ring, as many as fit (at most `max`).
    pub fn refill(&mut self, max: u32) -> u32 {
        let want = max.min(self.free.len() as u32);
        if want == 0 {
            return 0;
        }
        let (idx, count) = self.fill.reserve(want);
        for i in 0..count {
            let f = self.free.pop().expect("counted above");
            self.fill
                .write(idx.wrapping_add(i), self.umem.chunk_base(f.addr()));
        }
        if count > 0 {
            self.fill.submit();
        }
        self.in_rx_path += count as usize;
        count
    }

    /// Appends up to `max` received frames to `out`; returns how many.
    pub fn recv(&mut self, out: &mut Vec<Frame>, max: u32) -> u32 {
        let (idx, count) = self.rx.peek(max);
        for i in 0..count {
            let d = self.rx.read(idx.wrapping_add(i));
            out.push(self.umem.frame_from_kernel(d.addr, d.len));
        }
        if count > 0 {
            self.rx.release();
            self.in_rx_path -= count as usize;
            self.handed_out += count as usize;
        }
        count
    }

    /// Puts frames from the front of `frames` on the TX ring, as many as fit,
    /// and removes them from the vector. Call [`Xsk::flush`] to make the kernel
    /// send them. Returns how many were queued.
    pub fn send(&mut self, frames: &mut Vec<Frame>) -> u32 {
        let (idx, count) = self.tx.reserve(frames.len() as u32);
        for (i, f) in frames.drain(..count as usize).enumerate() {
            self.tx.write(idx.wrapping_add(i as u32), f.desc());
        }
        if count > 0 {
            self.tx.submit();
            self.in_tx_path += count as usize;
            self.handed_out = self.handed_out.saturating_sub(count as usize);
        }
        count
    }

    /// Queues one frame for sending, or gives it back if the TX ring is full.
    pub fn send_one(&mut self, frame: Frame) -> std::result::Result<(), Frame> {
        let (idx, count) = self.tx.reserve(1);
        if count == 0 {
            return Err(frame);
        }
        self.tx.write(idx, frame.desc());
        self.tx.submit();
        self.in_tx_path += 1;
        self.handed_out = self.handed_out.saturating_sub(1);
        Ok(())
    }

    /// Wakes the kernel to transmit what is on the TX ring, if it asked to
    /// be woken (or always without need_wakeup). In copy mode one wake-up
    /// sends a bounded batch, so this repeats while the ring drains; it stops
    /// when a wake-up makes no progress (zero-copy drivers send later, and a
    /// full COMPLETION ring blocks sending until [`Xsk::complete`]).
    pub fn flush(&mut self) -> Result<()> {
        let mut before = self.tx.pending();
        while before > 0 && (!self.need_wakeup || self.tx.needs_wakeup()) {
            self.socket.kick_tx()?;
            let after = self.tx.pending();
            if after >= before {
                break;
            }
            before = after;
        }
        Ok(())
    }

    /// Moves up to `max` completed frames to the free list; returns how many.
    pub fn complete(&mut self, max: u32) -> u32 {
        let umem = &self.umem;
        let free = &mut self.free;
        let n = self
            .comp
            .consume(max, |addr| free.push(umem.frame_from_kernel(addr, 0)));
        self.in_tx_path -= n as usize;
        n
    }

    /// True if the kernel waits for a wake-up before it uses the FILL ring
    /// again (call [`Socket::kick_rx`] or poll in a busy loop).
    pub fn fill_needs_wakeup(&self) -> bool {
        self.need_wakeup && self.fill.needs_wakeup()
    }

    /// True if this socket was bound with need_wakeup.
    pub fn uses_need_wakeup(&self) -> bool {
        self.need_wakeup
    }

    /// The kernel's counters for this socket.
    pub fn statistics(&self) -> Result<Statistics> {
        self.socket.statistics()
    }

    /// Where every frame is. Exact when the link is idle; while traffic
    /// flows the kernel's indices move between the reads.
    pub fn accounting(&self) -> FrameAccounting {
        let fill = self.fill.pending() as usize;
        let rx = self.rx.pending() as usize;
        let tx = self.tx.pending() as usize;
        let completion = self.comp.pending() as usize;
        FrameAccounting {
            total: self.total,
            free: self.free.len(),
            fill,
            rx,
            tx,
            completion,
            kernel: (self.in_rx_path + self.in_tx_path).saturating_sub(fill + rx + tx + completion),
            application: self.handed_out,
        }
    }
}

impl Drop for Xsk {
    fn drop(&mut self) {
        // The fields then drop in order: rings unmapped, socket closed.
        closed_queues().push((self.ifindex, self.queue, Instant::now()));
    }
}

impl AsFd for Xsk {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for Xsk {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
