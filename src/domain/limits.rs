//! Abuse limits on authentication failures.
//!
//! Failures are counted in fixed one-minute windows, per (principal, source address) pair and
//! per source address. Keying the first counter by the pair is what keeps an attacker who
//! hammers a client id from locking the real client out: the client's own addresses have
//! counters of their own. A secret already known good (in the credential cache) is served
//! without looking at the counters at all, so successful requests are never slowed.
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

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

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

#[derive(Default)]
struct Entry {
    count: u32,
    /// Whether this address's refusal was logged in this window.
    logged: bool,
}

#[derive(Default)]
struct Shard {
    window: i64,
    counts: HashMap<u64, Entry>,
}

impl Shard {
    /// Moves to `window`, handing back the previous window's map to be dropped off the lock.
    fn roll(&mut self, window: i64) -> Option<HashMap<u64, Entry>> {
        if self.window == window {
            return None;
        }
        self.window = window;
        Some(std::mem::take(&mut self.counts))
    }
}

/// A whole window's map is freed on the blocking pool, not by the request that rolled over.
fn drop_later(old: Option<HashMap<u64, Entry>>) {
    let Some(old) = old.filter(|m| !m.is_empty()) else {
        return;
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(move || drop(old));
        }
        Err(_) => drop(old),
    }
}

struct Local {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_shard_cap: usize,
}

/// The outcome of taking a slot on one counter.
enum Slot {
    Taken(u32),
    /// At the limit; `true` when this is the first refusal logged for the entry this window.
    AtLimit(bool),
    Full,
}

impl Local {
    fn new(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            per_shard_cap: (max_keys / SHARDS).max(1),
        }
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn with_shard<T>(&self, h: u64, window: i64, f: impl FnOnce(&mut Shard) -> T) -> Option<T> {
        let shard = self.shards.get(h as usize % SHARDS)?;
        let (out, old) = {
            let mut guard = shard.lock().ok()?;
            let old = guard.roll(window);
            (f(&mut guard), old)
        };
        drop_later(old);
        Some(out)
    }

    /// One check-and-increment. A key at its limit, or a new key when the shard is full, takes
    /// nothing: a refusal never inserts.
    fn take(&self, h: u64, limit: u32, window: i64) -> Slot {
        let cap = self.per_shard_cap;
        self.with_shard(h, window, |s| {
            let full = s.counts.len() >= cap;
            match s.counts.get_mut(&h) {
                Some(e) if e.count >= limit => {
                    Slot::AtLimit(!std::mem::replace(&mut e.logged, true))
                }
                Some(e) => {
                    e.count += 1;
                    Slot::Taken(e.count)
                }
                None if full => Slot::Full,
                None => {
                    s.counts.insert(
                        h,
                        Entry {
                            count: 1,
                            logged: false,
                        },
                    );
                    Slot::Taken(1)
                }
            }
        })
        // A poisoned lock (a panic elsewhere) must not open the gate.
        .unwrap_or(Slot::Full)
    }

    /// Gives a slot back; `mark` also flags the entry as logged and says whether it was not yet.
    fn give_back(&self, h: u64, window: i64, mark: bool) -> bool {
        self.with_shard(h, window, |s| {
            let Some(e) = s.counts.get_mut(&h) else {
                return false;
            };
            e.count = e.count.saturating_sub(1);
            let first = mark && !e.logged;
            e.logged |= mark;
            if e.count == 0 && !e.logged {
                s.counts.remove(&h);
            }
            first
        })
        .unwrap_or(false)
    }

    fn acquire(
        &self,
        keys: &Keys,
        limits: &LimitSettings,
        window: i64,
    ) -> Result<u32, (Refusal, bool)> {
        let address = self.hash(&keys.address);
        match self.take(address, limits.per_address, window) {
            Slot::Taken(_) => {}
            Slot::AtLimit(first) => return Err((Refusal::Address, first)),
            Slot::Full => return Err((Refusal::Full, false)),
        }
        match self.take(self.hash(&keys.pair), limits.per_pair, window) {
            Slot::Taken(n) => Ok(n),
            Slot::AtLimit(_) => Err((Refusal::Pair, self.give_back(address, window, true))),
            Slot::Full => {
                self.give_back(address, window, false);
                Err((Refusal::Full, false))
            }
        }
    }

    fn release(&self, keys: &Keys, window: i64) {
        self.give_back(self.hash(&keys.pair), window, false);
        self.give_back(self.hash(&keys.address), window, false);
    }

