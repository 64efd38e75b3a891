//! Partner rate limits and quotas: token requests per fixed window (a second, minute, hour or
//! day, aligned on the Unix epoch), set per client (`client create/update --rate-limit 50/s
//! --quota 100000/d`).
//!
//! Only clients with a limit come here: the token endpoint asks `ClientPolicy::has_limits` on
//! the client record it already holds, so a client without one costs a branch, no lock and
//! no allocation. A request takes its slot in every limit at once, or in none: a refused
//! request counts against nothing, so a partner over its per-second limit does not also burn
//! its daily quota. In observe mode nothing is refused; the counts still grow and the first
//! request over a limit in each window is logged.
//!
//! Counters are shared through Redis when it is configured and fall back to this instance's
//! counters when Redis does not answer within `REDIS_TIMEOUT`, like the failure limits. Without
//! Redis each instance counts alone: N instances behind a load balancer let a partner through
//! up to N times its limit.
//!
//! Through Redis an instance reserves slots in batches (a lease): one script checks every limit
//! and takes up to 1/32 of what is left in the tightest one (at most `MAX_LEASE`), so a busy
//! partner far from its limit costs one Redis call per 64 requests instead of one each (a call
//! per request measured at about half the token endpoint's rate on this machine). Near the
//! limit leases shrink to one slot, so the limit stays exact over all instances: slots are only
//! ever reserved within it. A lease lives until one of its windows ends; what is left of it is
//! given back to the limits whose window has not ended. The price: while a lease sits unused on
//! one instance, another may refuse a request that those slots would have covered. The Redis
//! side of it is `lease.rs`.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use super::remote::RedisLink;
use crate::store::ClientPolicy;
use crate::types::{QuotaMode, Rate};
use lease::Remote;

mod lease;

const STRIPES: usize = 16;

/// A request over a limit in enforce mode: what the token endpoint answers 429 with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// The limit the request is over.
    pub limit: Rate,
    /// Seconds until that limit's window ends.
    pub retry_after: u64,
}

/// What one request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Outcome {
    admitted: bool,
    /// Index in the client's limits (0: the rate limit, 1: the quota) of the limit exceeded.
    over: Option<usize>,
    /// The first request over that limit in its window (logged).
    first: bool,
}

#[derive(Default)]
struct Slot {
    window_secs: i64,
    window: i64,
    count: u64,
    logged: bool,
}

impl Slot {
    fn roll(&mut self, rate: Rate, now_secs: i64) {
        let (secs, window) = (rate.window_secs(), now_secs.div_euclid(rate.window_secs()));
        if (self.window_secs, self.window) != (secs, window) {
            *self = Self {
                window_secs: secs,
                window,
                ..Self::default()
            };
        }
    }
}

/// Slots reserved in Redis and not yet used, for the limits and windows they were reserved in.
#[derive(Default)]
pub(super) struct Lease {
    /// The client's limits at reservation: a changed limit ends the lease, so a lowered one
    /// applies at once rather than after the slots already leased.
    limits: [Option<Rate>; 2],
    /// The window index of each limit (0: no such limit) at reservation.
    windows: [i64; 2],
    left: u64,
}

/// What this instance keeps per client with a limit.
#[derive(Default)]
struct Entry {
    /// The counters used without Redis (or while it fails), one per limit.
    slots: [Slot; 2],
    lease: Lease,
}

/// One lock stripe of the local state. Only clients with a limit get an entry, so the maps are
/// bounded by the provisioned clients.
type Stripe = Mutex<HashMap<String, Entry>>;

pub struct Quotas {
    local: Box<[Stripe]>,
    stripe_of: RandomState,
    redis: Option<Remote>,
}

/// The current window index of each limit (0 for an absent one).
pub(super) fn windows_of(limits: &[Option<Rate>; 2], now_secs: i64) -> [i64; 2] {
    limits.map(|l| l.map_or(0, |l| now_secs.div_euclid(l.window_secs())))
}

impl Quotas {
    pub(super) fn new(redis: Option<Arc<RedisLink>>) -> Self {
        Self {
            local: (0..STRIPES).map(|_| Mutex::default()).collect(),
            stripe_of: RandomState::new(),
            redis: redis.map(Remote::new),
        }
    }

    /// Runs `f` on the client's entry under its stripe's lock; `None` if the lock is poisoned.
    fn with_entry<T>(&self, client_id: &str, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        let stripe = self.stripe_of.hash_one(client_id) as usize % STRIPES;
        let mut map = self.local.get(stripe)?.lock().ok()?;
        let entry = match map.get_mut(client_id) {
            Some(entry) => entry,
            None => map.entry(client_id.to_owned()).or_default(),
        };
        Some(f(entry))
    }

