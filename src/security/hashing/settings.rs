//! argon2id cost and the bounded pool that runs it: `[argon2]` in the configuration file,
//! `TOLLGATE_ARGON2_*` and `TOLLGATE_HASH_*` in the environment.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Settings {
    /// Memory per hash in KiB (OWASP: 19456 with 2 iterations).
    pub memory_kib: u32,
    pub iterations: u32,
    /// Lanes inside one hash.
    pub parallelism: u32,
    /// Dedicated hashing threads; 0 means one per core (they give way to the HTTP workers: see
    /// `governor`).
    pub workers: usize,
    /// Hash jobs that may wait for a thread; beyond that requests are refused at once (503).
    pub queue: usize,
    /// A job that waited longer than this is answered "busy" instead of being hashed.
    pub max_wait_ms: u64,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            workers: 0,
            queue: 64,
            max_wait_ms: 2_000,
        }
    }
}

impl Argon2Settings {
    /// Rejects parameters weaker than OWASP's argon2id floor (m=7 MiB with t=5, or the
    /// equivalent m·t ≥ 35 MiB-passes; 19 MiB × 2 is the recommended default).
    pub fn validate(&self) -> Result<(), String> {
        let work = u64::from(self.memory_kib) * u64::from(self.iterations);
        if self.memory_kib < 7_168 || self.iterations < 1 || work < 35_840 {
            return Err(format!(
                "argon2 parameters m={} KiB, t={} are weaker than the OWASP minimum \
                 (m >= 7168 KiB and m*t >= 35840)",
                self.memory_kib, self.iterations
            ));
        }
        if self.parallelism < 1 || self.parallelism > 16 {
            return Err("argon2 parallelism must be between 1 and 16".into());
        }
        if self.queue < 1 {
            return Err("argon2 queue must be at least 1".into());
        }
        Ok(())
    }

    pub fn effective_workers(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}
