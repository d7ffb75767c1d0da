//! Prometheus metrics: the series authd exports and their text exposition
//! (format 0.0.4) for `GET /metrics`, built on `prometheus-client`.
//!
//! This module owns the series, their names and the bucket layout; it does
//! no I/O beyond reading `/proc/self` for the process series. Each [`App`]
//! owns one [`Metrics`] (its own registry), so every test server's
//! `/metrics` shows exactly its own counts.
//!
//! Two ways in, chosen per series:
//! - **Pushed on the request path, lock-free.** Every handle for the fixed
//!   label sets (method x gRPC code, login outcome) is created once when the
//!   registry is built; recording is an atomic add on a counter plus the
//!   histogram's own per-series lock. No map is looked up and no
//!   registry-wide lock is taken per call.
//! - **Pulled at scrape time.** The subsystems keep plain atomic counters and
//!   gauges they already own (hashing permits and queue, state cache and
//!   change feed, verified-token cache, key lifecycle events, database pool);
//!   a collector reads them when `/metrics` is scraped. `password`, `cache`,
//!   `token` and `store` therefore do not depend on this module or on the
//!   metrics crate. The one exception is the hash queue wait, a histogram:
//!   the hasher calls an observer closure handed to it by the app.
//!
//! Latency histograms export their sums in whole milliseconds
//! ([`coarse`]): `/metrics` is public on the HTTP port, and a finer sum
//! would time the server's side of a caller's own request.
//!
//! Label values come only from fixed sets (method names, gRPC codes,
//! outcomes, kinds), never from input, so the number of series is bounded.
//! RPC series appear once they have been observed at least once.
//!
//! Series:
//! - `authd_rpc_requests_total{method,code}` and
//!   `authd_rpc_duration_seconds{method,code}` (histogram);
//! - `authd_logins_total{outcome}`: success, invalid_credentials,
//!   invalid_request, throttled, error;
//! - `authd_hash_permits_in_use`, `authd_hash_permits`, `authd_hash_queue_depth`
//!   (gauges), `authd_hash_runs_total` and `authd_hash_queue_wait_seconds`
//!   (histogram);
//! - `authd_key_rotation_events_total{event}`: published, promoted, retired;
//! - `authd_state_cache_{hits,misses}_total{kind}` and
//!   `authd_state_cache_entries{kind}` (kind: user, session);
//! - `authd_verified_token_cache_{hits,misses}_total`, `authd_verified_token_cache_entries`;
//! - `authd_change_feed_reconnects_total`, `authd_change_feed_last_item_age_seconds`;
//! - `authd_db_pool_connections{state}` (in_use, idle), `authd_db_pool_max_connections`;
//! - `authd_revocation_subscribers` (gauge), `authd_revocation_subscriber_resets_total{reason}`
//!   (too_slow, resync);
//! - `authd_build_info{version}` (always 1);
//! - on Linux, `process_cpu_seconds_total`, `process_resident_memory_bytes`,
//!   `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
//!   `process_start_time_seconds` (the names every Prometheus client uses).
//!
//! [`App`]: crate::App

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tonic::Code;

use crate::cache::StateCache;
use crate::password::PasswordHasher;
use crate::revocations::RevocationHub;
use crate::store::Store;
use crate::token::TokenService;
use crate::token::rotation::KeyManager;

pub mod coarse;
mod scrape;

pub use coarse::CoarseHistogram;
/// Upper bounds of the latency buckets, in seconds: a 1-2.5-5 ladder from
/// 25 µs to 10 s. Verify takes 0.1-0.3 ms and a Login tens to hundreds of
/// milliseconds, so both spread over several buckets; a hash that waited the
/// whole default queue timeout still lands below the top.
pub const LATENCY_BUCKETS: [f64; 18] = [
    25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3,
    500e-3, 1.0, 2.5, 5.0, 10.0,
];

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A histogram with [`LATENCY_BUCKETS`] whose exported sum is in whole
/// milliseconds ([`coarse`]).
#[must_use]
pub fn latency_histogram() -> CoarseHistogram {
    CoarseHistogram::default()
}

