//! Hashing gives way to the rest of the process (issue 15).
//!
//! The pool may use every core, so that logins are as fast as the machine allows when nothing
//! else runs. A lower scheduling priority alone did not keep a login flood off the token
//! endpoint. Measured on the 2-core development machine (KVM, Linux 6.18, EEVDF), two hashing
//! threads at nice 10, at nice 19 and even under SCHED_IDLE all took 0.45 to 0.65 of a core
//! beside a token load that left the machine 1 % idle, and the token rate fell to 68–89 % of
//! its idle rate. The HTTP workers' request-and-answer rhythm leaves the scheduler short gaps
//! that an always-runnable thread fills, and every hash then evicts the workers' caches.
//!
//! So the pool measures instead of hoping. Before each job a hashing thread looks at the CPU
//! the rest of the process (HTTP workers, the runtime, SQLite's threads) used since the last
//! look. At half a core or more the process is busy with other work: hashing narrows to one
//! job at a time, each followed by a rest of `REST` times its own CPU, so that hashing takes at
//! most a quarter of one core. When the rest of the process is quiet again, every thread
//! hashes freely. Jobs are never dropped for it: they wait, and the queue's maximum wait still
//! answers 503 for those that waited too long.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Looks closer together than this reuse the last verdict: a window this short says little.
const MIN_WINDOW: Duration = Duration::from_millis(5);
/// While the process is busy, a hash is followed by a rest of this many times its CPU:
/// hashing then takes at most 1 / (1 + REST) of one core.
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

pub(super) struct Governor<C = OsClocks> {
    clocks: C,
    last: Mutex<Look>,
    /// While the process is busy: one hash, and its rest, at a time.
    lane: Mutex<()>,
}

struct Look {
    at: Instant,
    other_ns: u64,
    busy: bool,
}

