//! Abuse limits on authentication failures, and the partners' rate limits and quotas
//! (`quota`), which share this module's Redis connection and its fall-back to local counters.
//!
//! Failures are counted in fixed one-minute windows, per (principal, source address) pair and
//! per source address. Keying the first counter by the pair is what keeps an attacker who
//! hammers a client id from locking the real client out: the client's own addresses have
//! counters of their own. A secret already known good (in the credential cache), or a client
//! assertion whose signature verified, is served without looking at the counters at all, so
//! successful requests are never slowed.
//!
//! Exact under concurrency: an attempt takes its slot *before* the (slow) verification, by one
//! check-and-increment per counter, and gives it back if the secret was right. So at most the
//! configured number of failures pass per window, however many requests race.
//!
//! Bounded memory whatever the traffic: counters are keyed by a 64-bit keyed hash (no strings
//! kept), a refused attempt inserts nothing, the number of tracked keys is capped (at the cap a
//! new key is refused as if over its limit, never let through), and a window's map is dropped
//! whole when the window passes, off the request path. Sharded locks keep one shard's rollover
//! from stalling the others.
//!
//! Counters live in memory, or in Redis when configured so that every instance shares them
//! (one atomic script per attempt; every key expires after two windows). Every Redis call is
//! bounded by a short timeout; when Redis fails, the local counters take over.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use local::Local;
use remote::{ACQUIRE, RELEASE, Redis, RedisLink};

pub use quota::{QuotaExceeded, Quotas};

mod local;
mod quota;
mod remote;

const WINDOW_SECS: i64 = 60;
const REDIS_TIMEOUT: Duration = Duration::from_millis(150);
const SHARDS: usize = 16;

/// What a failure is counted against.
pub struct Keys {
    /// The principal at this address: `client:<id>@<addr>` or `user:<name>@<addr>`.
    pair: String,
    /// The address alone.
    address: String,
}

impl Keys {
    pub fn client(client_id: &str, source: Option<&str>) -> Self {
        Self::new("client", client_id, source)
    }

    pub fn user(username: &str, source: Option<&str>) -> Self {
        Self::new("user", username, source)
    }

    fn new(kind: &str, principal: &str, source: Option<&str>) -> Self {
        let addr = source.unwrap_or("unknown");
        Self {
            pair: format!("{kind}:{principal}@{addr}"),
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
    /// Counters kept in memory at most (pairs and addresses together).
    pub max_keys: usize,
}

impl LimitSettings {
    /// 0 would refuse every attempt, including the real partners' first one: refused.
    pub fn validate(&self) -> Result<(), String> {
        if self.per_pair == 0 || self.per_address == 0 {
            return Err(
                "TOLLGATE_FAILURES_PER_MINUTE and TOLLGATE_ADDRESS_FAILURES_PER_MINUTE \
                        must be at least 1 (a large value such as 1000000 effectively turns a \
                        limit off)"
                    .into(),
            );
        }
        if self.max_keys < SHARDS {
            return Err(format!(
                "TOLLGATE_LIMITER_MAX_KEYS must be at least {SHARDS} (one per lock stripe)"
            ));
        }
        Ok(())
    }
}

/// Which counter refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The (principal, address) pair is at its limit.
    Pair,
    /// The address is at its limit over all principals.
    Address,
    /// The limiter tracks as many keys as it may: a new key is refused, never let through.
    Full,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pair => "pair",
            Self::Address => "address",
            Self::Full => "full",
        }
    }
}

pub struct Limiter {
    settings: LimitSettings,
    local: Local,
    redis: Option<Redis>,
    /// Refused attempts since start, by `Refusal` (pair, address, full).
    refused: [AtomicU64; 3],
    /// The window in which "the limiter is full" was last logged.
    full_logged: AtomicI64,
    /// The partners' rate limits and quotas, on the same Redis connection.
    pub quotas: Quotas,
}

/// A slot taken for one attempt. Say `failed()` when the credential was wrong; any other end
/// (success, an error of ours, the client gone) gives the slot back.
pub struct Permit<'a> {
    limiter: &'a Limiter,
    keys: Keys,
    window: i64,
    via_redis: bool,
    pair_count: u32,
    settled: bool,
}

impl Permit<'_> {
    /// Keeps the slot as a failure; returns the pair's failures in this window.
    pub fn failed(mut self) -> u32 {
        self.settled = true;
        self.pair_count
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        match (&self.limiter.redis, self.via_redis) {
            (Some(redis), true) => redis.release(&self.keys, self.window),
            _ => self.limiter.local.release(&self.keys, self.window),
        }
    }
}

impl Limiter {
    pub fn new(settings: LimitSettings, redis_url: Option<String>, prefix: String) -> Self {
        let link = redis_url.map(|url| Arc::new(RedisLink::new(url, prefix)));
        Self {
            local: Local::new(settings.max_keys),
            settings,
            redis: link.clone().map(|link| Redis {
                link,
                acquire: redis::Script::new(ACQUIRE),
                release: redis::Script::new(RELEASE),
            }),
            refused: Default::default(),
            full_logged: AtomicI64::new(i64::MIN),
            quotas: Quotas::new(link),
        }
    }

    /// A slot for one attempt at `keys`, or the seconds until the window ends.
    pub async fn begin(&self, keys: Keys, now_secs: i64) -> Result<Permit<'_>, u64> {
        let window = now_secs.div_euclid(WINDOW_SECS);
        let remote = match &self.redis {
            Some(redis) => redis.acquire(&keys, &self.settings, now_secs).await,
            None => None,
        };
        let via_redis = remote.is_some();
        let outcome = remote.unwrap_or_else(|| self.local.acquire(&keys, &self.settings, window));
        match outcome {
            Ok(pair_count) => Ok(Permit {
                limiter: self,
                keys,
                window,
                via_redis,
                pair_count,
                settled: false,
            }),
            Err((refusal, first)) => {
                self.refused(refusal, first, &keys, window);
                Err(retry_after(now_secs))
            }
        }
    }

    fn refused(&self, refusal: Refusal, first: bool, keys: &Keys, window: i64) {
        if let Some(counter) = self.refused.get(refusal as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let log = match refusal {
            Refusal::Full => self.full_logged.swap(window, Ordering::Relaxed) != window,
            _ => first,
        };
        if log {
            // The address, never the principal: a username is personal data.
            let address = keys.address.strip_prefix("addr:").unwrap_or(&keys.address);
            tracing::warn!(
                %address,
                limit = refusal.as_str(),
                "failed authentications over the limit: refusing until the window ends \
                 (logged once per address per minute)"
            );
        }
    }

    /// Refused attempts since start: (pair, address, full).
    pub fn refused_counts(&self) -> (u64, u64, u64) {
        let [p, a, f] = &self.refused;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (get(p), get(a), get(f))
    }

    /// Frees the memory of windows gone by (the maintenance task calls this every second).
    pub fn sweep(&self, now_secs: i64) {
        self.local.sweep(now_secs.div_euclid(WINDOW_SECS));
    }

    /// Keys tracked in memory right now.
    pub fn tracked(&self) -> usize {
        self.local.tracked()
    }

    pub fn login_delay(&self, failures: u32) -> Duration {
        login_delay(failures, self.settings.per_pair)
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

#[cfg(test)]
mod tests;
