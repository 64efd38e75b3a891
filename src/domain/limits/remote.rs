//! The counters in Redis, shared by every instance: one Lua script per attempt checks and
//! increments both counters atomically, so the limit is exact across instances.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use super::{Keys, LimitSettings, REDIS_TIMEOUT, Refusal, WINDOW_SECS};

/// Takes a slot on both counters, or refuses; logs the first refusal of an address per window.
pub(super) const ACQUIRE: &str = r"
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
pub(super) const RELEASE: &str = r"
for _, k in ipairs(KEYS) do
  if tonumber(redis.call('GET', k) or '0') > 0 then redis.call('DECR', k) end
end
return 0
";

/// One connection to Redis, shared by the failure limits and the partner quotas: connected on
/// first use, every call bounded by `REDIS_TIMEOUT` by its caller, failures logged at most once
/// a minute.
pub(super) struct RedisLink {
    pub(super) url: String,
    pub(super) prefix: String,
    conn: OnceCell<ConnectionManager>,
    last_warning: AtomicI64,
}

impl RedisLink {
    pub(super) fn new(url: String, prefix: String) -> Self {
        Self {
            url,
            prefix,
            conn: OnceCell::new(),
            last_warning: AtomicI64::new(i64::MIN),
        }
    }

    pub(super) async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        Ok(self
            .conn
            .get_or_try_init(|| async {
                ConnectionManager::new(redis::Client::open(self.url.as_str())?).await
            })
            .await?
            .clone())
    }

    /// The connection if one was made already (for work that must not wait for a connect).
    pub(super) fn connected(&self) -> Option<ConnectionManager> {
        self.conn.get().cloned()
    }

    /// At most one warning a minute, not one per request.
    pub(super) fn warn(&self, now_secs: i64, error: &str) {
        let last = self.last_warning.load(Ordering::Relaxed);
        if now_secs.saturating_sub(last) >= 60
            && self
                .last_warning
                .compare_exchange(last, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                %error,
                "Redis unavailable: abuse limits and quotas fall back to this instance's counters"
            );
        }
    }
}

pub(super) struct Redis {
    pub(super) link: Arc<RedisLink>,
    pub(super) acquire: redis::Script,
    pub(super) release: redis::Script,
}

impl Redis {
    fn keys(&self, keys: &Keys, window: i64) -> [String; 3] {
        let p = &self.link.prefix;
        [
            format!("{p}:fail:{window}:{}", keys.address),
            format!("{p}:fail:{window}:{}", keys.pair),
            format!("{p}:logged:{window}:{}", keys.address),
        ]
    }

    /// `None` when Redis did not answer in time: the caller falls back to local counters.
    pub(super) async fn acquire(
        &self,
        keys: &Keys,
        limits: &LimitSettings,
        now_secs: i64,
    ) -> Option<Result<u32, (Refusal, bool)>> {
        let window = now_secs.div_euclid(WINDOW_SECS);
        let [a, p, logged] = self.keys(keys, window);
        let attempt = async {
            let mut conn = self.link.conn().await?;
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
                self.link.warn(now_secs, &e.to_string());
                None
            }
            Err(_) => {
                self.link.warn(now_secs, "timed out");
                None
            }
        }
    }

    /// Gives the slots back in the background: a permit is settled in `Drop`, which cannot wait.
    pub(super) fn release(&self, keys: &Keys, window: i64) {
        let Some(conn) = self.link.connected() else {
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
}
