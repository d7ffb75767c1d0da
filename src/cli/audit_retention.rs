//! `authd audit export` and `authd audit purge`: the retention path of the
//! append-only audit log.
//!
//! Export writes every row older than a time as JSON lines (the same
//! objects as `audit tail --json`). Purge reads such an export back, and the
//! store removes the rows only if they are exactly the ones exported (same
//! count, same last id), in one transaction that also appends an
//! `audit_purged` row naming the count, the cut-off and the export's
//! SHA-256. Nothing else can remove a row: the database's triggers refuse
//! every other `UPDATE` and `DELETE`.

use std::fmt::Write as _;
use std::io::BufRead as _;
use std::path::Path;

use time::format_description::well_known::Rfc3339;

use crate::audit::{self, AuditEvent, AuditRecord, Outcome};
use crate::error::{Error, Result};
use crate::store::{ExportedRows, Store};

/// Rows read per query while exporting.
const EXPORT_PAGE: u32 = 1_000;

/// Parses `--before`: Unix seconds, or an RFC 3339 time such as
/// `2026-11-01T00:00:00Z`.
///
/// # Errors
/// A message saying which forms are accepted.
pub fn parse_before(text: &str) -> std::result::Result<i64, String> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    time::OffsetDateTime::parse(text, &Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|_| {
            format!("{text:?} is not a time: give Unix seconds or RFC 3339 (2026-11-01T00:00:00Z)")
        })
}

/// Writes every audit row older than `before` to `out` as JSON lines, in id
/// order; returns how many.
///
/// # Errors
/// Database errors, or a failed write.
pub async fn export(store: &dyn Store, before: i64, out: &mut dyn std::io::Write) -> Result<u64> {
    let write_err = |e| Error::internal("writing the audit export", e);
    let mut after = None;
    let mut written = 0u64;
    loop {
        let rows = store.audit_before(before, after, EXPORT_PAGE).await?;
        for row in &rows {
            writeln!(out, "{}", audit::render_json(row)).map_err(write_err)?;
        }
        written += rows.len() as u64;
        match rows.last() {
            Some(last) => after = Some(last.id),
            None => break,
        }
    }
    out.flush().map_err(write_err)?;
    Ok(written)
}

/// Removes the rows older than `before` that the export file `exported`
/// holds, recording the removal; returns how many.
///
/// # Errors
/// [`Error::InvalidArgument`] for an unreadable or malformed export,
/// [`Error::FailedPrecondition`] when the log's rows before `before` are
/// not exactly the exported ones (nothing is removed then).
pub async fn purge(
    store: &dyn Store,
    before: i64,
    exported: &Path,
    actor: &str,
    now: i64,
) -> Result<u64> {
    let bad = |why: String| Error::invalid("exported", why);
    let bytes = std::fs::read(exported)
        .map_err(|e| bad(format!("cannot read {}: {e}", exported.display())))?;
    let mut rows = ExportedRows {
        count: 0,
        last_id: 0,
    };
    for (n, line) in bytes.lines().enumerate() {
        let line = line.map_err(|e| bad(format!("line {}: {e}", n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| bad(format!("line {} is not an exported row: {e}", n + 1)))?;
        let (Some(id), Some(at)) = (value["id"].as_i64(), value["at"].as_i64()) else {
            return Err(bad(format!(
                "line {} has no numeric `id` and `at`: not an `authd audit export` file",
                n + 1
            )));
        };
        if at >= before {
            return Err(bad(format!(
                "line {} (id {id}) is not older than --before: export and purge with the same --before",
                n + 1
            )));
        }
        rows.count += 1;
        rows.last_id = rows.last_id.max(id);
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    let hex = digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        });
    let record = AuditRecord::new(AuditEvent::AuditPurged, Outcome::Success, now)
        .subject(actor)
        .detail(&format!(
            "{} rows before {} removed after export (sha256 {hex})",
            rows.count,
            audit::rfc3339(before)
        ));
    store.purge_audit(before, rows, record.entry()).await
}
