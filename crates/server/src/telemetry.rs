//! Structured logs: readable text in development, JSON lines in production (`LOG_FORMAT=json`).

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// `RUST_LOG` overrides the default of `info` for our crates and `warn` for dependencies.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,server=info,eventstore=info,domain=info,chatd=info")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(error) = result {
        eprintln!("logging was already set up: {error}");
    }
}
