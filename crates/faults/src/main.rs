//! `faults`: the long form of the fault suite (see the crate's documentation and `scripts/faults`).
//! Exit codes: 0 the invariants held, 1 they did not, 2 the run itself failed.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = faults::cli::Cli::parse();
    let options = cli.options();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("faults: {error}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "faults: seed {}, {} s of faults; chatd {}",
        options.seed,
        options.duration.as_secs(),
        options.chatd.display()
    );
    let report = match runtime.block_on(faults::run(&options)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("faults: the run failed: {error:#}");
            return ExitCode::from(2);
        }
    };
    println!("{}", report.table());
    let written = cli
        .json
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let json = serde_json::to_vec_pretty(&report).map_err(std::io::Error::other)?;
            std::fs::write(&cli.json, json)
        });
    match written {
        Ok(()) => eprintln!("faults: report written to {}", cli.json.display()),
        Err(error) => eprintln!("faults: could not write {}: {error}", cli.json.display()),
    }
    if report.holds() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
