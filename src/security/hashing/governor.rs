//! Hashing gives way to the rest of the process (issue 15).
//!
//! The pool may use every core, so that logins are as fast as the machine allows when nothing
//! else runs. A lower scheduling priority alone did not keep a login flood off the token
//! endpoint. Measured on the 2-core development machine (KVM, Linux 6.18, EEVDF), with two
//! hashing threads at nice 10, at nice 19 or under SCHED_IDLE a login flood cut the token rate
//! to 68–89 % of its idle rate, although at nice 10 and under SCHED_IDLE the hashing threads
//! used only about a quarter of a core during the token run (read per thread from /proc). The
//! cost is less the CPU the hashes take than what each hash does to the workers beside it
//! (their caches, their request-and-answer rhythm): fewer hashes help, lower-priority ones do
//! not.
//!
//! So the pool measures instead of hoping. Before each job a hashing thread looks at how many
//! cores the rest of the process (HTTP workers, the runtime, SQLite's threads) used since the
//! last look, and hashing takes only what that leaves (`Verdict::of`):
//! - as many hashes at once as there are cores left over, rounded to the nearest (every
//!   thread when the rest of the process is quiet);
//! - when the rest of the process uses all cores but one or more, one hash at a time, each
//!   followed by a rest of `REST` times its own CPU: at most a quarter of one core.
//!
//! Jobs are never dropped for it: they wait, and the queue's maximum wait still answers 503
//! for those that waited too long.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::cpu_clocks::{OsClocks, lock};

/// Looks closer together than this reuse the last verdict: a window this short says little.
const MIN_WINDOW: Duration = Duration::from_millis(5);
/// While the rest of the process takes nearly every core, a hash is followed by a rest of
/// this many times its CPU: hashing then takes at most 1 / (1 + REST) of one core.
pub(super) const REST: u32 = 3;

/// Where the governor reads its clocks: the OS's, or a test's.
pub(super) trait Clocks: Send + Sync {
    fn now(&self) -> Instant;
    /// CPU the whole process has used, in nanoseconds.
    fn process_cpu_ns(&self) -> u64;
    /// CPU the hashing threads have used, in nanoseconds, hashes in progress included (a
    /// figure summed after each hash would count a running hash as other work).
    fn hashing_cpu_ns(&self) -> u64;
}

/// What hashing may take, from what the rest of the process used over the last window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    /// Hashes that may run at once.
    pub(super) at_once: usize,
    /// Each hash is followed by a rest.
    pub(super) rest: bool,
}

impl Verdict {
    fn free(threads: usize) -> Self {
        Self {
            at_once: threads,
            rest: false,
        }
    }

