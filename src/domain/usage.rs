//! Usage accounting: tokens issued per client and minute, and when each credential was last
//! used. Counted in memory on the request path (one short lock, no allocation for a client
//! already seen this minute) and added to the database every few seconds and when the server
//! stops, instead of one audit row per token.
//!
//! Exact, not approximate: a flush that fails is kept and retried under the same id, so it is
//! applied once (`usage_flushes`) even when an error hid a successful COMMIT; a flush the
//! database cannot take when the server stops goes to the on-disk spool and is applied at the
//! next start.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::spool::{Spool, SpoolFile};
use crate::store::usage::{LastUsed, UsageCount, UsageFlush};
use crate::store::{Store, StoreError};

/// Which credential was used, for `credential_last_used.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    ClientSecret = 0,
    ClientPreviousSecret = 1,
    ApiKey = 2,
    SigningKey = 3,
}

impl Credential {
    const ALL: [Self; 4] = [
        Self::ClientSecret,
        Self::ClientPreviousSecret,
        Self::ApiKey,
        Self::SigningKey,
    ];

    /// The client's current secret, or its previous one during a rotation.
    pub fn client_secret(previous: bool) -> Self {
        if previous {
            Self::ClientPreviousSecret
        } else {
            Self::ClientSecret
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::ClientPreviousSecret => "client_previous_secret",
            Self::ApiKey => "api_key",
            Self::SigningKey => "signing_key",
        }
    }
}

#[derive(Default)]
struct Live {
    /// Per client: the current minute's count, and earlier minutes not yet flushed.
    tokens: HashMap<Box<str>, Minutes>,
    /// Per kind of credential (indexed by `Credential as usize`): id → last use (ms).
    last_used: [HashMap<Box<str>, i64>; 4],
}

#[derive(Default)]
struct Minutes {
    minute: i64,
    count: u64,
    earlier: Vec<(i64, u64)>,
}

pub struct Usage {
    live: Mutex<Live>,
    /// Flushes taken from `live` and not yet applied, oldest first. Only the flusher touches it.
    pending: tokio::sync::Mutex<Vec<UsageFlush>>,
    instance: String,
    seq: AtomicU64,
}

impl Usage {
    pub fn new(instance: String) -> Self {
        Self {
            live: Mutex::new(Live::default()),
            pending: tokio::sync::Mutex::new(Vec::new()),
            instance,
            seq: AtomicU64::new(0),
        }
    }

    /// One token issued to `client_id`, signed with `kid`.
    pub fn token_issued(&self, client_id: &str, kid: &str, now_ms: i64) {
        let minute = now_ms.div_euclid(60_000);
        let Ok(mut live) = self.live.lock() else {
            return;
        };
        match live.tokens.get_mut(client_id) {
            Some(m) if m.minute == minute => m.count += 1,
            Some(m) => {
                if m.count > 0 {
                    let done = (m.minute, m.count);
                    m.earlier.push(done);
                }
                m.minute = minute;
                m.count = 1;
            }
            None => {
                live.tokens.insert(
                    client_id.into(),
                    Minutes {
                        minute,
                        count: 1,
                        earlier: Vec::new(),
                    },
                );
            }
        }
        set_last(&mut live, Credential::SigningKey, kid, now_ms);
    }

    /// A credential was used (an API key at `/getprofile`).
    pub fn used(&self, what: Credential, id: &str, now_ms: i64) {
        if let Ok(mut live) = self.live.lock() {
            set_last(&mut live, what, id, now_ms);
        }
    }

