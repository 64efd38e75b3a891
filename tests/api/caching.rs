//! The credential caches: no argon2 and no database on the hot path, and yet every change to a
//! client or API key reaches every instance within five seconds.

use std::time::{Duration, Instant};

use crate::backend_test;
use crate::support::*;
use tollgate::security::hashing::{bind, hash_now};

const BOUND: Duration = Duration::from_secs(5);

/// Repeats `probe` until it returns true, for at most the bound and a second of slack;
/// returns how long that took.
async fn within_bound(probe: impl AsyncFnMut() -> bool) -> Duration {
    eventually(BOUND + Duration::from_secs(1), "the change", probe).await
}

backend_test! {
    async fn a_warm_cache_never_accepts_a_wrong_secret(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a").await;
        assert_eq!(app.token_status("p1", &secret).await, 200);
        assert_eq!(app.state.authority.clients.len(), 1, "the verified secret is cached");
        let mut near = secret.clone();
        let last = near.pop().unwrap();
        near.push(if last == 'A' { 'B' } else { 'A' });
        for wrong in [near.as_str(), &secret[..secret.len() - 1], "", "x"] {
            if wrong.is_empty() { continue; }
            assert_eq!(app.token_status("p1", wrong).await, 401, "{wrong:?}");
        }
        assert_eq!(app.token_status("p1", &secret).await, 200);
    }

    async fn a_disabled_client_stops_working_on_another_instance_within_five_seconds(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        let secret = first.create_client("p1", "a").await;
        assert_eq!(second.token_status("p1", &secret).await, 200);
        assert_eq!(second.state.authority.clients.len(), 1);
        first.db.sql("UPDATE clients SET enabled = 0 WHERE client_id = 'p1'").await;
        let took = within_bound(|| async { second.token_status("p1", &secret).await == 400 }).await;
        assert!(took <= BOUND, "took {took:?}");
    }

    async fn a_rotated_secret_takes_over_within_five_seconds(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        let old = first.create_client("p1", "a").await;
        assert_eq!(second.token_status("p1", &old).await, 200);
        let new = "a-brand-new-secret-of-enough-length";
        let hash = hash_now(&second.settings.argon2, &bind("p1", new)).unwrap();
        first.db.sql(&format!("UPDATE clients SET secret_hash = '{hash}' WHERE client_id = 'p1'")).await;
        within_bound(|| async { second.token_status("p1", &old).await == 401 }).await;
        assert_eq!(second.token_status("p1", new).await, 200);
    }

    async fn concurrent_requests_on_a_cold_cache_share_one_argon2_run(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("burst", "profile:read").await;
        let hasher = &app.state.authority.hasher;
        let send_all = |n: usize, path: &'static str, headers: Vec<(&'static str, String)>, body: &'static str| {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..n {
                let mut req = app.http.post(app.url(path)).body(body);
                for (k, v) in &headers {
                    req = req.header(*k, v.clone());
                }
                set.spawn(async move { req.send().await.unwrap().status().as_u16() });
            }
            set.join_all()
        };
        let form = ("content-type", "application/x-www-form-urlencoded".to_owned());
        let grant = "grant_type=client_credentials";

        let before = hasher.submitted();
        let statuses = send_all(24, "/access_token", vec![form.clone(), ("authorization", basic("burst", &secret))], grant).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        assert_eq!(hasher.submitted() - before, 1, "24 requests with one secret, one argon2 run");

        // A wrong secret is never shared or cached: each one is verified (and fails) on its own.
        let before = hasher.submitted();
        let statuses = send_all(4, "/access_token", vec![form, ("authorization", basic("burst", "wrong secret"))], grant).await;
        assert_eq!(statuses, vec![401; 4]);
        assert_eq!(hasher.submitted() - before, 4);

        // The same for an API key.
        let token = app.token("burst", &secret, "profile:read").await;
        let (key, customer) = app.create_key_and_customer().await;
        let before = hasher.submitted();
        let statuses = send_all(24, "/getprofile", vec![("api-key", key), ("authorization", format!("Bearer {token}")),
            ("x-customer-id", customer)], "").await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        assert_eq!(hasher.submitted() - before, 1, "24 requests with one API key, one argon2 run");
    }

    async fn a_revoked_api_key_stops_working_within_five_seconds(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        let secret = first.create_client("p1", "profile:read").await;
        let token = second.token("p1", &secret, "profile:read").await;
        let (key, customer) = first.create_key_and_customer().await;
        let status = || second.profile_status(&token, &key, &customer);
        assert_eq!(status().await, 200);
        assert_eq!(second.state.authority.api_keys.len(), 1);
        first.db.sql("UPDATE api_keys SET revoked_at = 1").await;
        within_bound(|| async { status().await == 401 }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_clients_are_served_without_the_database_and_not_past_the_bound() {
    let (app, proxy) = TestApp::spawn_behind_proxy(300).await;
    let secret = app.create_client("p1", "a").await;
    assert_eq!(app.token_status("p1", &secret).await, 200);

    proxy.cut().await;
    // Hot path: no database round trip, so tokens keep coming while the database is away …
    let cut_at = Instant::now();
    assert_eq!(app.token_status("p1", &secret).await, 200);
    // … but only while the last successful epoch poll is recent enough to vouch for the cache.
    let stopped = within_bound(|| async { app.token_status("p1", &secret).await == 503 }).await;
    assert!(
        cut_at.elapsed() <= BOUND + Duration::from_millis(500),
        "served from cache for {stopped:?}"
    );
    proxy.restore();
    within_bound(|| async { app.token_status("p1", &secret).await == 200 }).await;
}
