//! `xskit status`'s arguments.

use crate::app::ops::ns::NsArgs;
use crate::app::shared::args::parse_interval;
use std::time::Duration;

/// Options of `xskit status` (`--count` needs `--watch` or `-n`).
#[derive(clap::Args, Clone, Debug)]
#[command(group = clap::ArgGroup::new("watching").args(["watch", "interval"]).multiple(true))]
pub struct StatusArgs {
    /// JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Counters in the Prometheus text format (per interface, program,
    /// action and filter rule), for node_exporter's textfile collector
    #[arg(long, conflicts_with_all = ["json", "watch", "interval"])]
    pub prometheus: bool,
    /// Print rates (frames and bytes per second) per action and per filter
    /// rule every interval until Ctrl-C, like `xdp-filter poll`
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Interval of --watch (implies it)
    #[arg(short = 'n', long, value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Stop --watch after this many reports
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), requires = "watching")]
    pub count: Option<u64>,
    /// Also write the counters to this file in the Prometheus text format
    /// (through a temporary file and a rename, for node_exporter's textfile
    /// collector): once, or with --watch at every report (at most once a second)
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub ns: NsArgs,
}
