//! The series read at scrape time: the subsystems' own counters and gauges
//! ([`Pulled`]) and the process's, from `/proc/self` ([`ProcessCollector`]).
//!
//! Nothing here is on the request path; each scrape reads a handful of
//! atomics, takes the caches' read locks once to count their entries, and
//! reads `/proc/self`.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::Sources;
use crate::cache::StateCache;
use crate::password::PasswordHasher;
use crate::revocations::RevocationHub;
use crate::store::Store;
use crate::token::TokenService;
use crate::token::rotation::KeyManager;

/// Writes one unlabelled gauge.
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: impl EncodeGaugeValue,
) -> fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// Writes one unlabelled counter; `name` without `_total` (the encoder adds it).
fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: impl EncodeCounterValue,
) -> fmt::Result {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

/// Writes one family with one label, of gauges or counters.
fn family<V: Copy>(
    encoder: &mut DescriptorEncoder,
    (name, help, metric_type): (&str, &str, MetricType),
    label: &'static str,
    values: &[(&'static str, V)],
) -> fmt::Result
where
    ConstGauge<V>: EncodeMetric,
    ConstCounter<V>: EncodeMetric,
{
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (value_label, value) in values {
        let labels = [(label, *value_label)];
        let series = metric.encode_family(&labels)?;
        if metric_type == MetricType::Counter {
            ConstCounter::new(*value).encode(series)?;
        } else {
            ConstGauge::new(*value).encode(series)?;
        }
    }
    Ok(())
}

/// Reads the subsystems' own counters at scrape time.
#[derive(Debug)]
pub(super) struct Pulled(pub(super) Sources);

impl Collector for Pulled {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let sources = &self.0;
        let e = &mut encoder;
        hashing(e, &sources.hasher)?;
        key_events(e, &sources.keys)?;
        state_cache(e, &sources.cache)?;
        verified_tokens(e, &sources.tokens)?;
        revocations(e, &sources.revocations)?;
        pool(e, sources.store.as_ref())
    }
}

fn hashing(e: &mut DescriptorEncoder, hasher: &PasswordHasher) -> fmt::Result {
    gauge(
        e,
        "authd_hash_permits_in_use",
        "Password hashing permits held now.",
        hasher.permits_in_use(),
    )?;
    gauge(
        e,
        "authd_hash_permits",
        "Password hashing permits in total.",
        hasher.concurrency(),
    )?;
    gauge(
        e,
        "authd_hash_queue_depth",
        "Password hashes waiting for a permit now.",
        hasher.waiting(),
    )?;
    counter(
        e,
        "authd_hash_runs",
        "Argon2 computations started (each after getting a permit).",
        hasher.runs(),
    )
}

fn key_events(e: &mut DescriptorEncoder, keys: &KeyManager) -> fmt::Result {
    let events = keys.events();
    family(
        e,
        (
            "authd_key_rotation_events",
            "Signing key lifecycle events.",
            MetricType::Counter,
        ),
        "event",
        &[
            ("published", events.published),
            ("promoted", events.promoted),
            ("retired", events.retired),
        ],
    )
}

fn state_cache(e: &mut DescriptorEncoder, cache: &StateCache) -> fmt::Result {
    let lookups = cache.lookups();
    let held = cache.entries();
    family(
        e,
        (
            "authd_state_cache_hits",
            "State cache lookups answered from the cache, by kind.",
            MetricType::Counter,
        ),
        "kind",
        &[
            ("user", lookups.user_hits),
            ("session", lookups.session_hits),
        ],
    )?;
    family(
        e,
        (
            "authd_state_cache_misses",
            "State cache lookups that read the database, by kind.",
            MetricType::Counter,
        ),
        "kind",
        &[
            ("user", lookups.user_misses),
            ("session", lookups.session_misses),
        ],
    )?;
    family(
        e,
        (
            "authd_state_cache_entries",
            "Users and sessions cached now, by kind.",
            MetricType::Gauge,
        ),
        "kind",
        &[("user", held.users), ("session", held.sessions)],
    )?;
    counter(
        e,
        "authd_change_feed_reconnects",
        "Times the change feed was reopened or reconnected after a gap.",
        cache.feed_reconnects(),
    )?;
    gauge(
        e,
        "authd_change_feed_last_item_age_seconds",
        "Seconds since the change feed last delivered anything (heartbeat, change or poll); \
         since start-up if never.",
        cache.feed_silence().as_secs_f64(),
    )
}

fn revocations(e: &mut DescriptorEncoder, hub: &RevocationHub) -> fmt::Result {
    gauge(
        e,
        "authd_revocation_subscribers",
        "WatchRevocations streams open now.",
        hub.subscribers(),
    )?;
    let (too_slow, resync) = hub.resets();
    family(
        e,
        (
            "authd_revocation_subscriber_resets",
            "WatchRevocations streams ended by authd: buffer full (too_slow) or change feed \
             resynced (resync).",
            MetricType::Counter,
        ),
        "reason",
        &[("too_slow", too_slow), ("resync", resync)],
    )
}

fn verified_tokens(e: &mut DescriptorEncoder, tokens: &TokenService) -> fmt::Result {
    let verified = tokens.verified_cache();
    counter(
        e,
        "authd_verified_token_cache_hits",
        "Verify calls whose signature check the verified-token cache saved.",
        verified.hits(),
    )?;
    counter(
        e,
        "authd_verified_token_cache_misses",
        "Verify calls that checked a signature.",
        verified.misses(),
    )?;
    gauge(
        e,
        "authd_verified_token_cache_entries",
        "Tokens in the verified-token cache now.",
        verified.len(),
    )
}

fn pool(e: &mut DescriptorEncoder, store: &dyn Store) -> fmt::Result {
    let pool = store.pool_stats();
    family(
        e,
        (
            "authd_db_pool_connections",
            "Database connections open now, by state.",
            MetricType::Gauge,
        ),
        "state",
        &[
            ("in_use", pool.in_use()),
            ("idle", u64::try_from(pool.idle).unwrap_or(u64::MAX)),
        ],
    )?;
    gauge(
        e,
        "authd_db_pool_max_connections",
        "Most database connections the pool opens.",
        pool.max,
    )
}

/// The standard process series, read from `/proc/self` at scrape time. A
/// value that cannot be read is left out (logged at debug), never invented.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub(super) struct ProcessCollector;

#[cfg(target_os = "linux")]
impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        #[allow(clippy::cast_precision_loss)] // tick and byte counts far below 2^52
        fn secs(ticks: u64) -> f64 {
            ticks as f64 / procfs::ticks_per_second() as f64
        }
        let me = match procfs::process::Process::myself() {
            Ok(me) => me,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read /proc/self");
                return Ok(());
            }
        };
        let e = &mut encoder;
        match me.stat() {
            Ok(stat) => {
                counter(
                    e,
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds.",
                    secs(stat.utime + stat.stime),
                )?;
                gauge(
                    e,
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                    stat.rss.saturating_mul(procfs::page_size()),
                )?;
                gauge(
                    e,
                    "process_virtual_memory_bytes",
                    "Virtual memory size in bytes.",
                    stat.vsize,
                )?;
                if let Ok(boot) = procfs::boot_time_secs() {
                    #[allow(clippy::cast_precision_loss)]
                    let boot = boot as f64;
                    gauge(
                        e,
                        "process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.",
                        boot + secs(stat.starttime),
                    )?;
                }
            }
            Err(err) => tracing::debug!(error = %err, "cannot read /proc/self/stat"),
        }
        if let Ok(fds) = me.fd_count() {
            gauge(
                e,
                "process_open_fds",
                "Number of open file descriptors.",
                fds,
            )?;
        }
        if let Ok(limits) = me.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            gauge(
                e,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            )?;
        }
        Ok(())
    }
}
