//! The timed part the request-signing load generators share (`assertion_load`, `dpop_load`):
//! each request `i` of the run is built by the caller from its own pre-signed material, so a
//! request is never sent twice; this sends them on `connections` concurrent tasks until the
//! deadline (or the material runs out) and summarises what came back.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tollgate::clock::instant;

/// Requests sent, not timed, before the clock starts: the server loads the client (and its
/// keys) into its caches once.
const WARM_UP: usize = 20;

/// Sends request `i` = 0, 1, … (at most `limit` of them, warm-up included) and returns
/// `{"requests", "seconds", "rps", "statuses", "p50_ms", "p99_ms"}` of the timed part.
pub async fn drive<F, Fut>(
    send: F,
    connections: usize,
    seconds: u64,
    limit: usize,
) -> serde_json::Map<String, serde_json::Value>
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = reqwest::Result<reqwest::Response>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..WARM_UP {
        let i = next.fetch_add(1, Ordering::Relaxed);
        send(i).await.unwrap();
    }
    let (start, cpu) = (instant(), cpu_seconds());
    let deadline = start + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (next, send) = (next.clone(), send.clone());
            tokio::spawn(async move {
                let (mut statuses, mut latencies) = (BTreeMap::<u16, u64>::new(), Vec::new());
                while instant() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= limit {
                        break;
                    }
                    let t = instant();
                    let status = match send(i).await {
                        Ok(res) => {
                            let s = res.status().as_u16();
                            let _ = res.bytes().await;
                            s
                        }
                        Err(_) => 0,
                    };
                    latencies.push(t.elapsed().as_micros() as u64);
                    *statuses.entry(status).or_default() += 1;
                }
                (statuses, latencies)
            })
        })
        .collect();
    let (mut statuses, mut latencies) = (BTreeMap::<u16, u64>::new(), Vec::new());
    for w in workers {
        let (s, l) = w.await.unwrap();
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
        latencies.extend(l);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let requests = latencies.len();
    serde_json::json!({
        "requests": requests, "seconds": elapsed, "rps": requests as f64 / elapsed,
        "statuses": statuses, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
        "cpu_us_per_request": cpu / requests.max(1) as f64 * 1e6,
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// This process's user + system CPU so far, in seconds: the load generator's own cost during
/// the timed part, without the signing that came before it.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes only into the struct it is given.
    let usage = unsafe {
        let mut u = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
