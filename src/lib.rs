//! authd: a standalone gRPC authentication service.
//!
//! Services call authd instead of each re-implementing login and token
//! checks: `Login` turns credentials into a signed access token, `Verify`
//! says whether a token is valid (and why not), `GetUser` reads accounts.
//! Users live in PostgreSQL (production, shared by replicas) or SQLite (the
//! embedded default).
//!
//! # Layout
//!
//! - [`config`]: composes the owners' settings groups and layers defaults, config file, `AUTHD_*`
//!   variables and flags; attributes a bad value to its key and source.
//! - [`settings`]: the value parsers (durations, ranges, secrets, `off`) the owners' settings share.
//! - [`audit`]: the append-only audit log: events, what a row holds (never a secret), rendering.
//! - [`cli`]: the `authd` command line (`serve`, `migrate`, `user ...`, `keys ...`, `audit tail`,
//!   `service-account ...`, `healthcheck`, the container health check: a gRPC health client, and
//!   `import django` in `cli::import`, which reads a Django database or dumpdata file).
//! - [`app`]: [`App::build`] binds and connects; [`App::run_until_stopped`] serves, drains, closes.
//!   `app::tasks` is the one supervisor of the background tasks: each named, its end logged;
//!   `app::startup` migrates and loads keys, retrying while PostgreSQL is unreachable.
//!   `app::listeners` binds both listeners and sets the gRPC transport's limits.
//! - [`grpc`]: transport adapters (`AuthService`, `AdminService` in `grpc::admin`, ext_authz, whose
//!   identity-header settings forward-auth shares) and the one `Error` to `Status` mapping; no SQL,
//!   no crypto.
//!   `grpc::web`: gRPC-Web for browsers on the gRPC port and the CORS allow-list it answers from.
//! - [`clock`]: the one source of time (wall-clock seconds and a tokio monotonic instant), handed
//!   down by [`App`]; a manual clock lets tests move time instead of sleeping. Imports nothing else.
//! - [`service`]: the decisions, no transport types, one file per job: `accounts` (administration),
//!   `login` (with throttling), `change_password` (the user's own, through Login's throttle and
//!   hashing pool), `sessions` (refresh, logout, revoke), `verify` (verify and
//!   authenticate, users' and service accounts' tokens), `users` (GetUser, the admin check),
//!   `service_accounts` (machine identities: administration, client-credentials tokens), `oauth`
//!   (RFC 7662 introspection and RFC 7009 revocation for authenticated OAuth2 clients), `import`
//!   (`authd import django`'s decisions: mapping, roles, idempotent updates by external id); the
//!   shared
//!   context (store, hasher, clock, cache) in `mod.rs`.
//!   `now` is a parameter, read by the adapters from the clock.
//! - [`cache`]: the per-replica user/session/service-account cache behind Verify, kept current by the store's change
//!   feed (`cache::feed`); the one read-through (`user_or_load`, `session_or_load`); bounds measured by the clock.
//! - [`password`]: Argon2id hashing on a few dedicated low-priority threads, admitted by permits
//!   with a bounded queue; never on the async runtime. `password::policy` holds new passwords to
//!   NIST SP 800-63B-4 (length, zxcvbn's blocklist of common and compromised ones), on those threads;
//!   `password::cost`: the Argon2id parameters, OWASP's minimums and the caps on configured and
//!   stored hashes; `password::workers`: the hashing threads; `password::verify`: a stored
//!   hash checked on them, dispatched on its format; [`password::django`]: Django's hashes
//!   (`inspect`, the importer's check of format and caps; `django::check`, the login's).
//! - [`token`]: JWT claims, issuing and strict verification; [`token::keys`] holds the keys (their
//!   generation and parsing in `token::keygen`), [`token::rotation`] moves them through their
//!   lifecycle on the clock, [`token::kek`] encrypts them at rest, [`token::verified`] remembers
//!   tokens whose signature already checked out, [`token::refresh`] makes, hashes and seals
//!   refresh tokens, [`token::client_secret`] makes and hashes service accounts' secrets,
//!   [`token::bearer`] holds the `Authorization: Bearer` rules ext_authz and forward-auth share.
//! - [`store`]: the [`store::Store`] trait; the SQL, split by domain (`store::sql::{users,
//!   sessions, keys, throttle, audit, service_accounts, revocations}`), generic over the database and implemented once; per
//!   database only connection set-up, migrations and the change feed (PostgreSQL
//!   `LISTEN/NOTIFY`, SQLite `change_log`). The row and value types are in `store::types`,
//!   re-exported from `store`.
//! - [`user`]: the user model and the rules for usernames, emails, roles (and a role from a group's
//!   name) and external ids.
//! - [`validate`]: the edge check of request text (length; no NUL, control, bidi or format
//!   characters), collecting every bad field of a request into one error.
//! - [`error`]: the crate's one [`Error`] type.
//! - [`telemetry`]: the `tracing` subscriber.
//! - [`readiness`]: started, database up, stopping, held nowhere else: what gRPC health, `/readyz`,
//!   the start-up gate, the key refresher and the drain read.
//! - [`http`]: the HTTP listener (JWKS, OpenID discovery, health, metrics, `http::oauth2`'s
//!   endpoints: `token` the client credentials grant, `introspect` RFC 7662, `revoke` RFC 7009,
//!   sharing one client authentication, form parser and error mapping; and `http::forward_auth`'s
//!   `/auth/verify`, forward-auth for nginx, Caddy and Traefik); adapter only. `http::openapi`
//!   serves their OpenAPI 3.1 document (`/openapi.json`), generated from the handlers with utoipa.
//! - [`metrics`]: the Prometheus series each app owns (on `prometheus-client`): RPC
//!   handles recorded lock-free, the subsystems' own counters read at scrape time.
//! - [`throttle`]: the login throttling policy (per login name and per client address);
//!   its counters live in the store.
//! - [`client_addr`]: the client's address: the peer, or a trusted proxy's `x-forwarded-for`.
//! - [`tls`]: TLS for both listeners from PEM files, optional client certificates (mutual TLS),
//!   and the pure `--admin-clients` check of a verified client certificate.
//! - [`revocations`]: the revocation hub behind `WatchRevocations`: change-feed changes become
//!   numbered revocation events with a bounded history and opaque cursors; the snapshot; each
//!   subscriber's bounded stream with heartbeats while the feed is trusted.
//! - [`net`]: connection limits for both listeners: a cap each, the opening (header-read)
//!   deadline and head size, accept-error backoff, the raised open-file limit; `net::guarded`
//!   is the stream wrapper that enforces the deadline and the gRPC idle timeout;
//!   `net::tls_accept` runs each connection's TLS handshake (in its own task, within the
//!   deadline) and guards the decrypted stream, so both limits read HTTP, not ciphertext.
//! - `fuzzing` (hidden): the fuzz targets' entry points (token, ext_authz `CheckRequest`, config
//!   file, password hash), called by `fuzz/` and by the test that replays `fuzz/corpus/`.

pub mod app;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod net;
pub mod password;
pub mod readiness;
pub mod revocations;
pub mod service;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod tls;
pub mod token;
pub mod user;
pub mod validate;

pub use app::App;
pub use config::Config;
pub use error::{Error, Result};

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The longest a source file may be (issue 10): past it, split the file
    /// into submodules by job.
    const MAX_SOURCE_LINES: usize = 700;

    /// Every `.rs` file under `dir`, recursively.
    fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                rust_files(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }

    #[test]
    fn no_source_file_is_over_seven_hundred_lines() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        assert!(files.len() > 50, "walked {}: {files:?}", src.display());
        files.sort();
        let long: Vec<String> = files
            .iter()
            .filter_map(|path| {
                let text = std::fs::read_to_string(path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let lines = text.lines().count();
                (lines > MAX_SOURCE_LINES).then(|| {
                    let shown = path.strip_prefix(&src).unwrap_or(path);
                    format!("src/{}: {lines} lines", shown.display())
                })
            })
            .collect();
        assert!(
            long.is_empty(),
            "over {MAX_SOURCE_LINES} lines; split into submodules by job: {}",
            long.join(", ")
        );
    }
}
