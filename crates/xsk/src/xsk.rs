//! [`Xsk`]: a bound socket, its four rings and its frames, and the
//! accounting of where every frame is.

use crate::busy;
use crate::error::{Error, ErrorKind, Result};
use crate::if_xdp::{self, MmapOffsets, SockaddrXdp, Statistics, UmemReg};
use crate::mmap::Mmap;
use crate::netdev;
use crate::ring::{CompletionRing, FillRing, RingOffsets, RxRing, TxRing};
use crate::socket::Socket;
use crate::umem::{Frame, Umem, UmemConfig};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

/// How to bind: copy, zero-copy, or let the kernel choose.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum BindMode {
    /// Zero-copy if the driver can set it up, copy otherwise (the kernel's
    /// own choice for a bind without either flag). Unaligned chunks bind
    /// in copy mode.
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
    /// Copy, zero-copy or auto. Ignored by [`Xsk::shared`]: a socket that
    /// shares a UMEM inherits its owner's mode.
    pub bind: BindMode,
    /// Ask the kernel to set need_wakeup flags instead of being kicked
    /// always (Linux 5.4+; dropped with no error on older kernels).
    /// Ignored by [`Xsk::shared`], which inherits it from the owner.
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

/// Where every frame of an [`Xsk`] is right now.
///
/// The ring counts and the kernel's share are read from the rings' shared
/// indices; the application's share is what was handed out and not given
/// back; `lost` counts tokens dropped instead of given back. Exact when the
/// link is idle; while traffic flows the kernel's indices move between reads.
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
    /// Taken by the kernel from FILL or TX (by its consumer indices) and
    /// not yet put on RX or COMPLETION (by its producer indices).
    pub kernel: usize,
    /// Held by the application as [`Frame`] tokens.
    pub application: usize,
    /// Tokens of this socket's UMEM that were dropped instead of given back
    /// (for a shared UMEM: of all its sockets).
    pub lost: usize,
}

impl FrameAccounting {
    /// True when no frame was lost and the places add up to the total.
    pub fn is_consistent(&self) -> bool {
        self.lost == 0
            && self.free
                + self.fill
                + self.rx
                + self.tx
                + self.completion
                + self.kernel
                + self.application
                == self.total
    }
}

fn offsets(o: &if_xdp::RingOffset) -> Result<RingOffsets> {
    let conv = |v: u64| {
        usize::try_from(v).map_err(|_| Error::config(format!("ring offset {v} from the kernel")))
    };
    Ok(RingOffsets {
        producer: conv(o.producer)?,
        consumer: conv(o.consumer)?,
        flags: conv(o.flags)?,
        desc: conv(o.desc)?,
    })
}

