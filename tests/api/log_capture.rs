//! The suite's one process-wide `tracing` subscriber, installed by
//! [`install`] from `TestDb::new` and `spawn_app*`, so every test's traffic
//! is logged through it. It has two layers:
//!
//! - [`SpanCapture`] keeps authd's spans and events as field maps, for
//!   tests that check what a span carries (`rpc_spans.rs`);
//! - [`Scanner`] formats every event (message and fields) and every span's
//!   fields at the levels of [`FILTER`] and looks for secrets: a JWT
//!   (`eyJ...`), a refresh token (`rt_...`), a client secret
//!   (`authd_sa_...`), a PHC hash (`$argon2`), a Django hash
//!   (`pbkdf2_sha256$...`) or a
//!   test password ([`PASSWORD_MARKER`]). A hit is recorded with the secret
//!   masked, and every `TestApp` fails on drop while the list is not empty:
//!   any test whose traffic leaks a secret fails the suite.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::helpers::{Backend, PASSWORD, assert_code, spawn_app};

/// Every password the helpers use contains this (matched ignoring case, so
/// `PASSWORD.to_uppercase()` is caught too).
pub const PASSWORD_MARKER: &str = "pwmark7q";

/// What is logged, and so scanned: everything authd and the tests log, at
/// trace; sqlx's statement log and tonic/tower at debug. h2 and hyper stay
/// at info: at debug and trace they log every frame of every connection
/// (thousands of lines per test, slowing the suite severalfold) and see the
/// gRPC messages, where credentials travel, only as opaque DATA frames.
/// `AUTHD_TEST_LOG` replaces it (to measure the cost, or to look further).
pub const FILTER: &str =
    "warn,authd=trace,api=trace,sqlx=debug,tonic=debug,tower=debug,h2=info,hyper=info";

/// The global subscriber's shared state.
#[derive(Debug)]
pub struct Installed {
    /// Spans and events of authd, as field maps.
    pub spans: SpanCapture,
    /// Masked lines in which a secret was found.
    violations: Arc<Mutex<Vec<String>>>,
    /// Events and span records scanned, and how many came from authd.
    counts: Arc<Counts>,
}

/// How much the scanner has looked at.
#[derive(Debug, Default)]
pub struct Counts {
    /// Events and span records scanned.
    pub scanned: AtomicU64,
    /// Of those, the ones whose target is in authd itself.
    pub from_authd: AtomicU64,
}

/// Installs the suite's subscriber once per process and returns its state.
pub fn install() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let spans = SpanCapture::default();
        let violations = Arc::new(Mutex::new(Vec::new()));
        let counts = Arc::new(Counts::default());
        let subscriber = Registry::default()
            .with(spans.clone())
            .with(Scanner {
                violations: violations.clone(),
                counts: counts.clone(),
            })
            .with(EnvFilter::new(
                std::env::var("AUTHD_TEST_LOG").unwrap_or_else(|_| FILTER.to_owned()),
            ));
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the test binary");
        Installed {
            spans,
            violations,
            counts,
        }
    })
}

/// Panics, listing the masked lines, if any secret was ever logged.
#[track_caller]
pub fn assert_no_leaks() {
    let violations = install().violations.lock().unwrap();
    assert!(
        violations.is_empty(),
        "secrets were logged ({} lines, secrets masked):\n{}",
        violations.len(),
        violations.join("\n")
    );
}

/// The scanner's counters.
pub fn counts() -> &'static Counts {
    &install().counts
}

/// Every span (name and fields, merged over its life) and every event seen.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Open spans by id (the registry reuses ids once a span closes).
    spans: HashMap<u64, (String, HashMap<String, String>)>,
    /// Closed spans, moved here so a reused id cannot overwrite them.
    closed: Vec<(String, HashMap<String, String>)>,
    events: Vec<HashMap<String, String>>,
}

impl Recorded {
    /// The fields of every `rpc` span whose method is `method`, in no order.
    pub fn rpc_spans(&self, method: &str) -> Vec<&HashMap<String, String>> {
        self.spans
            .values()
            .chain(&self.closed)
            .filter(|(name, fields)| {
                name == "rpc" && fields.get("method").map(String::as_str) == Some(method)
            })
            .map(|(_, fields)| fields)
            .collect()
    }

