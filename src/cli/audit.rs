//! `authd audit ...`: prints the audit log (`tail`, optionally following
//! it) and dispatches `export` and `purge` to [`super::audit_retention`].

use crate::clock::now_unix;
use crate::error::{Error, Result};

use super::{AuditCommand, MAX_TAIL_LINES, audit_retention, cli_actor};

/// Runs `authd audit ...`, printing to stdout; `--follow` stops when `stop` resolves.
///
/// # Errors
/// Database errors, or a closed standard output.
pub async fn run_audit(
    store: &dyn crate::store::Store,
    command: AuditCommand,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let (lines, follow, poll_interval_ms, json) = match command {
        AuditCommand::Tail {
            lines,
            follow,
            poll_interval_ms,
            json,
        } => (lines, follow, poll_interval_ms, json),
        AuditCommand::Export { before, output } => {
            let written = match output {
                Some(path) => {
                    let mut file = std::fs::File::create(&path).map_err(|e| {
                        Error::invalid("output", format!("cannot create {}: {e}", path.display()))
                    })?;
                    audit_retention::export(store, before, &mut file).await?
                }
                None => {
                    audit_retention::export(store, before, &mut std::io::stdout().lock()).await?
                }
            };
            eprintln!(
                "exported {written} audit events before {}",
                crate::audit::rfc3339(before)
            );
            return Ok(());
        }
        AuditCommand::Purge { before, exported } => {
            let removed =
                audit_retention::purge(store, before, &exported, &cli_actor(), now_unix()).await?;
            println!(
                "removed {removed} audit events before {}; recorded as an audit_purged event",
                crate::audit::rfc3339(before)
            );
            return Ok(());
        }
    };
    let render: fn(&crate::store::AuditEntry) -> String = if json {
        crate::audit::render_json
    } else {
        crate::audit::render_line
    };
    let print = |entries: &[crate::store::AuditEntry]| print_audit(entries, render);
    let mut last = print(&store.audit_tail(lines.min(MAX_TAIL_LINES), None).await?)?;
    if !follow {
        return Ok(());
    }
    // Bounded in time by the interval (clamped by the parser) and in work
    // by MAX_TAIL_LINES per poll; it ends on `stop` (Ctrl-C or SIGTERM).
    let interval = std::time::Duration::from_millis(poll_interval_ms.clamp(100, 60_000));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        let after = last.unwrap_or(0);
        let fresh = store.audit_tail(MAX_TAIL_LINES, Some(after)).await?;
        if let Some(id) = print(&fresh)? {
            last = Some(id);
        }
    }
}

/// Prints `entries` one per line; returns the last one's id.
fn print_audit(
    entries: &[crate::store::AuditEntry],
    render: fn(&crate::store::AuditEntry) -> String,
) -> Result<Option<i64>> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for entry in entries {
        writeln!(out, "{}", render(entry))
            .map_err(|e| Error::internal("writing the audit log to stdout", e))?;
    }
    out.flush()
        .map_err(|e| Error::internal("writing the audit log to stdout", e))?;
    Ok(entries.last().map(|e| e.id))
}
