//! `chatctl`, the admin CLI: inspect the event log, list, verify, rebuild and replay projections,
//! look at conversations and their members, reset the Redis-held models, export, import and
//! generate the store. `main.rs` only parses and exits.

pub mod backup;
pub mod cli;
pub mod conversations;
pub mod error;
pub mod generate;
pub mod inspect;
pub mod models;
pub mod output;
pub mod progress;

pub use error::CtlError;

use cli::{Cli, Command, ProjectionsCommand, ResetModel};
use eventstore::EventStore;
use output::Out;
use projections::RebuildOptions;
use secrecy::ExposeSecret;
use server::Config;

/// Runs one command with the configuration chatd would use.
pub async fn run(cli: Cli, config: Config) -> Result<(), CtlError> {
    let mut out = Out::new(cli.json);
    let outcome = dispatch(cli.command, &config, &mut out).await;
    // Whatever was printed before a failure still reaches the reader.
    out.flush()?;
    outcome
}

async fn dispatch(command: Command, config: &Config, out: &mut Out) -> Result<(), CtlError> {
    if let Command::Projections(ProjectionsCommand::Reset { model }) = command {
        return reset(config, out, model).await;
    }
    let store = connect(config).await?;
    match command {
        Command::Streams { prefix, limit } => inspect::streams(&store, out, &prefix, limit).await,
        Command::Events(args) => inspect::events(&store, out, args).await,
        Command::Tail { follow, lines } => inspect::tail(&store, out, follow, lines).await,
        Command::Projections(ProjectionsCommand::List) => models::list(&store, out).await,
        Command::Projections(ProjectionsCommand::Rebuild {
            name,
            all,
            restart,
            batch,
        }) => {
            let names = match (all, name.as_deref()) {
                (true, _) => models::all_names(),
                (false, Some(name)) => vec![name],
                (false, None) => {
                    return Err(CtlError::Usage("name a projection, or pass --all".into()))
                }
            };
            if batch < 1 {
                return Err(CtlError::Usage("--batch must be at least 1".into()));
            }
            let options = RebuildOptions {
                restart,
                batch_size: batch,
            };
            models::rebuild(&store, out, &names, options).await
        }
        Command::Projections(ProjectionsCommand::Verify { name, rows }) => {
            models::verify(&store, out, &name, rows).await
        }
        Command::Projections(ProjectionsCommand::Reset { .. }) => Ok(()),
        Command::Replay {
            projection,
            from,
            to,
            keep: _,
        } if projection == "-" => {
            let args = cli::EventsArgs {
                stream: None,
                conversation: None,
                seq: None,
                from: Some(from),
                to,
                since: None,
                event_type: None,
                limit: None,
            };
            inspect::events(&store, out, args).await
        }
        Command::Replay {
            projection,
            from,
            to,
            keep,
        } => models::replay(&store, out, &projection, from, to, keep).await,
        Command::Export {
            output,
            zstd,
            from,
            to,
        } => {
            let written = backup::export(&store, output.as_deref(), zstd, from, to).await?;
            if output.is_some() {
                eprintln!("exported {written} events");
            }
            Ok(())
        }
        Command::Import {
            file,
            allow_non_empty,
        } => backup::import(&store, out, &file, allow_non_empty).await,
        Command::Conversations {
            kind,
            member,
            limit,
        } => conversations::conversations(&store, out, kind, member.as_deref(), limit).await,
        Command::Members { conversation } => {
            conversations::members(&store, out, conversation).await
        }
        Command::Generate {
            events,
            conversations,
            groups,
            group_members,
        } => {
            let plan = generate::Plan {
                events,
                pairs: conversations,
                groups,
                group_members,
                max_group_members: config.max_group_members as u64,
            };
            generate::generate(&store, out, plan).await
        }
    }
}

async fn connect(config: &Config) -> Result<EventStore, CtlError> {
    let pool = server::startup::prepare_database(config)
        .await
        .map_err(|e| CtlError::Unavailable(format!("{e:#}")))?;
    Ok(EventStore::new(pool))
}

async fn reset(config: &Config, out: &mut Out, model: ResetModel) -> Result<(), CtlError> {
    let client = redis::Client::open(config.redis_url.expose_secret())
        .map_err(|e| CtlError::Usage(format!("REDIS_URL: {e}")))?;
    let kv = kv::Kv::new(client, &config.redis_key_prefix);
    let (name, deleted, after) = match model {
        ResetModel::Presence => (
            "presence",
            kv::Presence::new(kv, config.presence_ttl).reset().await?,
            "open sockets come back with their gateway's next heartbeat",
        ),
        ResetModel::Typing => (
            "typing",
            kv.delete_matching("typing:*").await?,
            "everyone may send a typing notice at once",
        ),
    };
    if out.json {
        out.json_line(&serde_json::json!({ "model": name, "keys_deleted": deleted }))?;
    } else {
        out.line(&format!("{name} reset: {deleted} keys deleted; {after}"))?;
    }
    Ok(())
}
