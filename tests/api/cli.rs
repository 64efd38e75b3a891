//! The `tollgate` binary's provisioning commands, run as an admin would run them.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::backend_test;
use crate::support::*;

/// What a provisioning command printed: one JSON object on one line, as scripts read it.
fn json_out(out: &Output) -> Value {
    let value = json_of(out);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON object: {text}");
    value
}

backend_test! {
    async fn created_clients_api_keys_and_customers_work_end_to_end(backend) {
        let db = std::sync::Arc::new(TestDb::create(backend).await);
        let client = json_out(&run_tollgate(&db, &["client", "create", "--id", "desk", "--scope", "profile:read"], None));
        assert_eq!(client["client_id"], "desk");
        let secret = client["client_secret"].as_str().unwrap().to_owned();
        assert!(secret.len() >= 43, "256 bits of secret");
        let key = json_out(&run_tollgate(&db, &["apikey", "create", "--name", "desk"], None));
        let api_key = key["api_key"].as_str().unwrap().to_owned();
        let customer = json_out(&run_tollgate(&db, &["customer", "create", "--username", "ada", "--password-stdin",
            "--name", "Ada", "--email", "ada@example.com", "--attributes", "{\"tier\":\"gold\"}"], Some("correct horse battery\n")));
        let customer_id = customer["customer_id"].as_str().unwrap().to_owned();

        let app = TestApp::spawn_on(db.clone(), |_| {}).await;
        let token = app.token("desk", &secret, "profile:read").await;
        let customer_token = app.customer_token("ada", "correct horse battery").await;
        let res = app.http.post(app.url("/getprofile")).bearer_auth(&token).header("api-key", &api_key)
            .header("customer-auth", format!("JWT {customer_token}")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let profile: Value = res.json().await.unwrap();
        assert_eq!(profile["customer_id"], customer_id.as_str());
        assert_eq!(profile["tier"], "gold");
        // Only hashes reach the database.
        let dump = format!("{:?}", app.store.client("desk").await.unwrap());
        assert!(!dump.contains(&secret) && dump.contains("$argon2id$"));
    }

    async fn sql_output_applied_as_a_provisioning_migration_gives_a_working_client(backend) {
        let db = std::sync::Arc::new(TestDb::create(backend).await);
        let out = run_tollgate(&db, &["client", "create", "--id", "partner-2", "--scope", "profile:read chat", "--sql"], None);
        assert!(out.status.success());
        let sql = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let secret = stderr.lines().find_map(|l| l.strip_prefix("client_secret for partner-2: ")).unwrap().trim().to_owned();
        assert!(sql.contains("INSERT INTO clients") && sql.contains("$argon2id$"));
        assert!(!sql.contains(&secret), "the secret must not be in the migration");

        let dir = std::env::temp_dir().join(format!("tollgate-prov-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("0001_partner_2.sql"), &sql).unwrap();
        let dir_s = dir.to_str().unwrap();
        let report = json_out(&run_tollgate(&db, &["migrate", "--provisioning", dir_s], None));
        assert_eq!(report["provisioning"]["applied"], serde_json::json!(["0001_partner_2.sql"]));
        // `--sql` never touched the database: this first migrate applied the whole schema.
        let schema = report["schema"]["applied"].as_array().unwrap();
        assert_eq!(schema.first().and_then(|m| m.as_str()), Some("0001_initial"));
        assert_eq!(report["schema"]["already_applied"], 0);
        let again = json_out(&run_tollgate(&db, &["migrate", "--provisioning", dir_s], None));
        assert_eq!(again["provisioning"]["applied"], serde_json::json!([]), "applied once only");
        assert_eq!(again["schema"]["applied"], serde_json::json!([]));
        assert_eq!(again["schema"]["already_applied"], schema.len());

        let app = TestApp::spawn_on(db.clone(), |_| {}).await;
        app.token("partner-2", &secret, "chat").await;

        // A migration edited after it ran is refused, not silently skipped.
        std::fs::write(dir.join("0001_partner_2.sql"), format!("{sql}\n-- edited")).unwrap();
        let out = run_tollgate(&db, &["migrate", "--provisioning", dir_s], None);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("changed after it was applied"));
        let _ = std::fs::remove_dir_all(dir);
    }

    async fn cli_errors_are_clear_and_exit_non_zero(backend) {
        let db = TestDb::create(backend).await;
        let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
            (vec!["client", "create", "--id", "bad id\u{7}", "--scope", "a"], None, "client_id"),
            (vec!["client", "create", "--id", "x", "--scope", "a\"b"], None, "scope"),
            (vec!["client", "create", "--id", "x", "--scope", "a", "--secret", "short"], None, "at least 16"),
            (vec!["customer", "create", "--username", "ada", "--password-stdin"], Some("short\n"), "at least 8"),
            (vec!["customer", "create", "--username", "ada", "--password-stdin", "--attributes", "[1]"], Some("long enough pw\n"), "JSON object"),
        ];
        for (args, stdin, expected) in cases {
            let out = run_tollgate(&db, &args, stdin);
            assert!(!out.status.success(), "{args:?}");
            assert!(out.stdout.is_empty(), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(expected), "{args:?}: {err}");
        }
        // A duplicate is refused, and the first client is intact.
        json_out(&run_tollgate(&db, &["client", "create", "--id", "dup", "--scope", "a"], None));
        let out = run_tollgate(&db, &["client", "create", "--id", "dup", "--scope", "a"], None);
        assert!(!out.status.success());
    }
}

/// Waits, as long as the five seconds the caches may lag, for every instance to see a change.
async fn eventually_seen(probe: impl AsyncFnMut() -> bool) {
    eventually(Duration::from_secs(5), "the change", probe).await;
}

backend_test! {
    async fn a_rotated_secret_and_the_old_one_both_work_until_the_old_expires(backend) {
        let app = TestApp::spawn(backend).await;
        let old = app.create_client("desk", "a").await;
        assert_eq!(app.token_status("desk", &old).await, 200);
        let out = json_out(&run_tollgate(&app.db, &["client", "rotate-secret", "--id", "desk", "--old-valid-for", "1h"], None));
        let new = out["client_secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert!(out["old_secret_valid_until"].as_str().unwrap().ends_with('Z'));
        // Within 5 s (cache epoch) both are accepted, on any instance.
        let second = TestApp::spawn_on(app.db.clone(), |_| {}).await;
        for instance in [&app, &second] {
            eventually_seen(async || instance.token_status("desk", &new).await == 200).await;
            assert_eq!(instance.token_status("desk", &old).await, 200);
        }
        // An hour later the old one is over, even where it sits in a cache.
        app.clock.advance_secs(3601);
        assert_eq!(app.token_status("desk", &old).await, 401);
        assert_eq!(app.token_status("desk", &new).await, 200);
    }

    async fn revoke_secret_ends_the_old_secret_everywhere_within_five_seconds(backend) {
        let (app, second) = TestApp::spawn_two(backend).await;
        let old = app.create_client("desk", "a").await;
        let out = json_out(&run_tollgate(&app.db, &["client", "rotate-secret", "--id", "desk"], None));
        let new = out["client_secret"].as_str().unwrap().to_owned();
        eventually_seen(async || second.token_status("desk", &old).await == 200).await;
        let out = json_out(&run_tollgate(&app.db, &["client", "revoke-secret", "--id", "desk"], None));
        assert_eq!(out["previous_secrets_revoked"], 1);
        eventually_seen(async || second.token_status("desk", &old).await == 401).await;
        assert_eq!(second.token_status("desk", &new).await, 200);
        let bad = run_tollgate(&app.db, &["client", "rotate-secret", "--id", "nobody"], None);
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("no client nobody"));
    }

    async fn apikey_revoke_stops_a_key_within_five_seconds(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("desk", "profile:read").await;
        let token = app.token("desk", &secret, "profile:read").await;
        let customer = app.create_customer("ada", "correct horse battery").await;
        let key = json_out(&run_tollgate(&app.db, &["apikey", "create", "--name", "desk"], None))["api_key"].as_str().unwrap().to_owned();
        let other = json_out(&run_tollgate(&app.db, &["apikey", "create", "--name", "desk"], None))["api_key"].as_str().unwrap().to_owned();
        assert_eq!(app.profile_status(&token, &key, &customer).await, 200);
        let prefix = key.split('_').nth(1).unwrap().to_owned();
        let out = json_out(&run_tollgate(&app.db, &["apikey", "revoke", "--prefix", &prefix], None));
        assert_eq!(out["revoked"], true);
        eventually_seen(async || app.profile_status(&token, &key, &customer).await == 401).await;
        assert_eq!(app.profile_status(&token, &other, &customer).await, 200, "a partner's other keys keep working");
        assert!(!run_tollgate(&app.db, &["apikey", "revoke", "--prefix", &prefix], None).status.success(), "already revoked");
    }
}

#[test]
fn help_never_prints_secrets() {
    let out = tollgate_command(
        "postgres://user:hunter2@localhost/db",
        &["client", "create", "--help"],
    )
    .env(
        "TOLLGATE_MASTER_KEY",
        "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=",
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--secret-stdin"));
    assert!(!text.contains("hunter2") && !text.contains("c2VjcmV0"));
}

backend_test! {
    async fn a_secret_the_admin_supplied_is_never_printed(backend) {
        let db = TestDb::create(backend).await;
        let given = "admin-chosen-secret-0123456789";
        let outputs = [
            run_tollgate(&db, &["client", "create", "--id", "a", "--scope", "s", "--secret", given, "--sql"], None),
            run_tollgate(&db, &["client", "create", "--id", "b", "--scope", "s", "--secret", given], None),
            run_tollgate(&db, &["client", "create", "--id", "c", "--scope", "s", "--secret-stdin"], Some(given)),
            run_tollgate(&db, &["client", "rotate-secret", "--id", "b", "--secret-stdin"], Some("another-admin-secret-0123")),
        ];
        for out in &outputs {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            for text in [&out.stdout, &out.stderr] {
                let text = String::from_utf8_lossy(text);
                assert!(!text.contains(given) && !text.contains("another-admin-secret"), "{text}");
            }
        }
        // A generated secret is printed, once.
        let out = run_tollgate(&db, &["client", "create", "--id", "d", "--scope", "s", "--sql"], None);
        assert_eq!(String::from_utf8_lossy(&out.stderr).matches("client_secret for d: ").count(), 1);
        assert!(json_of(&run_tollgate(&db, &["client", "create", "--id", "e", "--scope", "s"], None))["client_secret"].is_string());
    }
}