    /// Every recorded field value, of spans and events alike.
    pub fn all_values(&self) -> impl Iterator<Item = &String> {
        self.spans
            .values()
            .chain(&self.closed)
            .flat_map(|(_, fields)| fields.values())
            .chain(self.events.iter().flat_map(HashMap::values))
    }
}

/// Records authd's spans and events (only authd's: sqlx and tonic would
/// make the memory grow with every test for nothing).
#[derive(Debug, Clone, Default)]
pub struct SpanCapture(pub Arc<Mutex<Recorded>>);

struct FieldsVisitor<'a>(&'a mut HashMap<String, String>);

impl Visit for FieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

fn is_authd(target: &str) -> bool {
    target == "authd" || target.starts_with("authd::")
}

impl<S: Subscriber> Layer<S> for SpanCapture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        if !is_authd(attrs.metadata().target()) {
            return;
        }
        let mut fields = HashMap::new();
        attrs.record(&mut FieldsVisitor(&mut fields));
        self.0
            .lock()
            .unwrap()
            .spans
            .insert(id.into_u64(), (attrs.metadata().name().to_owned(), fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut recorded = self.0.lock().unwrap();
        if let Some((_, fields)) = recorded.spans.get_mut(&id.into_u64()) {
            values.record(&mut FieldsVisitor(fields));
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let mut recorded = self.0.lock().unwrap();
        if let Some(span) = recorded.spans.remove(&id.into_u64()) {
            recorded.closed.push(span);
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !is_authd(event.metadata().target()) {
            return;
        }
        let mut fields = HashMap::new();
        event.record(&mut FieldsVisitor(&mut fields));
        self.0.lock().unwrap().events.push(fields);
    }
}

/// Formats events and span fields as a log line would show them and
/// records the lines that hold a secret.
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    violations: Arc<Mutex<Vec<String>>>,
    counts: Arc<Counts>,
}

/// `name=value` for every field, values as the fmt layer shows them.
struct LineVisitor<'a>(&'a mut String);

impl Visit for LineVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Scanner {
    fn scan(&self, target: &str, line: &str) {
        self.counts.scanned.fetch_add(1, Ordering::Relaxed);
        if is_authd(target) {
            self.counts.from_authd.fetch_add(1, Ordering::Relaxed);
        }
        let found = find_secrets(line);
        if !found.is_empty() {
            self.violations
                .lock()
                .unwrap()
                .push(format!("{target}:{}", mask(line, &found)));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Scanner {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut line = format!("span {}:", attrs.metadata().name());
        attrs.record(&mut LineVisitor(&mut line));
        self.scan(attrs.metadata().target(), &line);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut line = String::from("span record:");
        values.record(&mut LineVisitor(&mut line));
        let target = ctx.metadata(id).map_or("", |metadata| metadata.target());
        self.scan(target, &line);
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = format!("{}:", event.metadata().level());
        event.record(&mut LineVisitor(&mut line));
        self.scan(event.metadata().target(), &line);
    }
}

fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_')
}

/// Length of the run of base64url characters at the start of `bytes`.
fn token_run(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|&&b| is_token_char(b)).count()
}

