//! Abuse limits on authentication failures.
//!
//! Failures are counted in fixed one-minute windows, per (principal, source address) pair and
//! per source address. Keying the first counter by the pair is what keeps an attacker who
//! hammers a client id from locking the real client out: the client's own addresses have
//! counters of their own. A secret already known good (in the credential cache) is served
//! without looking at the counters at all, so successful requests are never slowed.
//!
//! Counters live in memory, or in Redis when configured so that every instance shares them.
//! Every Redis call is bounded by a short timeout; when Redis fails, the local counters take
//! over and the server keeps serving.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

const WINDOW_SECS: i64 = 60;
const REDIS_TIMEOUT: Duration = Duration::from_millis(150);

/// What a failure is counted against.
pub struct Keys {
    /// The principal at this address: `client:<id>@<addr>` or `user:<name>@<addr>`.
    pair: String,
    /// The address alone.
    address: String,
}

impl Keys {
    pub fn client(client_id: &str, source: Option<&str>) -> Self {
        let addr = source.unwrap_or("unknown");
        Self {
            pair: format!("client:{client_id}@{addr}"),
            address: format!("addr:{addr}"),
        }
    }

    pub fn user(username: &str, source: Option<&str>) -> Self {
        let addr = source.unwrap_or("unknown");
        Self {
            pair: format!("user:{username}@{addr}"),
            address: format!("addr:{addr}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    /// Failures a (principal, address) pair may have per minute.
    pub per_pair: u32,
    /// Failures one address may have per minute, over all principals.
    pub per_address: u32,
}

/// Counts for the current window, in memory.
#[derive(Default)]
struct Local {
    window: i64,
    counts: HashMap<String, u32>,
}

pub struct Limiter {
    settings: LimitSettings,
    local: Mutex<Local>,
    redis_url: Option<String>,
    prefix: String,
    redis: OnceCell<ConnectionManager>,
    last_redis_warning: AtomicI64,
}

impl Limiter {
    pub fn new(settings: LimitSettings, redis_url: Option<String>, prefix: String) -> Self {
        Self {
            settings,
            local: Mutex::new(Local::default()),
            redis_url,
            prefix,
            redis: OnceCell::new(),
            last_redis_warning: AtomicI64::new(i64::MIN),
        }
    }

    /// Seconds until the window ends, if either counter of `keys` is at its limit.
    pub async fn blocked(&self, keys: &Keys, now_secs: i64) -> Option<u64> {
        let (pair, address) = match self.redis_counts(keys, now_secs, false).await {
            Some(counts) => counts,
            None => self.local_counts(keys, now_secs, false),
        };
        (pair >= self.settings.per_pair || address >= self.settings.per_address)
            .then(|| retry_after(now_secs))
    }

    /// Counts one failure; returns the pair's count in this window.
    pub async fn failed(&self, keys: &Keys, now_secs: i64) -> u32 {
        match self.redis_counts(keys, now_secs, true).await {
            Some((pair, _)) => pair,
            None => self.local_counts(keys, now_secs, true).0,
        }
    }

    fn local_counts(&self, keys: &Keys, now_secs: i64, increment: bool) -> (u32, u32) {
        let Ok(mut local) = self.local.lock() else {
            return (0, 0);
        };
        let window = now_secs.div_euclid(WINDOW_SECS);
        if local.window != window {
            local.window = window;
            local.counts.clear();
        }
        let mut get = |key: &str| {
            let count = local.counts.entry(key.to_owned()).or_insert(0);
            if increment {
                *count = count.saturating_add(1);
            }
            *count
        };
        (get(&keys.pair), get(&keys.address))
    }

    /// `None` when Redis is not configured or did not answer in time.
    async fn redis_counts(
        &self,
        keys: &Keys,
        now_secs: i64,
        increment: bool,
    ) -> Option<(u32, u32)> {
        let url = self.redis_url.as_deref()?;
        let window = now_secs.div_euclid(WINDOW_SECS);
        let k1 = format!("{}:fail:{window}:{}", self.prefix, keys.pair);
        let k2 = format!("{}:fail:{window}:{}", self.prefix, keys.address);
        let attempt = async {
            let mut conn = self
                .redis
                .get_or_try_init(|| async {
                    let client = redis::Client::open(url)?;
                    ConnectionManager::new(client).await
                })
                .await?
                .clone();
            let mut pipe = redis::pipe();
            if increment {
                pipe.incr(&k1, 1u32)
                    .expire(&k1, WINDOW_SECS * 2)
                    .ignore()
                    .incr(&k2, 1u32)
                    .expire(&k2, WINDOW_SECS * 2)
                    .ignore();
            } else {
                pipe.get(&k1).get(&k2);
            }
            pipe.query_async::<(Option<u32>, Option<u32>)>(&mut conn)
                .await
        };
        match tokio::time::timeout(REDIS_TIMEOUT, attempt).await {
            Ok(Ok((a, b))) => Some((a.unwrap_or(0), b.unwrap_or(0))),
            Ok(Err(e)) => {
                self.warn(now_secs, &e.to_string());
                None
            }
            Err(_) => {
                self.warn(now_secs, "timed out");
                None
            }
        }
    }

    /// At most one warning a minute, not one per request.
    fn warn(&self, now_secs: i64, error: &str) {
        let last = self.last_redis_warning.load(Ordering::Relaxed);
        if now_secs.saturating_sub(last) >= 60
            && self
                .last_redis_warning
                .compare_exchange(last, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%error, "Redis unavailable: abuse limits fall back to this instance's counters");
        }
    }
}

fn retry_after(now_secs: i64) -> u64 {
    u64::try_from(WINDOW_SECS - now_secs.rem_euclid(WINDOW_SECS)).unwrap_or(1)
}

/// The pause before answering a failed login: none for the first half of the pair's limit,
/// then 100 ms doubling up to 3.2 s, so guessing gets slower the closer it comes to the limit.
pub fn login_delay(failures: u32, limit: u32) -> Duration {
    let free = limit / 2;
    if failures <= free {
        return Duration::ZERO;
    }
    Duration::from_millis(100u64 << (failures - free - 1).min(5))
}

impl Limiter {
    pub fn login_delay(&self, failures: u32) -> Duration {
        login_delay(failures, self.settings.per_pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> Limiter {
        Limiter::new(
            LimitSettings {
                per_pair: 3,
                per_address: 5,
            },
            None,
            "t".into(),
        )
    }

    #[tokio::test]
    async fn a_pair_is_blocked_at_its_limit_and_others_are_not() {
        let l = limiter();
        let attacker = Keys::client("c1", Some("10.0.0.1"));
        for _ in 0..3 {
            assert_eq!(l.blocked(&attacker, 120).await, None);
            l.failed(&attacker, 120).await;
        }
        assert_eq!(l.blocked(&attacker, 125).await, Some(55));
        assert_eq!(
            l.blocked(&Keys::client("c1", Some("10.0.0.2")), 125).await,
            None,
            "the real client"
        );
        assert_eq!(l.blocked(&attacker, 180).await, None, "a new window");
    }

    #[tokio::test]
    async fn an_address_is_blocked_over_all_principals() {
        let l = limiter();
        for i in 0..5 {
            l.failed(&Keys::user(&format!("u{i}"), Some("10.0.0.9")), 0)
                .await;
        }
        assert!(
            l.blocked(&Keys::user("someone-else", Some("10.0.0.9")), 1)
                .await
                .is_some()
        );
    }

    #[test]
    fn login_delays_grow_and_stop_growing() {
        assert_eq!(login_delay(5, 10), Duration::ZERO);
        assert_eq!(login_delay(6, 10), Duration::from_millis(100));
        assert_eq!(login_delay(7, 10), Duration::from_millis(200));
        assert_eq!(login_delay(40, 10), Duration::from_millis(3200));
        assert_eq!(login_delay(150, 1_000_000), Duration::ZERO);
    }
}
