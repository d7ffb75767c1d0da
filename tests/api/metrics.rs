//! `/metrics`: what operators scrape, parsed the way Prometheus tooling
//! parses it, and the helpers other tests use to observe authd through its
//! metrics instead of its internals.

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};
use crate::http::{get, http};

on_both_backends!(
    metrics_are_valid_for_the_prometheus_client_parser_and_have_every_series,
    a_verify_lands_in_a_latency_bucket_under_one_millisecond,
    latency_sums_are_whole_milliseconds_so_a_scrape_cannot_time_one_call,
    repeated_verifies_show_as_cache_hits,
    the_database_pool_and_change_feed_are_reported,
);

/// One scrape of an app's `/metrics`.
pub struct Scrape {
    pub text: String,
}

impl Scrape {
    /// The value of `series` (name and labels exactly as exported), if present.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// The value of `series`, which must be present.
    #[track_caller]
    pub fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("no series {series} in\n{}", self.text))
    }

    /// The sum over every labelled series of `name` (`name{...} v` lines).
    pub fn sum(&self, name: &str) -> f64 {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix('{'))
            .filter_map(|rest| rest.rsplit_once("} ")?.1.parse::<f64>().ok())
            .sum()
    }
}

impl TestApp {
    /// Scrapes this app's `/metrics`.
    pub async fn scrape(&self) -> Scrape {
        let response = get(http(self), "/metrics").await;
        assert_eq!(response.status, 200, "{}", response.body);
        Scrape {
            text: response.body,
        }
    }

    /// One series of this app's `/metrics` (which must be present).
    pub async fn metric(&self, series: &str) -> f64 {
        self.scrape().await.value(series)
    }

    /// Argon2 computations this app has started (`authd_hash_runs_total`).
    pub async fn hash_runs(&self) -> u64 {
        count(self.metric("authd_hash_runs_total").await)
    }

    /// Hashing permits held now (`authd_hash_permits_in_use`).
    pub async fn hash_permits_in_use(&self) -> u64 {
        count(self.metric("authd_hash_permits_in_use").await)
    }

    /// Logins waiting for a hashing permit now (`authd_hash_queue_depth`).
    pub async fn hash_queue_depth(&self) -> u64 {
        count(self.metric("authd_hash_queue_depth").await)
    }

    /// Verify calls answered by the verified-token cache
    /// (`authd_verified_token_cache_hits_total`).
    pub async fn verified_cache_hits(&self) -> u64 {
        count(self.metric("authd_verified_token_cache_hits_total").await)
    }

    /// State cache lookups that went to the database, users and sessions
    /// together (`authd_state_cache_misses_total`).
    pub async fn state_cache_misses(&self) -> u64 {
        count(self.scrape().await.sum("authd_state_cache_misses_total"))
    }
}

/// A counter's value as the integer it is.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn count(value: f64) -> u64 {
    assert!(value >= 0.0 && value.fract() == 0.0, "not a count: {value}");
    value as u64
}

/// Parses `text` with `prometheus_client.parser`; returns the families it saw.
fn parse_with_prometheus_client(text: &str) -> serde_json::Value {
    crate::helpers::run_python_check(
        "parse_metrics.py",
        &[],
        text,
        "prometheus-client",
        "prometheus_client refused /metrics",
    )
}

