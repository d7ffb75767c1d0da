//! `authd import django`: brings a Django project's users into authd's
//! database, with their password hashes as they are.
//!
//! This module reads the rows, from a Django database (`database`: tables
//! `auth_user`, `auth_group`, `auth_user_groups`, read with a pool of its
//! own, never written) or a `manage.py dumpdata auth.User auth.Group`
//! file (`dumpdata`), and prints the report. What each row becomes, what
//! a re-run changes and why a row is skipped is decided by
//! [`crate::service::DjangoImport`]; writes go through the store, one
//! transaction per row, announced on the change feed so running servers
//! learn of them.
//!
//! The report goes to stdout: a line per imported, updated or skipped row
//! (and per unchanged row that carries a note), then the counts. A row that
//! cannot be read or taken is skipped with its reason and never stops the
//! import; the exit status is non-zero only when the source cannot be read
//! at all (or authd's database fails).

use std::path::PathBuf;

use clap::Subcommand;

use super::{ADMIN_HEADING, Open};
use crate::clock::Clock;
use crate::config::{AdminArgs, Sources};
use crate::error::{Error, Result};
use crate::service::{Accounts, DjangoUser, ImportCounts, ImportOptions, RowOutcome, RowReport};

mod database;
mod dumpdata;

/// `authd import`: the database settings and what to import.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Config file, database and logging (authd's own database: the target).
    #[command(flatten, next_help_heading = ADMIN_HEADING)]
    pub admin: AdminArgs,
    /// Where the users come from.
    #[command(subcommand)]
    pub command: ImportCommand,
}

/// `authd import ...`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a Django project's users, groups as roles, with their password
    /// hashes verbatim; re-running updates what changed (matched by Django's
    /// primary key, the users' external id).
    Django(DjangoArgs),
}

