//! The command line: every command, option and its help.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// The messenger's admin tool: look into the event log, list, verify and rebuild read models,
/// look at conversations and their members, export and import the store.
///
/// Reads the same configuration as chatd (DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX, ...; see
/// README.md). Exit codes: 0 done; 1 verify found differences; 2 bad usage or configuration
/// (also an unknown projection or conversation); 3 refused (import into a non-empty store, a
/// rebuild already running, a stale or not yet built projection); 4 Postgres or Redis
/// unreachable; 5 anything else failed.
#[derive(Debug, Parser)]
#[command(name = "chatctl", version)]
pub struct Cli {
    /// JSON lines on stdout instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List streams with their version and the time of their last event.
    Streams {
        /// Only streams whose id starts with this (e.g. conversation-, user-).
        #[arg(long, default_value = "")]
        prefix: String,
        /// At most this many streams.
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// Show events of one stream, or of the whole log, oldest first.
    Events(EventsArgs),
    /// Show the last events of the log, and with --follow every event as it commits.
    Tail {
        /// Keep running and print each new event as it is committed (Ctrl-C to stop).
        #[arg(long, short)]
        follow: bool,
        /// How many of the latest events to show first.
        #[arg(long, short = 'n', default_value_t = 10)]
        lines: i64,
    },
    /// Read models: list, rebuild, verify, reset.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Apply a range of the log to a projection in a scratch schema (<name>_replay), or print it
    /// (PROJECTION "-"), e.g. to debug a projector. The live tables are never touched.
    Replay {
        /// history, telegram, directory, or - for stdout.
        projection: String,
        /// First position to apply (inclusive).
        #[arg(long, default_value_t = 1)]
        from: i64,
        /// Last position to apply (inclusive); the log's head if not given.
        #[arg(long)]
        to: Option<i64>,
        /// Apply on top of what the previous replay left instead of starting from empty tables.
        #[arg(long)]
        keep: bool,
    },
    /// Conversations in the history read model (pairs and groups), most recent activity first.
    Conversations {
        /// Only pairs (direct) or only groups.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Only conversations this person is in now (their username).
        #[arg(long)]
        member: Option<String>,
        /// At most this many conversations.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// The members of one conversation in the history read model: names, a group's roles, join
    /// points, read positions, mute switches. An unknown id exits with 2.
    Members {
        /// The conversation's id (without the conversation- prefix).
        conversation: uuid::Uuid,
    },
    /// Write every event (or a range) as JSON lines: a consistent snapshot, also of a live store.
    Export {
        /// The file to write; stdout if not given. A name ending in `.zst` is zstd-compressed.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// zstd-compress the output (implied by a `.zst` file name).
        #[arg(long)]
        zstd: bool,
        /// First position to export (inclusive).
        #[arg(long, default_value_t = 1)]
        from: i64,
        /// Last position to export (inclusive).
        #[arg(long)]
        to: Option<i64>,
    },
    /// Load an export into the store, keeping ids, positions, order, metadata and data exactly.
    /// All or nothing, in one transaction.
    Import {
        /// The export file ("-" for stdin), plain or zstd-compressed (told by its first bytes).
        file: PathBuf,
        /// Import even though the store already holds events (the file's must all come after).
        #[arg(long)]
        allow_non_empty: bool,
    },
    /// Fill the store with generated conversations, for measuring rebuilds and the like.
    Generate {
        /// How many events to write in all (sign-ups, conversation starts and group set-ups,
        /// messages, read receipts).
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Conversations between this many pairs of people.
        #[arg(long, default_value_t = 1_000)]
        conversations: u64,
        /// Also this many groups: their members sign up, the owner creates the group, adds the
        /// others and makes one of them an admin; messages then go round pairs and groups alike.
        #[arg(long, default_value_t = 0)]
        groups: u64,
        /// Members of each group, its owner included (at most MAX_GROUP_MEMBERS).
        #[arg(long, default_value_t = 5)]
        group_members: u64,
    },
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this stream (e.g. conversation-<uuid>); the whole log if not given.
    pub stream: Option<String>,
    /// Only the events of one conversation (its id, without the conversation- prefix).
    #[arg(long, conflicts_with = "stream")]
    pub conversation: Option<uuid::Uuid>,
    /// With --conversation: only the events of its message with this seq (send, edits, deletion).
    #[arg(long, requires = "conversation")]
    pub seq: Option<i64>,
    /// Start at this position (inclusive).
    #[arg(long)]
    pub from: Option<i64>,
    /// Stop at this position (inclusive).
    #[arg(long)]
    pub to: Option<i64>,
    /// Only events recorded at or after this time (RFC 3339, e.g. 2026-11-30T09:00:00Z).
    #[arg(long)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only events of this type (e.g. MessageSent).
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// At most this many events.
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Each projection's version, checkpoint, lag (events and seconds) and state.
    List,
    /// Rebuild from position 0 into shadow tables and swap them in while the service serves.
    /// Interrupted (Ctrl-C, kill -9), it continues where it stopped when run again.
    Rebuild {
        /// The projection (history, telegram, directory).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Rebuild every projection, one after the other.
        #[arg(long)]
        all: bool,
        /// Start from 0 even if an interrupted rebuild could be continued.
        #[arg(long)]
        restart: bool,
        /// Events read and written per transaction.
        #[arg(long, default_value_t = projections::rebuild::DEFAULT_BATCH)]
        batch: i64,
    },
    /// Replay the log into a scratch schema and compare it with the live tables, row by row.
    /// Exit 0 when equal, 1 when not (the differing rows are shown).
    Verify {
        /// The projection (history, telegram, directory).
        name: String,
        /// Show at most this many differing rows per table and side.
        #[arg(long, default_value_t = 20)]
        rows: i64,
    },
    /// Clear a model kept in Redis; it fills again from live traffic.
    Reset {
        /// presence: every open socket is forgotten until its gateway's next heartbeat.
        model: ResetModel,
    },
}

/// A conversation's kind, as `--kind` names it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    /// A pair of people.
    Direct,
    Group,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ResetModel {
    /// Who is online: every socket's entry and the online sets (last-seen times stay).
    Presence,
    /// The typing limits (one notice per user and conversation per interval).
    Typing,
}
