//! The abuse-limit benchmark's load (`bench/run.py --only spray`): many connections send wrong
//! secrets for a new random `client_id` on every request, the shape that once made the failure
//! limiter grow without bound, while one valid client asks for a token 50 times a second beside
//! them. Prints one JSON object: statuses, the failures let through (401) per one-minute window,
//! and the valid client's latency.
//!
//!     cargo run --release --example spray -- http://127.0.0.1:8080 30 64 partner s3cret
#![allow(clippy::unwrap_used, clippy::expect_used)] // a load generator: failing loudly is right

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tollgate::clock::{Clock, SystemClock, instant};

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    /// 401s (failures verified, i.e. let through the limiter) per one-minute window.
    through_by_window: BTreeMap<i64, u64>,
    transport_errors: u64,
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    tollgate::widgets::axp::install_crypto_provider();
    let args: Vec<String> = std::env::args().collect();
    let [_, base, seconds, connections, id, secret] = args.as_slice() else {
        eprintln!("usage: spray BASE_URL SECONDS CONNECTIONS CLIENT_ID SECRET");
        std::process::exit(2);
    };
    let seconds: u64 = seconds.parse().unwrap();
    let connections: usize = connections.parse().unwrap();
    let url = format!("{base}/access_token");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections + 1)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = instant() + Duration::from_secs(seconds);
    let tally = Arc::new(Mutex::new(Tally::default()));

    let sprayers: Vec<_> = (0..connections)
        .map(|_| {
            let (http, url, tally) = (http.clone(), url.clone(), Arc::clone(&tally));
            tokio::spawn(async move {
                while instant() < deadline {
                    let id = uuid::Uuid::new_v4().to_string();
                    let res = http
                        .post(&url)
                        .header("authorization", basic(&id, "wrong-secret-wrong-secret"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body("grant_type=client_credentials")
                        .send()
                        .await;
                    let mut t = tally.lock().unwrap();
                    match res {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            *t.statuses.entry(status).or_default() += 1;
                            if status == 401 {
                                let window = SystemClock.now_secs().div_euclid(60);
                                *t.through_by_window.entry(window).or_default() += 1;
                            }
                        }
                        Err(_) => t.transport_errors += 1,
                    }
                }
            })
        })
        .collect();

    let valid = {
        let (http, url, auth) = (http.clone(), url.clone(), basic(id, secret));
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            while instant() < deadline {
                tick.tick().await;
                let started = instant();
                let res = http
                    .post(&url)
                    .header("authorization", &auth)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 200 => latencies.push(started.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        })
    };
    for s in sprayers {
        s.await.unwrap();
    }
    let (mut latencies, valid_errors) = valid.await.unwrap();
    latencies.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let pick = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize);
    let t = tally.lock().unwrap();
    let out = serde_json::json!({
        "requests": t.statuses.values().sum::<u64>(),
        "seconds": seconds,
        "statuses": t.statuses,
        "transport_errors": t.transport_errors,
        "through_by_window": t.through_by_window.values().collect::<Vec<_>>(),
        "valid": {
            "ok": latencies.len(),
            "errors": valid_errors,
            "p50_ms": ms(pick(0.5)),
            "p99_ms": ms(pick(0.99)),
            "max_ms": ms(latencies.last()),
        },
    });
    println!("{out}");
}
