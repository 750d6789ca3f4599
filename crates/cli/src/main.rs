//! The `pushbench` binary: the command line, handed to the library.

use clap::Parser;
use pushbench::args::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Every expected failure is an error value with a one-line message; a panic is a bug, and
    // says so instead of showing a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("pushbench: internal error (a bug in pushbench; please report it): {info}");
    }));
    match Cli::parse().command.execute() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pushbench: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
