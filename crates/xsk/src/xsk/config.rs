//! What opening a socket takes, and what its accounting reports.

use crate::umem::UmemConfig;

/// Whether frames are copied between the driver and the UMEM (the bind
/// flags XDP_COPY / XDP_ZEROCOPY), or the kernel chooses.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum FrameCopy {
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

/// Everything needed to open an [`Xsk`](crate::Xsk).
///
/// Built from [`XskConfig::default`] with one chainable setter per field
/// (each named after its field); the fields stay public for reading. The
/// struct is `#[non_exhaustive]`: a field added for a new kernel option is
/// not a breaking change, so outside this crate it cannot be built as a
/// struct literal.
///
/// # Examples
///
/// ```
/// use xsk::{FrameCopy, UmemConfig, XskConfig};
///
/// let config = XskConfig::default()
///     .umem(UmemConfig::default().frame_count(1024).frame_size(2048))
///     .rx_size(512)
///     .tx_size(512)
///     .bind(FrameCopy::Copy);
/// assert_eq!(config.rx_size, 512);
/// assert_eq!(config.umem.frame_size, 2048);
/// assert_eq!(config.fill_size, 2048); // the default
/// ```
///
/// A struct literal does not compile outside the crate:
/// ```compile_fail,E0639
/// let config = xsk::XskConfig {
///     rx_size: 512,
///     ..Default::default()
/// };
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
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
    /// Copy, zero-copy or auto. Ignored by [`Xsk::shared`](crate::Xsk::shared): a socket that
    /// shares a UMEM inherits its owner's mode.
    pub bind: FrameCopy,
    /// Ask the kernel to set need_wakeup flags instead of being kicked
    /// always (Linux 5.4+; dropped with no error on older kernels).
    /// Ignored by [`Xsk::shared`](crate::Xsk::shared), which inherits it from the owner.
    pub need_wakeup: bool,
    /// Multi-buffer (XDP_USE_SG, Linux 6.6+): packets larger than a frame
    /// arrive and leave as chains of frames ([`Frame::is_continued`]). The
    /// XDP program must be frags-aware (`xdp.multi_buffer`) for such packets to
    /// reach it in native mode.
    ///
    /// [`Frame::is_continued`]: crate::Frame::is_continued
    pub multi_buffer: bool,
    /// Frames put on the FILL ring before the bind: at most this many, at
    /// most what FILL holds, and at most half the socket's frames (the rest
    /// stay free for [`Xsk::alloc`](crate::Xsk::alloc)). Default
    /// `u32::MAX`: as many as those limits allow; 0 leaves FILL empty (a
    /// socket that only transmits).
    ///
    /// Some drivers take FILL frames into their receive ring only when the
    /// ring is set up, which a zero-copy bind does: igb, bound under an XDP
    /// program that is already attached, received nothing when FILL was
    /// given its frames after the bind (its RX wake-up reaches the TX
    /// interrupt). Frames on FILL before the bind are there when the ring
    /// is set up, on every driver.
    pub prefill: u32,
    /// The TX budget (`XDP_MAX_TX_SKB_BUDGET`, Linux 6.17): how many frames
    /// one copy-mode TX wake-up (`sendto`) may send, from
    /// [`TX_BUDGET_MIN`](crate::TX_BUDGET_MIN) (32) to
    /// [`tx_size`](XskConfig::tx_size). A larger budget sends a full TX
    /// ring with fewer wake-ups. Only copy mode uses it; in zero-copy the
    /// driver sends. Default `None`: the kernel's default (32), and no
    /// option set, so every kernel opens the socket; `Some` on a kernel
    /// before 6.17 fails the open ([`ErrorKind::Unsupported`]).
    /// [`Xsk::set_tx_budget`](crate::Xsk::set_tx_budget) changes it later.
    ///
    /// [`ErrorKind::Unsupported`]: crate::ErrorKind::Unsupported
    pub tx_budget: Option<u32>,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            umem: UmemConfig::default(),
            fill_size: 2048,
            comp_size: 2048,
            rx_size: 2048,
            tx_size: 2048,
            bind: FrameCopy::Auto,
            need_wakeup: true,
            multi_buffer: false,
            prefill: u32::MAX,
            tx_budget: None,
        }
    }
}

impl XskConfig {
    /// Sets [`umem`](XskConfig::umem), the packet memory.
    #[must_use]
    pub fn umem(mut self, umem: UmemConfig) -> Self {
        self.umem = umem;
        self
    }

    /// Sets [`fill_size`](XskConfig::fill_size), the FILL ring size (power of two).
    #[must_use]
    pub fn fill_size(mut self, n: u32) -> Self {
        self.fill_size = n;
        self
    }

    /// Sets [`comp_size`](XskConfig::comp_size), the COMPLETION ring size
    /// (power of two).
    #[must_use]
    pub fn comp_size(mut self, n: u32) -> Self {
        self.comp_size = n;
        self
    }

    /// Sets [`rx_size`](XskConfig::rx_size), the RX ring size (power of two).
    #[must_use]
    pub fn rx_size(mut self, n: u32) -> Self {
        self.rx_size = n;
        self
    }

    /// Sets [`tx_size`](XskConfig::tx_size), the TX ring size (power of two).
    #[must_use]
    pub fn tx_size(mut self, n: u32) -> Self {
        self.tx_size = n;
        self
    }

    /// Sets [`bind`](XskConfig::bind): copy, zero-copy or auto.
    #[must_use]
    pub fn bind(mut self, bind: FrameCopy) -> Self {
        self.bind = bind;
        self
    }

    /// Sets [`need_wakeup`](XskConfig::need_wakeup).
    #[must_use]
    pub fn need_wakeup(mut self, on: bool) -> Self {
        self.need_wakeup = on;
        self
    }

    /// Sets [`multi_buffer`](XskConfig::multi_buffer) (XDP_USE_SG).
    #[must_use]
    pub fn multi_buffer(mut self, on: bool) -> Self {
        self.multi_buffer = on;
        self
    }

    /// Sets [`prefill`](XskConfig::prefill): frames on FILL before the bind.
    #[must_use]
    pub fn prefill(mut self, max: u32) -> Self {
        self.prefill = max;
        self
    }

    /// Sets [`tx_budget`](XskConfig::tx_budget): frames one copy-mode TX
    /// wake-up may send (Linux 6.17+), `None` for the kernel's default.
    ///
    /// ```
    /// let config = xsk::XskConfig::default().tx_size(512).tx_budget(Some(512));
    /// assert_eq!(config.tx_budget, Some(512));
    /// ```
    #[must_use]
    pub fn tx_budget(mut self, budget: Option<u32>) -> Self {
        self.tx_budget = budget;
        self
    }
}

/// Where every frame of an [`Xsk`](crate::Xsk) is right now.
///
/// The ring counts and the kernel's share are read from the rings' shared
/// indices; the application's share is what was handed out and not given
/// back; `lost` counts tokens dropped instead of given back. Exact when the
/// link is idle; while traffic flows the kernel's indices move between reads.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// Held by the application as [`Frame`](crate::Frame) tokens.
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
