//! argon2id hashing on a small pool of dedicated threads.
//!
//! Why not the async executor or actix's blocking pool: one verification takes ~15 ms of CPU
//! and 19 MiB of memory. On a shared blocking pool (hundreds of threads) a flood of logins
//! multiplies that memory and starves everything else. Here a fixed number of threads each
//! reuse one work area, the queue in front of them is bounded, and a job that cannot be
//! queued, or waited too long, is answered `Busy` at once (the HTTP layer says 503 +
//! Retry-After) instead of hanging.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Params;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

mod cpu_clocks;
mod governor;
mod priority;
mod settings;
mod worker;

use cpu_clocks::OsClocks;
use governor::Governor;
pub use settings::Argon2Settings;
use worker::Worker;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    #[error("the hashing pool is saturated")]
    Busy,
    #[error("the hashing pool has stopped")]
    Stopped,
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
}

/// The secret as argon2 sees it: bound to the record it belongs to (client id, API-key prefix,
/// customer id), length-prefixed so no two (context, secret) pairs collide. A hash copied onto
/// another row therefore does not verify there.
pub fn bind(context: &str, secret: &str) -> Zeroizing<Vec<u8>> {
    let mut v = Vec::with_capacity(4 + context.len() + secret.len());
    v.extend_from_slice(
        &u32::try_from(context.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    v.extend_from_slice(context.as_bytes());
    v.extend_from_slice(secret.as_bytes());
    Zeroizing::new(v)
}

fn params_of(s: &Argon2Settings) -> Result<Params, HashError> {
    Params::new(s.memory_kib, s.iterations, s.parallelism, Some(32))
        .map_err(|e| HashError::Params(e.to_string()))
}

/// Hash synchronously on the calling thread: for the CLI, which hashes one secret and exits.
pub fn hash_now(settings: &Argon2Settings, input: &[u8]) -> Result<String, HashError> {
    Worker::new().hash(&params_of(settings)?, input)
}

/// Mean time of `n` hashes on one reused work area, as a pool thread does them.
pub fn time_hashes(settings: &Argon2Settings, n: u32) -> Result<Duration, HashError> {
    let params = params_of(settings)?;
    let mut worker = Worker::new();
    worker.hash(&params, b"warm-up")?;
    let start = crate::clock::instant();
    for i in 0..n.max(1) {
        worker.hash(&params, &i.to_be_bytes())?;
    }
    Ok(start.elapsed() / n.max(1))
}

enum Task {
    Hash,
    /// `None` verifies against the dummy hash: unknown users cost what known ones do.
    Verify(Option<String>),
}

struct Job {
    task: Task,
    input: Zeroizing<Vec<u8>>,
    enqueued: Instant,
    reply: oneshot::Sender<Result<Outcome, HashError>>,
}

enum Outcome {
    Hashed(String),
    Verified(bool),
}

#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    tx: SyncSender<Job>,
    workers: usize,
    max_wait: Duration,
    /// Jobs accepted so far: how many argon2 runs the server has asked for.
    submitted: AtomicU64,
    stats: Arc<Stats>,
}

/// Shared with the hashing threads, for the metrics.
#[derive(Default)]
struct Stats {
    /// Jobs accepted and not yet taken by a thread.
    queued: AtomicI64,
    /// Jobs refused (queue full) or given up (waited past `max_wait`): each answered 503.
    rejected: AtomicU64,
    /// Jobs that gave way to a busy process: fewer hashes at once than threads, or a rest.
    yielded: AtomicU64,
}

impl Hasher {
    /// Starts the pool and computes the dummy hash (with the configured cost) that unknown
    /// principals are verified against.
    pub fn start(settings: &Argon2Settings) -> Result<Self, HashError> {
        let params = params_of(settings)?;
        let workers = settings.effective_workers();
        let dummy = Worker::new().hash(&params, b"tollgate dummy secret for unknown principals")?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(settings.queue);
        let rx = Arc::new(Mutex::new(rx));
        let max_wait = Duration::from_millis(settings.max_wait_ms);
        let stats = Arc::new(Stats::default());
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let governor = Arc::new(Governor::new(OsClocks, cores, workers));
        for n in 0..workers {
            let governor = Arc::clone(&governor);
            let rx = Arc::clone(&rx);
            let stats = Arc::clone(&stats);
            let params = params.clone();
            let dummy = dummy.clone();
            std::thread::Builder::new()
                .name(format!("tollgate-argon2-{n}"))
                .spawn(move || run_worker(&rx, &params, &dummy, max_wait, &stats, &governor))
                .map_err(|e| HashError::Params(format!("cannot start hashing thread: {e}")))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                tx,
                workers,
                max_wait,
                submitted: AtomicU64::new(0),
                stats,
            }),
        })
    }

    pub fn workers(&self) -> usize {
        self.inner.workers
    }

    /// How long a job may wait for a hashing thread before it is answered `Busy`.
    pub fn max_wait(&self) -> Duration {
        self.inner.max_wait
    }

    /// argon2 jobs waiting for a thread right now.
    pub fn queue_depth(&self) -> i64 {
        self.inner.stats.queued.load(Ordering::Relaxed).max(0)
    }

    /// argon2 jobs refused or given up since start (each answered 503).
    pub fn rejected(&self) -> u64 {
        self.inner.stats.rejected.load(Ordering::Relaxed)
    }

    /// argon2 jobs run while giving way to a busy process (see `governor`) since start.
    pub fn yielded(&self) -> u64 {
        self.inner.stats.yielded.load(Ordering::Relaxed)
    }

    /// argon2 jobs accepted since start.
    pub fn submitted(&self) -> u64 {
        self.inner.submitted.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, input: Zeroizing<Vec<u8>>) -> Result<String, HashError> {
        match self.submit(Task::Hash, input).await? {
            Outcome::Hashed(phc) => Ok(phc),
            Outcome::Verified(_) => Err(HashError::Stopped),
        }
    }

    /// `Ok(true)` only when `phc` is present and matches; `None` costs the same and fails.
    pub async fn verify(
        &self,
        phc: Option<String>,
        input: Zeroizing<Vec<u8>>,
    ) -> Result<bool, HashError> {
        match self.submit(Task::Verify(phc), input).await? {
            Outcome::Verified(ok) => Ok(ok),
            Outcome::Hashed(_) => Err(HashError::Stopped),
        }
    }

    async fn submit(&self, task: Task, input: Zeroizing<Vec<u8>>) -> Result<Outcome, HashError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            task,
            input,
            enqueued: crate::clock::instant(),
            reply,
        };
        match self.inner.tx.try_send(job) {
            Ok(()) => {
                self.inner.submitted.fetch_add(1, Ordering::Relaxed);
                self.inner.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                self.inner.stats.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(HashError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => return Err(HashError::Stopped),
        }
        rx.await.map_err(|_| HashError::Stopped)?
    }
}

