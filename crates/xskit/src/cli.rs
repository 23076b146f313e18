//! The `xskit` command line: parses arguments and calls into the library.

use crate::app::measure::{bench, demo, gen, latency};
use crate::app::modes::{self, Benchmark, ModeArgs};
use crate::app::shared::caps::{self, Cap};
use crate::app::shared::sandbox;
use crate::app::{doctor, dump, echo, ops};
use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// AF_XDP and XDP packet processing, from the kernel to your application.
#[derive(Parser, Debug)]
#[command(name = "xskit", version, about = "AF_XDP and XDP packet processing: echo responder, capture, benchmarks, traffic generator, operator tools", long_about = None)]
#[command(
    after_help = "Start with `sudo xskit demo`: it builds a sandbox of network namespaces, answers pings with AF_XDP, checks every reply, and cleans up."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sandbox up, echo responder, checked pings, kernel comparison, sandbox down
    Demo(demo::DemoArgs),
    /// Answer ICMPv6 and ICMPv4 echo requests from user space over AF_XDP
    Echo(echo::EchoArgs),
    /// Benchmark: receive and drop (xdpsock -r)
    Rxdrop(ModeArgs),
    /// Benchmark: send prebuilt UDP frames (xdpsock -t)
    Txonly(ModeArgs),
    /// Benchmark: swap MACs and send frames back out (xdpsock -l)
    L2fwd(ModeArgs),
    /// Measure every mode against the kernel's own drop rate, in one run
    Bench(bench::BenchArgs),
    /// Echo round-trip times (p50 ... max), the kernel and xskit answering, in one run
    Latency(latency::LatencyArgs),
    /// Traffic generator: BPF_PROG_RUN live frames from the sending interface
    Gen(gen::GenArgs),
    /// Print received frames (or write them to a pcap file); beside an xskit
    /// program already attached, with the verdict it gave each
    Dump(dump::DumpArgs),
    /// Attach drop, pass or filter so that it stays after the command exits
    Load(ops::LoadArgs),
    /// Detach what `xskit load` attached
    Unload(ops::UnloadArgs),
    /// One row per interface: XDP program, mode, owner, counters (`--watch`: rates)
    Status(ops::StatusArgs),
    /// Keep a load that is waiting for confirmation (see load --confirm-within)
    Confirm(ops::ConfirmArgs),
    /// Rules of the in-kernel filter (`xskit load filter IFACE` attaches it)
    #[command(after_help = ops::filter::MATCH_ORDER)]
    Filter(ops::FilterArgs),
    /// What this machine can do with XDP and AF_XDP, and why not (kernel, BPF, privileges, per-interface support)
    Doctor(doctor::DoctorArgs),
    /// Manage the sandbox: two network namespaces joined by a veth pair
    Sandbox {
        #[command(subcommand)]
        action: SandboxAction,
    },
    /// Print a shell completion script (e.g. `xskit completions bash > /etc/bash_completion.d/xskit`)
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (xskit.1, xskit-echo.1, ...) into DIR
    Man {
        /// Directory to write the pages to (created if missing)
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum SandboxAction {
    /// Create the namespaces, the veth pair and the addresses
    Up(sandbox::UpArgs),
    /// Remove what `up` created, and nothing else
    Down {
        /// Sandbox name
        #[arg(long, default_value = sandbox::DEFAULT_NAME)]
        name: String,
    },
    /// Show the sandbox's namespaces, interfaces and addresses
    Status {
        /// Sandbox name
        #[arg(long, default_value = sandbox::DEFAULT_NAME)]
        name: String,
    },
}

/// Fails, naming the missing ones, unless the process holds `caps`.
fn need(what: &str, caps: &[Cap]) -> Result<()> {
    caps::require(what, caps)
}

/// The capabilities of an AF_XDP application; entering a namespace (the
/// sandbox's, when no interface is given) needs CAP_SYS_ADMIN too.
fn xsk_caps(interface_given: bool) -> Vec<Cap> {
    caps::needs(true, true, !interface_given)
}

/// What the operator commands need: attach and read programs, pin in
/// bpffs (mounting it if needed) and enter namespaces.
fn ops_caps() -> Vec<Cap> {
    vec![Cap::NetAdmin, Cap::Bpf, Cap::SysAdmin]
}

/// For the commands that make a sandbox of their own (demo, bench,
/// latency): the kernel removes BPF links with the process, but not named
/// network namespaces. A closed pipe becomes an error that unwinds through
/// the sandbox's guard, and SIGINT, SIGTERM or SIGHUP remove the sandbox
/// before the process ends (exit 128 + the signal).
fn owns_sandbox(name: &str) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    crate::sys::ignore_sigpipe();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing signal handlers")?;
    let name = name.to_string();
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // Not halfway through making it: wait for `up` to finish.
            let _made = sandbox::SETTING_UP.lock();
            let _ = sandbox::down(&name);
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}

/// Stop flag set by SIGINT and SIGTERM.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}