/// The RPCs authd serves: the `method` label of the RPC series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `AuthService/Login`.
    Login,
    /// `AuthService/Verify`.
    Verify,
    /// `AuthService/GetUser`.
    GetUser,
    /// `AuthService/Refresh`.
    Refresh,
    /// `AuthService/Logout`.
    Logout,
    /// `AuthService/LogoutAll`.
    LogoutAll,
    /// `AuthService/ListSessions`.
    ListSessions,
    /// `AuthService/RevokeSessions`.
    RevokeSessions,
    /// `AuthService/GetJwks`.
    GetJwks,
    /// Envoy's `Authorization/Check` (ext_authz).
    Check,
    /// `AuthService/ChangePassword`.
    ChangePassword,
    /// `AuthService/IssueServiceToken`.
    IssueServiceToken,
    /// `AdminService/CreateUser`.
    CreateUser,
    /// `AdminService/ListUsers`.
    ListUsers,
    /// `AdminService/UpdateUser`.
    UpdateUser,
    /// `AdminService/SetPassword`.
    SetPassword,
    /// `AdminService/DeleteUser`.
    DeleteUser,
    /// `AdminService/UnlockLogin`.
    UnlockLogin,
    /// `AdminService/ListAuditEvents`.
    ListAuditEvents,
    /// `AdminService/CreateServiceAccount`.
    CreateServiceAccount,
    /// `AdminService/ListServiceAccounts`.
    ListServiceAccounts,
    /// `AdminService/RotateServiceAccountSecret`.
    RotateServiceAccountSecret,
    /// `AdminService/DeleteServiceAccount`.
    DeleteServiceAccount,
    /// `AuthService/WatchRevocations` (the opening of the stream).
    WatchRevocations,
    /// `POST /oauth2/token` on the HTTP listener (client credentials).
    OAuth2Token,
    /// `POST /oauth2/introspect` on the HTTP listener (RFC 7662).
    OAuth2Introspect,
    /// `POST /oauth2/revoke` on the HTTP listener (RFC 7009).
    OAuth2Revoke,
    /// `/auth/verify` on the HTTP listener (forward-auth for nginx, Caddy, Traefik).
    ForwardAuth,
}

impl Method {
    /// Every method, in label order.
    pub const ALL: [Self; 28] = [
        Self::Login,
        Self::Verify,
        Self::GetUser,
        Self::Refresh,
        Self::Logout,
        Self::LogoutAll,
        Self::ListSessions,
        Self::RevokeSessions,
        Self::GetJwks,
        Self::Check,
        Self::ChangePassword,
        Self::IssueServiceToken,
        Self::CreateUser,
        Self::ListUsers,
        Self::UpdateUser,
        Self::SetPassword,
        Self::DeleteUser,
        Self::UnlockLogin,
        Self::ListAuditEvents,
        Self::CreateServiceAccount,
        Self::ListServiceAccounts,
        Self::RotateServiceAccountSecret,
        Self::DeleteServiceAccount,
        Self::WatchRevocations,
        Self::OAuth2Token,
        Self::OAuth2Introspect,
        Self::OAuth2Revoke,
        Self::ForwardAuth,
    ];

    /// The method's name, as in the `.proto` and the `method` label.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "Login",
            Self::Verify => "Verify",
            Self::GetUser => "GetUser",
            Self::Refresh => "Refresh",
            Self::Logout => "Logout",
            Self::LogoutAll => "LogoutAll",
            Self::ListSessions => "ListSessions",
            Self::RevokeSessions => "RevokeSessions",
            Self::GetJwks => "GetJwks",
            Self::Check => "Check",
            Self::ChangePassword => "ChangePassword",
            Self::IssueServiceToken => "IssueServiceToken",
            Self::CreateUser => "CreateUser",
            Self::ListUsers => "ListUsers",
            Self::UpdateUser => "UpdateUser",
            Self::SetPassword => "SetPassword",
            Self::DeleteUser => "DeleteUser",
            Self::UnlockLogin => "UnlockLogin",
            Self::ListAuditEvents => "ListAuditEvents",
            Self::CreateServiceAccount => "CreateServiceAccount",
            Self::ListServiceAccounts => "ListServiceAccounts",
            Self::RotateServiceAccountSecret => "RotateServiceAccountSecret",
            Self::DeleteServiceAccount => "DeleteServiceAccount",
            Self::WatchRevocations => "WatchRevocations",
            Self::OAuth2Token => "OAuth2Token",
            Self::OAuth2Introspect => "OAuth2Introspect",
            Self::OAuth2Revoke => "OAuth2Revoke",
            Self::ForwardAuth => "ForwardAuth",
        }
    }
}

/// Every gRPC code, indexed by its number (0..=16).
const CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

/// The `outcome` label of `authd_logins_total`, in index order.
const LOGIN_OUTCOMES: [&str; 5] = [
    "success",
    "invalid_credentials",
    "invalid_request",
    "throttled",
    "error",
];