fn map_ring(
    sock: &Socket,
    o: &RingOffsets,
    size: u32,
    desc: usize,
    pgoff: u64,
    name: &str,
) -> Result<Arc<Mmap>> {
    let len = (size as usize)
        .checked_mul(desc)
        .and_then(|n| n.checked_add(o.desc))
        .ok_or_else(|| Error::config(format!("{name} ring of {size} entries is too large")))?;
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
    /// Frames handed to the application (alloc, recv) minus those given
    /// back (release, send). Wrapping: with a shared UMEM a frame may leave
    /// through one socket and come back through another.
    handed_out: usize,
    /// Ring indices at bind time, so the kernel's share can be read from
    /// how far its indices have moved since.
    fill_base: u32,
    rx_base: u32,
    tx_base: u32,
    comp_base: u32,
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

/// How a bind was asked for, once the config and the owner are weighed.
struct BindPlan {
    shared_fd: Option<RawFd>,
    mode: BindMode,
    need_wakeup: bool,
}

impl Xsk {
    /// Opens a socket on `queue` of `interface` with its own UMEM.
    ///
    /// # Errors
    /// Invalid sizes, no such interface or queue, a busy queue (naming the
    /// holder where the kernel can say), missing privileges, zero-copy
    /// where the driver cannot do it. Each error says what to do.
    ///
    /// # Examples
    /// ```no_run
    /// let mut xsk = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default())?;
    /// xsk.refill(u32::MAX);
    /// # Ok::<(), xsk::Error>(())
    /// ```
    pub fn new(interface: &str, queue: u32, config: &XskConfig) -> Result<Xsk> {
        let (umem, frames) = Umem::new(config.umem)?;
        Xsk::with_umem(interface, queue, config, umem, frames)
    }

    /// Opens a socket that registers `umem` (made with [`Umem::new`]) and
    /// takes `frames`, some or all of its frames. Other sockets can then
    /// share the UMEM through [`Xsk::shared`] with the rest.
    ///
    /// # Errors
    /// As [`Xsk::new`], and [`ErrorKind::InvalidConfig`] if a frame belongs
    /// to another UMEM.
    pub fn with_umem(
        interface: &str,
        queue: u32,
        config: &XskConfig,
        umem: Arc<Umem>,
        frames: Vec<Frame>,
    ) -> Result<Xsk> {
        let plan = BindPlan {
            shared_fd: None,
            mode: config.bind,
            need_wakeup: config.need_wakeup,
        };
        Xsk::open(interface, queue, config, umem, frames, plan)
    }

    /// Opens a socket on another queue that shares `owner`'s UMEM
    /// (XDP_SHARED_UMEM), with its own FILL and COMPLETION rings and the
    /// `frames` given to it (cut from the owner's UMEM). Copy or zero-copy
    /// and need_wakeup come from the owner, as the kernel inherits them.
    ///
    /// # Errors
    /// As [`Xsk::with_umem`].
    pub fn shared(
        owner: &Xsk,
        interface: &str,
        queue: u32,
        config: &XskConfig,
        frames: Vec<Frame>,
    ) -> Result<Xsk> {
        let plan = BindPlan {
            shared_fd: Some(owner.socket.as_raw_fd()),
            mode: if owner.zero_copy {
                BindMode::ZeroCopy
            } else {
                BindMode::Copy
            },
            need_wakeup: owner.need_wakeup,
        };
        Xsk::open(interface, queue, config, owner.umem.clone(), frames, plan)
    }

    fn open(
        interface: &str,
        queue: u32,
        config: &XskConfig,
        umem: Arc<Umem>,
        frames: Vec<Frame>,
        mut plan: BindPlan,
    ) -> Result<Xsk> {
        if let Some(f) = frames.iter().find(|f| !umem.owns(f)) {
            return Err(Error::config(format!(
                "frame at {:#x} belongs to another UMEM than the one given",
                f.addr()
            )));
        }
        for (name, size) in [
            ("FILL", config.fill_size),
            ("COMPLETION", config.comp_size),
            ("RX", config.rx_size),
            ("TX", config.tx_size),
        ] {
            check_ring_size(name, size)?;
        }
        if umem.config().unaligned && !umem.config().huge_pages {
            // The kernel drops (silently) every FILL or TX address whose
            // chunk crosses a page in zero-copy unless the UMEM is in huge
            // pages.
            match plan.mode {
                BindMode::ZeroCopy if plan.shared_fd.is_none() => {
                    return Err(Error::config(
                        "unaligned chunks in zero-copy mode need a UMEM in huge pages, or the kernel \
                         drops frames that cross a page: add huge pages (--huge-pages in xskit), use \
                         copy mode, or use aligned frames",
                    ))
                }
                BindMode::Auto => plan.mode = BindMode::Copy,
                _ => {}
            }
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
        if plan.shared_fd.is_none() {
            register_umem(&socket, &umem)?;
        }
        socket.set_xdp(
            libc::XDP_UMEM_FILL_RING,
            &config.fill_size,
            "setsockopt(XDP_UMEM_FILL_RING)",
        )?;
        socket.set_xdp(
            libc::XDP_UMEM_COMPLETION_RING,
            &config.comp_size,
            "setsockopt(XDP_UMEM_COMPLETION_RING)",
        )?;
        socket.set_xdp(
            libc::XDP_RX_RING,
            &config.rx_size,
            "setsockopt(XDP_RX_RING)",
        )?;
        socket.set_xdp(
            libc::XDP_TX_RING,
            &config.tx_size,
            "setsockopt(XDP_TX_RING)",
        )?;

        let mut buf = [0u8; if_xdp::MMAP_OFFSETS_LEN];
        let n = socket.get_xdp(
            libc::XDP_MMAP_OFFSETS,
            &mut buf,
            "getsockopt(XDP_MMAP_OFFSETS)",
        )?;
        let off = MmapOffsets::decode(&buf, n)?;
        let (rx_o, tx_o, fr_o, cr_o) = (
            offsets(&off.rx)?,
            offsets(&off.tx)?,
            offsets(&off.fr)?,
            offsets(&off.cr)?,
        );
        let desc = size_of::<libc::xdp_desc>();
        let rx_map = map_ring(
            &socket,
            &rx_o,
            config.rx_size,
            desc,
            libc::XDP_PGOFF_RX_RING as u64,
            "RX",
        )?;
        let tx_map = map_ring(
            &socket,
            &tx_o,
            config.tx_size,
            desc,
            libc::XDP_PGOFF_TX_RING as u64,
            "TX",
        )?;
        let fill_map = map_ring(
            &socket,
            &fr_o,
            config.fill_size,
            8,
            libc::XDP_UMEM_PGOFF_FILL_RING,
            "FILL",
        )?;
        let comp_map = map_ring(
            &socket,
            &cr_o,
            config.comp_size,
            8,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            "COMPLETION",
        )?;
        let rx = RxRing::new(rx_map, rx_o, config.rx_size)?;
        let tx = TxRing::new(tx_map, tx_o, config.tx_size)?;
        let fill = FillRing::new(fill_map, fr_o, config.fill_size)?;
        let comp = CompletionRing::new(comp_map, cr_o, config.comp_size)?;

        let need_wakeup = bind(&socket, interface, ifindex, queue, &plan)?;
        let zero_copy = match socket.zero_copy() {
            Ok(z) => z,
            // Before 5.3 the kernel cannot say; only an explicit zero-copy
            // bind can have succeeded in zero-copy.
            Err(e) if e.kind() == ErrorKind::Unsupported => plan.mode == BindMode::ZeroCopy,
            Err(e) => return Err(e),
        };
        let rings = Rings { rx, tx, fill, comp };
        Ok(Xsk::assemble(
            rings,
            socket,
            umem,
            frames,
            (ifindex, queue),
            zero_copy,
            need_wakeup,
        ))
    }

    /// Puts a socket together from its parts (bound, or a test loopback).
    pub(crate) fn assemble(
        r: Rings,
        socket: Socket,
        umem: Arc<Umem>,
        frames: Vec<Frame>,
        (ifindex, queue): (u32, u32),
        zero_copy: bool,
        need_wakeup: bool,
    ) -> Xsk {
        Xsk {
            fill_base: r.fill.index(),
            rx_base: r.rx.index(),
            tx_base: r.tx.index(),
            comp_base: r.comp.index(),
            rx: r.rx,
            tx: r.tx,
            fill: r.fill,
            comp: r.comp,
            socket,
            umem,
            total: frames.len(),
            free: frames,
            handed_out: 0,
            ifindex,
            queue,
            zero_copy,
            need_wakeup,
        }
    }
}

/// The four rings of a socket, user space's ends.
pub(crate) struct Rings {
    pub rx: RxRing,
    pub tx: TxRing,
    pub fill: FillRing,
    pub comp: CompletionRing,
}

fn register_umem(socket: &Socket, umem: &Umem) -> Result<()> {
    let uc = umem.config();
    let reg = UmemReg {
        addr: umem.area_addr(),
        len: umem.area_len() as u64,
        chunk_size: uc.frame_size,
        headroom: uc.headroom,
        flags: if uc.unaligned {
            libc::XDP_UMEM_UNALIGNED_CHUNK_FLAG
        } else {
            0
        },
        tx_metadata_len: 0,
    };
    socket.set(libc::SOL_XDP, libc::XDP_UMEM_REG, &reg).map_err(|e| {
        let code = e.raw_os_error();
        let err = Error::os(format!("cannot register {} bytes of UMEM", umem.area_len()), e);
        match code {
            // ENOBUFS: the pages would exceed RLIMIT_MEMLOCK (the kernel
            // charges UMEM pages to it unless the process has CAP_IPC_LOCK).
            Some(libc::ENOMEM | libc::ENOBUFS | libc::EPERM) => err
                .with_kind(ErrorKind::Permission)
                .with_hint("pinning UMEM needs CAP_IPC_LOCK (root) or an RLIMIT_MEMLOCK above its size (ulimit -l)"),
            Some(libc::EINVAL) if uc.unaligned => err.with_hint("unaligned chunks need Linux 5.4"),
            _ => err,
        }
    })
}

/// Binds `socket` as `plan` says; returns whether need_wakeup is in force.
fn bind(
    socket: &Socket,
    interface: &str,
    ifindex: u32,
    queue: u32,
    plan: &BindPlan,
) -> Result<bool> {
    let mode_flags = match (plan.shared_fd, plan.mode) {
        // A socket sharing another's UMEM takes copy/zero-copy and
        // need_wakeup from that socket: the kernel refuses those flags here.
        (Some(_), _) => libc::XDP_SHARED_UMEM,
        (None, BindMode::Auto) => 0,
        (None, BindMode::Copy) => libc::XDP_COPY,
        (None, BindMode::ZeroCopy) => libc::XDP_ZEROCOPY,
    };
    let attempt = |wakeup: bool| -> io::Result<()> {
        let extra = if wakeup && plan.shared_fd.is_none() {
            libc::XDP_USE_NEED_WAKEUP
        } else {
            0
        };
        let sa = SockaddrXdp {
            family: libc::AF_XDP as u16,
            flags: mode_flags | extra,
            ifindex,
            queue_id: queue,
            shared_umem_fd: plan.shared_fd.unwrap_or(0) as u32,
        };
        crate::syscall::bind_xdp(socket.as_fd(), &sa)
    };
    let mut need_wakeup = plan.need_wakeup;
    let (mut result, mut why) =
        busy::retry_while_releasing(ifindex, queue, || attempt(need_wakeup));
    if need_wakeup
        && plan.shared_fd.is_none()
        && matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EINVAL))
    {
        // Before 5.4 the kernel refuses the unknown need_wakeup flag; it
        // only saves wake-ups, so bind without it (wake-ups are then always
        // sent, which is what such kernels expect).
        let (r, w) = busy::retry_while_releasing(ifindex, queue, || attempt(false));
        if r.is_ok() {
            need_wakeup = false;
        }
        (result, why) = (r, w);
    }
    result.map(|()| need_wakeup).map_err(|e| {
        let code = e.raw_os_error();
        let err = Error::os(format!("cannot bind an AF_XDP socket to {interface} queue {queue}"), e);
        match code {
            Some(libc::EBUSY) => {
                let why = why.unwrap_or(busy::Busy::Unknown);
                err.with_kind(ErrorKind::QueueBusy).with_hint(busy::hint(&why))
            }
            Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT) if plan.mode == BindMode::ZeroCopy => err
                .with_kind(ErrorKind::ZeroCopyUnsupported)
                .with_hint("this driver has no zero-copy AF_XDP support: use copy mode (-c) or auto"),
            Some(libc::EINVAL) if plan.shared_fd.is_some() => err.with_hint(
                "the kernel refused to share the UMEM: sharing across queues needs Linux 5.10, and the \
                 owner must be bound to the same interface",
            ),
            Some(libc::EINVAL) => err.with_hint(
                "the kernel refused the bind (queue id, UMEM shape or flags); the queue exists, so check \
                 the frame size and headroom against this driver",
            ),
            Some(libc::ENETDOWN) => err.with_hint("bring the interface up first (ip link set dev IFACE up)"),
            Some(libc::ENODEV | libc::ENXIO) => err
                .with_kind(ErrorKind::NoSuchInterface)
                .with_hint("the interface went away during the bind"),
            _ => err,
        }
    })
}

