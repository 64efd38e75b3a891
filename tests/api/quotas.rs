//! Partner rate limits and quotas on the token endpoint (issue 13): 429 with Retry-After and
//! an OAuth error body over the limit, other clients untouched, observe mode, changes seen by
//! every instance, and one limit over all instances when they share Redis.

use std::time::Duration;

use secrecy::SecretString;
use tollgate::config::Settings;
use tollgate::domain::lifecycle::{self, ClientChange, PolicyFlags};
use tollgate::domain::provisioning::{NewClient, NewClientAuth};

use crate::backend_test;
use crate::metrics::{sample, scrape};
use crate::support::*;

const REDIS: &str = "127.0.0.1:6379";

fn flags(rate_limit: Option<&str>, quota: Option<&str>, mode: Option<&str>) -> PolicyFlags {
    PolicyFlags {
        rate_limit: rate_limit.map(str::to_owned),
        quota: quota.map(str::to_owned),
        quota_mode: mode.map(str::to_owned),
        token_ttl: None,
    }
}

/// A client with `policy` (parsed as the CLI parses it); returns its secret.
async fn create_metered(app: &TestApp, id: &str, policy: PolicyFlags) -> String {
    let change = lifecycle::parse_policy(&policy, app.settings.access_token_ttl).unwrap();
    app.create_client_with(NewClient {
        client_id: id.into(),
        scopes: "a".into(),
        default_scopes: None,
        audiences: Vec::new(),
        auth: NewClientAuth::Secret(None),
        policy: change.applied_to(&Default::default()),
        require_dpop: false,
        bind_certificate: false,
    })
    .await
}

/// Moves the instances' clocks to the start of the next hour, so an hourly window cannot end
/// in the middle of a test.
fn to_the_next_hour(apps: &[&TestApp]) {
    let ahead = 3600 - apps[0].now().rem_euclid(3600);
    for app in apps {
        app.clock.advance_secs(ahead);
    }
}

/// How many of `n` token requests got 200; every other must be 429.
async fn granted(app: &TestApp, id: &str, secret: &str, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        match app.token_status(id, secret).await {
            200 => ok += 1,
            429 => {}
            other => panic!("status {other}"),
        }
    }
    ok
}

fn sharing_redis(prefix: String) -> impl Fn(&mut Settings) + Clone {
    move |s: &mut Settings| {
        s.redis_url = Some(SecretString::from(format!("redis://{REDIS}")));
        s.redis_prefix = prefix.clone();
    }
}

fn unique_prefix() -> String {
    format!("tollgate-test-{}", uuid::Uuid::new_v4().simple())
}