fn login_outcome(code: Code) -> usize {
    match code {
        Code::Ok => 0,
        Code::Unauthenticated => 1,
        Code::InvalidArgument => 2,
        Code::ResourceExhausted => 3,
        _ => 4,
    }
}

/// One method x code pair's handles.
#[derive(Debug)]
struct RpcSeries {
    labels: [(&'static str, &'static str); 2],
    requests: Counter,
    duration: CoarseHistogram,
}

/// Every method x code pair, created up front, so recording never looks
/// anything up: the index is `method * 17 + code`.
#[derive(Debug)]
struct RpcTable {
    series: Vec<RpcSeries>,
    logins: [Counter; LOGIN_OUTCOMES.len()],
}

impl RpcTable {
    fn new() -> Self {
        let mut series = Vec::with_capacity(Method::ALL.len() * CODES.len());
        for method in Method::ALL {
            for code in CODES {
                series.push(RpcSeries {
                    labels: [("method", method.name()), ("code", code_name(code))],
                    requests: Counter::default(),
                    duration: latency_histogram(),
                });
            }
        }
        Self {
            series,
            logins: Default::default(),
        }
    }

    /// The series observed at least once (the others are not exported).
    fn used(&self) -> impl Iterator<Item = &RpcSeries> {
        self.series.iter().filter(|s| s.requests.get() > 0)
    }
}

/// The recording side of the RPC series, handed to the gRPC adapters;
/// cheap to clone.
#[derive(Debug, Clone)]
pub struct RpcMetrics {
    table: Arc<RpcTable>,
}

impl Default for RpcMetrics {
    /// Handles registered nowhere: what an adapter records before (or
    /// without) being given an app's metrics is simply not exported.
    fn default() -> Self {
        Self {
            table: Arc::new(RpcTable::new()),
        }
    }
}

impl RpcMetrics {
    /// Records one finished RPC; a Login also counts as a login outcome.
    pub fn observe(&self, method: Method, code: Code, elapsed: Duration) {
        let code_index = usize::try_from(i32::from(code)).unwrap_or(2);
        let index = method as usize * CODES.len() + code_index.min(CODES.len() - 1);
        if let Some(series) = self.table.series.get(index) {
            series.duration.observe(elapsed);
            series.requests.inc();
        }
        if method == Method::Login {
            self.table.logins[login_outcome(code)].inc();
        }
    }
}

/// `authd_rpc_requests_total`: the used series of the table.
#[derive(Debug)]
struct RpcRequests(Arc<RpcTable>);

