//! The one source of time: wall-clock Unix seconds and a monotonic instant.
//!
//! Everything that asks "what time is it" gets a [`Clock`] handed down from
//! [`crate::App`] (or takes a `now` read from one): the services, the state
//! cache's trust bound and entry TTL, and the key refresher. The system
//! clock reads [`std::time::SystemTime`] for Unix seconds and
//! [`tokio::time::Instant`] for monotonic time, so `tokio::time::pause()`
//! drives it; a [`ManualClock`] stands still until a test advances it, so
//! expiry, cache trust and rotation are tested without sleeping.
//!
//! What this module must not do: import anything else from authd. It is
//! the ground floor; every layer may use it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::time::Instant;

/// A cheap-to-clone handle on the system clock or a manual one.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Manual>>,
}

/// A clock that stands still until [`ManualClock::advance`]d; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Manual>,
}

#[derive(Debug)]
struct Manual {
    /// Wall-clock time at creation, since the Unix epoch.
    wall_start: Duration,
    /// Monotonic time at creation.
    start: Instant,
    /// How far the clock has been advanced, nanoseconds.
    offset_nanos: AtomicU64,
    /// Wakes [`Clock::sleep_until`] callers after each advance.
    advanced: Notify,
}

impl Manual {
    fn offset(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::Acquire))
    }
}

impl Clock {
    /// The system clock.
    #[must_use]
    pub fn system() -> Self {
        Self::default()
    }

    /// Whether this is a [`ManualClock`]'s handle.
    #[must_use]
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Wall-clock time, Unix seconds: what tokens, sessions and rows record.
    #[must_use]
    pub fn now_unix(&self) -> i64 {
        match &self.manual {
            None => now_unix(),
            Some(m) => secs((m.wall_start + m.offset()).as_secs()),
        }
    }

    /// Monotonic time: what bounds and TTLs inside the process are measured in.
    #[must_use]
    pub fn now(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(m) => m.start + m.offset(),
        }
    }

    /// Waits until [`Self::now`] reaches `deadline`: tokio's timer for the
    /// system clock, the next sufficient advance for a manual one.
    pub async fn sleep_until(&self, deadline: Instant) {
        let Some(manual) = &self.manual else {
            tokio::time::sleep_until(deadline).await;
            return;
        };
        loop {
            let advanced = manual.advanced.notified();
            tokio::pin!(advanced);
            // Registered before the check, so an advance in between is not missed.
            advanced.as_mut().enable();
            if self.now() >= deadline {
                return;
            }
            advanced.await;
        }
    }

    /// Waits for `duration` by this clock.
    pub async fn sleep(&self, duration: Duration) {
        self.sleep_until(self.now() + duration).await;
    }
}

impl ManualClock {
    /// A clock standing at the current system time.
    #[must_use]
    pub fn new() -> Self {
        Self::starting_at(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }

    /// A clock standing at `since_epoch` after the Unix epoch.
    #[must_use]
    pub fn starting_at(since_epoch: Duration) -> Self {
        Self {
            inner: Arc::new(Manual {
                wall_start: since_epoch,
                start: Instant::now(),
                offset_nanos: AtomicU64::new(0),
                advanced: Notify::new(),
            }),
        }
    }

    /// The handle to hand down in place of [`Clock::system`].
    #[must_use]
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(Arc::clone(&self.inner)),
        }
    }

    /// Moves both readings forward by `by`, waking sleepers whose time came.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.inner.offset_nanos.fetch_add(nanos, Ordering::AcqRel);
        self.inner.advanced.notify_waiters();
    }

    /// Wall-clock time, Unix seconds.
    #[must_use]
    pub fn now_unix(&self) -> i64 {
        self.clock().now_unix()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl From<&ManualClock> for Clock {
    fn from(manual: &ManualClock) -> Self {
        manual.clock()
    }
}

/// The system's wall-clock time, Unix seconds, for code that has no
/// [`Clock`] handed down (housekeeping inside the store, one-shot CLI
/// commands). Anything a test may want to control takes a `Clock` instead.
#[must_use]
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| secs(d.as_secs()))
}

fn secs(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_advanced() {
        let manual = ManualClock::starting_at(Duration::from_secs(1_000));
        let clock = manual.clock();
        let (wall, mono) = (clock.now_unix(), clock.now());
        assert_eq!(wall, 1_000);
        assert_eq!(clock.now(), mono, "no time passes by itself");
        manual.advance(Duration::from_millis(1_500));
        assert_eq!(clock.now_unix(), 1_001);
        assert_eq!(clock.now() - mono, Duration::from_millis(1_500));
        assert_eq!(manual.now_unix(), 1_001);
    }

    #[test]
    fn the_system_clock_reads_the_system_time() {
        let clock = Clock::system();
        assert!(!clock.is_manual());
        assert!((clock.now_unix() - now_unix()).abs() <= 1);
        assert!(clock.now() <= Instant::now());
    }

    #[tokio::test]
    async fn a_manual_sleep_ends_when_the_clock_is_advanced_past_it() {
        let manual = ManualClock::new();
        let clock = manual.clock();
        let deadline = clock.now() + Duration::from_secs(3600);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(deadline).await }
        });
        manual.advance(Duration::from_secs(1800));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "half way there");
        manual.advance(Duration::from_secs(1800));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken by the advance")
            .expect("no panic");
    }
}
