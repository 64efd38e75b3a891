//! The CPU clocks the governor reads: the whole process's, and every hashing thread's, from
//! the kernel (`clock_gettime` on the process clock and on each thread's own clock).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::governor::Clocks;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