    /// Takes what was counted since the last take, as one flush with a fresh id.
    fn take(&self) -> Option<UsageFlush> {
        let live = std::mem::take(&mut *self.live.lock().ok()?);
        let mut counts = Vec::new();
        for (client, m) in live.tokens {
            for (minute, n) in m.earlier.into_iter().chain([(m.minute, m.count)]) {
                if n > 0 {
                    counts.push(UsageCount {
                        client_id: client.to_string(),
                        minute,
                        tokens: i64::try_from(n).unwrap_or(i64::MAX),
                    });
                }
            }
        }
        let last_used: Vec<LastUsed> = Credential::ALL
            .iter()
            .zip(live.last_used)
            .flat_map(|(kind, ids)| {
                ids.into_iter().map(|(id, at_ms)| LastUsed {
                    kind: kind.as_str().to_owned(),
                    id: id.into(),
                    at_ms,
                })
            })
            .collect();
        if counts.is_empty() && last_used.is_empty() {
            return None;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        Some(UsageFlush {
            flush_id: format!("{}-{seq}", self.instance),
            counts,
            last_used,
        })
    }

    /// Adds everything counted so far to the database. On an error the counts are kept (and
    /// retried under the same flush id next time); nothing is lost or counted twice.
    pub async fn flush(&self, store: &Store, now_ms: i64) -> Result<(), StoreError> {
        let mut pending = self.pending.lock().await;
        pending.extend(self.take());
        while let Some(flush) = pending.first() {
            store.apply_usage(flush, now_ms).await?;
            pending.remove(0);
        }
        Ok(())
    }

    /// The last flush, when the server stops: to the database, or else to the spool.
    pub async fn flush_or_spool(&self, store: &Store, spool: &Spool, now_ms: i64) {
        if let Err(e) = self.flush(store, now_ms).await {
            let pending = std::mem::take(&mut *self.pending.lock().await);
            let n = pending.len();
            match spool.append(SpoolFile::Usage, &pending).await {
                Ok(()) => {
                    tracing::warn!(error = %e, flushes = n, "usage spooled to disk: the database is away")
                }
                Err(s) => {
                    tracing::error!(error = %e, spool = %s, flushes = n, "usage could not be written or spooled")
                }
            }
        }
    }

    /// Applies flushes a previous run left in the spool (each once: they carry their ids).
    pub async fn replay_spool(
        store: &Store,
        spool: &Spool,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let flushes: Vec<UsageFlush> = spool
            .read(SpoolFile::Usage)
            .await
            .map_err(|e| StoreError::Query(format!("usage spool: {e}")))?;
        for flush in &flushes {
            store.apply_usage(flush, now_ms).await?;
        }
        if !flushes.is_empty() {
            spool
                .clear(SpoolFile::Usage)
                .await
                .map_err(|e| StoreError::Query(format!("usage spool: {e}")))?;
        }
        Ok(flushes.len())
    }
}

fn set_last(live: &mut Live, what: Credential, id: &str, now_ms: i64) {
    let map = &mut live.last_used[what as usize];
    match map.get_mut(id) {
        Some(t) => *t = (*t).max(now_ms),
        None => {
            map.insert(id.into(), now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_client_and_minute_and_takes_them_once() {
        let u = Usage::new("i".into());
        for _ in 0..3 {
            u.token_issued("a", "k1", 60_000);
            u.used(Credential::ClientSecret, "a", 60_000);
        }
        u.token_issued("a", "k1", 120_500);
        u.used(Credential::ClientPreviousSecret, "a", 120_500);
        u.token_issued("b", "k2", 61_000);
        let flush = u.take().unwrap();
        assert_eq!(flush.flush_id, "i-0");
        let mut counts: Vec<_> = flush
            .counts
            .iter()
            .map(|c| (c.client_id.as_str(), c.minute, c.tokens))
            .collect();
        counts.sort();
        assert_eq!(counts, [("a", 1, 3), ("a", 2, 1), ("b", 1, 1)]);
        let last = |kind: &str, id: &str| {
            flush
                .last_used
                .iter()
                .find(|l| l.kind == kind && l.id == id)
                .map(|l| l.at_ms)
        };
        assert_eq!(last("client_secret", "a"), Some(60_000));
        assert_eq!(last("client_previous_secret", "a"), Some(120_500));
        assert_eq!(last("signing_key", "k1"), Some(120_500));
        assert!(u.take().is_none(), "taken once");
    }
}
