//! `loadgen`: see `loadgen --help` and the crate documentation.
//!
//! One thread: the load generator shares the machine's two cores with the server, PostgreSQL,
//! Redis and NATS, so it runs on a current-thread runtime, one task per sender and per socket.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match loadgen::cli::parse(args.iter().cloned()) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{}", loadgen::cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            return ExitCode::from(2);
        }
    };
    // Before chatd is started, so it inherits the higher limit too.
    loadgen::procs::raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("loadgen: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    if options.hold {
        let loadgen::cli::Target::Url { url, .. } = &options.target else {
            eprintln!("loadgen: --hold needs --url");
            return ExitCode::from(2);
        };
        let loadgen::cli::Mode::Connections { sockets } = options.mode else {
            eprintln!("loadgen: --hold needs --connections");
            return ExitCode::from(2);
        };
        return match runtime.block_on(loadgen::connections::hold(url, options.users, sockets)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("loadgen: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    let report = match runtime.block_on(loadgen::run(&options, args)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report.table());
    match report.write_json() {
        Ok(()) => println!("results: {}", report.out.display()),
        Err(error) => eprintln!("loadgen: cannot write {}: {error:#}", report.out.display()),
    }
    if report.clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
