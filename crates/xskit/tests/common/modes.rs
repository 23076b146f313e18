//! The benchmark modes' options as a test writes them: a command line,
//! parsed by the same clap definitions as `xskit rxdrop` / `txonly`.

use clap::Parser;
use xskit::app::modes::{ModeArgs, RxModeArgs, TxonlyArgs};

#[derive(Parser)]
struct Rx {
    #[command(flatten)]
    a: RxModeArgs,
}

#[derive(Parser)]
struct Tx {
    #[command(flatten)]
    a: TxonlyArgs,
}

/// rxdrop's or l2fwd's options from `args` (without the program name).
pub fn rx_mode_args(args: &[&str]) -> ModeArgs {
    Rx::parse_from(std::iter::once("x").chain(args.iter().copied()))
        .a
        .into()
}

/// txonly's options from `args` (without the program name).
pub fn tx_mode_args(args: &[&str]) -> ModeArgs {
    Tx::parse_from(std::iter::once("x").chain(args.iter().copied()))
        .a
        .into()
}
