//! Operating XDP programs: `xskit load | unload | status | confirm` and
//! `xskit filter`. Attachments made by `load` outlive the command (pinned
//! in bpffs, see [`crate::xdp::pin`]); everything else xskit attaches is
//! gone when its process ends.

use crate::app::args::parse_duration;
use crate::app::session::attach;
use crate::app::stats::thousands;
use crate::net::{addrs, netns, route};
use crate::xdp::filter::{self, Listed, Rule, Rules, Verdict};
use crate::xdp::loader::interfaces;
use crate::xdp::{pin, AttachMode, Program, XdpProgram};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Programs `xskit load` attaches.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
pub enum Loadable {
    /// Drop every frame (the seed's DDoS measure).
    Drop,
    /// Pass every frame, counting.
    Pass,
    /// The rule filter (`xskit filter`).
    Filter,
}

impl Loadable {
    fn program(self) -> Program {
        match self {
            Loadable::Drop => Program::Drop,
            Loadable::Pass => Program::Pass,
            Loadable::Filter => Program::Filter,
        }
    }
}

/// Options of `xskit load`.
#[derive(clap::Args, Clone, Debug)]
pub struct LoadArgs {
    /// Program to attach
    #[arg(value_enum)]
    pub program: Loadable,
    /// Interfaces to attach to
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub ifaces: Vec<String>,
    /// Every interface of this network namespace but loopback
    #[arg(long)]
    pub all: bool,
    /// XDP attach mode
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub mode: AttachMode,
    /// Allow `drop` on the interface of the default route
    #[arg(long)]
    pub force: bool,
    /// Remove the program again unless confirmed within this time (type
    /// `yes`, or run `xskit confirm`); 0 turns the guard off [default: 30s
    /// when it could cut this session's own traffic, else 0]
    #[arg(long, value_parser = parse_duration)]
    pub confirm_within: Option<Duration>,
}

/// Options of `xskit unload`.
#[derive(clap::Args, Clone, Debug)]
pub struct UnloadArgs {
    /// Interfaces to detach from
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub ifaces: Vec<String>,
    /// Every interface xskit pinned a program on in this namespace
    #[arg(long)]
    pub all: bool,
    /// Also detach programs other tools attached (named in a warning)
    #[arg(long)]
    pub any: bool,
}

