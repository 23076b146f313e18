//! Opening a socket: UMEM registration, ring set-up and mapping, bind (with
//! the kernel-version fallbacks and the busy-queue wait), and assembly.

use super::{FrameCopy, Xsk, XskConfig};
use crate::busy;
use crate::error::{Error, ErrorKind, Result};
use crate::if_xdp::{self, MmapOffsets, SockaddrXdp, UmemReg};
use crate::mmap::Mmap;
use crate::netdev;
use crate::ring::{CompletionRing, FillRing, RingOffsets, RxRing, TxRing};
use crate::socket::{self, Socket};
use crate::umem::{Frame, Umem};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Arc;

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

/// How a bind was asked for, once the config and the owner are weighed.
struct BindPlan {
    shared_fd: Option<RawFd>,
    mode: FrameCopy,
    need_wakeup: bool,
    multi_buffer: bool,
    /// The driver reported the interface's rx queues (so a bind's EINVAL is
    /// not about a queue that does not exist).
    queue_count_known: bool,
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
            multi_buffer: config.multi_buffer,
            queue_count_known: true,
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
        if let Some(f) = frames.iter().find(|f| !owner.umem.owns(f)) {
            return Err(Error::config(format!(
                "frame at {:#x} belongs to another UMEM than the owner's",
                f.addr()
            )));
        }
        if netdev::ifindex(interface)? == owner.ifindex && queue == owner.queue {
            return Err(Error::config(format!(
                "queue {queue} of {interface} is the owner's own: a second socket there would share \
                 the owner's FILL and COMPLETION rings, which this crate does not do; pick another queue"
            )));
        }
        let plan = BindPlan {
            shared_fd: Some(owner.socket.as_raw_fd()),
            mode: if owner.zero_copy {
                FrameCopy::ZeroCopy
            } else {
                FrameCopy::Copy
            },
            need_wakeup: owner.need_wakeup,
            multi_buffer: owner.multi_buffer,
            queue_count_known: true,
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
        if let Some(budget) = config.tx_budget {
            socket::check_tx_budget(budget, config.tx_size)?;
        }
        if umem.config().unaligned && !umem.config().huge_pages {
            // The kernel drops (silently) every FILL or TX address whose
            // chunk crosses a page in zero-copy unless the UMEM is in huge
            // pages.
            match plan.mode {
                FrameCopy::ZeroCopy if plan.shared_fd.is_none() => return Err(Error::config(
                    "unaligned chunks in zero-copy mode need a UMEM in huge pages, or the kernel \
                         drops frames that cross a page: map the UMEM in huge pages \
                         (`UmemConfig::huge_pages`), use `FrameCopy::Copy`, or aligned frames",
                )),
                FrameCopy::Auto => plan.mode = FrameCopy::Copy,
                _ => {}
            }
        }
        let ifindex = netdev::ifindex(interface)?;
        let queues = netdev::rx_queue_count(interface)?;
        plan.queue_count_known = queues.is_some();
        if let Some(n) = queues {
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
        // Once there is a TX ring, which the kernel checks the budget
        // against; before the bind, so an older kernel's refusal binds nothing.
        if let Some(budget) = config.tx_budget {
            socket.set_tx_budget(budget)?;
        }

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

        let rings = Rings { rx, tx, fill, comp };
        let prefill = config
            .prefill
            .min(u32::try_from(frames.len() / 2).unwrap_or(u32::MAX));
        let mut xsk = Xsk::assemble(
            rings,
            socket,
            umem,
            frames,
            (ifindex, queue),
            Bound {
                zero_copy: false,
                need_wakeup: plan.need_wakeup,
                multi_buffer: plan.multi_buffer,
            },
        );
        // FILL before the bind (see `XskConfig::prefill`): the socket is
        // whole, so its accounting sees these frames on FILL from the start;
        // an error below drops it, rings unmapped before the socket closes.
        xsk.refill(prefill);
        xsk.need_wakeup = bind(&xsk.socket, interface, ifindex, queue, &plan)?;
        xsk.zero_copy = match xsk.socket.zero_copy() {
            Ok(z) => z,
            // Before 5.3 the kernel cannot say; only an explicit zero-copy
            // bind can have succeeded in zero-copy.
            Err(e) if e.kind() == ErrorKind::Unsupported => plan.mode == FrameCopy::ZeroCopy,
            Err(e) => return Err(e),
        };
        Ok(xsk)
    }

    /// Puts a socket together from its parts (bound, or a test loopback).
    pub(crate) fn assemble(
        r: Rings,
        socket: Socket,
        umem: Arc<Umem>,
        frames: Vec<Frame>,
        (ifindex, queue): (u32, u32),
        b: Bound,
    ) -> Xsk {
        let rx_size = r.rx.size() as usize;
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
            overflow: Vec::with_capacity(rx_size),
            free: frames.into(),
            handed_out: 0,
            ifindex,
            queue,
            zero_copy: b.zero_copy,
            need_wakeup: b.need_wakeup,
            multi_buffer: b.multi_buffer,
        }
    }
}

