//! The time a verifier reads: Unix seconds for the tokens' `exp`, `nbf` and
//! `iat`, and a monotonic reading for the staleness bound (so a wall-clock
//! step neither revives nor kills a stream). Tests drive a [`ManualClock`]
//! instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where a verifier reads the time; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// `None`: the system's clocks.
    manual: Option<Arc<AtomicI64>>,
}

/// A clock that stands still until it is moved; both readings of the
/// [`Clock`] it gives follow it.
#[derive(Debug, Clone)]
pub struct ManualClock {
    /// Unix milliseconds.
    millis: Arc<AtomicI64>,
}

impl Clock {
    /// The system's clocks.
    #[must_use]
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// Now, in Unix seconds.
    #[must_use]
    pub fn unix_secs(&self) -> i64 {
        match &self.manual {
            Some(millis) => millis.load(Ordering::Relaxed).div_euclid(1000),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        }
    }

    /// A monotonic reading in milliseconds, only for measuring intervals.
    #[must_use]
    pub fn monotonic_millis(&self) -> i64 {
        static BASE: OnceLock<Instant> = OnceLock::new();
        if let Some(millis) = &self.manual {
            return millis.load(Ordering::Relaxed);
        }
        let base = BASE.get_or_init(Instant::now);
        i64::try_from(base.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

impl ManualClock {
    /// A clock at `unix_secs`.
    #[must_use]
    pub fn new(unix_secs: i64) -> Self {
        Self {
            millis: Arc::new(AtomicI64::new(unix_secs.saturating_mul(1000))),
        }
    }

    /// The [`Clock`] that reads this one.
    #[must_use]
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(Arc::clone(&self.millis)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(by, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_drives_both_readings() {
        let manual = ManualClock::new(1_000);
        let clock = manual.clock();
        assert_eq!(clock.unix_secs(), 1_000);
        let before = clock.monotonic_millis();
        manual.advance(Duration::from_millis(1_500));
        assert_eq!(clock.unix_secs(), 1_001);
        assert_eq!(clock.monotonic_millis() - before, 1_500);
    }

    #[test]
    fn the_system_clock_is_monotonic_and_near_the_wall_clock() {
        let clock = Clock::system();
        let a = clock.monotonic_millis();
        let b = clock.monotonic_millis();
        assert!(b >= a);
        assert!(clock.unix_secs() > 1_700_000_000);
    }
}
