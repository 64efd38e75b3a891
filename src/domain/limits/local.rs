//! The counters in this instance's memory: 16 lock stripes of one window's map each, keyed by
//! a keyed 64-bit hash, capped in size, and dropped whole when the window passes.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use super::{Keys, LimitSettings, Refusal, SHARDS};

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
    /// Moves forward to `window`, handing back the previous window's map to be dropped off the
    /// lock. Never backward: a caller that read the clock just before a rollover (the sweep, a
    /// request whose slot began in the window before) must not wipe the new window's counts,
    /// which would let a spray across the minute pass more failures than the limit.
    fn roll(&mut self, window: i64) -> Option<HashMap<u64, Entry>> {
        if window <= self.window {
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

pub(super) struct Local {
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
    pub(super) fn new(max_keys: usize) -> Self {
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
    /// nothing: a refusal never inserts. A request that read the clock just before a rollover
    /// counts in the newer window (the stricter choice).
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
            // A slot of a window gone by went with its window.
            if s.window != window {
                return false;
            }
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

    pub(super) fn acquire(
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

    pub(super) fn release(&self, keys: &Keys, window: i64) {
        self.give_back(self.hash(&keys.pair), window, false);
        self.give_back(self.hash(&keys.address), window, false);
    }

    /// Rolls every shard to `window`: the memory of windows gone by is freed even where no
    /// request comes.
    pub(super) fn sweep(&self, window: i64) {
        for h in 0..SHARDS as u64 {
            self.with_shard(h, window, |_| ());
        }
    }

    pub(super) fn tracked(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.counts.len()))
            .sum()
    }
}
