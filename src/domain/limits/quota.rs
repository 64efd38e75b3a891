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
//! Counters are shared through Redis when it is configured (one script checks and increments
//! every limit of a request atomically, so the limit holds over all instances together) and
//! fall back to this instance's counters when Redis does not answer within `REDIS_TIMEOUT`,
//! like the failure limits. Without Redis each instance counts alone: N instances behind a load
//! balancer let a partner through up to N times its limit.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use super::REDIS_TIMEOUT;
use super::remote::RedisLink;
use crate::store::ClientPolicy;
use crate::types::{QuotaMode, Rate};

const STRIPES: usize = 16;

/// Checks and increments every limit of a request at once; in observe mode always increments.
/// KEYS: per limit its counter and its "logged" marker; ARGV: the mode, then per limit its
/// count and the keys' lifetime. Returns {admitted, the limit over (1-based, 0: none), first
/// time over in this window}.
const ADMIT: &str = r"
local n = #KEYS / 2
if ARGV[1] == 'enforce' then
  for i = 1, n do
    if tonumber(redis.call('GET', KEYS[2*i-1]) or '0') >= tonumber(ARGV[2*i]) then
      local first = redis.call('SET', KEYS[2*i], '1', 'NX', 'EX', ARGV[2*i+1])
      if first then return {0, i, 1} end
      return {0, i, 0}
    end
  end
end
local over = 0
for i = 1, n do
  local c = redis.call('INCR', KEYS[2*i-1])
  if c == 1 then redis.call('EXPIRE', KEYS[2*i-1], ARGV[2*i+1]) end
  if over == 0 and c > tonumber(ARGV[2*i]) then over = i end
end
if over == 0 then return {1, 0, 0} end
local first = redis.call('SET', KEYS[2*over], '1', 'NX', 'EX', ARGV[2*over+1])
if first then return {1, over, 1} end
return {1, over, 0}
";

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
struct Outcome {
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

/// One lock stripe of the local counters: per client id, one slot per limit (rate limit,
/// quota). Only clients with a limit get an entry, so the maps are bounded by the provisioned
/// clients.
type Stripe = Mutex<HashMap<String, [Slot; 2]>>;

pub struct Quotas {
    local: Box<[Stripe]>,
    stripe_of: RandomState,
    redis: Option<(Arc<RedisLink>, redis::Script)>,
}

impl Quotas {
    pub(super) fn new(redis: Option<Arc<RedisLink>>) -> Self {
        Self {
            local: (0..STRIPES).map(|_| Mutex::default()).collect(),
            stripe_of: RandomState::new(),
            redis: redis.map(|link| (link, redis::Script::new(ADMIT))),
        }
    }

    /// Takes one request of `client_id` against its limits, or refuses it (enforce mode).
    /// Call only for a policy that `has_limits`.
    pub async fn admit(
        &self,
        client_id: &str,
        policy: &ClientPolicy,
        now_secs: i64,
    ) -> Result<(), QuotaExceeded> {
        let limits = [policy.rate_limit, policy.quota];
        let remote = match &self.redis {
            Some((link, script)) => {
                remote_admit(link, script, client_id, policy, &limits, now_secs).await
            }
            None => None,
        };
        let outcome =
            remote.unwrap_or_else(|| self.local_admit(client_id, policy, &limits, now_secs));
        match outcome.over.and_then(|i| limits.get(i).copied().flatten()) {
            Some(limit) => exceeded(client_id, policy.quota_mode, limit, outcome, now_secs),
            None => Ok(()),
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
        let stripe = self.stripe_of.hash_one(client_id) as usize % STRIPES;
        let Some(Ok(mut map)) = self.local.get(stripe).map(Mutex::lock) else {
            // A poisoned lock (a panic elsewhere) must not lift a partner's limit.
            return Outcome {
                admitted: policy.quota_mode == QuotaMode::Observe,
                over: Some(0),
                first: false,
            };
        };
        let slots = match map.get_mut(client_id) {
            Some(slots) => slots,
            None => map.entry(client_id.to_owned()).or_default(),
        };
        for (slot, limit) in slots.iter_mut().zip(limits) {
            if let Some(limit) = limit {
                slot.roll(*limit, now_secs);
            }
        }
        if policy.quota_mode == QuotaMode::Enforce {
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
}

/// The one place where a request is found over a partner's limit, refused (enforce) or let
/// through (observe). The `tollgate_quota_exceeded_total{client_id}` counter belongs here.
fn exceeded(
    client_id: &str,
    mode: QuotaMode,
    limit: Rate,
    outcome: Outcome,
    now_secs: i64,
) -> Result<(), QuotaExceeded> {
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
        return Ok(());
    }
    let window = limit.window_secs();
    Err(QuotaExceeded {
        limit,
        retry_after: u64::try_from(window - now_secs.rem_euclid(window)).unwrap_or(1),
    })
}

/// The shared counters; `None` when Redis failed or was too slow (the caller counts locally).
async fn remote_admit(
    link: &RedisLink,
    script: &redis::Script,
    client_id: &str,
    policy: &ClientPolicy,
    limits: &[Option<Rate>; 2],
    now_secs: i64,
) -> Option<Outcome> {
    // Only the limits the client has go to Redis; `index` maps the script's back to ours.
    let index: Vec<usize> = (0..limits.len())
        .filter(|i| limits.get(*i).is_some_and(Option::is_some))
        .collect();
    let mut invocation = script.prepare_invoke();
    invocation.arg(policy.quota_mode.as_str());
    for limit in limits.iter().flatten() {
        let (secs, p) = (limit.window_secs(), &link.prefix);
        let window = now_secs.div_euclid(secs);
        invocation
            .key(format!("{p}:quota:{secs}:{window}:{client_id}"))
            .key(format!("{p}:quota-logged:{secs}:{window}:{client_id}"))
            .arg(limit.count())
            .arg(secs * 2);
    }
    let attempt = async {
        let mut conn = link.conn().await?;
        invocation.invoke_async::<(u8, usize, u8)>(&mut conn).await
    };
    match tokio::time::timeout(REDIS_TIMEOUT, attempt).await {
        Ok(Ok((admitted, over, first))) => Some(Outcome {
            admitted: admitted == 1,
            over: over.checked_sub(1).and_then(|i| index.get(i).copied()),
            first: first == 1,
        }),
        Ok(Err(e)) => {
            link.warn(now_secs, &e.to_string());
            None
        }
        Err(_) => {
            link.warn(now_secs, "timed out");
            None
        }
    }
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
