//! The one histogram type of authd's latency series: Prometheus buckets,
//! with a sum no finer than a millisecond.
//!
//! `/metrics` is readable by whoever reaches the HTTP port. A sum to the
//! nanosecond (what `prometheus-client`'s own histogram exports) lets a
//! caller time the server's side of their own call by scraping before and
//! after it: a timing oracle with no network noise in it. Here the sum is
//! exported in whole milliseconds, so one call's time shows only as the
//! bucket it fell in, which is what dashboards and alerts read anyway
//! (`histogram_quantile` uses buckets, not sums); the average over many
//! calls (`rate(sum) / rate(count)`) stays right to a millisecond.
//!
//! Recording is lock-free: one atomic add per bucket match, count and sum
//! (the crate's histogram takes a lock per observation).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::LATENCY_BUCKETS;

/// A latency histogram over [`LATENCY_BUCKETS`]; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct CoarseHistogram(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    /// Per bucket (not cumulative), then the `+Inf` bucket.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    /// Kept in microseconds, exported rounded to milliseconds.
    sum_micros: AtomicU64,
}

impl CoarseHistogram {
    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = LATENCY_BUCKETS
            .iter()
            .position(|&upper| seconds <= upper)
            .unwrap_or(LATENCY_BUCKETS.len());
        let counts = &self.0;
        counts.buckets[index].fetch_add(1, Ordering::Relaxed);
        counts.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        counts.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The exported sum, in seconds: the microseconds recorded, rounded to
    /// the nearest millisecond.
    #[must_use]
    pub fn sum_seconds(&self) -> f64 {
        let millis = self
            .0
            .sum_micros
            .load(Ordering::Relaxed)
            .saturating_add(500)
            / 1000;
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 ms (285,000 years)
        let millis = millis as f64;
        millis / 1000.0
    }

    /// How many durations were recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

impl EncodeMetric for CoarseHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        let upper = LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = upper
            .zip(&self.0.buckets)
            .map(|(upper, count)| (upper, count.load(Ordering::Relaxed)))
            .collect();
        encoder.encode_histogram::<NoLabelSet>(self.sum_seconds(), self.count(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_whole_milliseconds_and_buckets_keep_the_detail() {
        let histogram = CoarseHistogram::default();
        histogram.observe(Duration::from_nanos(123_456));
        histogram.observe(Duration::from_nanos(1_876_543));
        assert_eq!(histogram.count(), 2);
        // 0.123456 ms + 1.876543 ms = 1.999 ms, exported as 2 ms.
        assert!((histogram.sum_seconds() - 0.002).abs() < 1e-12);

        let mut text = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("t", "test", histogram);
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("t_sum 0.002\n"), "{text}");
        assert!(text.contains("t_count 2\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"0.00025\"} 1\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"0.0025\"} 2\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"+Inf\"} 2\n"), "{text}");
    }
}