fn run_mode(mode: Benchmark, args: ModeArgs) -> Result<i32> {
    need(mode.name(), &xsk_caps(args.socket.interface.is_some()))?;
    let stop = stop_on_signals()?;
    let iface = args.socket.resolve_interface()?;
    if let Some(p) = &args.socket.metrics_file {
        crate::app::shared::metrics::install(p, mode.name(), &iface);
    }
    let mut stdout = std::io::stdout();
    let summary = modes::run(mode, &args, &iface, &stop, &mut stdout)?;
    summary.print(&mut stdout, args.socket.json)?;
    Ok(if summary.frames_unaccounted == 0 {
        0
    } else {
        1
    })
}

/// Runs the command line; returns the process exit code: 0 done, 1 failed,
/// 2 bad options. Every error is one line on stderr.
pub fn main() -> i32 {
    // A closed pipe ends xskit quietly, as it does C tools (`xskit dump |
    // head`): the default SIGPIPE action instead of Rust's "ignore", which
    // turns it into "error: Broken pipe". Everything xskit attaches is a BPF
    // link held by the process, so the kernel cleans up as on any exit.
    crate::sys::default_sigpipe();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_error(e),
    };
    if let Err(e) = check_options(&matches) {
        eprintln!("xskit: error: {e:#}");
        return 2;
    }
    match run(cli) {
        Ok(code) => code,
        // The reader went away (see owns_sandbox): quiet, as SIGPIPE is.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|i| i.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            128 + libc::SIGPIPE
        }
        Err(e) => {
            eprintln!("xskit: error: {}", one_line(&format!("{e:#}")));
            1
        }
    }
}

/// Text on one line: line breaks become spaces.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Help and version as clap prints them; errors as their first paragraph
/// on one line (clap adds a usage block and a tip), exit 2.
fn clap_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return e.exit_code();
    }
    let text = e.render().to_string();
    let first: Vec<&str> = text.lines().take_while(|l| !l.trim().is_empty()).collect();
    let line = one_line(&first.join(" "));
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    eprintln!("xskit: error: {line} (see --help)");
    2
}

/// Options rxdrop and l2fwd share with txonly but do not use.
const TXONLY_ONLY: &[&str] = &[
    "size", "count", "src_mac", "dst_mac", "src_ip", "dst_ip", "src_port", "dst_port",
];

fn given(m: &ArgMatches, id: &str) -> bool {
    m.try_get_raw(id).is_ok_and(|v| v.is_some())
        && m.value_source(id) == Some(ValueSource::CommandLine)
}

fn long_name(cmd: &clap::Command, id: &str) -> String {
    cmd.get_arguments()
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_long())
        .map_or_else(|| id.to_string(), |l| format!("--{l}"))
}

