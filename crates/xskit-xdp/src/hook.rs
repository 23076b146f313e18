//! Where an XDP program runs: the mode asked for ([`HookChoice`]) and the
//! one the kernel gave ([`XdpHook`]).

use std::fmt;

/// Where the XDP program is asked to run (`--mode`): in the driver
/// (native), in the generic stack (SKB), or native with a fallback.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum HookChoice {
    /// Native (driver) mode, falling back to SKB mode with a message.
    #[default]
    Auto,
    /// Native (driver) mode only.
    Native,
    /// SKB (generic) mode only.
    Skb,
}

/// Where an attached XDP program actually runs (its "mode" in `ip link`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum XdpHook {
    /// In the driver, before socket buffers are allocated.
    Native,
    /// In the generic network stack, after socket buffer allocation.
    Skb,
}

impl HookChoice {
    /// Every choice, with its name and what it means (for help texts).
    pub const ALL: [(HookChoice, &'static str, &'static str); 3] = [
        (
            HookChoice::Auto,
            "auto",
            "native (driver) mode, falling back to SKB mode with a message",
        ),
        (HookChoice::Native, "native", "native (driver) mode only"),
        (HookChoice::Skb, "skb", "SKB (generic) mode only"),
    ];

    /// `auto`, `native` or `skb`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or("auto", |(_, n, _)| n)
    }
}

impl fmt::Display for HookChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for HookChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| *n == s)
            .map(|(c, _, _)| *c)
            .ok_or_else(|| format!("{s:?} is not an XDP mode (auto, native or skb)"))
    }
}

impl fmt::Display for XdpHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpHook::Native => "native",
            XdpHook::Skb => "skb",
        })
    }
}
