//! The `xskit` command line: parses arguments and calls into the library.

use crate::app::modes::{self, Mode, ModeArgs};
use crate::app::{bench, demo, doctor, dump, echo, gen, ops, sandbox};
use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use std::io::Write;
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
    /// Answer ICMPv6 and ICMPv4 echo requests from user space (the seed's responder)
    Echo(echo::EchoArgs),
    /// Benchmark: receive and drop (xdpsock -r)
    Rxdrop(ModeArgs),
    /// Benchmark: send prebuilt UDP frames (xdpsock -t)
    Txonly(ModeArgs),
    /// Benchmark: swap MACs and send frames back out (xdpsock -l)
    L2fwd(ModeArgs),
    /// Measure every mode against the kernel's own drop rate, in one run
    Bench(bench::BenchArgs),
    /// Traffic generator: BPF_PROG_RUN live frames from the sending interface
    Gen(gen::GenArgs),
    /// Print received frames (or write them to a pcap file)
    Dump(dump::DumpArgs),
    /// Attach drop, pass or filter so that it stays after the command exits
    Load(ops::LoadArgs),
    /// Detach what `xskit load` attached
    Unload(ops::UnloadArgs),
    /// One row per interface: XDP program, mode, owner, counters
    Status {
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Keep a load that is waiting for confirmation (see load --confirm-within)
    Confirm {
        /// Only the load of this process [default: every waiting load]
        pid: Option<u32>,
    },
    /// Rules of the in-kernel filter (`xskit load filter IFACE` attaches it)
    Filter {
        #[command(subcommand)]
        cmd: ops::FilterCmd,
    },
    /// What this machine can do with XDP and AF_XDP, and why not (kernel, BPF, privileges, per-interface support)
    Doctor(doctor::DoctorArgs),
    /// Manage the sandbox: two network namespaces joined by a veth pair
    Sandbox {
        #[command(subcommand)]
        action: SandboxAction,
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

fn need_root(what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("`xskit {what}` needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_SYS_ADMIN): run it with sudo");
    }
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

fn run_mode(mode: Mode, args: ModeArgs) -> Result<i32> {
    need_root(mode.name())?;
    let stop = stop_on_signals()?;
    let iface = args.socket.resolve_interface()?;
    let mut stdout = std::io::stdout();
    let summary = modes::run(mode, &args, &iface, &stop, &mut stdout)?;
    summary.print(&mut stdout, args.socket.json)?;
    Ok(if summary.frames_unaccounted == 0 {
        0
    } else {
        1
    })
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xskit: error: {e:#}");
            1
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    let mut stdout = std::io::stdout();
    match cli.command {
        Command::Demo(args) => {
            need_root("demo")?;
            Ok(if demo::run(&args, &mut stdout)? { 0 } else { 1 })
        }
        Command::Echo(args) => {
            need_root("echo")?;
            let stop = stop_on_signals()?;
            let iface = args.socket.resolve_interface()?;
            let summary = echo::run(&args, &iface, &stop, &mut stdout, &mut || {})?;
            summary.print(&mut stdout, args.socket.json)?;
            Ok(0)
        }
        Command::Rxdrop(args) => run_mode(Mode::Rxdrop, args),
        Command::Txonly(args) => run_mode(Mode::Txonly, args),
        Command::L2fwd(args) => run_mode(Mode::L2fwd, args),
        Command::Bench(args) => {
            need_root("bench")?;
            let rows = bench::run(&args, &mut stdout)?;
            if !args.json {
                writeln!(stdout)?;
                write!(stdout, "{}", bench::markdown(&rows))?;
            }
            Ok(0)
        }
        Command::Gen(args) => {
            need_root("gen")?;
            let stop = stop_on_signals()?;
            let plan = args.plan()?;
            let s = gen::run(&args, &plan, &stop, &mut stdout)?;
            writeln!(
                stdout,
                "sent {} frames in {:.2}s: {:.3} Mpps ({})",
                crate::app::stats::thousands(s.sent),
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
            need_root("load")?;
            ops::load(&args, &mut stdout)
        }
        Command::Unload(args) => {
            need_root("unload")?;
            ops::unload(&args, &mut stdout)
        }
        Command::Status { json } => {
            need_root("status")?;
            ops::status(json, &mut stdout)
        }
        Command::Doctor(args) => doctor::run(&args, &mut stdout),
        Command::Confirm { pid } => ops::confirm(pid, &mut stdout),
        Command::Filter { cmd } => {
            need_root("filter")?;
            ops::filter_cmd(&cmd, &mut stdout)
        }
        Command::Dump(args) => {
            need_root("dump")?;
            let stop = stop_on_signals()?;
            let iface = args.resolve_interface()?;
            let s = dump::run(&args, &iface, &stop, &mut stdout)?;
            let lost = if s.lost > 0 {
                format!(", {} not captured (ring buffer full)", s.lost)
            } else {
                String::new()
            };
            match &args.write {
                Some(p) => eprintln!("{} frames written to {}{lost}", s.captured, p.display()),
                None => eprintln!("{} frames captured{lost}", s.captured),
            }
            Ok(0)
        }
        Command::Sandbox { action } => {
            need_root("sandbox")?;
            match action {
                SandboxAction::Up(args) => {
                    let state = sandbox::up(&args)?;
                    write!(stdout, "{}", sandbox::describe(&state))?;
                    writeln!(
                        stdout,
                        "try: sudo xskit echo        (then: sudo ip netns exec {} ping {})",
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
