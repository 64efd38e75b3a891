//! Retiring pooled connections whose session went bad, so the server heals by itself.
//!
//! A session keeps what it was opened under. One opened while the server was read-only (a
//! standby, `default_transaction_read_only` after a failover) stays read-only once the server
//! is writable again, and sqlx would keep reusing it until `idle_timeout` (10 min) or
//! `max_lifetime` (30 min); `test_before_acquire` only pings, which such a session answers.
//! So when a call fails in a way that says its session is bad (`Fault::BadSession`), the store
//! records the moment, and the pools close every connection opened before it: when it is
//! about to be handed out (`before_acquire`) and when it comes back (`after_release`), judged
//! by its age, without a round trip. A moment rather than just the connection that failed,
//! because its siblings were opened under the same conditions and would each fail one more
//! request first. The price: healthy connections as old are reopened too, once per such error.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub(super) struct Recycler {
    created: Instant,
    /// Microseconds after `created` of the last bad-session error; negative: none yet.
    bad_at_us: Arc<AtomicI64>,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Recycler {
    pub fn new() -> Self {
        Self {
            created: crate::clock::instant(),
            bad_at_us: Arc::new(AtomicI64::new(-1)),
        }
    }

    /// A call just failed because its session is bad: connections opened until now are retired.
    pub fn session_went_bad(&self) {
        let now = micros(self.created.elapsed());
        self.bad_at_us.fetch_max(now, Ordering::AcqRel);
    }

    /// Whether a pooled connection of this age may be used again: it was opened after the last
    /// bad-session error.
    pub fn keep(&self, age: Duration) -> bool {
        let bad_at = self.bad_at_us.load(Ordering::Acquire);
        bad_at < 0 || micros(self.created.elapsed()).saturating_sub(micros(age)) > bad_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_a_bad_session_are_retired_and_later_ones_kept() {
        let recycler = Recycler::new();
        let old = Duration::from_secs(3600);
        assert!(recycler.keep(old), "nothing went bad yet");
        recycler.session_went_bad();
        assert!(!recycler.keep(old));
        std::thread::sleep(Duration::from_millis(5));
        assert!(recycler.keep(Duration::from_millis(1)), "opened since");
        assert!(!recycler.keep(Duration::from_millis(50)), "opened before");
    }
}