/// The rest of the process is busy when it used half a core or more over the window.
fn is_busy(other_cpu_ns: u64, window: Duration) -> bool {
    u128::from(other_cpu_ns) * 2 >= window.as_nanos()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C: Clocks> Governor<C> {
    pub(super) fn new(clocks: C) -> Self {
        let other_ns = clocks
            .process_cpu_ns()
            .saturating_sub(clocks.hashing_cpu_ns());
        Self {
            last: Mutex::new(Look {
                at: clocks.now(),
                other_ns,
                busy: false,
            }),
            clocks,
            lane: Mutex::new(()),
        }
    }

    /// Whether the rest of the process used half a core or more since the last look.
    pub(super) fn busy(&self) -> bool {
        let now = self.clocks.now();
        let other = self
            .clocks
            .process_cpu_ns()
            .saturating_sub(self.clocks.hashing_cpu_ns());
        let mut last = lock(&self.last);
        let window = now.saturating_duration_since(last.at);
        if window >= MIN_WINDOW {
            let busy = is_busy(other.saturating_sub(last.other_ns), window);
            *last = Look {
                at: now,
                other_ns: other,
                busy,
            };
        }
        last.busy
    }

    /// Runs one job: freely while the process is quiet; while it is busy, alone and followed
    /// by its rest. `work` answers the job itself and returns the CPU it took, so that the
    /// caller is never kept waiting for the rest. Returns whether the job gave way.
    pub(super) fn run(&self, work: impl FnOnce() -> Duration) -> bool {
        if !self.busy() {
            work();
            return false;
        }
        let _lane = lock(&self.lane);
        let spent = work();
        // Looked at again: a load that has gone needs no rest.
        if self.busy() {
            std::thread::sleep(spent.saturating_mul(REST));
        }
        true
    }
}

/// The process's and the hashing threads' CPU clocks, from the kernel.
pub(super) struct OsClocks;

/// Every hashing thread of the process, whichever pool it belongs to: the tests run several
/// servers in one process, and one pool's hashing is not another's other work.
static HASHING: Mutex<Registry> = Mutex::new(Registry {
    live: Vec::new(),
    retired_ns: 0,
});

struct Registry {
    /// The per-thread CPU clock of each running hashing thread.
    live: Vec<libc::clockid_t>,
    /// CPU of the hashing threads that have ended (their clocks end with them).
    retired_ns: u64,
}

/// A hashing thread's place in the registry, given back (with its CPU) when the thread ends.
pub(super) struct Registration(libc::clockid_t);

impl Drop for Registration {
    fn drop(&mut self) {
        let mut reg = lock(&HASHING);
        reg.retired_ns += read(self.0).unwrap_or(0);
        reg.live.retain(|&id| id != self.0);
    }
}

impl OsClocks {
    /// Registers the calling thread as a hashing thread for as long as the registration is
    /// kept: its CPU is not other work.
    pub(super) fn register_this_thread() -> Option<Registration> {
        let id = this_thread_clock()?;
        lock(&HASHING).live.push(id);
        Some(Registration(id))
    }

    /// CPU the calling thread has used.
    pub(super) fn this_thread_ns() -> u64 {
        read(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or(0)
    }
}

impl Clocks for OsClocks {
    fn now(&self) -> Instant {
        crate::clock::instant()
    }

    fn process_cpu_ns(&self) -> u64 {
        read(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap_or(0)
    }

    fn hashing_cpu_ns(&self) -> u64 {
        let reg = lock(&HASHING);
        reg.retired_ns + reg.live.iter().filter_map(|&id| read(id)).sum::<u64>()
    }
}

fn read(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a pointer to a live, writable local
    // and reports an unknown or stale clock id through its return value.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| {
        u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000
            + u64::try_from(ts.tv_nsec).unwrap_or(0)
    })
}

fn this_thread_clock() -> Option<libc::clockid_t> {
    let mut id: libc::clockid_t = 0;
    // SAFETY: pthread_self has no preconditions and names a live thread (the caller);
    // pthread_getcpuclockid writes one clockid_t through a pointer to a live local.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
    (rc == 0).then_some(id)
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
    fn half_a_core_of_other_work_is_busy_and_hashing_itself_never_is() {
        let clocks = Manual::new();
        let g = Governor::new(Arc::clone(&clocks));
        assert!(!g.busy(), "a new governor starts quiet");
        // Two hashing threads flat out, the HTTP workers nearly idle: a login flood alone.
        clocks.pass(20, 2, 40);
        assert!(!g.busy());
        // The token endpoint takes 1.2 cores of the two.
        clocks.pass(20, 24, 10);
        assert!(g.busy());
        // Just under half a core.
        clocks.pass(20, 9, 0);
        assert!(!g.busy());
        clocks.pass(20, 10, 0);
        assert!(g.busy());
        // An hour with nothing at all: the first look after it is quiet.
        clocks.pass(3_600_000, 0, 0);
        assert!(!g.busy());
    }

    #[test]
    fn a_look_within_the_minimum_window_keeps_the_last_verdict() {
        let clocks = Manual::new();
        let g = Governor::new(Arc::clone(&clocks));
        clocks.pass(20, 20, 0);
        assert!(g.busy());
        // 2 ms later with no other work at all: too short a window to change the verdict.
        clocks.pass(2, 0, 2);
        assert!(g.busy());
        clocks.pass(10, 0, 10);
        assert!(!g.busy());
    }

    #[test]
    fn a_busy_process_gets_one_hash_at_a_time_then_its_rest() {
        let clocks = Manual::new();
        let g = Arc::new(Governor::new(Arc::clone(&clocks)));
        clocks.pass(20, 20, 0);
        // The work takes 2 ms of CPU; the rest is REST times that, slept by the thread.
        let started = crate::clock::instant();
        assert!(g.run(|| {
            clocks.pass(2, 2, 2);
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
        let g = Arc::new(Governor::new(Arc::clone(&clocks)));
        clocks.pass(20, 20, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let first = {
            let g = Arc::clone(&g);
            let clocks = Arc::clone(&clocks);
            std::thread::spawn(move || {
                g.run(|| {
                    // Keep the process busy: the first job rests 3 × 100 ms afterwards.
                    clocks.pass(10, 10, 0);
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
    fn the_os_clocks_count_a_registered_thread_as_hashing_also_after_it_ends() {
        let (spun_tx, spun_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _registered = OsClocks::register_this_thread().expect("a thread CPU clock");
            let begin = OsClocks::this_thread_ns();
            while OsClocks::this_thread_ns() - begin < 20_000_000 {
                std::hint::black_box(0u64);
            }
            spun_tx.send(OsClocks::this_thread_ns()).unwrap();
            release_rx.recv().unwrap();
        });
        let spent = spun_rx.recv().unwrap();
        // Other tests' hashing threads may be registered too: the sum is at least this one.
        let hashing = OsClocks.hashing_cpu_ns();
        assert!(spent >= 20_000_000);
        assert!(hashing >= spent, "{hashing} < {spent}");
        assert!(OsClocks.process_cpu_ns() >= hashing);
        release_tx.send(()).unwrap();
        thread.join().unwrap();
        // Its clock has gone with it, its CPU has not: no jump of other work at a thread's end.
        assert!(OsClocks.hashing_cpu_ns() >= spent);
    }
}
