//! Recently verified credentials, so the hot path needs neither argon2 nor the database.
//!
//! After a secret verifies against its argon2id hash once, the cache keeps the record with an
//! HMAC-SHA256 digest of the presented secret under a random per-process key (never the secret
//! itself). The next request with the same secret is checked by one HMAC and a constant-time
//! comparison. A wrong secret is never cached: on a mismatch the caller takes the slow path,
//! which costs what an unknown client costs.
//!
//! Staleness is bounded by `Freshness`: the database keeps an epoch that triggers bump on every
//! UPDATE or DELETE of a client or API key; each instance polls it every second and empties its
//! caches when it moves. If polling fails for longer than `STALE_AFTER`, the caches are
//! bypassed, so a change reaches every instance within five seconds even when an instance cannot
//! see the database.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;

use crate::domain::Error;
use crate::types::random_bytes;

/// How long caches stay usable after the last successful epoch poll.
pub const STALE_AFTER: Duration = Duration::from_secs(4);
/// Entries older than this are re-verified even when nothing changed.
const MAX_AGE: Duration = Duration::from_secs(600);
/// Beyond this many entries the cache starts over rather than grow without bound.
const MAX_ENTRIES: usize = 100_000;
/// Lock stripes for the slow path (see `CredentialCache::single_flight`).
const STRIPES: usize = 64;

/// Whether cached entries may be trusted right now, and under which epoch they were read.
pub struct Freshness {
    started: Instant,
    /// Milliseconds after `started` of the last successful poll; negative: never.
    last_sync_ms: AtomicI64,
    epoch: AtomicU64,
}

impl Default for Freshness {
    fn default() -> Self {
        Self {
            started: crate::clock::instant(),
            last_sync_ms: AtomicI64::new(-1),
            epoch: AtomicU64::new(0),
        }
    }
}

impl Freshness {
    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    pub fn is_fresh(&self) -> bool {
        let last = self.last_sync_ms.load(Ordering::Acquire);
        last >= 0 && self.elapsed_ms() - last <= i64::try_from(STALE_AFTER.as_millis()).unwrap_or(0)
    }

    /// The local view of the database epoch; entries are tagged with it when read.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Records a successful poll. Returns true when the epoch moved (caches must be emptied).
    pub fn synced(&self, db_epoch: u64) -> bool {
        let moved = self.epoch.swap(db_epoch, Ordering::AcqRel) != db_epoch;
        self.last_sync_ms
            .store(self.elapsed_ms(), Ordering::Release);
        moved
    }
}

struct Entry<V> {
    digest: hmac::Tag,
    value: V,
    inserted: Instant,
    /// Unix seconds after which the secret itself is no longer valid (a previous secret).
    valid_until: Option<i64>,
}

pub struct CredentialCache<V> {
    key: hmac::Key,
    entries: RwLock<HashMap<String, Entry<V>>>,
    flights: Box<[tokio::sync::Mutex<()>]>,
    stripe_of: RandomState,
}