fn run_worker(
    rx: &Mutex<Receiver<Job>>,
    params: &Params,
    dummy: &str,
    max_wait: Duration,
    stats: &Stats,
    governor: &Governor,
) {
    priority::lower_this_thread();
    let _registered = OsClocks::register_this_thread();
    let mut worker = Worker::new();
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return, // every Hasher is gone: shut down
            }
        };
        stats.queued.fetch_sub(1, Ordering::Relaxed);
        if job.reply.is_closed() {
            // The request went away (client disconnected, timed out): its hash would be
            // wasted work that delays everyone queued behind it.
            continue;
        }
        let yielded = governor.run(|| {
            // Checked after any wait for a place among the running hashes, which counts too.
            if job.enqueued.elapsed() > max_wait {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                let _ = job.reply.send(Err(HashError::Busy));
                return Duration::ZERO;
            }
            let began = OsClocks::this_thread_ns();
            let result = match job.task {
                Task::Hash => worker.hash(params, &job.input).map(Outcome::Hashed),
                Task::Verify(Some(phc)) => Ok(Outcome::Verified(worker.verify(&phc, &job.input))),
                Task::Verify(None) => {
                    let _ = worker.verify(dummy, &job.input);
                    Ok(Outcome::Verified(false))
                }
            };
            let _ = job.reply.send(result);
            Duration::from_nanos(OsClocks::this_thread_ns().saturating_sub(began))
        });
        if yielded {
            stats.yielded.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHash;
    use argon2::{Argon2, PasswordVerifier};

    fn settings() -> Argon2Settings {
        Argon2Settings {
            workers: 1,
            queue: 2,
            ..Argon2Settings::default()
        }
    }

    #[test]
    fn our_phc_strings_verify_with_the_argon2_crate_itself() {
        let phc = hash_now(&settings(), b"hunter2").unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"hunter2", &parsed)
                .is_ok()
        );
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn binding_separates_contexts() {
        assert_ne!(*bind("ab", "c"), *bind("a", "bc"));
    }

    #[tokio::test]
    async fn verify_accepts_only_the_exact_secret() {
        let hasher = Hasher::start(&settings()).unwrap();
        let phc = hasher.hash(bind("c1", "s3cret")).await.unwrap();
        assert!(
            hasher
                .verify(Some(phc.clone()), bind("c1", "s3cret"))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(Some(phc.clone()), bind("c1", "s3cres"))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(Some(phc.clone()), bind("c2", "s3cret"))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(None, bind("c1", "s3cret")).await.unwrap());
        assert!(
            !hasher
                .verify(Some("garbage".into()), bind("c1", "s3cret"))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        let hasher = Hasher::start(&settings()).unwrap();
        let started = crate::clock::instant();
        let jobs: Vec<_> = (0..16)
            .map(|_| hasher.verify(None, bind("x", "y")))
            .collect();
        let results = futures_join_all(jobs).await;
        let busy = results
            .iter()
            .filter(|r| **r == Err(HashError::Busy))
            .count();
        // one running + two queued at most; the rest refused without hashing
        assert!(busy >= 13, "busy = {busy}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    async fn futures_join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
        let mut handles = Vec::new();
        for f in futs {
            handles.push(Box::pin(f));
        }
        let mut out = Vec::new();
        // Poll every future once so all of them are submitted before any completes.
        let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
        for slot in pending.iter_mut() {
            if let Some(f) = slot.as_mut() {
                let waker = std::task::Waker::noop();
                let mut cx = std::task::Context::from_waker(waker);
                if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                    out.push(v);
                    *slot = None;
                }
            }
        }
        for f in pending.into_iter().flatten() {
            out.push(f.await);
        }
        out
    }
}