    /// Reservations made in Redis since start.
    pub fn remote_calls(&self) -> u64 {
        self.redis.as_ref().map_or(0, Remote::calls)
    }

    /// Takes one request of `client_id` against its limits, or refuses it (enforce mode).
    /// `Ok(true)`: over a limit but let through (observe mode). Call only for a policy that
    /// `has_limits`.
    pub async fn admit(
        &self,
        client_id: &str,
        policy: &ClientPolicy,
        now_secs: i64,
    ) -> Result<bool, QuotaExceeded> {
        let limits = [policy.rate_limit, policy.quota];
        let remote = match &self.redis {
            Some(remote) => {
                self.leased(remote, client_id, policy, &limits, now_secs)
                    .await
            }
            None => None,
        };
        let outcome =
            remote.unwrap_or_else(|| self.local_admit(client_id, policy, &limits, now_secs));
        match outcome.over.and_then(|i| limits.get(i).copied().flatten()) {
            Some(limit) => exceeded(client_id, policy.quota_mode, limit, outcome, now_secs),
            None => Ok(false),
        }
    }

    /// Clients with counters in this instance's memory (only clients with a limit get one).
    pub fn tracked(&self) -> usize {
        self.local
            .iter()
            .filter_map(|m| m.lock().ok().map(|m| m.len()))
            .sum()
    }

    fn local_admit(
        &self,
        client_id: &str,
        policy: &ClientPolicy,
        limits: &[Option<Rate>; 2],
        now_secs: i64,
    ) -> Outcome {
        let outcome = self.with_entry(client_id, |e| {
            count_locally(&mut e.slots, policy.quota_mode, limits, now_secs)
        });
        // A poisoned lock (a panic elsewhere) must not lift a partner's limit.
        outcome.unwrap_or(Outcome {
            admitted: policy.quota_mode == QuotaMode::Observe,
            over: Some(0),
            first: false,
        })
    }

    /// One slot through Redis: from this instance's lease when it has one for the current
    /// windows, else from a new lease. `None`: Redis failed (the caller counts locally).
    async fn leased(
        &self,
        remote: &Remote,
        client_id: &str,
        policy: &ClientPolicy,
        limits: &[Option<Rate>; 2],
        now_secs: i64,
    ) -> Option<Outcome> {
        let windows = windows_of(limits, now_secs);
        let taken = self.with_entry(client_id, |e| {
            if e.lease.windows == windows && e.lease.limits == *limits && e.lease.left > 0 {
                e.lease.left -= 1;
                return Ok(());
            }
            // A lease of windows gone by (or of other limits): what is left goes back where
            // its window still runs.
            Err(std::mem::take(&mut e.lease))
        })?;
        let stale = match taken {
            Ok(()) => {
                return Some(Outcome {
                    admitted: true,
                    over: None,
                    first: false,
                });
            }
            Err(stale) => stale,
        };
        if stale.left > 0 {
            remote.give_back(client_id, &stale, now_secs);
        }
        let (reserved, outcome) = remote.reserve(client_id, policy, limits, now_secs).await?;
        if reserved > 1 {
            let spare = reserved - 1;
            let unkept = self.with_entry(client_id, |e| {
                let lease = Lease {
                    limits: *limits,
                    windows,
                    left: spare,
                };
                if e.lease.windows == windows && e.lease.limits == *limits {
                    e.lease.left += spare;
                    None
                } else if e.lease.left == 0 {
                    e.lease = lease;
                    None
                } else {
                    // A request of a later window leased meanwhile: this one's spare goes back.
                    Some(lease)
                }
            });
            if let Some(Some(lease)) = unkept {
                remote.give_back(client_id, &lease, now_secs);
            }
        }
        Some(outcome)
    }
}

/// The local counters: check every limit (enforce), then count the request in each.
fn count_locally(
    slots: &mut [Slot; 2],
    mode: QuotaMode,
    limits: &[Option<Rate>; 2],
    now_secs: i64,
) -> Outcome {
    for (slot, limit) in slots.iter_mut().zip(limits) {
        if let Some(limit) = limit {
            slot.roll(*limit, now_secs);
        }
    }
    if mode == QuotaMode::Enforce {
        let full = slots
            .iter()
            .zip(limits)
            .position(|(s, l)| l.is_some_and(|l| s.count >= u64::from(l.count())));
        if let Some(i) = full {
            let first = slots
                .get_mut(i)
                .is_some_and(|s| !std::mem::replace(&mut s.logged, true));
            return Outcome {
                admitted: false,
                over: Some(i),
                first,
            };
        }
    }
    let mut over = None;
    for (i, (slot, limit)) in slots.iter_mut().zip(limits).enumerate() {
        let Some(limit) = limit else { continue };
        slot.count += 1;
        if over.is_none() && slot.count > u64::from(limit.count()) {
            over = Some(i);
        }
    }
    let first = over
        .and_then(|i| slots.get_mut(i))
        .is_some_and(|s| !std::mem::replace(&mut s.logged, true));
    Outcome {
        admitted: true,
        over,
        first,
    }
}

