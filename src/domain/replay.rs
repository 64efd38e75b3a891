//! The `jti`s of accepted client assertions and DPoP proofs, so that each is used once (RFC
//! 7523 §3 item 7, RFC 9449 §11.1) on every instance, not only the one that saw it first.
//!
//! Kept in the database, or in Redis when `TOLLGATE_REDIS_URL` is set (`SET NX EX`): both are
//! shared by every instance, and both refuse the second of two racing requests. If Redis does
//! not answer within its bound, the database takes over for that batch, so a Redis outage costs
//! speed, not replay protection between the instances that fall back.
//!
//! Writes are batched: one writer per instance takes every `jti` waiting and records them in
//! one atomic statement, or one Redis pipeline, while the next batch gathers; each request still
//! has its answer from the shared store before its token is issued. Under load, batches start
//! at least `MIN_CYCLE` apart, so that a store that answers fast (Redis, in about a quarter of a
//! millisecond) still gets batches worth their fixed cost. Expired database rows are
//! deleted by each instance at most once a minute, off the request path.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{OnceCell, mpsc, oneshot};

use crate::domain::Error;
use crate::store::{Store, StoreError};

const REDIS_TIMEOUT: Duration = Duration::from_millis(150);
const CLEANUP_EVERY_SECS: i64 = 60;
/// The most `jti`s in one write (SQLite binds parameters by a linear scan: kept modest).
const MAX_BATCH: usize = 128;
/// `jti`s waiting for the writer at most; beyond, requests wait to queue (back-pressure).
const QUEUE: usize = 4096;
/// The least time between the starts of two batches. A `jti` that arrives after a quiet spell is
/// written at once; under load one waits at most this long (plus the timer's millisecond
/// granularity) for the batch it joins. Without it, Redis answered so fast that batches held 3
/// `jti`s, and their fixed cost (task wake-ups, a system call on each side) cost the server and
/// Redis more than the `SET`s: with it, 30 a batch, and per assertion 7 µs less Redis CPU and
/// 11 µs less server CPU in back-to-back runs (README, Performance). The database's own round
/// trip is longer than this, so its batches barely change.
const MIN_CYCLE: Duration = Duration::from_millis(1);

pub struct ReplayGuard {
    writer: mpsc::Sender<Pending>,
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
    /// Tokio runtime: it starts the writer (which ends when the guard is dropped).
    pub fn new(store: Store, redis_url: Option<String>, prefix: String) -> Self {
        let (writer, queue) = mpsc::channel(QUEUE);
        let redis = redis_url.map(|url| Redis {
            url,
            prefix,
            conn: OnceCell::new(),
        });
        let state = Writer {
            store,
            redis,
            last_cleanup: 0,
            last_warning: i64::MIN,
        };
        tokio::spawn(state.run(queue));
        Self { writer }
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
}

/// The one task per instance that writes `jti`s.
struct Writer {
    store: Store,
    redis: Option<Redis>,
    last_cleanup: i64,
    last_warning: i64,
}

impl Writer {
    /// Each batch is every `jti` that queued while the previous one was written, and until
    /// `MIN_CYCLE` after the previous one started, up to `MAX_BATCH`.
    async fn run(mut self, mut queue: mpsc::Receiver<Pending>) {
        let mut last_start: Option<std::time::Instant> = None;
        while let Some(first) = queue.recv().await {
            if let Some(wait) = last_start.and_then(|t| MIN_CYCLE.checked_sub(t.elapsed())) {
                tokio::time::sleep(wait).await;
            }
            last_start = Some(crate::clock::instant());
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            self.write(batch).await;
        }
    }

    async fn write(&mut self, batch: Vec<Pending>) {
        // A jti twice in one batch (a replay racing itself here): the first one counts, the
        // others are replays. A statement must not touch a row twice either. Batches are
        // small (at most MAX_BATCH), so comparing pairs costs less than hashing each.
        let mut rows: Vec<Pending> = Vec::with_capacity(batch.len());
        for p in batch {
            if rows
                .iter()
                .any(|r| r.jti == p.jti && r.client_id == p.client_id)
            {
                let _ = p.reply.send(Ok(false));
            } else {
                rows.push(p);
            }
        }
        let now = rows.iter().map(|p| p.now).max().unwrap_or(0);
        if let Some(redis) = &self.redis {
            let error = match tokio::time::timeout(REDIS_TIMEOUT, redis.set_each(&rows)).await {
                Ok(Ok(firsts)) if firsts.len() == rows.len() => {
                    for (p, first) in rows.into_iter().zip(firsts) {
                        let _ = p.reply.send(Ok(first));
                    }
                    return;
                }
                Ok(Ok(_)) => "Redis answered a different number of SETs".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out".to_owned(),
            };
            self.warn(now, &error);
        }
        self.clean_up(now);
        let keys: Vec<_> = rows
            .iter()
            .map(|p| (p.client_id.as_str(), p.jti.as_str(), p.expires_at))
            .collect();
        match self.store.record_assertion_jtis(&keys, now).await {
            Ok(firsts) => {
                for (p, first) in rows.into_iter().zip(firsts) {
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

    /// Deletes expired rows in the background, at most once a minute per instance.
    fn clean_up(&mut self, now: i64) {
        if now - self.last_cleanup < CLEANUP_EVERY_SECS {
            return;
        }
        self.last_cleanup = now;
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.delete_expired_assertion_jtis(now).await {
                tracing::warn!(error = %e, "cannot delete expired assertion jtis");
            }
        });
    }

    /// At most one warning a minute, not one per batch.
    fn warn(&mut self, now: i64, error: &str) {
        if now.saturating_sub(self.last_warning) >= 60 {
            self.last_warning = now;
            tracing::warn!(%error, "Redis unavailable: jtis go to the database");
        }
    }
}

impl Redis {
    /// `SET key 1 NX EX ttl` for each row, in one pipeline (one round trip); `true` where the
    /// key was new. Each `SET NX` is atomic on its own, which is all a `jti` needs.
    async fn set_each(&self, rows: &[Pending]) -> redis::RedisResult<Vec<bool>> {
        let mut conn = self
            .conn
            .get_or_try_init(|| async {
                ConnectionManager::new(redis::Client::open(self.url.as_str())?).await
            })
            .await?
            .clone();
        let mut pipe = redis::pipe();
        for p in rows {
            // The id's length first, so that no (id, jti) pair can spell another's key.
            let key = format!(
                "{}:jti:{}:{}:{}",
                self.prefix,
                p.client_id.len(),
                p.client_id,
                p.jti
            );
            pipe.cmd("SET")
                .arg(key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg((p.expires_at - p.now).max(1));
        }
        let set: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        Ok(set.into_iter().map(|s| s.is_some()).collect())
    }
}