/// `authd import django`: the source and how to import.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["django_database", "dumpdata"])))]
pub struct DjangoArgs {
    /// The Django project's database, read only: postgres://USER@HOST/NAME
    /// or sqlite:///path/to/db.sqlite3.
    #[arg(long, value_name = "URL")]
    pub django_database: Option<String>,
    /// The user table of a custom user model with auth_user's columns
    /// (default auth_user); its groups are read from `<NAME>_groups`.
    #[arg(long, value_name = "NAME")]
    pub user_table: Option<String>,
    /// The output of `manage.py dumpdata auth.User auth.Group --format json`.
    #[arg(long, value_name = "FILE")]
    pub dumpdata: Option<PathBuf>,
    /// Also import salted MD5 hashes (Django's `md5` hasher), which are
    /// otherwise skipped; they become Argon2id at the first login.
    #[arg(long)]
    pub allow_weak_hashes: bool,
    /// Print what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A row as the source had it: a user, or why it could not be read.
#[derive(Debug)]
enum SourceRow {
    User(DjangoUser),
    Unreadable {
        /// Where it was: `pk 7`, or `object 3` in a dumpdata file.
        source: String,
        /// The username, when there was one.
        username: String,
        reason: String,
    },
}

/// Runs `authd import ...`.
///
/// # Errors
/// A source that cannot be read (missing file, not JSON, unreachable
/// database, missing tables), or a failure of authd's database.
pub async fn run(args: ImportArgs, sources: &Sources) -> Result<()> {
    let ImportArgs {
        admin,
        command: ImportCommand::Django(django),
    } = args;
    // The source first: an unreadable one fails before authd's database is touched.
    let rows = match (&django.django_database, &django.dumpdata) {
        (Some(url), _) => {
            let table = django.user_table.as_deref().unwrap_or("auth_user");
            database::read(url, table).await?
        }
        (None, Some(_)) if django.user_table.is_some() => {
            return Err(Error::invalid(
                "user-table",
                "goes with --django-database; a dumpdata file names its models itself",
            ));
        }
        (None, Some(path)) => dumpdata::read(path)?,
        (None, None) => {
            return Err(Error::invalid(
                "source",
                "name one: --django-database URL or --dumpdata FILE",
            ));
        }
    };
    // A dry run only reads, like every read-only command: no migration.
    let open = if django.dry_run {
        Open::ReadOnly
    } else {
        Open::Migrated
    };
    let store = super::open_admin(&admin, sources, open).await?;
    let hashing: crate::password::settings::PasswordSettings = crate::settings::defaults();
    let hasher = crate::app::hasher_for(&hashing).await?;
    let accounts =
        Accounts::new(store.clone(), hasher, Clock::system()).with_actor(super::cli_actor());
    let options = ImportOptions {
        allow_weak_hashes: django.allow_weak_hashes,
        dry_run: django.dry_run,
    };
    let result = import(&accounts, rows, options).await;
    store.close().await;
    let counts = result?;
    println!("{}", summary(counts, django.dry_run));
    Ok(())
}

/// Feeds `rows` to the import, printing each row's line as it is decided.
async fn import(
    accounts: &Accounts,
    rows: Vec<SourceRow>,
    options: ImportOptions,
) -> Result<ImportCounts> {
    let mut run = accounts.django_import(options);
    let clock = Clock::system();
    for row in rows {
        let report = match row {
            SourceRow::User(user) => run.import(user, clock.now_unix()).await?,
            SourceRow::Unreadable {
                source,
                username,
                reason,
            } => run.skip_unreadable(source, username, reason),
        };
        if let Some(line) = render(&report, options.dry_run) {
            println!("{line}");
        }
    }
    Ok(run.counts())
}

/// One row's report line (with its notes on lines of their own); `None`
/// for an unchanged row without notes, which is only counted.
fn render(report: &RowReport, dry_run: bool) -> Option<String> {
    let (what, detail) = match &report.outcome {
        RowOutcome::Imported { roles } => (
            if dry_run { "would import" } else { "imported" },
            format!(
                "roles: {}",
                if roles.is_empty() {
                    "(none)".to_owned()
                } else {
                    roles.join(", ")
                }
            ),
        ),
        RowOutcome::Updated { changed } => (
            if dry_run { "would update" } else { "updated" },
            format!("changed: {}", changed.join(", ")),
        ),
        RowOutcome::Unchanged if report.notes.is_empty() => return None,
        RowOutcome::Unchanged => ("unchanged", String::new()),
        RowOutcome::Skipped { reason } => ("skipped", reason.clone()),
    };
    let username = if report.username.is_empty() {
        "(no username)".to_owned()
    } else {
        report.username.clone()
    };
    let mut line = printable(&format!(
        "{what:<12}  {:<10}  {username:<20}  {detail}",
        report.source
    ));
    for note in &report.notes {
        line.push_str("\n              note: ");
        line.push_str(&printable(note));
    }
    Some(line.trim_end().to_owned())
}

/// The last line of the report.
fn summary(counts: ImportCounts, dry_run: bool) -> String {
    let ImportCounts {
        imported,
        updated,
        unchanged,
        skipped,
    } = counts;
    if dry_run {
        format!(
            "django import (dry run, nothing written): {imported} would be imported, \
             {updated} would be updated, {unchanged} unchanged, {skipped} skipped"
        )
    } else {
        format!(
            "django import: {imported} imported, {updated} updated, {unchanged} unchanged, \
             {skipped} skipped"
        )
    }
}

/// `text` with control and invisible format characters escaped: the rows
/// come from another system, and a report line must not rewrite the
/// terminal that shows it.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || crate::validate::is_format(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `text` for a skip reason: at most 64 characters, escaped as in a Rust
/// string literal (the source may hold anything).
fn quoted(text: &str) -> String {
    let short: String = text.chars().take(64).collect();
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn the_command_line_takes_one_source() {
        let parse = |args: &[&str]| {
            crate::cli::Cli::try_parse_from(["authd", "import", "django"].iter().chain(args.iter()))
        };
        assert!(parse(&["--dumpdata", "users.json"]).is_ok());
        assert!(parse(&["--django-database", "sqlite:///x.db", "--dry-run"]).is_ok());
        assert!(parse(&[]).is_err(), "a source is required");
        assert!(
            parse(&[
                "--dumpdata",
                "a.json",
                "--django-database",
                "sqlite:///x.db"
            ])
            .is_err(),
            "only one source"
        );
    }

    #[test]
    fn report_lines_escape_what_the_source_holds() {
        assert_eq!(printable("a\u{1b}[2Jb\u{202e}"), "a\\u{1b}[2Jb\\u{202e}");
        let report = RowReport {
            source: "pk 3".to_owned(),
            username: String::new(),
            outcome: RowOutcome::Unchanged,
            notes: vec![],
        };
        assert_eq!(
            render(&report, false),
            None,
            "unchanged rows are only counted"
        );
    }
}