/// Every family authd exports, with its type as the parser names it
/// (counters lose their `_total`, as in the Prometheus data model).
const FAMILIES: &[(&str, &str)] = &[
    ("authd_rpc_requests", "counter"),
    ("authd_rpc_duration_seconds", "histogram"),
    ("authd_logins", "counter"),
    ("authd_hash_permits_in_use", "gauge"),
    ("authd_hash_permits", "gauge"),
    ("authd_hash_queue_depth", "gauge"),
    ("authd_hash_runs", "counter"),
    ("authd_hash_queue_wait_seconds", "histogram"),
    ("authd_key_rotation_events", "counter"),
    ("authd_state_cache_hits", "counter"),
    ("authd_state_cache_misses", "counter"),
    ("authd_state_cache_entries", "gauge"),
    ("authd_change_feed_reconnects", "counter"),
    ("authd_change_feed_last_item_age_seconds", "gauge"),
    ("authd_verified_token_cache_hits", "counter"),
    ("authd_verified_token_cache_misses", "counter"),
    ("authd_verified_token_cache_entries", "gauge"),
    ("authd_db_pool_connections", "gauge"),
    ("authd_db_pool_max_connections", "gauge"),
    ("authd_build_info", "gauge"),
    ("authd_revocation_subscribers", "gauge"),
    ("authd_revocation_subscriber_resets", "counter"),
    ("process_cpu_seconds", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_virtual_memory_bytes", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
];

async fn metrics_are_valid_for_the_prometheus_client_parser_and_have_every_series(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    assert!(app.login("alice", "wrong password!").await.is_err());
    app.verify(&token).await;
    app.keys
        .rotate(authd::clock::now_unix())
        .await
        .expect("rotate");

    let scrape = app.scrape().await;
    let families = parse_with_prometheus_client(&scrape.text);
    for (name, kind) in FAMILIES {
        let family = &families[*name];
        assert_eq!(
            family["type"], *kind,
            "{name} is a {kind} for prometheus_client; parsed: {families}"
        );
        assert!(
            !family["samples"].as_array().expect("samples").is_empty(),
            "{name} has samples"
        );
    }
    let unknown: Vec<_> = families
        .as_object()
        .expect("families")
        .keys()
        .filter(|name| FAMILIES.iter().all(|(known, _)| known != name))
        .collect();
    assert!(unknown.is_empty(), "undocumented families: {unknown:?}");

    let samples = |name: &str| families[name]["samples"].as_array().cloned().unwrap();
    let build = &samples("authd_build_info")[0];
    assert_eq!(build[1]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(build[2], 1.0);
    let published = samples("authd_key_rotation_events")
        .into_iter()
        .find(|s| s[1]["event"] == "published")
        .expect("a published series");
    assert!(published[2].as_f64().unwrap() >= 1.0, "{published}");
    assert!(scrape.value("process_resident_memory_bytes") > 0.0);
    assert!(scrape.value("process_open_fds") > 0.0);
    let started = scrape.value("process_start_time_seconds");
    #[allow(clippy::cast_precision_loss)]
    let now = authd::clock::now_unix() as f64;
    assert!(
        started <= now + 1.0 && started > now - 3600.0,
        "the test process started within the hour: {started} vs {now}"
    );
    assert!(!scrape.text.contains(PASSWORD));
}

async fn a_verify_lands_in_a_latency_bucket_under_one_millisecond(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    for _ in 0..20 {
        assert!(app.verify(&token).await.valid);
    }
    let scrape = app.scrape().await;
    let under_1ms =
        scrape.value(r#"authd_rpc_duration_seconds_bucket{method="Verify",code="OK",le="0.001"}"#);
    let all =
        scrape.value(r#"authd_rpc_duration_seconds_bucket{method="Verify",code="OK",le="+Inf"}"#);
    assert!(
        (all - 20.0).abs() < f64::EPSILON,
        "this app's own count: {all}"
    );
    // A warm Verify takes well under a millisecond; even on a loaded
    // machine most of twenty do, and the buckets below 1 ms tell them apart.
    assert!(under_1ms >= 1.0, "{}", scrape.text);
    assert!(
        scrape
            .get(r#"authd_rpc_duration_seconds_bucket{method="Verify",code="OK",le="2.5e-05"}"#)
            .is_some()
    );
}

/// `/metrics` is public on the HTTP port: a sum to the nanosecond would let a
/// caller time the server's side of their own call by scraping before and
/// after it. Sums are whole milliseconds; the detail is in the buckets.
async fn latency_sums_are_whole_milliseconds_so_a_scrape_cannot_time_one_call(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    assert!(app.verify(&token).await.valid);
    let scrape = app.scrape().await;
    let sums: Vec<(&str, f64)> = scrape
        .text
        .lines()
        .filter(|l| l.starts_with("authd_") && l.contains("_seconds_sum"))
        .filter_map(|l| Some((l, l.rsplit_once(' ')?.1.parse().ok()?)))
        .collect();
    assert!(
        sums.iter().any(|(l, _)| l.contains(r#"method="Verify""#)),
        "{}",
        scrape.text
    );
    for (line, seconds) in sums {
        let millis = seconds * 1000.0;
        assert!(
            (millis - millis.round()).abs() < 1e-6,
            "a sum finer than a millisecond: {line}"
        );
    }
}

async fn repeated_verifies_show_as_cache_hits(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    app.wait_for_feed().await;
    assert!(app.verify(&token).await.valid);
    let before = app.scrape().await;
    for _ in 0..5 {
        assert!(app.verify(&token).await.valid);
    }
    let after = app.scrape().await;
    let delta = |series: &str| after.value(series) - before.value(series);
    assert!((delta("authd_verified_token_cache_hits_total") - 5.0).abs() < f64::EPSILON);
    assert!(delta("authd_verified_token_cache_misses_total").abs() < f64::EPSILON);
    assert!(after.value("authd_verified_token_cache_entries") >= 1.0);
    assert!(delta(r#"authd_state_cache_hits_total{kind="session"}"#) >= 5.0);
    assert!(delta(r#"authd_state_cache_hits_total{kind="user"}"#) >= 5.0);
    assert!(
        (after.sum("authd_state_cache_misses_total")
            - before.sum("authd_state_cache_misses_total"))
        .abs()
            < f64::EPSILON
    );
    assert!(after.value(r#"authd_state_cache_entries{kind="session"}"#) >= 1.0);
}

async fn the_database_pool_and_change_feed_are_reported(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.admin.store.database_max_connections = 7)
        .spawn()
        .await;
    app.wait_for_feed().await;
    let scrape = app.scrape().await;
    let max = scrape.value("authd_db_pool_max_connections");
    // An in-memory SQLite keeps one; a file and PostgreSQL take the setting.
    assert!((max - 7.0).abs() < f64::EPSILON, "{max}");
    let open = scrape.value(r#"authd_db_pool_connections{state="in_use"}"#)
        + scrape.value(r#"authd_db_pool_connections{state="idle"}"#);
    assert!((1.0..=7.0).contains(&open), "{open}");
    let age = scrape.value("authd_change_feed_last_item_age_seconds");
    assert!(
        (0.0..10.0).contains(&age),
        "the feed was heard from just now: {age}"
    );
    assert!(scrape.value("authd_change_feed_reconnects_total") >= 0.0);
}