/// The byte ranges of `line` that hold a secret, and what kind each is.
///
/// - a JWT: `eyJ` (base64url of `{"`) and at least 10 more base64url
///   characters, then a `.`; a random kid or id cannot match by chance;
/// - a refresh token: `rt_` and at least 20 base64url characters, not
///   inside a longer word (`insert_signing_key_...` is not one);
/// - a PHC hash: `$argon2`;
/// - a Django hash: `pbkdf2_sha256$`, `bcrypt$$`, `scrypt$`, ... at the start
///   of a word;
/// - a service account's client secret: `authd_sa_` and at least 20
///   base64url characters;
/// - a test password: [`PASSWORD_MARKER`], ignoring case.
pub fn find_secrets(line: &str) -> Vec<(&'static str, Range<usize>)> {
    let bytes = line.as_bytes();
    let mut found = Vec::new();
    for (start, _) in line.match_indices("eyJ") {
        if found
            .iter()
            .any(|(_, range): &(_, Range<usize>)| range.contains(&start))
        {
            // The payload of a JWT already found.
            continue;
        }
        let run = token_run(&bytes[start..]);
        if run >= 13 && bytes.get(start + run) == Some(&b'.') {
            let end = start + run + 1;
            let end = end
                + bytes[end..]
                    .iter()
                    .take_while(|&&b| is_token_char(b) || b == b'.')
                    .count();
            found.push(("JWT", start..end));
        }
    }
    for (start, _) in line.match_indices("rt_") {
        let boundary = start == 0 || !is_token_char(bytes[start - 1]);
        let run = token_run(&bytes[start..]);
        if boundary && run >= 3 + 20 {
            found.push(("refresh token", start..start + run));
        }
    }
    for (start, _) in line.match_indices("authd_sa_") {
        let boundary = start == 0 || !is_token_char(bytes[start - 1]);
        if boundary && token_run(&bytes[start..]) >= 9 + 20 {
            found.push(("client secret", start..start + token_run(&bytes[start..])));
        }
    }
    for (start, _) in line.match_indices("$argon2") {
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|&&b| !b.is_ascii_whitespace() && b != b'"')
                .count();
        found.push(("PHC hash", start..end));
    }
    // Django's encoded hashes (`argon2$...` holds `$argon2` already).
    for name in [
        "pbkdf2_sha256$",
        "pbkdf2_sha1$",
        "bcrypt_sha256$$",
        "bcrypt$$",
        "scrypt$",
        "md5$",
    ] {
        for (start, _) in line.match_indices(name) {
            let boundary = start == 0
                || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
            if boundary {
                let end = start
                    + bytes[start..]
                        .iter()
                        .take_while(|&&b| !b.is_ascii_whitespace() && b != b'"')
                        .count();
                found.push(("Django hash", start..end));
            }
        }
    }
    let lower = line.to_ascii_lowercase();
    for (start, _) in lower.match_indices(PASSWORD_MARKER) {
        found.push(("test password", start..start + PASSWORD_MARKER.len()));
    }
    found
}

/// `line` with every range in `found` replaced by `[<kind> masked]`.
fn mask(line: &str, found: &[(&'static str, Range<usize>)]) -> String {
    let mut ranges: Vec<_> = found.to_vec();
    ranges.sort_by_key(|(_, range)| range.start);
    let mut masked = String::with_capacity(line.len());
    let mut at = 0;
    for (kind, range) in ranges {
        if range.start < at {
            continue;
        }
        masked.push_str(&line[at..range.start]);
        let _ = write!(masked, "[{kind} masked]");
        at = range.end;
    }
    masked.push_str(&line[at..]);
    masked
}

on_both_backends!(a_scripted_session_leaks_no_secret_into_trace_logs);

#[test]
fn the_scanner_finds_planted_secrets_and_masks_them() {
    let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
    let refresh = "rt_Q2hhbmdlIHRoaXMgdG9rZW4gYmVmb3JlIHVzZQ";
    let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    let client_secret = "authd_sa_Q2hhbmdlIHRoaXMgc2VjcmV0IGJlZm9yZSB1c2U";
    let django = "pbkdf2_sha256$1000000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    for (kind, line) in [
        (
            "client secret",
            format!("DEBUG: client_secret={client_secret}"),
        ),
        ("JWT", format!("INFO: authorization=\"Bearer {jwt}\"")),
        ("refresh token", format!("DEBUG: refresh_token={refresh}")),
        ("PHC hash", format!("TRACE: row=User {{ hash: \"{phc}\" }}")),
        ("Django hash", format!("DEBUG: hash={django}")),
        ("test password", format!("INFO: password={PASSWORD}")),
        ("test password", PASSWORD.to_uppercase()),
    ] {
        let found = find_secrets(&line);
        assert_eq!(
            found.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            [kind],
            "{line}"
        );
        let masked = mask(&line, &found);
        for secret in [jwt, refresh, phc, client_secret, django, PASSWORD_MARKER] {
            assert!(!masked.contains(secret), "{masked}");
        }
        assert!(masked.contains(&format!("[{kind} masked]")), "{masked}");
    }
    // What authd does log is not mistaken for a secret.
    for line in [
        "DEBUG: db.statement=\"INSERT INTO refresh_tokens (hash) VALUES ($1)\"",
        "TRACE: task=insert_signing_key_if_absent_for_rotation",
        "INFO: kid=\"eyJ0eXAiOiJKV1QiLCJhbGci\" user_id=0190a5e4",
        "INFO: prefix=rt_ short=rt_abc",
        "INFO: secrets start with authd_sa_ (authd_sa_short)",
        "ERROR: stored password hash refused: pbkdf2_sha256 hash: the salt is empty",
        "INFO: detail=\"Django bcrypt hash replaced by Argon2id\" my_md5$x",
    ] {
        assert!(find_secrets(line).is_empty(), "{line}");
    }

    // And through a real subscriber: a planted event is caught by a
    // scanner of its own (the suite's list stays clean).
    let scanner = Scanner::default();
    let subscriber = Registry::default().with(scanner.clone());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("planted", token = jwt);
        let _entered = span.enter();
        tracing::info!(password = PASSWORD, "planted");
        tracing::warn!("stored {phc}");
    });
    let violations = scanner.violations.lock().unwrap();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(
        violations.iter().all(|v| v.contains("masked]")
            && !v.contains(jwt)
            && !v.contains(phc)
            && !v.to_ascii_lowercase().contains(PASSWORD_MARKER)),
        "{violations:?}"
    );
}

