//! The audit trail: events for every security-relevant act, with source and request id, and
//! nothing secret in any column.

use serde_json::Value;

use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn a_full_flow_leaves_a_trail_without_secrets(backend) {
        // One row per token is an option; by default tokens are counted per minute (usage.rs).
        let app = TestApp::spawn_with(backend, |s| s.audit_every_token = true).await;
        let secret = app.create_client("desk", "profile:read").await;
        let (key, customer) = app.create_key_and_customer().await;
        let res = app.http.post(app.url("/access_token")).header("x-request-id", "req-123")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", basic("desk", &secret)).body("grant_type=client_credentials").send().await.unwrap();
        let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        app.post_form("/access_token", Some(("desk", "wrong-secret-wrong-secret")), "grant_type=client_credentials").await;
        app.post_form("/access_token", Some(("nobody", "wrong-secret-wrong-secret")), "grant_type=client_credentials").await;
        let customer_jwt = app.customer_token("ada", "correct horse battery").await;
        app.login("ada", "not the password").await;
        app.login("nobody", "not the password").await;
        app.post_form("/revoke", Some(("desk", &secret)), &form(&[("token", &token)])).await;
        app.state.authority.audit.flush().await;

                let rows = app.store.audit_events_since(0, 1000).await.unwrap();
        let mut events: Vec<&str> = rows.iter().map(|r| r.event.as_str()).collect();
        events.sort();
        assert_eq!(events, [
            "api_key_created", "client_auth_failed", "client_auth_failed", "client_created",
            "customer_created", "login_failed", "login_failed", "login_succeeded", "token_issued", "token_revoked",
        ]);
        let find = |event: &'static str| rows.iter().filter(move |r| r.event == event);
        let issued = find("token_issued").next().unwrap();
        assert_eq!(issued.client_id.as_deref(), Some("desk"));
        assert_eq!(issued.source.as_deref(), Some("127.0.0.1"));
        assert_eq!(issued.request_id.as_deref(), Some("req-123"));
        assert!(issued.detail.as_deref().unwrap().contains(claims(&token)["jti"].as_str().unwrap()));
                let failed: Vec<_> = find("client_auth_failed").map(|r| r.client_id.clone().unwrap()).collect();
        assert!(failed.contains(&"nobody".to_owned()) && failed.contains(&"desk".to_owned()));
        assert_eq!(find("login_succeeded").next().unwrap().customer_id.as_deref(), Some(customer.as_str()));
        let mut login_failures: Vec<_> = find("login_failed").map(|r| r.customer_id.clone()).collect();
        login_failures.sort();
        // A wrong password of a known customer names the customer; an unknown user names
        // nobody, and never the username.
        assert_eq!(login_failures, [None, Some(customer.clone())]);
        assert_eq!(find("client_created").next().unwrap().source.as_deref(), Some("cli"));
        let everything = format!("{rows:?}");
        for (what, needle) in [("secret", secret.as_str()), ("api key", key.as_str()), ("password", "correct horse"),
                               ("token", token.as_str()), ("customer token", customer_jwt.as_str()), ("username", "\"ada\"")] {
            assert!(!everything.contains(needle), "the {what} is in the audit trail");
        }
    }

    async fn audit_tail_prints_json_lines(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_client("desk", "a").await;
        app.create_client("desk2", "a").await;
        let out = run_tollgate(&app.db, &["audit", "tail", "--since", "10m"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "client_created");
        assert_eq!(lines[1]["client_id"], "desk2");
        assert!(lines[0]["at"].as_str().unwrap().ends_with('Z'));
        let bad = run_tollgate(&app.db, &["audit", "tail", "--since", "yesterday"], None);
        assert!(!bad.status.success());
    }
}
