//! `chatctl`: the messenger's admin CLI. See `chatctl help`.

use chatctl::cli::Cli;
use chatctl::CtlError;
use clap::Parser;
use std::process::ExitCode;

/// mimalloc, as in chatd: a rebuild decodes millions of small JSON values across threads, where
/// glibc's malloc costs a good part of this process's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr: stdout carries the answer (tables or JSON lines).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let config = match server::Config::from_env() {
        Ok(config) => config,
        Err(error) => return fail(&CtlError::Usage(error.to_string())),
    };
    match chatctl::run(cli, config).await {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`chatctl events | head`) is not a failure.
        Err(CtlError::Failed(error))
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

fn fail(error: &CtlError) -> ExitCode {
    eprintln!("chatctl: {error}");
    error.exit_code()
}