    /// Rolls every shard to `window`: the memory of windows gone by is freed even where no
    /// request comes.
    fn sweep(&self, window: i64) {
        for h in 0..SHARDS as u64 {
            self.with_shard(h, window, |_| ());
        }
    }

    fn tracked(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.counts.len()))
            .sum()
    }
}

/// Takes a slot on both counters, or refuses; logs the first refusal of an address per window.
const ACQUIRE: &str = r"
local a = tonumber(redis.call('GET', KEYS[1]) or '0')
local p = tonumber(redis.call('GET', KEYS[2]) or '0')
if a >= tonumber(ARGV[1]) or p >= tonumber(ARGV[2]) then
  local first = redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[3])
  local why = 2
  if a < tonumber(ARGV[1]) then why = 1 end
  if first then return {0, why, 1} end
  return {0, why, 0}
end
p = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, p, 0}
";

/// Gives both slots back; never creates a key (an expired one stays gone).
const RELEASE: &str = r"
for _, k in ipairs(KEYS) do
  if tonumber(redis.call('GET', k) or '0') > 0 then redis.call('DECR', k) end
end
return 0
";

struct Redis {
    url: String,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
    acquire: redis::Script,
    release: redis::Script,
    last_warning: AtomicI64,
}

impl Redis {
    fn keys(&self, keys: &Keys, window: i64) -> [String; 3] {
        let p = &self.prefix;
        [
            format!("{p}:fail:{window}:{}", keys.address),
            format!("{p}:fail:{window}:{}", keys.pair),
            format!("{p}:logged:{window}:{}", keys.address),
        ]
    }

