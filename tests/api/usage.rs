//! Usage accounting and an audit trail that loses nothing (issue 13): tokens are counted per
//! client and minute, exactly, through database cuts; audit events wait in the on-disk spool
//! while the database cannot take them, and a full spool refuses requests rather than losing
//! their record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Connection;
use tollgate::clock::Clock;
use tollgate::store::spool::SpoolFile;
use tollgate::store::usage::{LastUsed, UsageCount, UsageFlush};

use crate::backend_test;
use crate::support::*;

async fn usage_of(app: &TestApp, client: &str) -> i64 {
    app.store
        .usage_since(Some(client), 0)
        .await
        .unwrap()
        .iter()
        .map(|r| r.tokens)
        .sum()
}

async fn flush(app: &TestApp) {
    let auth = &app.state.authority;
    auth.usage
        .flush(&auth.store, app.clock.now_millis())
        .await
        .unwrap();
}

backend_test! {
    async fn every_token_is_counted_once_per_client_and_minute(backend) {
        let app = TestApp::spawn(backend).await;
        let a = app.create_client("desk-a", "profile:read").await;
        let b = app.create_client("desk-b", "profile:read").await;
        for _ in 0..25 {
            app.token("desk-a", &a, "profile:read").await;
        }
        for _ in 0..7 {
            app.token("desk-b", &b, "profile:read").await;
        }
        flush(&app).await;
        assert_eq!(usage_of(&app, "desk-a").await, 25);
        assert_eq!(usage_of(&app, "desk-b").await, 7);
        // A second flush with nothing new adds nothing.
        flush(&app).await;
        assert_eq!(usage_of(&app, "desk-a").await, 25);

        // By default a token is counted, not written as an audit row of its own.
        app.state.authority.audit.flush().await;
        let rows = app.store.audit_events_since(0, 1000).await.unwrap();
        assert!(!rows.iter().any(|r| r.event == "token_issued"), "{rows:?}");

        // The admin's view: JSON lines, one per client and minute.
        let out = run_tollgate(&app.db, &["usage", "--client", "desk-a", "--since", "1h"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines()
            .map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(!lines.is_empty());
        assert!(lines.iter().all(|l| l["client_id"] == "desk-a" && l["minute"].as_str().unwrap().ends_with(":00.000Z")));
        assert_eq!(lines.iter().map(|l| l["tokens"].as_i64().unwrap()).sum::<i64>(), 25);

        // When the secret and the signing key were last used.
        let used = app.store.last_used("client_secret", "desk-a").await.unwrap().expect("recorded");
        assert!((used - app.clock.now_millis()).abs() < 60_000);
        assert!(app.store.last_used("client_previous_secret", "desk-a").await.unwrap().is_none());
        let kid = header(&app.token("desk-a", &a, "profile:read").await)["kid"].as_str().unwrap().to_owned();
        flush(&app).await;
        assert!(app.store.last_used("signing_key", &kid).await.unwrap().is_some());
        let listed = tollgate_json(&app.db, &["keys", "list"], None);
        let key = listed["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap();
        assert!(key["last_signed_at"].as_str().unwrap().ends_with('Z'), "{key}");
    }

    async fn two_flushes_of_the_same_counters_in_opposite_orders_do_not_deadlock(backend) {
        // Instances flush every interval, with their counters in hash order. Two flushes
        // touching the same rows in opposite orders could each hold a row the other needs, and
        // PostgreSQL would abort one as a deadlock. A transaction holding the rows makes both
        // flushes wait, then lets them go at once.
        let app = TestApp::spawn(backend).await;
        let flush = |id: &str, clients: [&str; 2]| UsageFlush {
            flush_id: id.into(),
            counts: clients
                .iter()
                .map(|c| UsageCount { client_id: c.to_string(), minute: 7, tokens: 1 })
                .collect(),
            last_used: clients
                .iter()
                .map(|c| LastUsed { kind: "client_secret".into(), id: c.to_string(), at_ms: 1 })
                .collect(),
        };
        assert!(app.store.apply_usage(&flush("seed", ["a", "b"]), 0).await.unwrap());
        let mut holder = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
        sqlx::raw_sql("BEGIN; UPDATE client_usage SET tokens = tokens WHERE minute = 7")
            .execute(&mut holder)
            .await
            .unwrap();
        let release = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
        };
        let (fx, fy) = (flush("x", ["a", "b"]), flush("y", ["b", "a"]));
        let (x, y, ()) = tokio::join!(
            app.store.apply_usage(&fx, 0),
            app.store.apply_usage(&fy, 0),
            release
        );
        assert!(x.unwrap() && y.unwrap());
        assert_eq!((usage_of(&app, "a").await, usage_of(&app, "b").await), (3, 3));
    }

    async fn audit_events_wait_in_the_spool_while_their_table_is_away(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_client("desk", "profile:read").await;
        app.db.sql("ALTER TABLE audit_events RENAME TO audit_events_away").await;
        for _ in 0..5 {
            let res = app.post_form("/access_token", Some(("desk", "wrong-secret-wrong-secret")), "grant_type=client_credentials").await;
            assert_eq!(error_of(res).await.0, 401, "answered as usual: the event is on disk");
        }
        assert!(app.state.authority.audit.spool().has(SpoolFile::Audit));
        app.db.sql("ALTER TABLE audit_events_away RENAME TO audit_events").await;
        eventually(Duration::from_secs(10), "the spool written to the database", async || {
            app.store.audit_events_since(0, 1000).await.unwrap()
                .iter().filter(|r| r.event == "client_auth_failed").count() == 5
        }).await;
        assert!(!app.state.authority.audit.spool().has(SpoolFile::Audit), "emptied once written");
    }

    async fn a_full_spool_refuses_requests_rather_than_lose_their_record(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.spool_max_bytes = 1024;
            // The failure limiter would step in first otherwise.
            s.failures_per_minute = 1000;
            s.address_failures_per_minute = 1000;
        }).await;
        app.create_client("desk", "profile:read").await;
        app.db.sql("ALTER TABLE audit_events RENAME TO audit_events_away").await;
        let (mut refused, mut answered) = (0, 0);
        for _ in 0..12 {
            let res = app.post_form("/access_token", Some(("desk", "wrong-secret-wrong-secret")), "grant_type=client_credentials").await;
            match error_of(res).await {
                (401, _) => answered += 1,
                (503, body) => {
                    assert_eq!(body["error"], "temporarily_unavailable");
                    refused += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(answered > 0 && refused > 0, "{answered} answered, {refused} refused");
        app.db.sql("ALTER TABLE audit_events_away RENAME TO audit_events").await;
        // Every failure that was answered 401 is on record; the refused ones never happened.
        eventually(Duration::from_secs(10), "the spool written to the database", async || {
            app.store.audit_events_since(0, 1000).await.unwrap()
                .iter().filter(|r| r.event == "client_auth_failed").count() == answered
        }).await;
    }
}

/// Tokens issued while the database is cut away for 10 s are all counted, once: the flushes
/// that fail are kept and retried under their own ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_through_a_ten_second_database_cut() {
    let (app, proxy) = TestApp::spawn_behind_proxy(500).await;
    let app = Arc::new(app);
    let secret = app.create_client("desk", "profile:read").await;
    let ok = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut drivers = Vec::new();
    for _ in 0..4 {
        let (app, secret, ok, stop) = (app.clone(), secret.clone(), ok.clone(), stop.clone());
        drivers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if app.token_status("desk", &secret).await == 200 {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.cut().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.restore();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for d in drivers {
        d.await.unwrap();
    }
    let issued = ok.load(Ordering::SeqCst);
    assert!(issued > 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let auth = &app.state.authority;
        if auth
            .usage
            .flush(&auth.store, app.clock.now_millis())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        usage_of(&app, "desk").await,
        issued as i64,
        "every 200 counted exactly once"
    );
}