    /// `other_ns` of CPU used by the rest of the process over `window`, on `cores` cores, for
    /// a pool of `threads`.
    pub(super) fn of(other_ns: u64, window: Duration, cores: usize, threads: usize) -> Self {
        #[allow(clippy::cast_precision_loss)] // nanoseconds of a window: far below 2^52
        let used = other_ns as f64 / window.as_nanos().max(1) as f64;
        #[allow(clippy::cast_precision_loss)]
        let cores_f = cores as f64;
        let left = (cores_f - used + 0.5).floor().max(1.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // in 1..=cores
        let at_once = (left as usize).min(threads).max(1);
        // On one core, "all but one" would be always: there, half a core of other work.
        let rest = used >= (cores_f - 1.0).max(0.5);
        Self { at_once, rest }
    }

    /// Whether a job run under this verdict gave way to other work.
    fn gives_way(self, threads: usize) -> bool {
        self.rest || self.at_once < threads
    }
}

pub(super) struct Governor<C = OsClocks> {
    clocks: C,
    cores: usize,
    threads: usize,
    last: Mutex<Look>,
    /// Hashes running now; `freed` wakes the jobs waiting for a place among them.
    running: Mutex<usize>,
    freed: Condvar,
}

struct Look {
    at: Instant,
    other_ns: u64,
    verdict: Verdict,
}

impl<C: Clocks> Governor<C> {
    /// A governor for a pool of `threads` on a machine of `cores`.
    pub(super) fn new(clocks: C, cores: usize, threads: usize) -> Self {
        let other_ns = clocks
            .process_cpu_ns()
            .saturating_sub(clocks.hashing_cpu_ns());
        let threads = threads.max(1);
        Self {
            last: Mutex::new(Look {
                at: clocks.now(),
                other_ns,
                verdict: Verdict::free(threads),
            }),
            clocks,
            cores: cores.max(1),
            threads,
            running: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// What hashing may take now, from what the rest of the process used since the last look.
    pub(super) fn verdict(&self) -> Verdict {
        let now = self.clocks.now();
        let other = self
            .clocks
            .process_cpu_ns()
            .saturating_sub(self.clocks.hashing_cpu_ns());
        let mut last = lock(&self.last);
        let window = now.saturating_duration_since(last.at);
        if window >= MIN_WINDOW {
            let verdict = Verdict::of(
                other.saturating_sub(last.other_ns),
                window,
                self.cores,
                self.threads,
            );
            *last = Look {
                at: now,
                other_ns: other,
                verdict,
            };
        }
        last.verdict
    }

    /// Runs one job when the verdict leaves room for it, followed by its rest when the verdict
    /// asks for one. `work` answers the job itself and returns the CPU it took, so that the
    /// caller is never kept waiting for the rest. Returns whether the job gave way.
    pub(super) fn run(&self, work: impl FnOnce() -> Duration) -> bool {
        let mut verdict = self.verdict();
        let mut running = lock(&self.running);
        while *running >= verdict.at_once {
            running = self
                .freed
                .wait(running)
                .unwrap_or_else(PoisonError::into_inner);
            verdict = self.verdict();
        }
        *running += 1;
        drop(running);
        let place = Place(self);
        let spent = work();
        // Looked at again: a load that has gone needs no rest.
        let after = self.verdict();
        if after.rest {
            // Resting in its place keeps the others out (a rest comes with one place only):
            // hashing stays at a quarter core.
            std::thread::sleep(spent.saturating_mul(REST));
        }
        drop(place);
        verdict.gives_way(self.threads) || after.rest
    }
}

/// A place among the running hashes, given back when dropped, also when the work panics (a
/// place kept forever would stop the pool).
struct Place<'a, C: Clocks>(&'a Governor<C>);

impl<C: Clocks> Drop for Place<'_, C> {
    fn drop(&mut self) {
        *lock(&self.0.running) -= 1;
        self.0.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Clocks a test moves by hand.
    struct Manual {
        start: Instant,
        wall_ns: AtomicU64,
        process_ns: AtomicU64,
        hashing_ns: AtomicU64,
    }

    impl Manual {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                start: crate::clock::instant(),
                wall_ns: AtomicU64::new(0),
                process_ns: AtomicU64::new(0),
                hashing_ns: AtomicU64::new(0),
            })
        }
        /// `ms` of wall time pass, in which the rest of the process uses `other_ms` of CPU and
        /// the hashing threads `hashing_ms`.
        fn pass(&self, ms: u64, other_ms: u64, hashing_ms: u64) {
            self.wall_ns.fetch_add(ms * 1_000_000, Ordering::Relaxed);
            self.process_ns
                .fetch_add((other_ms + hashing_ms) * 1_000_000, Ordering::Relaxed);
            self.hashing_ns
                .fetch_add(hashing_ms * 1_000_000, Ordering::Relaxed);
        }
    }

    impl Clocks for Arc<Manual> {
        fn now(&self) -> Instant {
            self.start + Duration::from_nanos(self.wall_ns.load(Ordering::Relaxed))
        }
        fn process_cpu_ns(&self) -> u64 {
            self.process_ns.load(Ordering::Relaxed)
        }
        fn hashing_cpu_ns(&self) -> u64 {
            self.hashing_ns.load(Ordering::Relaxed)
        }
    }

    #[test]
    fn hashing_takes_the_cores_the_rest_of_the_process_leaves() {
        let v = |other_ms: u64, cores: usize, threads: usize| {
            let v = Verdict::of(
                other_ms * 1_000_000,
                Duration::from_millis(100),
                cores,
                threads,
            );
            (v.at_once, v.rest)
        };
        // Two cores: a login flood alone (the HTTP side nearly idle) hashes on both; a token
        // load of half a core leaves one; one of 1.2 cores leaves a rested quarter.
        assert_eq!(v(5, 2, 2), (2, false));
        assert_eq!(v(49, 2, 2), (2, false));
        assert_eq!(v(60, 2, 2), (1, false));
        assert_eq!(v(100, 2, 2), (1, true));
        assert_eq!(v(120, 2, 2), (1, true));
        // Eight cores: three busy leave five; seven busy leave a rested quarter.
        assert_eq!(v(300, 8, 8), (5, false));
        assert_eq!(v(720, 8, 8), (1, true));
        // Never more than the pool's threads, never fewer than one.
        assert_eq!(v(0, 8, 2), (2, false));
        assert_eq!(v(5_000, 8, 8), (1, true));
        // One core: half a core of other work is enough to rest.
        assert_eq!(v(10, 1, 1), (1, false));
        assert_eq!(v(60, 1, 1), (1, true));
    }

    #[test]
    fn hashing_itself_is_never_other_work() {
        let clocks = Manual::new();
        let g = Governor::new(Arc::clone(&clocks), 2, 2);
        assert_eq!(g.verdict(), Verdict::free(2), "a new governor starts free");
        // Two hashing threads flat out, the HTTP workers nearly idle: a login flood alone.
        clocks.pass(20, 2, 40);
        assert_eq!(g.verdict(), Verdict::free(2));
        // The token endpoint takes 1.2 cores of the two.
        clocks.pass(20, 24, 10);
        assert_eq!(g.verdict().at_once, 1);
        assert!(g.verdict().rest);
        // An hour with nothing at all: the first look after it is free.
        clocks.pass(3_600_000, 0, 0);
        assert_eq!(g.verdict(), Verdict::free(2));
    }

    #[test]
    fn a_look_within_the_minimum_window_keeps_the_last_verdict() {
        let clocks = Manual::new();
        let g = Governor::new(Arc::clone(&clocks), 2, 2);
        clocks.pass(20, 30, 0);
        assert!(g.verdict().rest);
        // 2 ms later with no other work at all: too short a window to change the verdict.
        clocks.pass(2, 0, 2);
        assert!(g.verdict().rest);
        clocks.pass(10, 0, 10);
        assert_eq!(g.verdict(), Verdict::free(2));
    }

    #[test]
    fn a_busy_process_gets_one_hash_at_a_time_then_its_rest() {
        let clocks = Manual::new();
        let g = Arc::new(Governor::new(Arc::clone(&clocks), 2, 2));
        clocks.pass(20, 30, 0);
        // The work takes 2 ms of CPU; the rest is REST times that, slept by the thread.
        let started = crate::clock::instant();
        assert!(g.run(|| {
            clocks.pass(2, 3, 2);
            Duration::from_millis(2)
        }));
        assert!(started.elapsed() >= Duration::from_millis(2) * REST);
        // Quiet: no rest at all (the work's own 2 ms are manual, not slept).
        clocks.pass(50, 0, 0);
        let started = crate::clock::instant();
        assert!(!g.run(|| {
            clocks.pass(2, 0, 2);
            Duration::from_secs(10)
        }));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn while_busy_a_second_job_waits_for_the_first_ones_rest() {
        let clocks = Manual::new();
        let g = Arc::new(Governor::new(Arc::clone(&clocks), 2, 2));
        clocks.pass(20, 30, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let first = {
            let g = Arc::clone(&g);
            let clocks = Arc::clone(&clocks);
            std::thread::spawn(move || {
                g.run(|| {
                    // Keep the process busy: the first job rests 3 × 100 ms afterwards.
                    clocks.pass(10, 15, 0);
                    tx.send(()).unwrap();
                    Duration::from_millis(100)
                });
            })
        };
        rx.recv().unwrap();
        let started = crate::clock::instant();
        g.run(|| Duration::ZERO);
        let waited = started.elapsed();
        first.join().unwrap();
        assert!(
            waited >= Duration::from_millis(250),
            "the second job ran during the first one's rest ({waited:?})"
        );
    }

    #[test]
    fn with_a_core_left_two_jobs_run_one_after_the_other_without_rest() {
        let clocks = Manual::new();
        let g = Arc::new(Governor::new(Arc::clone(&clocks), 2, 2));
        // 0.6 of a core used elsewhere: one hash at a time, no rest.
        clocks.pass(100, 60, 0);
        assert_eq!(
            g.verdict(),
            Verdict {
                at_once: 1,
                rest: false
            }
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let first = {
            let g = Arc::clone(&g);
            std::thread::spawn(move || {
                g.run(|| {
                    tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    Duration::from_millis(1)
                })
            })
        };
        rx.recv().unwrap();
        let second = {
            let g = Arc::clone(&g);
            std::thread::spawn(move || g.run(|| Duration::ZERO))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !second.is_finished(),
            "the second hash ran beside the first"
        );
        go_tx.send(()).unwrap();
        assert!(first.join().unwrap(), "it ran one at a time: it gave way");
        assert!(second.join().unwrap());
    }
}
