//! An [`Xsk`] whose other side is this process instead of the kernel: for
//! tests (under Miri too) and benchmarks of the user-space paths. Enabled
//! by the `test-util` feature.
//!
//! [`FakeKernel`] plays the kernel's part on the four rings: it takes
//! addresses from FILL and returns them on RX as received frames, and takes
//! descriptors from TX and returns their addresses on COMPLETION.

use crate::error::{Error, Result};
use crate::ring::{loopback_pair, Consumer, Producer};
use crate::socket::Socket;
use crate::umem::{Umem, XDP_PACKET_HEADROOM};
use crate::xsk::{Bound, Rings, Xsk, XskConfig};

/// The kernel's ends of a loopback socket's rings.
pub struct FakeKernel {
    fill: Consumer<u64>,
    rx: Producer<libc::xdp_desc>,
    tx: Consumer<libc::xdp_desc>,
    comp: Producer<u64>,
    headroom: u64,
    /// Descriptors taken from TX, in order (what was "sent").
    pub sent: Vec<libc::xdp_desc>,
    /// Keep the descriptors taken from TX in [`FakeKernel::sent`].
    pub record: bool,
    /// The FILL addresses the last `receive` used, in order.
    pub received: Vec<u64>,
    scratch_addrs: Vec<u64>,
    scratch_descs: Vec<libc::xdp_desc>,
}

impl std::fmt::Debug for FakeKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKernel")
            .field("sent", &self.sent.len())
            .finish()
    }
}

impl FakeKernel {
    /// "Receives" up to `n` frames of `len` bytes into buffers from FILL;
    /// returns how many (limited by FILL entries and RX room).
    pub fn receive(&mut self, n: u32, len: u32) -> u32 {
        let room = self.rx.free(n).min(n);
        let headroom = self.headroom;
        let descs = &mut self.scratch_descs;
        descs.clear();
        let record = self.record;
        let received = &mut self.received;
        received.clear();
        self.fill.consume(room, |addr| {
            if record {
                received.push(addr);
            }
            descs.push(libc::xdp_desc {
                addr: addr + headroom,
                len,
                options: 0,
            });
        });
        self.rx.produce(&mut descs.drain(..), room)
    }

    /// "Receives" one packet of `bufs` buffers of `len` bytes each, as a
    /// multi-buffer chain (all but the last marked `XDP_PKT_CONTD`), if FILL
    /// and RX have room for all of it; returns the chunk addresses used.
    pub fn receive_packet(&mut self, bufs: u32, len: u32) -> Option<Vec<u64>> {
        if bufs == 0 || self.rx.free(bufs) < bufs || self.fill.available(bufs) < bufs {
            return None;
        }
        let headroom = self.headroom;
        let descs = &mut self.scratch_descs;
        descs.clear();
        let mut addrs = Vec::new();
        self.fill.consume(bufs, |addr| {
            addrs.push(addr);
            let more = descs.len() as u32 + 1 < bufs;
            let options = if more { libc::XDP_PKT_CONTD } else { 0 };
            descs.push(libc::xdp_desc {
                addr: addr + headroom,
                len,
                options,
            });
        });
        self.rx.produce(&mut descs.drain(..), bufs);
        Some(addrs)
    }

    /// Puts the given descriptors on RX as they are, without taking
    /// anything from FILL, as a faulty kernel might; returns how many fit.
    pub fn receive_raw(&mut self, descs: &[libc::xdp_desc]) -> u32 {
        let want = u32::try_from(descs.len()).unwrap_or(u32::MAX);
        let room = self.rx.free(want).min(want);
        self.rx.produce(&mut descs.iter().copied(), room)
    }

    /// Puts the given addresses on COMPLETION as they are, as a faulty
    /// kernel might; returns how many fit.
    pub fn complete_raw(&mut self, addrs: &[u64]) -> u32 {
        let want = u32::try_from(addrs.len()).unwrap_or(u32::MAX);
        let room = self.comp.free(want).min(want);
        self.comp.produce(&mut addrs.iter().copied(), room)
    }

    /// "Sends" up to `n` frames from TX and completes them; returns how many.
    pub fn transmit(&mut self, n: u32) -> u32 {
        let room = self.comp.free(n).min(n);
        let addrs = &mut self.scratch_addrs;
        addrs.clear();
        let (record, sent) = (self.record, &mut self.sent);
        self.tx.consume(room, |d| {
            if record {
                sent.push(d);
            }
            addrs.push(d.addr);
        });
        self.comp.produce(&mut addrs.drain(..), room)
    }
}

/// An [`Xsk`] over anonymous rings, with [`FakeKernel`] at their far ends.
/// Rings start near the `u32` wrap, as a long-running kernel's would.
///
/// # Errors
/// An invalid config, or no memory for the mappings.
pub fn loopback(config: &XskConfig) -> Result<(Xsk, FakeKernel)> {
    let start = u32::MAX - 100;
    let io = |e: std::io::Error| Error::os("loopback rings", e);
    let (fill, kfill) = loopback_pair::<u64>(config.fill_size, start).map_err(io)?;
    let (krx, rx) = loopback_pair::<libc::xdp_desc>(config.rx_size, start).map_err(io)?;
    let (tx, ktx) = loopback_pair::<libc::xdp_desc>(config.tx_size, start).map_err(io)?;
    let (kcomp, comp) = loopback_pair::<u64>(config.comp_size, start).map_err(io)?;
    let (umem, frames) = Umem::new(config.umem)?;
    let headroom = u64::from(config.umem.headroom) + u64::from(XDP_PACKET_HEADROOM);
    let rings = Rings { rx, tx, fill, comp };
    let socket = Socket::stand_in().map_err(io)?;
    let bound = Bound {
        zero_copy: false,
        need_wakeup: true,
        multi_buffer: config.multi_buffer,
    };
    let xsk = Xsk::assemble(rings, socket, umem, frames, (0, 0), bound);
    let kernel = FakeKernel {
        fill: kfill,
        rx: krx,
        tx: ktx,
        comp: kcomp,
        headroom,
        sent: Vec::new(),
        record: false,
        received: Vec::new(),
        scratch_addrs: Vec::with_capacity(config.comp_size as usize),
        scratch_descs: Vec::with_capacity(config.rx_size as usize),
    };
    Ok((xsk, kernel))
}