/// Rejects options that clap's declarations cannot express: ones a command
/// would accept and ignore, and combinations that contradict each other.
pub fn check_options(matches: &ArgMatches) -> Result<()> {
    let Some((name, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let cmd = Cli::command();
    let sub_cmd = cmd
        .find_subcommand(name)
        .expect("a parsed subcommand exists");
    match name {
        "rxdrop" | "l2fwd" => {
            if let Some(id) = TXONLY_ONLY.iter().find(|id| given(sub, id)) {
                bail!(
                    "{} is a txonly option: {name} sends no frames of its own",
                    long_name(sub_cmd, id)
                );
            }
        }
        "txonly" if given(sub, "nap") => {
            bail!("--nap is for receiving loops (rxdrop, l2fwd): txonly never waits for frames");
        }
        "status" => {
            if given(sub, "count") && !given(sub, "watch") && !given(sub, "interval") {
                bail!("--count counts --watch reports: add --watch (or -n INTERVAL)");
            }
            if given(sub, "prometheus")
                && (given(sub, "json") || given(sub, "watch") || given(sub, "interval"))
            {
                bail!("--prometheus prints one reading: it does not combine with --json, --watch or -n");
            }
        }
        _ => {}
    }
    Ok(())
}

fn run(cli: Cli) -> Result<i32> {
    let mut stdout = std::io::stdout();
    match cli.command {
        Command::Demo(args) => {
            need("demo", &caps::needs(true, true, true))?;
            owns_sandbox(&args.name)?;
            Ok(if demo::run(&args, &mut stdout)? { 0 } else { 1 })
        }
        Command::Echo(mut args) => {
            need("echo", &xsk_caps(args.socket.interface.is_some()))?;
            // The responder waits in poll() unless --spin asks for a busy
            // loop (the benchmark modes keep theirs).
            args.socket.poll = !(args.socket.spin || args.busy_poll);
            let stop = stop_on_signals()?;
            let iface = args.socket.resolve_interface()?;
            if let Some(p) = &args.socket.metrics_file {
                crate::app::shared::metrics::install(p, "echo", &iface);
            }
            let summary = echo::run(&args, &iface, &stop, &mut stdout, &mut || {})?;
            summary.print(&mut stdout, args.socket.json)?;
            Ok(0)
        }
        Command::Rxdrop(args) => run_mode(Benchmark::Rxdrop, args),
        Command::Txonly(args) => run_mode(Benchmark::Txonly, args),
        Command::L2fwd(args) => run_mode(Benchmark::L2fwd, args),
        Command::Bench(args) => {
            need("bench", &caps::needs(true, true, true))?;
            owns_sandbox(&args.name)?;
            let rows = bench::run(&args, &mut stdout)?;
            if !args.json {
                writeln!(stdout)?;
                write!(stdout, "{}", bench::markdown(&rows))?;
            }
            Ok(0)
        }
        Command::Latency(args) => {
            need("latency", &caps::needs(true, true, true))?;
            owns_sandbox(&args.name)?;
            let report = latency::run(&args)?;
            latency::print(&report, args.json, &mut stdout)?;
            Ok(0)
        }
        Command::Gen(args) => {
            need("gen", &xsk_caps(args.interface.is_some()))?;
            let stop = stop_on_signals()?;
            let plan = args.plan()?;
            let s = gen::run(&args, &plan, &stop, &mut stdout)?;
            writeln!(
                stdout,
                "sent {} frames in {:.2}s: {:.3} Mpps ({})",
                crate::app::shared::stats::thousands(s.sent),
                s.elapsed,
                s.sent as f64 / s.elapsed.max(1e-9) / 1e6,
                if s.live_frames {
                    "live frames"
                } else {
                    "AF_XDP txonly"
                }
            )?;
            Ok(0)
        }
        Command::Load(args) => {
            need("load", &ops_caps())?;
            ops::load(&args, &mut stdout)
        }
        Command::Unload(args) => {
            need("unload", &ops_caps())?;
            ops::unload(&args, &mut stdout)
        }
        Command::Status(args) => {
            need("status", &ops_caps())?;
            ops::status(&args, &mut stdout)
        }
        Command::Doctor(args) => doctor::run(&args, &mut stdout),
        Command::Confirm(args) => {
            need("confirm", &ops_caps())?;
            ops::confirm(&args, &mut stdout)
        }
        Command::Filter(args) => {
            need("filter", &ops_caps())?;
            ops::filter_cmd(&args, &mut stdout)
        }
        Command::Dump(args) => {
            // The expression is checked before anything is attached.
            args.filter()?;
            let s = match &args.read {
                Some(path) => dump::read_file(&args, path, &mut stdout)?,
                None => {
                    need(
                        "dump",
                        &caps::needs(true, args.consume, args.interface.is_none()),
                    )?;
                    let stop = stop_on_signals()?;
                    let iface = args.resolve_interface()?;
                    dump::run(&args, &iface, &stop, &mut stdout, &mut std::io::stderr())?
                }
            };
            let mut notes = String::new();
            if s.filtered_out > 0 {
                notes += &format!(", {} left out by the expression", s.filtered_out);
            }
            if s.lost > 0 {
                notes += &format!(", {} not captured (ring buffer full)", s.lost);
            }
            match &args.write {
                Some(p) if p.as_os_str() != "-" => {
                    eprintln!("{} frames written to {}{notes}", s.captured, p.display())
                }
                Some(_) => eprintln!("{} frames written to standard output{notes}", s.captured),
                None => eprintln!("{} frames captured{notes}", s.captured),
            }
            Ok(0)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "xskit", &mut stdout);
            Ok(0)
        }
        Command::Man { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), &dir)
                .with_context(|| format!("writing manual pages to {}", dir.display()))?;
            writeln!(stdout, "manual pages written to {}", dir.display())?;
            Ok(0)
        }
        Command::Sandbox { action } => {
            need("sandbox", &[Cap::NetAdmin, Cap::SysAdmin])?;
            match action {
                SandboxAction::Up(args) => {
                    let state = sandbox::up(&args)?;
                    write!(stdout, "{}", sandbox::describe(&state))?;
                    let which = if state.name == sandbox::DEFAULT_NAME {
                        String::new()
                    } else {
                        format!(" --sandbox {}", state.name)
                    };
                    writeln!(
                        stdout,
                        "try: sudo xskit echo{which}        (then: sudo ip netns exec {} ping {})",
                        state.outer_ns, state.inner_v6
                    )?;
                    Ok(0)
                }
                SandboxAction::Down { name } => {
                    if sandbox::down(&name)? {
                        writeln!(stdout, "sandbox {name} removed")?;
                    } else {
                        writeln!(stdout, "no sandbox named {name} is up: nothing to remove")?;
                    }
                    Ok(0)
                }
                SandboxAction::Status { name } => {
                    match sandbox::State::load(&name)? {
                        Some(state) => {
                            write!(stdout, "{}", sandbox::describe(&state))?;
                            Ok(0)
                        }
                        None => {
                            writeln!(stdout, "no sandbox named {name} is up (create one with `xskit sandbox up`)")?;
                            Ok(1)
                        }
                    }
                }
            }
        }
    }
}
