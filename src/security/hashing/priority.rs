//! The hashing threads run ten `nice` steps below the HTTP workers. On its own this did not
//! keep a login flood off the token endpoint (see `governor`, which does); it still tells the
//! scheduler which threads may wait when both want a core.

/// How many `nice` steps below the process the hashing threads run.
const NICE: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority; a failure leaves it as it was (logged).
#[cfg(target_os = "linux")]
pub(super) fn lower_this_thread() {
    // SAFETY: gettid has no preconditions; getpriority and setpriority on PRIO_PROCESS with a
    // thread id read and change only that thread's nice value (Linux schedules threads as
    // tasks), touch no memory of ours, and report failure through their return values (a
    // failed read, -1, only makes the new value one step lower).
    #[allow(unsafe_code)]
    let done = unsafe {
        let tid = libc::gettid().unsigned_abs();
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (now + NICE).min(19))
    };
    if done != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot lower the priority of a hashing thread; logins compete with tokens for CPU"
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn lower_this_thread() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_lowered_thread_runs_ten_nice_steps_below_its_process() {
        let nice = std::thread::spawn(|| {
            super::lower_this_thread();
            // Field 19 of /proc/thread-self/stat is the nice value.
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after_name = stat.rsplit(')').next().unwrap();
            after_name
                .split_whitespace()
                .nth(16)
                .unwrap()
                .parse::<i32>()
                .unwrap()
        })
        .join()
        .unwrap();
        let own = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let own: i32 = own
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(16)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(nice, (own + 10).min(19));
    }
}