/// The one place where a request is found over a partner's limit, refused (enforce) or let
/// through (observe: `Ok(true)`); the caller counts both in `tollgate_quota_exceeded_total`.
fn exceeded(
    client_id: &str,
    mode: QuotaMode,
    limit: Rate,
    outcome: Outcome,
    now_secs: i64,
) -> Result<bool, QuotaExceeded> {
    if outcome.first {
        // The client id is provisioned, not personal data; logged once per limit and window.
        tracing::warn!(
            client_id,
            %limit,
            mode = mode.as_str(),
            "a client is over its rate limit or quota (logged once per window)"
        );
    }
    if outcome.admitted {
        return Ok(true);
    }
    let window = limit.window_secs();
    Err(QuotaExceeded {
        limit,
        retry_after: u64::try_from(window - now_secs.rem_euclid(window)).unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rate: Option<&str>, quota: Option<&str>, mode: QuotaMode) -> ClientPolicy {
        ClientPolicy {
            rate_limit: rate.map(|r| Rate::parse(r).unwrap()),
            quota: quota.map(|q| Rate::parse(q).unwrap()),
            quota_mode: mode,
            ..ClientPolicy::default()
        }
    }

    async fn admitted(q: &Quotas, id: &str, p: &ClientPolicy, now: i64, n: usize) -> usize {
        let mut ok = 0;
        for _ in 0..n {
            ok += usize::from(q.admit(id, p, now).await.is_ok());
        }
        ok
    }

    #[tokio::test]
    async fn a_limit_admits_its_count_per_window_and_no_more() {
        let q = Quotas::new(None);
        let p = policy(Some("3/s"), None, QuotaMode::Enforce);
        assert_eq!(admitted(&q, "a", &p, 100, 10).await, 3);
        let refused = q.admit("a", &p, 100).await.unwrap_err();
        assert_eq!(
            (refused.limit.to_string(), refused.retry_after),
            ("3/s".into(), 1)
        );
        assert_eq!(
            admitted(&q, "b", &p, 100, 10).await,
            3,
            "another client has its own"
        );
        assert_eq!(admitted(&q, "a", &p, 101, 10).await, 3, "a new window");
    }

    #[tokio::test]
    async fn a_refused_request_takes_nothing_from_the_other_limit() {
        let q = Quotas::new(None);
        let p = policy(Some("2/s"), Some("5/d"), QuotaMode::Enforce);
        assert_eq!(admitted(&q, "a", &p, 86_400, 10).await, 2);
        assert_eq!(admitted(&q, "a", &p, 86_401, 10).await, 2);
        // Four taken from the daily five: one left, whatever was refused meanwhile.
        assert_eq!(admitted(&q, "a", &p, 86_402, 10).await, 1);
        let refused = q.admit("a", &p, 86_403).await.unwrap_err();
        assert_eq!(refused.limit.to_string(), "5/d");
        assert_eq!(refused.retry_after, 86_400 - 3);
    }

    #[tokio::test]
    async fn observe_mode_counts_but_never_refuses() {
        let q = Quotas::new(None);
        let p = policy(None, Some("2/m"), QuotaMode::Observe);
        assert_eq!(admitted(&q, "a", &p, 0, 10).await, 10);
        let outcome = q.local_admit("a", &p, &[p.rate_limit, p.quota], 0);
        assert_eq!(
            outcome,
            Outcome {
                admitted: true,
                over: Some(1),
                first: false
            },
            "over, and already logged in this window"
        );
    }

    #[tokio::test]
    async fn a_changed_limit_starts_its_count_afresh() {
        let q = Quotas::new(None);
        assert_eq!(
            admitted(
                &q,
                "a",
                &policy(Some("2/m"), None, QuotaMode::Enforce),
                0,
                5
            )
            .await,
            2
        );
        assert_eq!(
            admitted(
                &q,
                "a",
                &policy(Some("3/h"), None, QuotaMode::Enforce),
                0,
                5
            )
            .await,
            3
        );
    }
}
