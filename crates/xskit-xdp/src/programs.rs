//! The XDP programs, compiled from `bpf/*.c` and embedded in the binary.

use std::fmt;

/// An XDP program xskit ships.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub enum Program {
    /// Drops every frame (a DDoS measure).
    Drop,
    /// Passes every frame to the kernel stack.
    Pass,
    /// Redirects every frame to the AF_XDP socket of its rx queue.
    Redirect,
    /// [`Program::Redirect`], frags-aware: multi-buffer frames (jumbo MTU in
    /// native mode) for sockets bound with multi-buffer (Linux 5.18+ to load).
    RedirectMultiBuffer,
    /// Redirects only ICMPv4/ICMPv6 echo requests; passes everything else.
    RedirectEcho,
    /// [`Program::RedirectEcho`], frags-aware (echo requests above a frame).
    RedirectEchoMultiBuffer,
    /// Redirects TCP or UDP to chosen destination ports (and, if asked,
    /// ICMP echo requests); passes everything else, so ARP, neighbour
    /// discovery and ping keep working ([`XdpProgram::redirect_port`]).
    ///
    /// [`XdpProgram::redirect_port`]: crate::XdpProgram::redirect_port
    RedirectPort,
    /// [`Program::RedirectPort`], frags-aware.
    RedirectPortMultiBuffer,
    /// Copies the head of each frame to a ring buffer and passes the frame.
    Capture,
    /// The generator's program for BPF_PROG_RUN live frames (XDP_TX).
    Gen,
    /// The rule filter (`xskit filter`).
    Filter,
}

impl Program {
    /// The function name in the object file.
    pub fn function(self) -> &'static str {
        match self {
            Program::Drop => "xdp_drop",
            Program::Pass => "xdp_pass",
            Program::Redirect => "xdp_redirect",
            Program::RedirectMultiBuffer => "xdp_redirect_frags",
            Program::RedirectEcho => "xdp_redirect_echo",
            Program::RedirectEchoMultiBuffer => "xdp_redirect_echo_frags",
            Program::RedirectPort => "xdp_redirect_port",
            Program::RedirectPortMultiBuffer => "xdp_redirect_port_frags",
            Program::Capture => "xdp_capture",
            Program::Gen => "xdp_gen",
            Program::Filter => "xdp_filter",
        }
    }

    /// The compiled object holding the program.
    pub fn object(self) -> &'static [u8] {
        match self {
            Program::Drop => XDP_DROP_O,
            Program::Pass => XDP_PASS_O,
            Program::Redirect
            | Program::RedirectMultiBuffer
            | Program::RedirectEcho
            | Program::RedirectEchoMultiBuffer
            | Program::RedirectPort
            | Program::RedirectPortMultiBuffer => XDP_REDIRECT_O,
            Program::Capture => XDP_CAPTURE_O,
            Program::Gen => XDP_GEN_O,
            Program::Filter => XDP_FILTER_O,
        }
    }

    /// True if the program has an XSKMAP to register sockets in.
    pub fn has_xskmap(self) -> bool {
        matches!(
            self,
            Program::Redirect
                | Program::RedirectMultiBuffer
                | Program::RedirectEcho
                | Program::RedirectEchoMultiBuffer
                | Program::RedirectPort
                | Program::RedirectPortMultiBuffer
        )
    }

    /// True if it can be loaded without its per-action counters
    /// ([`crate::LoadOptions::uncounted`]): the redirect programs, whose
    /// object has the switch.
    pub fn counts_optionally(self) -> bool {
        self.has_xskmap()
    }

    /// True if the program takes multi-buffer frames (`xdp.frags`): native
    /// mode then accepts an MTU above one page.
    pub fn is_frags_aware(self) -> bool {
        matches!(
            self,
            Program::RedirectMultiBuffer
                | Program::RedirectEchoMultiBuffer
                | Program::RedirectPortMultiBuffer
        )
    }

    /// True if attaching it to the interface that carries the default route
    /// would take the operator's own traffic (and SSH session) away.
    pub fn takes_all_traffic(self) -> bool {
        matches!(
            self,
            Program::Drop | Program::Redirect | Program::RedirectMultiBuffer
        )
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.function())
    }
}

// aya parses the ELF in place and wants it 8-byte aligned.
static XDP_DROP_O: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_drop.o");
static XDP_PASS_O: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_pass.o");
static XDP_CAPTURE_O: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_capture.o");
static XDP_FILTER_O: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_filter.o");
static XDP_GEN_O: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_gen.o");
static XDP_REDIRECT_O: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_redirect.o");
