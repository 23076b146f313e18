//! The `xskit` command line: parses the arguments and dispatches to the
//! command's module, which does the work and prints its own output.

use crate::app::measure::{bench, demo, gen, latency};
use crate::app::modes::{self, Benchmark, L2fwdArgs, RxModeArgs, TxonlyArgs};
use crate::app::shared::caps;
use crate::app::shared::sandbox;
use crate::app::{doctor, dump, echo, ops};
use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

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
    Rxdrop(RxModeArgs),
    /// Benchmark: send prebuilt UDP frames (xdpsock -t)
    Txonly(TxonlyArgs),
    /// Benchmark: swap MACs and send frames back out (xdpsock -l)
    L2fwd(L2fwdArgs),
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
        action: sandbox::SandboxCmd,
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
    let result = run(cli);
    // A signal that is removing the command's sandbox decides the exit.
    if let Some(code) = crate::app::shared::signals::ending() {
        return code;
    }
    match result {
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

fn run(cli: Cli) -> Result<i32> {
    let out = &mut std::io::stdout();
    match cli.command {
        Command::Demo(args) => demo::exec(&args, out),
        Command::Echo(args) => echo::exec(&args, out),
        Command::Rxdrop(args) => modes::exec(Benchmark::Rxdrop, args.into(), out),
        Command::Txonly(args) => modes::exec(Benchmark::Txonly, args.into(), out),
        Command::L2fwd(args) => modes::exec(Benchmark::L2fwd, args.into(), out),
        Command::Bench(args) => bench::exec(&args, out),
        Command::Latency(args) => latency::exec(&args, out),
        Command::Gen(args) => gen::exec(&args, out),
        Command::Dump(args) => dump::exec(&args, out),
        Command::Doctor(args) => doctor::run(&args, out),
        Command::Sandbox { action } => sandbox::exec(&action, out),
        Command::Load(args) => {
            caps::require("load", caps::OPS)?;
            ops::load(&args, out)
        }
        Command::Unload(args) => {
            caps::require("unload", caps::OPS)?;
            ops::unload(&args, out)
        }
        Command::Status(args) => {
            caps::require("status", caps::OPS)?;
            ops::status(&args, out)
        }
        Command::Confirm(args) => {
            caps::require("confirm", caps::OPS)?;
            ops::confirm(&args, out)
        }
        Command::Filter(args) => {
            caps::require("filter", caps::OPS)?;
            ops::filter_cmd(&args, out)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "xskit", out);
            Ok(0)
        }
        Command::Man { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), &dir)
                .with_context(|| format!("writing manual pages to {}", dir.display()))?;
            writeln!(out, "manual pages written to {}", dir.display())?;
            Ok(0)
        }
    }
}