/// Disjoint mutable views of an [`Xsk`]'s rings, UMEM and free list, for
/// the ring-to-ring passes in `batch.rs`.
pub(crate) struct Parts<'a> {
    pub rx: &'a mut RxRing,
    pub tx: &'a mut TxRing,
    pub fill: &'a mut FillRing,
    pub comp: &'a mut CompletionRing,
    pub umem: &'a Umem,
    pub free: &'a mut Vec<Frame>,
}

impl Xsk {
    pub(crate) fn parts(&mut self) -> Parts<'_> {
        Parts {
            rx: &mut self.rx,
            tx: &mut self.tx,
            fill: &mut self.fill,
            comp: &mut self.comp,
            umem: &self.umem,
            free: &mut self.free,
        }
    }

    /// The free list, for tests.
    #[cfg(test)]
    pub(crate) fn free_list(&self) -> &[Frame] {
        &self.free
    }

    /// The pending entries of FILL, RX, TX and COMPLETION, for tests.
    #[cfg(test)]
    pub(crate) fn ring_views(
        &self,
    ) -> (Vec<u64>, Vec<libc::xdp_desc>, Vec<libc::xdp_desc>, Vec<u64>) {
        (
            self.fill.peek_all(),
            self.rx.peek_all(),
            self.tx.peek_all(),
            self.comp.peek_all(),
        )
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

    /// Frames waiting on RX.
    pub fn rx_pending(&mut self) -> u32 {
        self.rx.available(u32::MAX)
    }

    /// Free slots on TX.
    pub fn tx_room(&mut self) -> u32 {
        self.tx.free(u32::MAX)
    }

    /// Frames on the free list.
    pub fn free_frames(&self) -> usize {
        self.free.len()
    }

    /// Takes a free frame (reset to an empty buffer) to build a frame to send.
    pub fn alloc(&mut self) -> Option<Frame> {
        let mut f = self.free.pop()?;
        self.umem.reset(&mut f);
        self.handed_out = self.handed_out.wrapping_add(1);
        Some(f)
    }

    /// Gives a frame back to the free list. (Per-socket accounting assumes
    /// a frame comes back to the socket it left; moving frames between
    /// sockets that share a UMEM works, but shifts their counts.)
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn release(&mut self, frame: Frame) {
        self.umem.check(&frame);
        self.handed_out = self.handed_out.wrapping_sub(1);
        self.free.push(frame);
    }

    /// Moves free frames onto the FILL ring, as many as fit (at most `max`).
    pub fn refill(&mut self, max: u32) -> u32 {
        let want = max.min(u32::try_from(self.free.len()).unwrap_or(u32::MAX));
        if want == 0 {
            return 0;
        }
        let umem = &self.umem;
        let free = &mut self.free;
        let mut frames = std::iter::from_fn(|| free.pop()).map(|f| umem.chunk_base(f.into_addr()));
        self.fill.produce(&mut frames, want)
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
            self.handed_out = self.handed_out.wrapping_add(count as usize);
        }
        count
    }

    /// Puts frames from the front of `frames` on the TX ring, as many as fit,
    /// and removes them from the vector. Call [`Xsk::flush`] to make the kernel
    /// send them. Returns how many were queued.
    ///
    /// # Panics
    /// If a frame belongs to another UMEM (checked before any is queued).
    pub fn send(&mut self, frames: &mut Vec<Frame>) -> u32 {
        for f in frames.iter() {
            self.umem.check(f);
        }
        let want = u32::try_from(frames.len()).unwrap_or(u32::MAX);
        let room = self.tx.free(want).min(want);
        // Drain only what fits: a drained token that is not written would
        // be dropped, and so lost.
        let mut descs = frames.drain(..room as usize).map(Frame::into_desc);
        let count = self.tx.produce(&mut descs, room);
        debug_assert_eq!(count, room);
        drop(descs);
        self.handed_out = self.handed_out.wrapping_sub(count as usize);
        count
    }

    /// Queues one frame for sending, or gives it back if the TX ring is full.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn send_one(&mut self, frame: Frame) -> std::result::Result<(), Frame> {
        self.umem.check(&frame);
        if self.tx.free(1) == 0 {
            return Err(frame);
        }
        let sent = self.tx.produce(&mut std::iter::once(frame.into_desc()), 1);
        debug_assert_eq!(sent, 1);
        self.handed_out = self.handed_out.wrapping_sub(1);
        Ok(())
    }
}

