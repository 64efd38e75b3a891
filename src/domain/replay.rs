//! The `jti`s of accepted client assertions, so that each assertion is used once (RFC 7523 §3
//! item 7) on every instance, not only the one that saw it first.
//!
//! Kept in the database, or in Redis when `TOLLGATE_REDIS_URL` is set (one `SET NX EX`): both
//! are shared by every instance, and both refuse the second of two racing requests. If Redis
//! does not answer within its bound, the database takes over for that request, so a Redis
//! outage costs speed, not replay protection between the instances that fall back.
//!
//! Database writes are batched: one writer per instance takes every `jti` waiting and records
//! them in one atomic upsert, while the next batch gathers. One write per assertion cost more
//! than half the token endpoint's rate (README, Performance); a batch costs one round trip and
//! one commit for all the assertions that arrived during the previous one, and each request
//! still has its answer from the database before its token is issued. Expired rows are
//! deleted by each instance at most once a minute, off the request path.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{OnceCell, mpsc, oneshot};

use crate::domain::Error;
use crate::store::{Store, StoreError};

const REDIS_TIMEOUT: Duration = Duration::from_millis(150);
const CLEANUP_EVERY_SECS: i64 = 60;
/// The most `jti`s in one statement (SQLite binds parameters by a linear scan: kept modest).
const MAX_BATCH: usize = 128;
/// `jti`s waiting for the writer at most; beyond, requests wait to queue (back-pressure).
const QUEUE: usize = 4096;

pub struct ReplayGuard {
    redis: Option<Redis>,
    store: Store,
    writer: mpsc::Sender<Pending>,
    last_cleanup: AtomicI64,
    last_warning: AtomicI64,
}

/// A `jti` waiting for the writer, and where its answer goes.
struct Pending {
    client_id: String,
    jti: String,
    expires_at: i64,
    now: i64,
    reply: oneshot::Sender<Result<bool, Error>>,
}

struct Redis {
    url: String,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
}

impl ReplayGuard {
    /// `redis_url`: keep the `jti`s in Redis under `prefix`; else in `store`. Needs a running
    /// Tokio runtime: it starts the database writer (which ends when the guard is dropped).
    pub fn new(store: Store, redis_url: Option<String>, prefix: String) -> Self {
        let (writer, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store.clone(), queue));
        Self {
            redis: redis_url.map(|url| Redis {
                url,
                prefix,
                conn: OnceCell::new(),
            }),
            store,
            writer,
            last_cleanup: AtomicI64::new(0),
            last_warning: AtomicI64::new(0),
        }
    }

    /// Records the `jti` of `client_id` until `expires_at`. `false`: seen before and not
    /// expired, a replay.
    pub async fn first_use(
        &self,
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
        self.clean_up(now);
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            client_id: client_id.to_owned(),
            jti: jti.to_owned(),
            expires_at,
            now,
            reply,
        };
        let stopped = || Error::Internal("the jti writer has stopped".into());
        self.writer.send(pending).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Deletes expired rows in the background, at most once a minute per instance.
    fn clean_up(&self, now: i64) {
        let last = self.last_cleanup.load(Ordering::Relaxed);
        if now - last < CLEANUP_EVERY_SECS
            || self
                .last_cleanup
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let store = self.store.clone();
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

/// The database writer: each batch is every `jti` that queued while the previous one was
/// written, up to `MAX_BATCH`.
async fn write_batches(store: Store, mut queue: mpsc::Receiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        // A jti twice in one batch (a replay racing itself here): the first one counts, the
        // others are replays. The statement itself must not touch a row twice.
        let mut seen = HashSet::new();
        let mut rows = Vec::with_capacity(batch.len());
        let mut repeats = Vec::new();
        for p in batch {
            if seen.insert((p.client_id.clone(), p.jti.clone())) {
                rows.push(p);
            } else {
                repeats.push(p);
            }
        }
        for p in repeats {
            let _ = p.reply.send(Ok(false));
        }
        let now = rows.iter().map(|p| p.now).max().unwrap_or(0);
        let keys: Vec<_> = rows
            .iter()
            .map(|p| (p.client_id.clone(), p.jti.clone(), p.expires_at))
            .collect();
        match store.record_assertion_jtis(&keys, now).await {
            Ok(new) => {
                for p in rows {
                    let first = new.contains(&(p.client_id, p.jti));
                    let _ = p.reply.send(Ok(first));
                }
            }
            Err(e) => {
                let (unavailable, cause) = match &e {
                    StoreError::Unavailable(m) => (true, m.clone()),
                    other => (false, other.to_string()),
                };
                for p in rows {
                    let e = if unavailable {
                        Error::Unavailable(cause.clone())
                    } else {
                        Error::Internal(cause.clone())
                    };
                    let _ = p.reply.send(Err(e));
                }
            }
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
