//! Logging set-up: `tracing` to stderr, as text or JSON.
//!
//! What is logged is decided where it happens; this module only installs
//! the subscriber. No secret (password, token, hash, database password) is
//! ever passed to a log macro anywhere in authd.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::error::{Error, Result};

/// Installs the global subscriber. Safe to call once per process.
///
/// # Errors
/// [`Error::Config`] for a filter that does not parse.
pub fn init(format: LogFormat, filter: &str) -> Result<()> {
    let filter = EnvFilter::try_new(filter).map_err(|e| {
        Error::Config(format!(
            "invalid configuration --log (env AUTHD_LOG): {e}; use e.g. info or authd=debug"
        ))
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second call (tests) keeps the first subscriber; that is fine.
    drop(installed);
    Ok(())
}
