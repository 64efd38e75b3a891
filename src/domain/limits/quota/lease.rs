//! Quotas through Redis: one script reserves a lease of slots on every limit of a client at
//! once, another gives back what a lease did not use (see the module above for why).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Lease, Outcome, windows_of};
use crate::domain::limits::REDIS_TIMEOUT;
use crate::domain::limits::remote::RedisLink;
use crate::store::ClientPolicy;
use crate::types::Rate;

/// The most slots one lease takes.
const MAX_LEASE: u64 = 64;
/// A lease takes this share of what is left in the tightest limit.
const LEASE_DIVISOR: u64 = 32;

/// Reserves a lease on every limit of a client at once. KEYS: per limit its counter and its
/// "logged" marker; ARGV: the mode, the largest lease, the divisor, then per limit its count and
/// the keys' lifetime. Enforce mode reserves only within every limit, or refuses; observe mode
/// always reserves. Returns {slots reserved (0: refused), the limit over (1-based, 0: none),
/// first time over in this window}.
const RESERVE: &str = r"
local n = #KEYS / 2
local avail, tight = nil, 0
for i = 1, n do
  local a = tonumber(ARGV[2*i+2]) - tonumber(redis.call('GET', KEYS[2*i-1]) or '0')
  if avail == nil or a < avail then avail, tight = a, i end
end
if ARGV[1] == 'enforce' and avail <= 0 then
  local first = redis.call('SET', KEYS[2*tight], '1', 'NX', 'EX', ARGV[2*tight+3])
  if first then return {0, tight, 1} end
  return {0, tight, 0}
end
local grant = math.floor(math.max(avail, 0) / tonumber(ARGV[3]))
grant = math.max(1, math.min(tonumber(ARGV[2]), grant))
local over = 0
for i = 1, n do
  local c = redis.call('INCRBY', KEYS[2*i-1], grant)
  if c == grant then redis.call('EXPIRE', KEYS[2*i-1], ARGV[2*i+3]) end
  if over == 0 and c > tonumber(ARGV[2*i+2]) then over = i end
end
if over == 0 then return {grant, 0, 0} end
local first = redis.call('SET', KEYS[2*over], '1', 'NX', 'EX', ARGV[2*over+3])
if first then return {grant, over, 1} end
return {grant, over, 0}
";

/// Gives `ARGV[1]` unused slots back to each counter still in its window; never creates a key
/// nor goes below zero.
const GIVE_BACK: &str = r"
for _, k in ipairs(KEYS) do
  local c = tonumber(redis.call('GET', k) or '0')
  if c > 0 then redis.call('DECRBY', k, math.min(c, tonumber(ARGV[1]))) end
end
return 0
";

pub(super) struct Remote {
    link: Arc<RedisLink>,
    reserve: redis::Script,
    give_back: redis::Script,
    /// Reservations made (for tests and benchmarks: how many requests a call covered).
    calls: AtomicU64,
}

impl Remote {
    pub(super) fn new(link: Arc<RedisLink>) -> Self {
        Self {
            link,
            reserve: redis::Script::new(RESERVE),
            give_back: redis::Script::new(GIVE_BACK),
            calls: AtomicU64::new(0),
        }
    }

    /// Reservations made since start.
    pub(super) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Remote {
    /// The keys of each limit the client has: (counter, logged marker), for `windows`.
    fn keys(
        &self,
        client_id: &str,
        limits: &[Option<Rate>; 2],
        windows: [i64; 2],
    ) -> Vec<(String, String)> {
        let p = &self.link.prefix;
        limits
            .iter()
            .zip(windows)
            .filter_map(|(l, window)| l.map(|l| (l.window_secs(), window)))
            .map(|(secs, window)| {
                (
                    format!("{p}:quota:{secs}:{window}:{client_id}"),
                    format!("{p}:quota-logged:{secs}:{window}:{client_id}"),
                )
            })
            .collect()
    }

    /// A new lease: (slots reserved, 0 when refused; what the request found). `None` when Redis
    /// failed or was too slow.
    pub(super) async fn reserve(
        &self,
        client_id: &str,
        policy: &ClientPolicy,
        limits: &[Option<Rate>; 2],
        now_secs: i64,
    ) -> Option<(u64, Outcome)> {
        // Only the limits the client has go to Redis; `index` maps the script's back to ours.
        let index: Vec<usize> = (0..limits.len())
            .filter(|i| limits.get(*i).is_some_and(Option::is_some))
            .collect();
        let mut invocation = self.reserve.prepare_invoke();
        invocation
            .arg(policy.quota_mode.as_str())
            .arg(MAX_LEASE)
            .arg(LEASE_DIVISOR);
        let keys = self.keys(client_id, limits, windows_of(limits, now_secs));
        for ((counter, marker), limit) in keys.into_iter().zip(limits.iter().flatten()) {
            invocation
                .key(counter)
                .key(marker)
                .arg(limit.count())
                .arg(limit.window_secs() * 2);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let attempt = async {
            let mut conn = self.link.conn().await?;
            invocation.invoke_async::<(u64, usize, u8)>(&mut conn).await
        };
        match tokio::time::timeout(REDIS_TIMEOUT, attempt).await {
            Ok(Ok((reserved, over, first))) => Some((
                reserved,
                Outcome {
                    admitted: reserved > 0,
                    over: over.checked_sub(1).and_then(|i| index.get(i).copied()),
                    first: first == 1,
                },
            )),
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

    /// Gives the unused slots of `lease` back to each of its limits whose window still runs, in
    /// the background (a request does not wait for it; a failure loses only those slots).
    pub(super) fn give_back(&self, client_id: &str, lease: &Lease, now_secs: i64) {
        let current = windows_of(&lease.limits, now_secs);
        let running: [Option<Rate>; 2] = [0, 1].map(|i| {
            lease
                .limits
                .get(i)
                .copied()
                .flatten()
                .filter(|_| lease.windows.get(i) == current.get(i))
        });
        let keys: Vec<String> = self
            .keys(client_id, &running, lease.windows)
            .into_iter()
            .map(|(counter, _)| counter)
            .collect();
        let (Some(conn), false) = (self.link.connected(), keys.is_empty()) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (script, left) = (self.give_back.clone(), lease.left);
        rt.spawn(async move {
            let mut conn = conn;
            let mut invocation = script.prepare_invoke();
            invocation.arg(left);
            for key in keys {
                invocation.key(key);
            }
            let _ = tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async::<i64>(&mut conn))
                .await;
        });
    }
}