/// `xskit filter` actions.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum FilterCmd {
    /// Add a rule: `deny src 198.18.0.0/24`, `allow fc00::/7`, `deny tcp dst 22`
    Add {
        /// allow or deny
        #[arg(value_enum)]
        verdict: Verdict,
        /// [tcp|udp] [src|dst] PREFIX-OR-PORT
        #[arg(required = true, num_args = 1..=3)]
        rule: Vec<String>,
        /// Allow a rule that would cut the SSH session this runs in
        #[arg(long)]
        force: bool,
    },
    /// Remove a rule (same words as `add`)
    Del {
        /// allow or deny
        #[arg(value_enum)]
        verdict: Verdict,
        /// [tcp|udp] [src|dst] PREFIX-OR-PORT
        #[arg(required = true, num_args = 1..=3)]
        rule: Vec<String>,
    },
    /// List the rules with their hit counts
    List {
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Set the policy for frames no rule matches (allow unless set)
    Default {
        /// allow or deny
        #[arg(value_enum)]
        verdict: Verdict,
        /// Allow `deny` although it would cut the SSH session this runs in
        #[arg(long)]
        force: bool,
    },
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Interfaces this session's own traffic uses: those with a default route,
/// and the one holding the local address of `SSH_CONNECTION`.
pub fn operator_interfaces() -> Vec<String> {
    let mut out = route::default_route_interfaces();
    if let Some((_, _, local, _)) = filter::ssh_session() {
        for i in interfaces() {
            let (v4, v6) = addrs::of_interface(&i);
            if v4.iter().any(|a| std::net::IpAddr::V4(*a) == local)
                || v6.iter().any(|a| std::net::IpAddr::V6(*a) == local)
            {
                out.push(i);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn pending_dir() -> PathBuf {
    PathBuf::from("/run/xskit/pending")
}

/// `xskit confirm [PID]`: confirms the load of process PID, or every load
/// waiting for confirmation.
pub fn confirm(only: Option<u32>, out: &mut dyn Write) -> Result<i32> {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(pending_dir()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_suffix(".wait") {
                if only.is_some_and(|p| p.to_string() != pid) {
                    continue;
                }
                std::fs::write(pending_dir().join(format!("{pid}.ok")), b"yes")?;
                n += 1;
            }
        }
    }
    if n == 0 {
        writeln!(out, "no xskit load is waiting for confirmation")?;
        return Ok(1);
    }
    writeln!(out, "confirmed {n} pending load(s)")?;
    Ok(0)
}

/// Waits for `yes` on stdin or `xskit confirm`; true if confirmed in time.
fn wait_for_confirmation(within: Duration, out: &mut dyn Write) -> Result<bool> {
    let pid = std::process::id();
    std::fs::create_dir_all(pending_dir())?;
    let wait = pending_dir().join(format!("{pid}.wait"));
    let ok = pending_dir().join(format!("{pid}.ok"));
    std::fs::write(&wait, b"")?;
    writeln!(
        out,
        "type `yes` within {}s (or run `xskit confirm` in another shell) to keep it; otherwise it is removed (pid {pid})",
        within.as_secs_f64()
    )?;
    out.flush()?;
    let deadline = Instant::now() + within;
    let mut stdin_open = true;
    let mut confirmed = false;
    while Instant::now() < deadline && !confirmed {
        if ok.exists() {
            confirmed = true;
            break;
        }
        if stdin_open {
            let mut pfd = libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd on standard input.
            let r = unsafe { libc::poll(&mut pfd, 1, 100) };
            if r > 0 {
                let mut line = String::new();
                match std::io::stdin().lock().read_line(&mut line) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(_) if line.trim().eq_ignore_ascii_case("yes") => confirmed = true,
                    Ok(_) => writeln!(out, "type `yes` to keep it")?,
                }
            } else if r < 0 {
                stdin_open = false;
            }
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let _ = std::fs::remove_file(&wait);
    let _ = std::fs::remove_file(&ok);
    Ok(confirmed)
}

/// `xskit load`.
pub fn load(args: &LoadArgs, out: &mut dyn Write) -> Result<i32> {
    if pin::ensure_bpffs()? {
        writeln!(out, "mounted bpffs at {}", pin::BPFFS)?;
    }
    let program = args.program.program();
    let ifaces: Vec<String> = if args.all {
        interfaces().into_iter().filter(|i| i != "lo").collect()
    } else {
        args.ifaces.clone()
    };
    for i in &ifaces {
        xsk::netdev::ifindex(i)?;
        if pin::iface_dir(i)?.exists() {
            let (xdp, meta) = (netns::xdp_attachment(i)?, pin::load_meta(i)?);
            if is_ours(&xdp, &meta) {
                bail!("xskit already has a program on {i}: `xskit unload {i}` first");
            }
            // Left from an interface or namespace that is gone.
            pin::unpin(i)?;
        }
    }
    // Risky: could this cut the operator off?
    let filter_rules = if program == Program::Filter {
        Some(Rules::open()?)
    } else {
        None
    };
    let denies = match &filter_rules {
        Some(r) => {
            r.default_verdict()? == Verdict::Deny
                || r.list()?.iter().any(|l| l.rule.verdict == Verdict::Deny)
        }
        None => program == Program::Drop,
    };
    let ops = operator_interfaces();
    let touches_ops: Vec<&String> = ifaces.iter().filter(|i| ops.contains(i)).collect();
    let within = args
        .confirm_within
        .unwrap_or(if denies && !touches_ops.is_empty() {
            Duration::from_secs(30)
        } else {
            Duration::ZERO
        });

    let mut done: Vec<String> = Vec::new();
    let mut failures = 0;
    for i in &ifaces {
        let pin_dir = filter_rules.as_ref().map(|r| r.dir().to_path_buf());
        let result = (|| -> Result<()> {
            let mut p = XdpProgram::load_with_pins(program, 1, pin_dir.as_deref())?;
            let mode = attach(&mut p, i, args.mode, args.force, out)?;
            let dir = pin::iface_dir(i)?;
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let prog_id = match p.pin_attachment(i, &dir.join("link"), &dir.join("stats")) {
                Ok(id) => id,
                Err(e) => {
                    let _ = std::fs::remove_file(dir.join("stats"));
                    let _ = std::fs::remove_dir(&dir);
                    return Err(e);
                }
            };
            pin::save_meta(
                i,
                &pin::Loaded {
                    program: program.function().to_string(),
                    prog_id,
                    mode: mode.to_string(),
                    loaded_at: now(),
                },
            )?;
            writeln!(
                out,
                "{i}: {} attached in {mode} mode (program id {prog_id}), pinned at {}",
                program.function(),
                dir.display()
            )?;
            Ok(())
        })();
        match result {
            Ok(()) => done.push(i.clone()),
            Err(e) => {
                failures += 1;
                writeln!(out, "{i}: {e:#}")?;
            }
        }
    }
    if !within.is_zero() && !done.is_empty() {
        if !touches_ops.is_empty() {
            writeln!(
                out,
                "{} carries this session's own traffic, and {} can drop it.",
                touches_ops
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                program.function()
            )?;
        }
        if wait_for_confirmation(within, out)? {
            writeln!(
                out,
                "confirmed: keeping {} on {}",
                program.function(),
                done.join(", ")
            )?;
        } else {
            for i in &done {
                pin::unpin(i)?;
            }
            writeln!(
                out,
                "no confirmation within {}s: removed {} from {} again",
                within.as_secs_f64(),
                program.function(),
                done.join(", ")
            )?;
            return Ok(2);
        }
    }
    Ok(if failures == 0 { 0 } else { 1 })
}

/// `xskit unload`.
pub fn unload(args: &UnloadArgs, out: &mut dyn Write) -> Result<i32> {
    pin::ensure_bpffs()?;
    let ifaces: Vec<String> = if args.all {
        let mut v = pin::pinned_ifaces()?;
        if args.any {
            v.extend(interfaces().into_iter().filter(|i| i != "lo"));
            v.sort();
            v.dedup();
        }
        v
    } else {
        args.ifaces.clone()
    };
    let mut status = 0;
    for i in &ifaces {
        if pin::unpin(i)? {
            writeln!(out, "{i}: removed what xskit loaded")?;
            continue;
        }
        let exists = xsk::netdev::ifindex(i).is_ok();
        match (
            exists,
            if exists {
                netns::xdp_attachment(i)?
            } else {
                None
            },
        ) {
            (false, _) => {
                writeln!(
                    out,
                    "{i}: no such interface and nothing xskit pinned for it"
                )?;
                status = 1;
            }
            (true, None) => {
                if !args.all {
                    writeln!(out, "{i}: no XDP program attached")?;
                }
            }
            (true, Some((name, id, mode))) if args.any => {
                writeln!(out, "warning: {i}: detaching {name} (id {id}, {mode} mode), which another tool attached")?;
                let off = match mode {
                    "skb" => "xdpgeneric",
                    "offload" => "xdpoffload",
                    _ => "xdpdrv",
                };
                if let Err(e) = crate::net::netns::ip(&["link", "set", "dev", i, off, "off"]) {
                    writeln!(out, "{i}: could not detach {name}: {e:#} (a program attached through a BPF link goes only when its owner closes or unpins it)")?;
                    status = 1;
                }
            }
            (true, Some((name, id, _))) => {
                writeln!(out, "{i}: {name} (id {id}) was not attached by xskit; leaving it (use --any to detach it too)")?;
                status = 1;
            }
        }
    }
    Ok(status)
}

/// True if the program attached (as `ip` reports it) is the one `xskit
/// load` recorded, not a stale record or another tool's program.
fn is_ours(xdp: &Option<(String, u32, &'static str)>, meta: &Option<pin::Loaded>) -> bool {
    matches!((xdp, meta), (Some((_, id, _)), Some(m)) if *id == m.prog_id)
}

/// One row of `xskit status`.
pub fn status_rows() -> Result<Vec<Value>> {
    let mut rows = Vec::new();
    let filter_rules = if pin::filter_dir()?.join("filter_config").exists() {
        Some(Rules::open()?)
    } else {
        None
    };
    for i in interfaces() {
        let xdp = netns::xdp_attachment(&i)?;
        let meta = pin::load_meta(&i)?;
        let ours = is_ours(&xdp, &meta);
        let mut row = json!({
            "iface": i,
            "program": xdp.as_ref().map(|x| x.0.clone()),
            "id": xdp.as_ref().map(|x| x.1),
            "mode": xdp.as_ref().map(|x| x.2),
            "xskit": ours,
        });
        if ours {
            if let Some(c) = pin::read_stats(&i)? {
                row["counters"] = json!({"passed": c.passed.packets, "dropped": c.dropped.packets, "redirected": c.redirected.packets});
            }
            if meta.as_ref().is_some_and(|m| m.program == "xdp_filter") {
                if let Some(r) = &filter_rules {
                    row["default"] = json!(r.default_verdict()?.name());
                    row["rules"] = rules_json(&r.list()?);
                    let (non_ip, malformed) = r.misc_counts()?;
                    row["non_ip"] = json!(non_ip);
                    row["malformed"] = json!(malformed);
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

fn rules_json(list: &[Listed]) -> Value {
    Value::Array(
        list.iter()
            .map(|l| json!({"id": l.id, "rule": l.rule.to_string(), "hits": l.hits}))
            .collect(),
    )
}

/// `xskit status`.
pub fn status(json_out: bool, out: &mut dyn Write) -> Result<i32> {
    let rows = status_rows()?;
    if json_out {
        writeln!(out, "{}", Value::Array(rows))?;
        return Ok(0);
    }
    writeln!(
        out,
        "{:<16} {:<18} {:>6} {:<8} {:<6} {:>12} {:>12} {:>12}",
        "interface", "program", "id", "mode", "xskit", "passed", "dropped", "redirected"
    )?;
    for r in &rows {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        let n = |k: &str| {
            r.get("counters")
                .and_then(|c| c.get(k))
                .and_then(Value::as_u64)
                .map(thousands)
                .unwrap_or_else(|| "-".into())
        };
        writeln!(
            out,
            "{:<16} {:<18} {:>6} {:<8} {:<6} {:>12} {:>12} {:>12}",
            s("iface"),
            s("program"),
            r.get("id")
                .and_then(Value::as_u64)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            s("mode"),
            if r["xskit"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            n("passed"),
            n("dropped"),
            n("redirected")
        )?;
        if let Some(rules) = r.get("rules").and_then(Value::as_array) {
            writeln!(
                out,
                "    filter: default {}, {} rule(s), non-IP {}, malformed {}",
                s("default"),
                rules.len(),
                r["non_ip"],
                r["malformed"]
            )?;
            for rule in rules {
                writeln!(
                    out,
                    "    #{:<4} {:<40} {:>12} hits",
                    rule["id"],
                    rule["rule"].as_str().unwrap_or(""),
                    thousands(rule["hits"].as_u64().unwrap_or(0))
                )?;
            }
        }
    }
    Ok(0)
}

/// `xskit filter ...`.
pub fn filter_cmd(cmd: &FilterCmd, out: &mut dyn Write) -> Result<i32> {
    let rules = Rules::open()?;
    match cmd {
        FilterCmd::Add {
            verdict,
            rule,
            force,
        } => {
            let r = Rule::parse(*verdict, rule)?;
            if let Some((peer, pport, local, lport)) = filter::ssh_session() {
                if r.would_cut(peer, local, pport, lport) && !force {
                    bail!("refusing `{r}`: it would drop your SSH session ({peer} -> {local}:{lport}); pass --force if you mean it");
                }
            }
            let id = rules.add(&r)?;
            writeln!(out, "added #{id}: {r}")?;
        }
        FilterCmd::Del { verdict, rule } => {
            let r = Rule::parse(*verdict, rule)?;
            if rules.del(&r)? {
                writeln!(out, "removed: {r}")?;
            } else {
                writeln!(out, "no such rule: {r}")?;
                return Ok(1);
            }
        }
        FilterCmd::List { json } => {
            let list = rules.list()?;
            let default = rules.default_verdict()?;
            let (non_ip, malformed) = rules.misc_counts()?;
            if *json {
                writeln!(
                    out,
                    "{}",
                    json!({"default": default.name(), "rules": rules_json(&list), "non_ip": non_ip, "malformed": malformed})
                )?;
            } else {
                writeln!(
                    out,
                    "default policy: {}; frames not IP: {non_ip}, truncated IP: {malformed}",
                    default.name()
                )?;
                if list.is_empty() {
                    writeln!(out, "no rules")?;
                }
                for l in &list {
                    writeln!(
                        out,
                        "#{:<4} {:<40} {:>12} hits",
                        l.id,
                        l.rule.to_string(),
                        thousands(l.hits)
                    )?;
                }
            }
        }
        FilterCmd::Default { verdict, force } => {
            if *verdict == Verdict::Deny && !force {
                if let Some((peer, pport, local, lport)) = filter::ssh_session() {
                    let allowed = rules.list()?.iter().any(|l| {
                        let mut as_deny = l.rule;
                        as_deny.verdict = Verdict::Deny;
                        l.rule.verdict == Verdict::Allow
                            && as_deny.would_cut(peer, local, pport, lport)
                    });
                    if !allowed {
                        bail!("refusing default deny: no allow rule covers your SSH session ({peer} -> {local}:{lport}); add one, or pass --force");
                    }
                }
            }
            rules.set_default(*verdict)?;
            writeln!(out, "default policy: {}", verdict.name())?;
        }
    }
    Ok(0)
}
