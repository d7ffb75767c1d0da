//! Prometheus metrics: the counters and histograms authd keeps, and their
//! text exposition (format 0.0.4) for `GET /metrics`.
//!
//! This module owns the series and their names; it does no I/O. The
//! registry is process-wide, as in Prometheus client libraries: one process
//! is one scrape target, and recording stays a one-liner at each call site
//! instead of a handle threaded through every adapter. (Tests that run
//! several servers in one process therefore share it and assert on series
//! being present and growing, not on exact totals.) Label values come only
//! from fixed sets (method names, gRPC codes, outcomes), never from input,
//! so the number of series is bounded.
//!
//! Series:
//! - `authd_rpc_requests_total{method,code}` and
//!   `authd_rpc_duration_seconds{method,code}` (histogram);
//! - `authd_logins_total{outcome}`: success, invalid_credentials,
//!   invalid_request, throttled, error;
//! - `authd_hash_permits_in_use`, `authd_hash_permits` (gauges) and
//!   `authd_hash_queue_wait_seconds` (histogram);
//! - `authd_key_rotation_events_total{event}`: published, promoted, retired.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tonic::Code;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Count per bucket (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|&le| seconds <= le) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (le, n) in BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Every series authd exports.
#[derive(Debug)]
pub struct Metrics {
    rpcs: Mutex<BTreeMap<(&'static str, &'static str), Histogram>>,
    logins: Mutex<BTreeMap<&'static str, u64>>,
    hash_wait: Mutex<Option<Histogram>>,
    key_events: Mutex<BTreeMap<&'static str, u64>>,
}

/// Point-in-time values read when rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Hashing permits held right now.
    pub hash_permits_in_use: usize,
    /// Hashing permits in total (`--hash-concurrency`).
    pub hash_permits: usize,
}

static GLOBAL: Metrics = Metrics {
    rpcs: Mutex::new(BTreeMap::new()),
    logins: Mutex::new(BTreeMap::new()),
    hash_wait: Mutex::new(None),
    key_events: Mutex::new(BTreeMap::new()),
};

/// The process-wide metrics.
#[must_use]
pub fn global() -> &'static Metrics {
    &GLOBAL
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters; still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// Records one finished RPC; a Login also counts as a login outcome.
    pub fn observe_rpc(&self, method: &'static str, code: Code, elapsed: Duration) {
        lock(&self.rpcs)
            .entry((method, code_name(code)))
            .or_default()
            .observe(elapsed.as_secs_f64());
        if method == "Login" {
            let outcome = match code {
                Code::Ok => "success",
                Code::Unauthenticated => "invalid_credentials",
                Code::InvalidArgument => "invalid_request",
                Code::ResourceExhausted => "throttled",
                _ => "error",
            };
            *lock(&self.logins).entry(outcome).or_default() += 1;
        }
    }

    /// Records how long a password hash waited for a permit.
    pub fn observe_hash_wait(&self, waited: Duration) {
        lock(&self.hash_wait)
            .get_or_insert_with(Histogram::default)
            .observe(waited.as_secs_f64());
    }

    /// Counts a key lifecycle event (`published`, `promoted`, `retired`).
    pub fn key_event(&self, event: &'static str) {
        *lock(&self.key_events).entry(event).or_default() += 1;
    }

    /// The text exposition of every series.
    #[must_use]
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::new();
        let rpcs = lock(&self.rpcs).clone();
        out.push_str(
            "# HELP authd_rpc_requests_total gRPC calls handled, by method and status code.\n",
        );
        out.push_str("# TYPE authd_rpc_requests_total counter\n");
        for ((method, code), h) in &rpcs {
            let _ = writeln!(
                out,
                "authd_rpc_requests_total{{method=\"{method}\",code=\"{code}\"}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP authd_rpc_duration_seconds gRPC call latency, by method and status code.\n",
        );
        out.push_str("# TYPE authd_rpc_duration_seconds histogram\n");
        for ((method, code), h) in &rpcs {
            h.render(
                &mut out,
                "authd_rpc_duration_seconds",
                &format!("method=\"{method}\",code=\"{code}\""),
            );
        }

        out.push_str("# HELP authd_logins_total Login attempts, by outcome.\n");
        out.push_str("# TYPE authd_logins_total counter\n");
        for (outcome, n) in lock(&self.logins).iter() {
            let _ = writeln!(out, "authd_logins_total{{outcome=\"{outcome}\"}} {n}");
        }

        out.push_str("# HELP authd_hash_permits_in_use Password hashing permits held now.\n");
        out.push_str("# TYPE authd_hash_permits_in_use gauge\n");
        let _ = writeln!(
            out,
            "authd_hash_permits_in_use {}",
            gauges.hash_permits_in_use
        );
        out.push_str("# HELP authd_hash_permits Password hashing permits in total.\n");
        out.push_str("# TYPE authd_hash_permits gauge\n");
        let _ = writeln!(out, "authd_hash_permits {}", gauges.hash_permits);
        out.push_str(
            "# HELP authd_hash_queue_wait_seconds Time password hashes waited for a permit.\n",
        );
        out.push_str("# TYPE authd_hash_queue_wait_seconds histogram\n");
        lock(&self.hash_wait).clone().unwrap_or_default().render(
            &mut out,
            "authd_hash_queue_wait_seconds",
            "",
        );

        out.push_str("# HELP authd_key_rotation_events_total Signing key lifecycle events.\n");
        out.push_str("# TYPE authd_key_rotation_events_total counter\n");
        for event in ["published", "promoted", "retired"] {
            let n = lock(&self.key_events).get(event).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "authd_key_rotation_events_total{{event=\"{event}\"}} {n}"
            );
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

    #[test]
    fn histograms_render_cumulative_buckets() {
        let metrics = Metrics {
            rpcs: Mutex::new(BTreeMap::new()),
            logins: Mutex::new(BTreeMap::new()),
            hash_wait: Mutex::new(None),
            key_events: Mutex::new(BTreeMap::new()),
        };
        metrics.observe_rpc("Login", Code::Ok, Duration::from_millis(3));
        metrics.observe_rpc("Login", Code::Unauthenticated, Duration::from_secs(9));
        let text = metrics.render(Gauges {
            hash_permits_in_use: 1,
            hash_permits: 2,
        });
        assert!(text.contains(
            "authd_rpc_duration_seconds_bucket{method=\"Login\",code=\"OK\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "authd_rpc_duration_seconds_bucket{method=\"Login\",code=\"UNAUTHENTICATED\",le=\"5\"} 0"
        ));
        assert!(text.contains(
            "authd_rpc_duration_seconds_bucket{method=\"Login\",code=\"UNAUTHENTICATED\",le=\"+Inf\"} 1"
        ));
        assert!(text.contains("authd_logins_total{outcome=\"invalid_credentials\"} 1"));
        assert!(text.contains("authd_hash_permits_in_use 1\n"));
        assert!(text.contains("authd_hash_queue_wait_seconds_count 0\n"));
    }
}
