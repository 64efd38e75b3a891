//! Time as a parameter: domain code asks a `Clock`, so expiry is tested without sleeping. The
//! only module that reads the system clocks (clippy's `disallowed-methods` keeps it so).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The monotonic clock, for measuring durations (latency, queue waits, cache ages), never for
/// what a token or a window says.
#[allow(clippy::disallowed_methods)]
pub fn instant() -> Instant {
    Instant::now()
}

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;

    fn now_secs(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// The system clock shifted by an adjustable offset: lets a test move a running server into
/// the future (token expiry) without sleeping.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_millis: AtomicI64,
    /// When non-zero, the clock stands still at this instant (plus the offset): golden tests
    /// compare tokens issued at a known time.
    frozen_at_millis: AtomicI64,
}

impl ShiftedClock {
    pub fn freeze_at_millis(&self, millis: i64) {
        self.frozen_at_millis.store(millis, Ordering::Relaxed);
    }

    pub fn advance_secs(&self, secs: i64) {
        self.offset_millis.fetch_add(secs * 1000, Ordering::Relaxed);
    }
}

impl Clock for ShiftedClock {
    fn now_millis(&self) -> i64 {
        let frozen = self.frozen_at_millis.load(Ordering::Relaxed);
        let base = if frozen != 0 {
            frozen
        } else {
            SystemClock.now_millis()
        };
        base + self.offset_millis.load(Ordering::Relaxed)
    }
}