impl Xsk {
    /// Wakes the kernel to transmit what is on the TX ring, if it asked to
    /// be woken (or always without need_wakeup). In copy mode one wake-up
    /// sends a bounded batch, so this repeats while the ring drains; it stops
    /// when a wake-up makes no progress (zero-copy drivers send later, and a
    /// full COMPLETION ring blocks sending until [`Xsk::complete`]).
    ///
    /// # Errors
    /// [`ErrorKind::InterfaceGone`] once the interface is gone.
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
        self.comp
            .consume(max, |addr| free.push(umem.frame_from_kernel(addr, 0)))
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
    ///
    /// # Errors
    /// As [`Socket::statistics`].
    pub fn statistics(&self) -> Result<Statistics> {
        self.socket.statistics()
    }

    /// Checks that the interface still exists ([`Socket::check_bound`]).
    ///
    /// # Errors
    /// [`ErrorKind::InterfaceGone`] when it went away.
    pub fn check_bound(&self) -> Result<()> {
        self.socket.check_bound()
    }

    /// Where every frame is. Exact when the link is idle; while traffic
    /// flows the kernel's indices move between the reads.
    pub fn accounting(&self) -> FrameAccounting {
        // Each shared index is read once, so the figures below agree.
        let fill_cons = self.fill.consumer_index();
        let rx_prod = self.rx.producer_index();
        let tx_cons = self.tx.consumer_index();
        let comp_prod = self.comp.producer_index();
        let count = |later: u32, earlier: u32| later.wrapping_sub(earlier) as usize;
        // Taken from FILL by the kernel minus put on RX by it, since bind;
        // the same for TX and COMPLETION. Negative only mid-update.
        let held = |taken: u32, given: u32| (taken.wrapping_sub(given) as i32).max(0) as usize;
        let kernel = held(
            fill_cons.wrapping_sub(self.fill_base),
            rx_prod.wrapping_sub(self.rx_base),
        ) + held(
            tx_cons.wrapping_sub(self.tx_base),
            comp_prod.wrapping_sub(self.comp_base),
        );
        let lost = self.umem.lost_frames();
        FrameAccounting {
            total: self.total,
            free: self.free.len(),
            fill: count(self.fill.index(), fill_cons),
            rx: count(rx_prod, self.rx.index()),
            tx: count(self.tx.index(), tx_cons),
            completion: count(comp_prod, self.comp.index()),
            kernel,
            application: (self.handed_out as isize)
                .saturating_sub(lost as isize)
                .max(0) as usize,
            lost,
        }
    }
}

impl Drop for Xsk {
    fn drop(&mut self) {
        // Frames on the free list go with the socket; they are not lost.
        for f in self.free.drain(..) {
            let _ = f.into_addr();
        }
        // The fields then drop in order: rings unmapped, socket closed.
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
