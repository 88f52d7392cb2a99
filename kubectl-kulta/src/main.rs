//! `kubectl-kulta`: parse the arguments, run the command, print an error and exit non-zero.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

use std::process::ExitCode;

use clap::Parser;
use kubectl_kulta::cli::Args;
use kubectl_kulta::error::EXIT_ERROR;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // kube uses ring; if another crate turned on aws-lc-rs rustls could not choose by itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: unable to start the async runtime: {error}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(kubectl_kulta::run::run(args)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", error.chain());
            error.exit_code()
        }
    }
}
