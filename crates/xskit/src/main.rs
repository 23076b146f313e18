//! The `xskit` binary: everything lives in the library.

fn main() {
    std::process::exit(xskit::cli::main());
}
