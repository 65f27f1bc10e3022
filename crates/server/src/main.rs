//! `chatd`: the messenger service. See `chatd help`.

use server::roles::parse_roles;
use server::{shutdown, telemetry, Application, Config};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: the send path allocates many small short-lived objects
/// across threads (measured: glibc's malloc and free took about a tenth of chatd's CPU under load),
/// and glibc keeps each thread's freed argon2 buffers (19 MiB per password hash) in per-thread
/// arenas for good, where mimalloc returns large blocks to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
usage: chatd [serve [ROLE...]]   run the service (default: every role in one process)
       chatd migrate             create the database if missing and apply migrations, then exit
       chatd rebuild PROJECTION  rebuild a read model from position 0 while the service keeps serving
                                 (projections: history, telegram, directory)
       chatd help                show this

roles: api, publisher, projector, notifier, all
configuration: environment variables, see README.md";

/// Task polls between two looks at timers and sockets while the runtime always has work (tokio's
/// default is 61). A busy process (sockets resuming their backlogs, conversations reloaded after an
/// outage) otherwise let its timers fire hundreds of milliseconds late: fault runs logged stalls
/// of 250-390 ms with the process on a full core, and its outage deadlines answered late with them.
const EVENT_INTERVAL: u32 = 16;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .event_interval(EVENT_INTERVAL)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(error) => {
            eprintln!("chatd: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("chatd: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let outcome = match args.first().map(String::as_str) {
        None | Some("serve") => serve(config, args.iter().skip(1).map(String::as_str)).await,
        Some("migrate") => server::startup::prepare_database(&config)
            .await
            .map(|_| tracing::info!("migrations applied")),
        Some("rebuild") => match args.get(1).map(String::as_str) {
            Some("history") => rebuild::<projections::history::History>(&config).await,
            Some("telegram") => rebuild::<projections::telegram::TelegramLinks>(&config).await,
            Some("directory") => rebuild::<projections::directory::Directory>(&config).await,
            other => {
                eprintln!(
                    "chatd: rebuild needs a projection name (history, telegram, directory), got {other:?}"
                );
                return ExitCode::from(2);
            }
        },
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprintln!("chatd: unknown command {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "chatd failed");
            ExitCode::FAILURE
        }
    }
}

async fn serve<'a>(
    config: Config,
    role_names: impl Iterator<Item = &'a str>,
) -> anyhow::Result<()> {
    let roles = parse_roles(role_names).map_err(anyhow::Error::msg)?;
    let shutdown = CancellationToken::new();
    let signals = shutdown::cancel_on_signal(shutdown.clone());
    let app = Application::build(config, roles).await?;
    let result = app.run_until_stopped(shutdown.clone()).await;
    shutdown.cancel();
    let _ = signals.await;
    result
}

async fn rebuild<P: projections::Projection + Default>(config: &Config) -> anyhow::Result<()> {
    let pool = server::startup::prepare_database(config).await?;
    let store = eventstore::EventStore::new(pool);
    projections::ensure_schema::<P>(store.pool()).await?;
    let report = projections::rebuild(&store, &P::default()).await?;
    println!(
        "rebuilt {} from {} events; swapped in at position {}",
        report.projection, report.events_applied, report.position
    );
    Ok(())
}
