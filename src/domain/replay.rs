//! The `jti`s of accepted client assertions, so that each assertion is used once (RFC 7523 §3
//! item 7) on every instance, not only the one that saw it first.
//!
//! Kept in the database (one atomic upsert per assertion), or in Redis when
//! `TOLLGATE_REDIS_URL` is set (one `SET NX EX`): both are shared by every instance, and both
//! refuse the second of two racing requests. If Redis does not answer within its bound, the
//! database takes over for that request, so a Redis outage costs speed, not replay protection
//! between the instances that fall back. Expired database rows are deleted by each instance at
//! most once a minute, off the request path. (Measured cost: README, Performance.)

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use crate::domain::Error;
use crate::store::Store;

const REDIS_TIMEOUT: Duration = Duration::from_millis(150);
const CLEANUP_EVERY_SECS: i64 = 60;

pub struct ReplayGuard {
    redis: Option<Redis>,
    last_cleanup: AtomicI64,
    last_warning: AtomicI64,
}

struct Redis {
    url: String,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
}

impl ReplayGuard {
    /// `redis_url`: keep the `jti`s in Redis under `prefix`; else in the database.
    pub fn new(redis_url: Option<String>, prefix: String) -> Self {
        Self {
            redis: redis_url.map(|url| Redis {
                url,
                prefix,
                conn: OnceCell::new(),
            }),
            last_cleanup: AtomicI64::new(0),
            last_warning: AtomicI64::new(0),
        }
    }

    /// Records the `jti` of `client_id` until `expires_at`. `false`: seen before and not
    /// expired, a replay.
    pub async fn first_use(
        &self,
        store: &Store,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, Error> {
        if let Some(redis) = &self.redis {
            match tokio::time::timeout(
                REDIS_TIMEOUT,
                redis.set_once(client_id, jti, expires_at, now),
            )
            .await
            {
                Ok(Ok(first)) => return Ok(first),
                Ok(Err(e)) => self.warn(now, &e.to_string()),
                Err(_) => self.warn(now, "timed out"),
            }
        }
        self.clean_up(store, now);
        Ok(store
            .record_assertion_jti(client_id, jti, expires_at, now)
            .await?)
    }

    /// Deletes expired rows in the background, at most once a minute per instance.
    fn clean_up(&self, store: &Store, now: i64) {
        let last = self.last_cleanup.load(Ordering::Relaxed);
        if now - last < CLEANUP_EVERY_SECS
            || self
                .last_cleanup
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.delete_expired_assertion_jtis(now).await {
                tracing::warn!(error = %e, "cannot delete expired assertion jtis");
            }
        });
    }

    /// At most one warning a minute, not one per request.
    fn warn(&self, now: i64, error: &str) {
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%error, "Redis unavailable: assertion jtis go to the database");
        }
    }
}

impl Redis {
    async fn set_once(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> redis::RedisResult<bool> {
        let mut conn = self
            .conn
            .get_or_try_init(|| async {
                ConnectionManager::new(redis::Client::open(self.url.as_str())?).await
            })
            .await?
            .clone();
        // The id's length first, so that no (id, jti) pair can spell another's key.
        let key = format!("{}:jti:{}:{client_id}:{jti}", self.prefix, client_id.len());
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg((expires_at - now).max(1))
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }
}