/// One user's whole life through every door, with the subscriber at trace:
/// nothing secret reaches a log line, and the scanner did see the traffic.
async fn a_scripted_session_leaks_no_secret_into_trace_logs(backend: Backend) {
    use authd::grpc::pb;
    use secrecy::SecretString;

    let app = spawn_app(backend).await;
    let before = counts().from_authd.load(Ordering::Relaxed);
    let alice = app.create_user("alice", &["admin"]).await;

    let login = app.login("alice", PASSWORD).await.expect("login");
    let wrong = format!("wrong {PASSWORD_MARKER} password");
    assert_code(
        app.login("alice", &wrong).await,
        tonic::Code::Unauthenticated,
    );
    assert_code(
        app.login("mallory", PASSWORD).await,
        tonic::Code::Unauthenticated,
    );

    let refreshed = app
        .client
        .clone()
        .refresh(pb::RefreshRequest {
            refresh_token: login.refresh_token.clone(),
        })
        .await
        .expect("refresh")
        .into_inner();
    assert!(app.verify(&refreshed.access_token).await.valid);
    // The old refresh token again: a reuse, refused.
    let _ = app
        .client
        .clone()
        .refresh(pb::RefreshRequest {
            refresh_token: login.refresh_token.clone(),
        })
        .await;
    let second = app.login("alice", PASSWORD).await.expect("login again");
    assert!(app.verify(&second.access_token).await.valid);
    let bearer = format!("Bearer {}", second.access_token);
    app.get_user(
        Some(&bearer),
        Some(pb::get_user_request::Selector::Username("alice".into())),
    )
    .await
    .expect("GetUser");
    assert_code(
        app.get_user(Some("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."), None)
            .await,
        tonic::Code::Unauthenticated,
    );

    check_allows(&app, &bearer).await;

    app.core
        .accounts()
        .set_password(
            "alice",
            SecretString::from(format!("new {PASSWORD_MARKER} password")),
            authd::clock::now_unix(),
        )
        .await
        .expect("set_password");
    assert!(!app.verify(&second.access_token).await.valid);
    app.client
        .clone()
        .logout(pb::LogoutRequest {
            refresh_token: second.refresh_token.clone(),
        })
        .await
        .expect("logout");

    let seen = counts().from_authd.load(Ordering::Relaxed) - before;
    assert!(
        seen >= 20,
        "the scanner saw only {seen} authd events and spans: the capture is not wired"
    );
    let recorded = install().spans.0.lock().unwrap();
    assert!(
        recorded
            .rpc_spans("Login")
            .iter()
            .any(|f| f.get("user_id") == Some(&alice.id)),
        "alice's login was seen"
    );
    drop(recorded);
    assert_no_leaks();
}

/// Asks ext_authz `Check` about `bearer`, which must be allowed.
async fn check_allows(app: &crate::helpers::TestApp, bearer: &str) {
    use authd::grpc::ext_authz::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
    use authd::grpc::ext_authz::pb::envoy::service::auth::v3::{
        AttributeContext, CheckRequest, attribute_context,
    };

    let check = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                http: Some(attribute_context::HttpRequest {
                    method: "GET".into(),
                    path: "/".into(),
                    headers: [("authorization".to_owned(), bearer.to_owned())].into(),
                    ..attribute_context::HttpRequest::default()
                }),
            }),
        }),
    };
    let response = AuthorizationClient::new(app.channel.clone())
        .check(check)
        .await
        .expect("Check")
        .into_inner();
    assert_eq!(response.status.map(|s| s.code), Some(0));
}