impl EncodeMetric for RpcRequests {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        for series in self.0.used() {
            series
                .requests
                .encode(encoder.encode_family(&series.labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// `authd_rpc_duration_seconds`: the used series of the table.
#[derive(Debug)]
struct RpcDurations(Arc<RpcTable>);

impl EncodeMetric for RpcDurations {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        for series in self.0.used() {
            series
                .duration
                .encode(encoder.encode_family(&series.labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// `authd_logins_total`: every outcome, zero or not.
#[derive(Debug)]
struct Logins(Arc<RpcTable>);

impl EncodeMetric for Logins {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        for (outcome, counter) in LOGIN_OUTCOMES.iter().zip(&self.0.logins) {
            counter.encode(encoder.encode_family(&[("outcome", *outcome)])?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// What the scrape-time collector reads: the subsystems of one app.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Hashing permits, queue and runs.
    pub hasher: PasswordHasher,
    /// The state cache and its change feed.
    pub cache: Arc<StateCache>,
    /// The token service, for its verified-token cache.
    pub tokens: TokenService,
    /// Key lifecycle events.
    pub keys: KeyManager,
    /// The database pool.
    pub store: Arc<dyn Store>,
    /// The revocation stream's subscribers.
    pub revocations: Arc<RevocationHub>,
}

/// Every series one app exports; cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    rpc: RpcMetrics,
}

impl Metrics {
    /// A registry over `sources`, with `hash_wait` (see
    /// [`latency_histogram`]; its observer is handed to the hasher) as
    /// `authd_hash_queue_wait_seconds`.
    #[must_use]
    pub fn new(sources: Sources, hash_wait: CoarseHistogram) -> Self {
        let rpc = RpcMetrics::default();
        let mut registry = Registry::default();
        registry.register(
            "authd_rpc_requests",
            "gRPC calls handled, by method and status code",
            RpcRequests(Arc::clone(&rpc.table)),
        );
        registry.register(
            "authd_rpc_duration_seconds",
            "gRPC call latency, by method and status code",
            RpcDurations(Arc::clone(&rpc.table)),
        );
        registry.register(
            "authd_logins",
            "Login attempts, by outcome",
            Logins(Arc::clone(&rpc.table)),
        );
        registry.register(
            "authd_hash_queue_wait_seconds",
            "Time password hashes waited for a permit",
            hash_wait,
        );
        registry.register(
            "authd_build",
            "The running authd's version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register_collector(Box::new(scrape::Pulled(sources)));
        #[cfg(target_os = "linux")]
        registry.register_collector(Box::new(scrape::ProcessCollector));
        Self {
            registry: Arc::new(registry),
            rpc,
        }
    }

    /// The handles the gRPC adapters record into.
    #[must_use]
    pub fn rpc(&self) -> RpcMetrics {
        self.rpc.clone()
    }

    /// The text exposition of every series ([`CONTENT_TYPE`]).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            // Only a collector can fail (writing to a String cannot): serve
            // what was rendered rather than nothing.
            tracing::error!(error = %e, "rendering metrics failed");
        }
        out
    }
}

/// The canonical name of a gRPC code, as used in labels.
#[must_use]
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry holding only the pushed RPC series.
    fn rpc_only() -> (RpcMetrics, Registry) {
        let rpc = RpcMetrics::default();
        let mut registry = Registry::default();
        registry.register(
            "authd_rpc_requests",
            "gRPC calls",
            RpcRequests(Arc::clone(&rpc.table)),
        );
        registry.register(
            "authd_rpc_duration_seconds",
            "gRPC call latency",
            RpcDurations(Arc::clone(&rpc.table)),
        );
        registry.register("authd_logins", "Logins", Logins(Arc::clone(&rpc.table)));
        (rpc, registry)
    }

    fn render(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn histograms_render_cumulative_buckets_from_25_microseconds_to_10_seconds() {
        let (rpc, registry) = rpc_only();
        rpc.observe(Method::Verify, Code::Ok, Duration::from_micros(180));
        rpc.observe(Method::Login, Code::Ok, Duration::from_millis(3));
        rpc.observe(
            Method::Login,
            Code::Unauthenticated,
            Duration::from_secs(11),
        );
        let text = render(&registry);
        let verify = r#"authd_rpc_duration_seconds_bucket{method="Verify",code="OK",le="#;
        assert!(
            text.contains(&format!("{verify}\"0.0001\"}} 0\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{verify}\"0.00025\"}} 1\n")),
            "{text}"
        );
        assert!(text.contains(
            "authd_rpc_duration_seconds_bucket{method=\"Login\",code=\"OK\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "authd_rpc_duration_seconds_bucket{method=\"Login\",code=\"UNAUTHENTICATED\",le=\"10\"} 0\n"
        ), "{text}");
        assert!(text.contains(
            "authd_rpc_duration_seconds_bucket{method=\"Login\",code=\"UNAUTHENTICATED\",le=\"+Inf\"} 1\n"
        ));
        assert!(text.contains("authd_rpc_requests_total{method=\"Login\",code=\"OK\"} 1\n"));
        assert!(text.contains("authd_logins_total{outcome=\"invalid_credentials\"} 1\n"));
        assert!(text.contains("authd_logins_total{outcome=\"throttled\"} 0\n"));
        assert!(text.contains("# TYPE authd_rpc_requests_total counter\n"));
        assert!(text.contains("# TYPE authd_rpc_duration_seconds histogram\n"));
    }

    #[test]
    fn only_observed_rpc_series_are_exported() {
        let (rpc, registry) = rpc_only();
        rpc.observe(Method::Check, Code::PermissionDenied, Duration::ZERO);
        let text = render(&registry);
        let requests: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("authd_rpc_requests_total{"))
            .collect();
        assert_eq!(
            requests,
            ["authd_rpc_requests_total{method=\"Check\",code=\"PERMISSION_DENIED\"} 1"]
        );
    }

    #[test]
    fn the_bucket_ladder_is_increasing_and_spans_25_microseconds_to_10_seconds() {
        assert!(LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert!((LATENCY_BUCKETS[0] - 25e-6).abs() < f64::EPSILON);
        assert!((LATENCY_BUCKETS[LATENCY_BUCKETS.len() - 1] - 10.0).abs() < f64::EPSILON);
        assert!(
            LATENCY_BUCKETS.iter().filter(|&&le| le < 1e-3).count() >= 4,
            "a Verify (0.1-0.3 ms) spreads over several buckets"
        );
    }

    #[test]
    fn every_code_has_its_own_series() {
        for (i, code) in CODES.iter().enumerate() {
            assert_eq!(usize::try_from(i32::from(*code)).unwrap(), i);
        }
    }
}