/// How a socket ended up bound.
pub(crate) struct Bound {
    pub zero_copy: bool,
    pub need_wakeup: bool,
    pub multi_buffer: bool,
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
    let mut reg = UmemReg {
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
    if uc.tx_metadata {
        reg.tx_metadata_len = crate::TX_METADATA_LEN as u32;
        reg.flags |= libc::XDP_UMEM_TX_METADATA_LEN;
        if uc.tx_software_checksum {
            reg.flags |= libc::XDP_UMEM_TX_SW_CSUM;
        }
    }
    let mut result = socket.set(libc::SOL_XDP, libc::XDP_UMEM_REG, &reg);
    let einval =
        |r: &std::io::Result<()>| matches!(r, Err(e) if e.raw_os_error() == Some(libc::EINVAL));
    if uc.tx_metadata && einval(&result) {
        // 6.8 to 6.10 take tx_metadata_len without the flag (added in
        // 6.11) and refuse the flag; older kernels ignore the field, so
        // they must not get a second try that would seem to work.
        match crate::tx_meta::kernel_has_tx_metadata() {
            Some(true) => {
                reg.flags &= !libc::XDP_UMEM_TX_METADATA_LEN;
                result = socket.set(libc::SOL_XDP, libc::XDP_UMEM_REG, &reg);
            }
            Some(false) => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "AF_XDP TX metadata needs Linux 6.8 (this kernel is {})",
                        crate::tx_meta::kernel_release().unwrap_or_default()
                    ),
                )
                .with_hint("open the socket without UmemConfig::tx_metadata"))
            }
            None => {}
        }
    }
    result.map_err(|e| {
        let code = e.raw_os_error();
        let err = Error::os(format!("cannot register {} bytes of UMEM", umem.area_len()), e);
        match code {
            // ENOBUFS: the pages would exceed RLIMIT_MEMLOCK (the kernel
            // charges UMEM pages to it unless the process has CAP_IPC_LOCK).
            Some(libc::ENOMEM | libc::ENOBUFS | libc::EPERM) => err
                .with_kind(ErrorKind::Permission)
                .with_hint("pinning UMEM needs CAP_IPC_LOCK (root) or an RLIMIT_MEMLOCK above its size (ulimit -l)"),
            Some(libc::EINVAL) if uc.tx_metadata => err.with_hint(
                "the kernel refused the TX metadata area: it needs Linux 6.8, and room before each frame",
            ),
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
        (None, FrameCopy::Auto) => 0,
        (None, FrameCopy::Copy) => libc::XDP_COPY,
        (None, FrameCopy::ZeroCopy) => libc::XDP_ZEROCOPY,
    };
    let attempt = |wakeup: bool| -> io::Result<()> {
        let owner = plan.shared_fd.is_none();
        let mut extra = if wakeup && owner {
            libc::XDP_USE_NEED_WAKEUP
        } else {
            0
        };
        if plan.multi_buffer && owner {
            extra |= libc::XDP_USE_SG;
        }
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
            // Before the zero-copy refusal: igb has zero-copy, but not with
            // XDP_USE_SG (EOPNOTSUPP, seen on 6.18).
            Some(libc::EOPNOTSUPP) if plan.multi_buffer => err.with_kind(ErrorKind::Unsupported).with_hint(
                "this driver refused zero-copy with multi-buffer (XDP_USE_SG): it has no zero-copy for multi-buffer \
                 (igb), or none at all; bind with `FrameCopy::Copy`, or without `XskConfig::multi_buffer`",
            ),
            Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT) if plan.mode == FrameCopy::ZeroCopy => err
                .with_kind(ErrorKind::ZeroCopyUnsupported)
                .with_hint("this driver has no zero-copy AF_XDP support: bind with `FrameCopy::Copy` or `FrameCopy::Auto`"),
            Some(libc::EINVAL) if plan.multi_buffer => err.with_kind(ErrorKind::Unsupported).with_hint(
                "multi-buffer AF_XDP (XDP_USE_SG) needs Linux 6.6: run without it (no packets larger than a frame)",
            ),
            Some(libc::EINVAL) if plan.shared_fd.is_some() => err.with_hint(
                "the kernel refused to share the UMEM (sharing it across queues or interfaces needs Linux 5.10)",
            ),
            Some(libc::EINVAL) if !plan.queue_count_known => err.with_hint(format!(
                "the kernel refused the bind: queue {queue} may not exist on {interface}, whose driver \
                 does not report its queues (ethtool -l), or the UMEM shape or flags do not suit it"
            )),
            Some(libc::EINVAL) if plan.mode == FrameCopy::ZeroCopy && plan.shared_fd.is_none() => {
                err.with_kind(ErrorKind::ZeroCopyUnsupported).with_hint(zero_copy_refused(interface))
            }
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

/// Why a driver that has zero-copy may still refuse a zero-copy bind
/// (EINVAL), naming what can be checked on this interface.
fn zero_copy_refused(interface: &str) -> String {
    let driver = netdev::driver(interface).ok().flatten().unwrap_or_default();
    if driver == "virtio_net" {
        return match netdev::virtio_feature(interface, netdev::VIRTIO_F_ACCESS_PLATFORM) {
            Some(false) => format!(
                "{interface} is virtio-net without VIRTIO_F_ACCESS_PLATFORM: its zero-copy needs that \
                 feature (the host's iommu_platform=on) and Linux 6.13; bind with `FrameCopy::Copy` \
                 or `FrameCopy::Auto`"
            ),
            _ => "virtio-net refused zero-copy: it needs Linux 6.13 and VIRTIO_F_ACCESS_PLATFORM \
                  (the host's iommu_platform=on); bind with `FrameCopy::Copy` or `FrameCopy::Auto`"
                .into(),
        };
    }
    format!(
        "the driver ({}) refused a zero-copy bind on this queue: its zero-copy may be off or \
         need other frame sizes or headroom; bind with `FrameCopy::Copy` or `FrameCopy::Auto`",
        if driver.is_empty() {
            "unknown"
        } else {
            &driver
        }
    )
}