backend_test! {
    async fn over_its_quota_a_client_gets_429_with_retry_after_and_others_are_untouched(backend) {
        let app = TestApp::spawn_with(backend, |s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
        to_the_next_hour(&[&app]);
        let metered = create_metered(&app, "metered", flags(None, Some("5/h"), None)).await;
        let free = app.create_client("free", "a").await;
        assert_eq!(granted(&app, "metered", &metered, 5).await, 5);
        let res = app.post_form("/access_token", Some(("metered", &metered)), "grant_type=client_credentials").await;
        let retry = header_of(&res, "retry-after").unwrap().parse::<u64>().unwrap();
        assert!((3590..=3600).contains(&retry), "{retry}");
        assert_eq!(header_of(&res, "cache-control").as_deref(), Some("no-store"));
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str()), (429, Some("slow_down")));
        assert!(body["error_description"].as_str().unwrap().contains("5/h"), "{body}");
        assert_eq!(granted(&app, "metered", &metered, 3).await, 0, "refusals take nothing and get nothing");
        assert_eq!(granted(&app, "free", &free, 12).await, 12, "another client is untouched");
        // Only the client with a limit has counters: the others cost no entry.
        assert_eq!(app.state.authority.limits.quotas.tracked(), 1);
        app.clock.advance_secs(3600);
        assert_eq!(granted(&app, "metered", &metered, 6).await, 5, "a new window");
        // Every refusal counted, under the client's id only.
        let text = scrape(&app).await;
        assert_eq!(sample(&text, r#"tollgate_quota_exceeded_total{client_id="metered"}"#), 5.0, "{text}");
        assert_eq!(sample(&text, r#"tollgate_quota_exceeded_total{client_id="free"}"#), 0.0);
    }

    async fn observe_mode_counts_but_never_refuses(backend) {
        let app = TestApp::spawn_with(backend, |s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
        to_the_next_hour(&[&app]);
        let secret = create_metered(&app, "watched", flags(Some("2/h"), None, Some("observe"))).await;
        assert_eq!(granted(&app, "watched", &secret, 6).await, 6);
        assert_eq!(app.state.authority.limits.quotas.tracked(), 1, "counted");
        // Let through, but each request over the limit is counted as one.
        let text = scrape(&app).await;
        assert_eq!(sample(&text, r#"tollgate_quota_exceeded_total{client_id="watched"}"#), 4.0, "{text}");
    }

    async fn a_new_limit_reaches_every_instance_within_five_seconds(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        to_the_next_hour(&[&first, &second]);
        let secret = first.create_client("desk", "a").await;
        assert_eq!(granted(&second, "desk", &secret, 3).await, 3);
        let change = ClientChange {
            policy: lifecycle::parse_policy(&flags(Some("1/h"), None, None), 3600).unwrap(),
            ..ClientChange::default()
        };
        lifecycle::update_client(&first.store, "desk", &change, first.settings.default_audience(), first.now()).await.unwrap();
        eventually(Duration::from_secs(6), "the new limit", async || {
            second.token_status("desk", &secret).await == 429
        }).await;
        // Lifted again the same way.
        let change = ClientChange {
            policy: lifecycle::parse_policy(&flags(Some("none"), None, None), 3600).unwrap(),
            ..ClientChange::default()
        };
        lifecycle::update_client(&first.store, "desk", &change, first.settings.default_audience(), first.now()).await.unwrap();
        eventually(Duration::from_secs(6), "the lifted limit", async || {
            second.token_status("desk", &secret).await == 200
        }).await;
    }

    async fn a_quota_shared_through_redis_holds_over_two_instances_together(backend) {
        let settings = sharing_redis(unique_prefix());
        let first = TestApp::spawn_with(backend, settings.clone()).await;
        let second = TestApp::spawn_on(first.db.clone(), settings).await;
        to_the_next_hour(&[&first, &second]);
        let secret = create_metered(&first, "metered", flags(None, Some("10/h"), None)).await;
        let mut ok = 0;
        for i in 0..30 {
            let app = if i % 2 == 0 { &first } else { &second };
            ok += granted(app, "metered", &secret, 1).await;
        }
        assert_eq!(ok, 10, "one quota over both instances");
        assert_eq!(second.token_status("metered", &secret).await, 429);
        assert_eq!(first.token_status("metered", &secret).await, 429);
    }

    async fn concurrent_requests_through_redis_never_pass_the_quota(backend) {
        let settings = sharing_redis(unique_prefix());
        let first = TestApp::spawn_with(backend, settings.clone()).await;
        let second = TestApp::spawn_on(first.db.clone(), settings).await;
        to_the_next_hour(&[&first, &second]);
        let secret = create_metered(&first, "metered", flags(None, Some("25/h"), None)).await;
        // Warm both caches so the burst races on the counter, not on argon2.
        assert_eq!(first.token_status("metered", &secret).await, 200);
        assert_eq!(second.token_status("metered", &secret).await, 200);
        let statuses = futures_join((0..64).map(|i| {
            let app = if i % 2 == 0 { &first } else { &second };
            let req = app.http.post(app.url("/access_token"))
                .header("authorization", basic("metered", &secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials");
            async move { req.send().await.unwrap().status().as_u16() }
        })).await;
        let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
        assert_eq!((count(200), count(429)), (23, 41), "{statuses:?}");
    }
}

backend_test! {
    async fn through_redis_a_busy_partner_reserves_slots_in_leases_and_never_passes_its_quota(backend) {
        let settings = sharing_redis(unique_prefix());
        let first = TestApp::spawn_with(backend, settings.clone()).await;
        let second = TestApp::spawn_on(first.db.clone(), settings).await;
        to_the_next_hour(&[&first, &second]);
        let busy = create_metered(&first, "busy", flags(None, Some("100000/h"), None)).await;
        let tight = create_metered(&first, "tight", flags(None, Some("300/h"), None)).await;
        let calls = || first.state.authority.limits.quotas.remote_calls()
            + second.state.authority.limits.quotas.remote_calls();
        let mut ok = 0;
        for i in 0..400 {
            let app = if i % 2 == 0 { &first } else { &second };
            ok += granted(app, "busy", &busy, 1).await;
        }
        assert_eq!(ok, 400);
        assert!(calls() <= 20, "{} Redis calls for 400 requests far from the limit", calls());
        // Near the limit the leases shrink to one slot: exactly the quota over both instances.
        let mut ok = 0;
        for i in 0..400 {
            let app = if i % 2 == 0 { &first } else { &second };
            ok += granted(app, "tight", &tight, 1).await;
        }
        assert_eq!(ok, 300);
    }

    async fn a_lowered_limit_applies_at_once_whatever_slots_were_leased(backend) {
        let app = TestApp::spawn_with(backend, sharing_redis(unique_prefix())).await;
        to_the_next_hour(&[&app]);
        let secret = create_metered(&app, "p", flags(None, Some("100000/h"), None)).await;
        assert_eq!(granted(&app, "p", &secret, 5).await, 5, "a lease of 64 slots taken");
        let change = ClientChange {
            policy: lifecycle::parse_policy(&flags(None, Some("3/h"), None), 3600).unwrap(),
            ..ClientChange::default()
        };
        lifecycle::update_client(&app.store, "p", &change, app.settings.default_audience(), app.now()).await.unwrap();
        // Past the 5-second bound: the new limit, already used up, refuses; the slots left in
        // the lease do not outlive the limit they were leased under.
        tokio::time::sleep(Duration::from_millis(5500)).await;
        assert_eq!(granted(&app, "p", &secret, 3).await, 0);
    }

    async fn a_lease_outlived_by_its_window_gives_its_slots_back(backend) {
        let app = TestApp::spawn_with(backend, sharing_redis(unique_prefix())).await;
        to_the_next_hour(&[&app]);
        // The per-second limit ends every lease within a second; the hourly quota must not lose
        // the slots leased but unused at each of those ends.
        let secret = create_metered(&app, "p", flags(Some("100000/s"), Some("1000/h"), None)).await;
        let mut ok = 0;
        for i in 0..1100 {
            if i % 50 == 49 {
                app.clock.advance_secs(1);
            }
            ok += granted(&app, "p", &secret, 1).await;
        }
        assert_eq!(ok, 1000, "every slot of the hour used, none lost to ended leases");
    }
}

/// Without Redis each instance counts alone (the README says so): two instances let a
/// partner through twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_each_instance_counts_alone() {
    let (first, second) = TestApp::spawn_two(Backend::Sqlite).await;
    to_the_next_hour(&[&first, &second]);
    let secret = create_metered(&first, "metered", flags(None, Some("3/h"), None)).await;
    assert_eq!(granted(&first, "metered", &secret, 5).await, 3);
    assert_eq!(granted(&second, "metered", &secret, 5).await, 3);
}

/// Redis away: the limit still holds, on this instance's counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_the_quota_falls_back_to_local_counters() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.redis_url = Some(SecretString::from("redis://127.0.0.1:1".to_owned()));
    })
    .await;
    to_the_next_hour(&[&app]);
    let secret = create_metered(&app, "metered", flags(None, Some("3/h"), None)).await;
    assert_eq!(granted(&app, "metered", &secret, 6).await, 3);
}

backend_test! {
    async fn a_client_token_lifetime_is_honoured_and_capped_by_the_server(backend) {
        let app = TestApp::spawn_with(backend, |s| s.access_token_ttl = 300).await;
        let short = app.create_client("short", "a").await;
        let long = app.create_client("long", "a").await;
        // As an admin's SQL could write them: the server's lifetime still caps a longer one.
        app.db.sql("INSERT INTO client_policies (client_id, token_ttl, updated_at) VALUES \
            ('short', 120, 0), ('long', 600, 0)").await;
        for (id, secret, expected) in [("short", &short, 120), ("long", &long, 300)] {
            eventually(Duration::from_secs(6), "the lifetime", async || {
                let body = send_json(app.http.post(app.url("/access_token"))
                    .basic_auth(id, Some(secret)).form(&[("grant_type", "client_credentials")])).await;
                let claims = claims(body["access_token"].as_str().unwrap());
                body["expires_in"] == expected
                    && claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() == expected
            }).await;
        }
    }
}
