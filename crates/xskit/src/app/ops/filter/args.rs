//! `xskit filter`'s arguments, and how its rules are matched.

use crate::app::ops::ns::NsArgs;
use crate::xdp::filter::Verdict;
use std::time::Duration;

/// How rules are matched; printed by `xskit filter --help`.
pub const MATCH_ORDER: &str = "\
Each rule matches one field. For every frame the most specific matching rule decides:
  1. MAC address rules (`src ether`/`dst ether`; both match: deny wins)
  2. ARP and IPv6 neighbour discovery/router solicitation pass, whatever the
     default policy, unless an `arp` / `nd` rule says otherwise; address and
     port rules do not apply to them (so a default deny cannot starve the
     neighbour table and cut a session minutes later)
  3. address rules: the longest matching prefix, source or destination
     (equal lengths: deny wins)
  4. TCP/UDP port rules (source or destination; both match: deny wins)
  5. IP protocol rules (`icmp`, `icmp6`, `tcp`, `udp`, `proto 47`, `ip proto N`,
     `ip6 proto N`): the IPv4 Protocol or the IPv6 fixed header's Next Header
  6. EtherType rules (`ether type 0x88cc`; 0x0800 / 0x86dd cover all of IPv4 / IPv6)
  7. the default policy (`filter default`; allow unless set)
Frames are read as untagged Ethernet: VLAN-tagged frames (ARP inside too)
are decided by an `ether type 0x8100` rule or the default.
Who (MAC, address) is more specific than which service (port), a service
more than a protocol, and a protocol more than a whole EtherType. Example:
  xskit filter default deny
  xskit filter add allow tcp dst 22          # SSH from anywhere ...
  xskit filter add deny src 203.0.113.0/24   # ... but not from this network (3 beats 4)
  xskit filter add allow src 203.0.113.7     # ... except this host (/32 beats /24)
  xskit filter add allow icmp                # pings (5 beats the default)
The filter is stateless: with `default deny`, replies to this host's own
outgoing connections (DNS answers, downloads) are dropped too unless a rule
allows them.
One rule per field value: adding `deny src X` where `allow src X` exists is
an error naming it (--replace replaces it). Rule ids are never given twice
while the rule maps exist. Changes that would cut an SSH session of this
namespace (found in SSH_CONNECTION of this command and its parents, and in
the established TCP connections to an SSH port here) are refused without
--force. A change that can drop traffic while the filter is loaded on an
interface with the default route (or an SSH session's) waits 30s for `yes`
or `xskit confirm`, and is undone otherwise (--confirm-within).";

/// Options of `xskit filter`.
#[derive(clap::Args, Clone, Debug)]
pub struct FilterArgs {
    #[command(subcommand)]
    pub cmd: FilterCmd,
    #[command(flatten)]
    pub ns: NsArgs,
}

/// `xskit filter` actions.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum FilterCmd {
    /// Add a rule: `deny src 198.18.0.0/24`, `allow fc00::/7`, `deny tcp dst 22`,
    /// `deny icmp`, `deny proto 47`, `deny arp`, `deny nd`, `deny ether type 0x88cc`,
    /// `deny src ether 02:00:00:00:00:01`
    Add {
        /// allow or deny
        #[arg(value_parser = crate::app::shared::args::verdict_parser())]
        verdict: Verdict,
        /// [src|dst] PREFIX | tcp|udp [src|dst] PORT | tcp | udp | icmp | icmp6 |
        /// [ip|ip6] proto N | [src|dst] ether MAC | ether type TYPE | arp | nd
        #[arg(required = true, num_args = 1..)]
        rule: Vec<String>,
        /// Allow a rule that would cut an SSH session of this namespace
        #[arg(long)]
        force: bool,
        /// Replace a rule on the same field value with the other verdict
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        confirm: ConfirmWithin,
    },
    /// Remove a rule: `del deny src 198.18.0.0/24` (verdict included) or `del ID` (from `list`)
    Del {
        /// ID, or allow|deny followed by the rule's words
        #[arg(required = true, num_args = 1..)]
        rule: Vec<String>,
        /// Allow removing a rule although an SSH session of this namespace depends on it
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        confirm: ConfirmWithin,
    },
    /// List the rules with their counters (frames and bytes)
    List {
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Set the policy for frames no rule matches (allow unless set)
    Default {
        /// allow or deny
        #[arg(value_parser = crate::app::shared::args::verdict_parser())]
        verdict: Verdict,
        /// Allow `deny` although it would cut an SSH session of this namespace
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        confirm: ConfirmWithin,
    },
    /// Remove every rule (the default policy stays)
    Flush {
        /// Allow it although an SSH session of this namespace depends on a rule
        #[arg(long)]
        force: bool,
        /// Also remove the pinned maps themselves (only when no filter is loaded)
        #[arg(long, conflicts_with = "confirm_within")]
        maps: bool,
        #[command(flatten)]
        confirm: ConfirmWithin,
    },
}

/// The confirmation timer of a rule change.
#[derive(clap::Args, Clone, Debug)]
pub struct ConfirmWithin {
    /// Undo the change unless confirmed within this time (type `yes`, or
    /// run `xskit confirm`); at least 5s, or 0 for no timer [default: 30s
    /// when the change can drop traffic and the filter is loaded on an
    /// interface that carries this session's own traffic (default route,
    /// SSH session), else 0]. Past the deadline the kernel passes all
    /// traffic on the filter's interfaces until the change is undone
    #[arg(long, value_parser = crate::app::ops::wait::parse_confirm_within, value_name = "TIME")]
    pub confirm_within: Option<Duration>,
}
