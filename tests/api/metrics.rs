//! `/metrics` (issue 13): on its own listener only, every documented series present, and
//! counters that are exact.

use tollgate::app::Application;

use crate::backend_test;
use crate::support::*;

/// The value of the sample `series` (name and labels exactly as exposed), 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.parse().unwrap())
}

pub async fn scrape(app: &TestApp) -> String {
    let res = app
        .http
        .get(app.metrics_url.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(reqwest_header(&res).starts_with("application/openmetrics-text"));
    res.text().await.unwrap()
}

fn reqwest_header(res: &reqwest::Response) -> String {
    header_of(res, "content-type").unwrap_or_default()
}

backend_test! {
    async fn the_counters_are_exact_and_every_documented_series_is_there(backend) {
        let app = TestApp::spawn_with(backend, |s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
        let secret = app.create_client("desk", "profile:read").await;
        app.token("desk", &secret, "profile:read").await; // warms the cache
        let before = scrape(&app).await;
        let issued = r#"tollgate_tokens_issued_total{client_id="desk",grant="client_credentials"}"#;
        let ok = r#"tollgate_http_requests_total{route="/access_token",status="200"}"#;
        for _ in 0..17 {
            app.token("desk", &secret, "profile:read").await;
        }
        for _ in 0..3 {
            app.post_form("/access_token", Some(("desk", "wrong-secret-wrong-secret")), "grant_type=client_credentials").await;
        }
        app.post_form("/access_token", Some(("nobody", "wrong-secret-wrong-secret")), "grant_type=client_credentials").await;
        app.http.get(app.url("/no/such/path/123")).send().await.unwrap();
        let after = scrape(&app).await;

        assert_eq!(sample(&after, issued) - sample(&before, issued), 17.0);
        assert_eq!(sample(&after, ok) - sample(&before, ok), 17.0);
        let failures = |t: &str, reason: &str| sample(t, &format!(r#"tollgate_client_auth_failures_total{{reason="{reason}"}}"#));
        assert_eq!(failures(&after, "bad_secret") - failures(&before, "bad_secret"), 3.0);
        assert_eq!(failures(&after, "unknown_client") - failures(&before, "unknown_client"), 1.0);
        let hits = |t: &str| sample(t, r#"tollgate_credential_cache_total{result="hit"}"#);
        assert_eq!(hits(&after) - hits(&before), 17.0);
        // Route templates, never raw paths.
        assert!(after.contains(r#"route="unmatched""#));
        assert!(!after.contains("/no/such/path"));
        assert!(sample(&after, r#"tollgate_http_request_duration_seconds_count{route="/access_token"}"#) >= 18.0);
        for series in [
            "tollgate_hash_queue_depth", "tollgate_hash_rejected_total", "tollgate_hash_yielded_total",
            "tollgate_db_pool_connections{state=\"idle\"}",
            "tollgate_db_pool_connections{state=\"in_use\"}", "tollgate_audit_queue_depth",
            "tollgate_audit_events_written_total", "tollgate_signing_key_age_seconds",
        ] {
            assert!(after.lines().any(|l| l.starts_with(series)), "{series} missing:\n{after}");
        }
        assert!(sample(&after, "tollgate_audit_events_written_total") >= 4.0, "the failures are on record");

        // Never on the public listener.
        let public = app.http.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(public.status(), 404);
    }
}

#[tokio::test]
async fn a_metrics_port_in_use_stops_the_start_with_a_clear_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let db = TestDb::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db.url);
    settings.metrics_listen = Some(addr);
    let err = Application::build(settings).await.err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("metrics_listen {addr}: cannot listen")),
        "{text}"
    );
}

backend_test! {
    // Hashing gives way while the rest of the process is busy (issue 15): with two threads of
    // this process spinning, a login's hash runs in the governor's lane and is counted; the
    // login itself still succeeds. (The process is the test's own: the server runs in it.)
    async fn logins_give_way_to_a_busy_process_and_say_so(backend) {
        let app = TestApp::spawn_with(backend, |s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
        app.create_customer("ada", "correct horse battery").await;
        let yielded = |t: &str| sample(t, "tollgate_hash_yielded_total");
        let before = yielded(&scrape(&app).await);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::black_box(0u64);
                    }
                })
            })
            .collect();
        // The governor's window is 5 ms; a few logins make certain at least one looks after
        // the spinners have run.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for _ in 0..3 {
            assert_eq!(app.login("ada", "correct horse battery").await.status(), 200);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in spinners {
            s.join().unwrap();
        }
        let after = yielded(&scrape(&app).await);
        assert!(after - before >= 1.0, "no hash gave way ({before} -> {after})");
    }
}