impl<V: Clone> CredentialCache<V> {
    pub fn new() -> Result<Self, Error> {
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &random_bytes::<32>()?),
            entries: RwLock::new(HashMap::new()),
            flights: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            stripe_of: RandomState::new(),
        })
    }

    /// Held across a cache miss's verification. Concurrent requests presenting one credential
    /// while it is not cached then wait for the first verification and find the result cached,
    /// instead of each queueing an argon2 run: at start-up, or after any change empties the
    /// cache, 64 connections of one partner otherwise queued 64 runs and some got 503. Striped
    /// by a keyed hash rather than one lock per id, so memory stays fixed whatever ids a caller
    /// invents; a wait longer than the hashing pool's own limit is answered `Busy` (503).
    pub async fn single_flight(
        &self,
        id: &str,
        max_wait: Duration,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, Error> {
        let stripe = self.stripe_of.hash_one(id) as usize % STRIPES;
        tokio::time::timeout(max_wait, self.flights[stripe].lock())
            .await
            .map_err(|_| Error::Busy)
    }

    fn digest(&self, id: &str, secret: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&u32::try_from(id.len()).unwrap_or(u32::MAX).to_be_bytes());
        ctx.update(id.as_bytes());
        ctx.update(secret);
        ctx.sign()
    }

    /// The cached value, only if `secret` is the one that verified and the entry may be trusted.
    pub fn check(
        &self,
        freshness: &Freshness,
        id: &str,
        secret: &[u8],
        now_secs: i64,
    ) -> Option<V> {
        self.check_hit(freshness, id, secret, now_secs)
            .map(|(value, _)| value)
    }

    /// `check`, also saying whether the secret was a previous one (still valid in a rotation).
    pub fn check_hit(
        &self,
        freshness: &Freshness,
        id: &str,
        secret: &[u8],
        now_secs: i64,
    ) -> Option<(V, bool)> {
        if !freshness.is_fresh() {
            return None;
        }
        let presented = self.digest(id, secret);
        let entries = self.entries.read().ok()?;
        let entry = entries.get(id)?;
        if entry.inserted.elapsed() > MAX_AGE || entry.valid_until.is_some_and(|t| now_secs >= t) {
            return None;
        }
        aws_lc_rs::constant_time::verify_slices_are_equal(entry.digest.as_ref(), presented.as_ref())
            .ok()
            .map(|()| (entry.value.clone(), entry.valid_until.is_some()))
    }

    /// Remembers a secret that just verified. `read_epoch` is the epoch seen before the record
    /// was read: if it moved since, the record may be stale and is not kept.
    pub fn remember(
        &self,
        freshness: &Freshness,
        read_epoch: u64,
        id: &str,
        secret: &[u8],
        value: V,
        valid_until: Option<i64>,
    ) {
        let digest = self.digest(id, secret);
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if freshness.epoch() != read_epoch {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(id) {
            entries.clear();
        }
        entries.insert(
            id.to_owned(),
            Entry {
                digest,
                value,
                inserted: crate::clock::instant(),
                valid_until,
            },
        );
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Freshness {
        let f = Freshness::default();
        f.synced(0);
        f
    }

    #[test]
    fn only_the_exact_secret_hits() {
        let (f, c) = (fresh(), CredentialCache::<u32>::new().unwrap());
        c.remember(&f, 0, "client", b"secret-1", 7, None);
        assert_eq!(c.check(&f, "client", b"secret-1", 0), Some(7));
        assert_eq!(c.check(&f, "client", b"secret-2", 0), None);
        assert_eq!(c.check(&f, "client", b"secret-", 0), None);
        assert_eq!(c.check(&f, "other", b"secret-1", 0), None);
    }

    #[test]
    fn an_entry_ends_with_its_secret() {
        let (f, c) = (fresh(), CredentialCache::<u32>::new().unwrap());
        c.remember(&f, 0, "client", b"old", 7, Some(100));
        assert_eq!(c.check(&f, "client", b"old", 99), Some(7));
        assert_eq!(c.check(&f, "client", b"old", 100), None);
    }

    #[test]
    fn a_moved_epoch_refuses_records_read_before_it() {
        let (f, c) = (fresh(), CredentialCache::<u32>::new().unwrap());
        assert!(f.synced(1));
        c.remember(&f, 0, "client", b"s", 7, None);
        assert!(c.is_empty());
    }

    #[test]
    fn nothing_is_trusted_before_the_first_poll() {
        let (f, c) = (Freshness::default(), CredentialCache::<u32>::new().unwrap());
        c.remember(&f, 0, "client", b"s", 7, None);
        assert_eq!(c.check(&f, "client", b"s", 0), None);
        f.synced(0);
        assert_eq!(c.check(&f, "client", b"s", 0), Some(7));
    }
}