    async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        Ok(self
            .conn
            .get_or_try_init(|| async {
                ConnectionManager::new(redis::Client::open(self.url.as_str())?).await
            })
            .await?
            .clone())
    }

    /// `None` when Redis did not answer in time: the caller falls back to local counters.
    async fn acquire(
        &self,
        keys: &Keys,
        limits: &LimitSettings,
        now_secs: i64,
    ) -> Option<Result<u32, (Refusal, bool)>> {
        let window = now_secs.div_euclid(WINDOW_SECS);
        let [a, p, logged] = self.keys(keys, window);
        let attempt = async {
            let mut conn = self.conn().await?;
            self.acquire
                .key(a)
                .key(p)
                .key(logged)
                .arg(limits.per_address)
                .arg(limits.per_pair)
                .arg(WINDOW_SECS * 2)
                .invoke_async::<(u8, u32, u8)>(&mut conn)
                .await
        };
        match tokio::time::timeout(REDIS_TIMEOUT, attempt).await {
            Ok(Ok((1, pair, _))) => Some(Ok(pair)),
            Ok(Ok((_, why, first))) => {
                let refusal = if why == 2 {
                    Refusal::Address
                } else {
                    Refusal::Pair
                };
                Some(Err((refusal, first == 1)))
            }
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

    /// Gives the slots back in the background: a permit is settled in `Drop`, which cannot wait.
    fn release(&self, keys: &Keys, window: i64) {
        let Some(conn) = self.conn.get().cloned() else {
            return;
        };
        let [a, p, _] = self.keys(keys, window);
        let script = self.release.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let mut conn = conn;
            let mut invocation = script.key(a);
            invocation.key(p);
            let _ = tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async::<i64>(&mut conn))
                .await;
        });
    }

    /// At most one warning a minute, not one per request.
    fn warn(&self, now_secs: i64, error: &str) {
        let last = self.last_warning.load(Ordering::Relaxed);
        if now_secs.saturating_sub(last) >= 60
            && self
                .last_warning
                .compare_exchange(last, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%error, "Redis unavailable: abuse limits fall back to this instance's counters");
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
        Self {
            local: Local::new(settings.max_keys),
            settings,
            redis: redis_url.map(|url| Redis {
                url,
                prefix,
                conn: OnceCell::new(),
                acquire: redis::Script::new(ACQUIRE),
                release: redis::Script::new(RELEASE),
                last_warning: AtomicI64::new(i64::MIN),
            }),
            refused: Default::default(),
            full_logged: AtomicI64::new(i64::MIN),
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
mod tests {
    use super::*;

    fn limiter(per_pair: u32, per_address: u32, max_keys: usize) -> Limiter {
        let settings = LimitSettings {
            per_pair,
            per_address,
            max_keys,
        };
        Limiter::new(settings, None, "t".into())
    }

    /// One failed attempt; `Err` with the retry-after when refused.
    async fn fail(l: &Limiter, keys: Keys, now: i64) -> Result<u32, u64> {
        l.begin(keys, now).await.map(Permit::failed)
    }

    #[tokio::test]
    async fn a_pair_is_blocked_at_its_limit_and_others_are_not() {
        let l = limiter(3, 5, 1000);
        let attacker = || Keys::client("c1", Some("10.0.0.1"));
        for n in 1..=3 {
            assert_eq!(fail(&l, attacker(), 120).await, Ok(n));
        }
        assert_eq!(fail(&l, attacker(), 125).await, Err(55));
        let real = Keys::client("c1", Some("10.0.0.2"));
        assert!(l.begin(real, 125).await.is_ok(), "the real client");
        assert_eq!(fail(&l, attacker(), 180).await, Ok(1), "a new window");
    }

    #[tokio::test]
    async fn an_address_is_blocked_over_all_principals() {
        let l = limiter(3, 5, 1000);
        for i in 0..5 {
            let keys = Keys::user(&format!("u{i}"), Some("10.0.0.9"));
            assert!(fail(&l, keys, 0).await.is_ok());
        }
        let other = Keys::user("someone-else", Some("10.0.0.9"));
        assert!(l.begin(other, 1).await.is_err());
        assert_eq!(l.refused_counts(), (0, 1, 0));
    }

    #[tokio::test]
    async fn a_right_secret_gives_its_slot_back() {
        let l = limiter(2, 100, 1000);
        for _ in 0..10 {
            // dropped without `failed()`: a success, or an error of ours
            let permit = l.begin(Keys::client("c", Some("a")), 0).await;
            assert!(permit.is_ok());
        }
        assert_eq!(l.tracked(), 0, "nothing left behind");
        assert!(fail(&l, Keys::client("c", Some("a")), 0).await.is_ok());
    }

    #[tokio::test]
    async fn a_refused_spray_inserts_nothing() {
        let l = limiter(10, 5, 100_000);
        for i in 0..5 {
            assert!(
                fail(&l, Keys::client(&format!("c{i}"), Some("6.6.6.6")), 0)
                    .await
                    .is_ok()
            );
        }
        let tracked = l.tracked();
        for i in 0..10_000 {
            let keys = Keys::client(&uuid_like(i), Some("6.6.6.6"));
            assert!(l.begin(keys, 1).await.is_err());
        }
        assert_eq!(
            l.tracked(),
            tracked,
            "a blocked address adds no key per request"
        );
        assert_eq!(l.refused_counts(), (0, 10_000, 0));
    }

    #[tokio::test]
    async fn at_the_cap_new_keys_are_refused_never_let_through() {
        let l = limiter(10, 1000, 64);
        let mut refused = 0;
        for i in 0..200 {
            let keys = Keys::client("c", Some(&format!("10.1.{}.{}", i / 256, i % 256)));
            if fail(&l, keys, 0).await.is_err() {
                refused += 1;
            }
        }
        assert!(l.tracked() <= 64, "tracked {}", l.tracked());
        assert!(refused > 0);
        assert_eq!(l.refused_counts().2, refused);
    }

    #[tokio::test]
    async fn windows_gone_by_are_freed() {
        let l = limiter(10, 1000, 100_000);
        for i in 0..500 {
            assert!(
                fail(&l, Keys::client(&uuid_like(i), Some("a")), 0)
                    .await
                    .is_ok()
            );
        }
        assert_eq!(l.tracked(), 501);
        l.sweep(60);
        assert_eq!(l.tracked(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_attempts_never_pass_the_limit() {
        let l = std::sync::Arc::new(limiter(1_000_000, 100, 100_000));
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let l = std::sync::Arc::clone(&l);
                tokio::spawn(async move {
                    let mut passed = 0;
                    for i in 0..50 {
                        let keys = Keys::client(&format!("{t}-{i}"), Some("10.0.0.1"));
                        if let Ok(permit) = l.begin(keys, 0).await {
                            tokio::task::yield_now().await;
                            permit.failed();
                            passed += 1;
                        }
                    }
                    passed
                })
            })
            .collect();
        let mut passed = 0;
        for t in tasks {
            passed += t.await.unwrap();
        }
        assert_eq!(passed, 100);
    }

    fn uuid_like(i: usize) -> String {
        format!("{i:08x}-0000-4000-8000-000000000000")
    }

    #[test]
    fn zero_limits_and_a_tiny_cap_are_refused() {
        let ok = LimitSettings {
            per_pair: 1,
            per_address: 1_000_000_000,
            max_keys: 16,
        };
        assert!(ok.validate().is_ok());
        for bad in [
            LimitSettings { per_pair: 0, ..ok },
            LimitSettings {
                per_address: 0,
                ..ok
            },
            LimitSettings { max_keys: 0, ..ok },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
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
