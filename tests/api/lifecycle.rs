//! The client and customer lifecycle in the CLI (issue 13): list, show, update, disable,
//! enable, delete, run as an admin runs them, each change audited and seen by every instance
//! within the 5-second bound.

use std::time::Duration;

use serde_json::Value;
use tollgate::clock::Clock;

use crate::backend_test;
use crate::support::*;

/// The JSON of a command that must succeed (one line).
fn ok(db: &TestDb, args: &[&str]) -> Value {
    let out = run_tollgate(db, args, None);
    let value = json_of(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    value
}

/// The stderr of a command that must fail, having printed nothing on stdout.
fn refused(db: &TestDb, args: &[&str], stdin: Option<&str>) -> String {
    let out = run_tollgate(db, args, stdin);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn secret_of(created: &Value) -> String {
    created["client_secret"].as_str().unwrap().to_owned()
}

/// The audit events of kind `event`, as stored.
async fn audited(app: &TestApp, event: &str) -> Vec<tollgate::store::AuditRow> {
    app.store
        .audit_events_since(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event == event)
        .collect()
}

async fn within_five_seconds(what: &str, probe: impl AsyncFnMut() -> bool) {
    eventually(Duration::from_secs(6), what, probe).await;
}

async fn token_json(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> (u16, Value) {
    let mut pairs = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    let res = app
        .post_form("/access_token", Some((id, secret)), &form(&pairs))
        .await;
    (res.status().as_u16(), res.json().await.unwrap())
}

backend_test! {
    async fn client_list_and_show_print_every_setting_and_no_secret(backend) {
        let app = TestApp::spawn(backend).await;
        let db = &app.db;
        ok(db, &["client", "create", "--id", "zeta", "--scope", "a"]);
        let created = ok(db, &["client", "create", "--id", "alpha", "--scope", "a b", "--default-scope", "a",
            "--rate-limit", "50/s", "--quota", "100000/d", "--quota-mode", "observe", "--token-ttl", "10m"]);
        let list = ok(db, &["client", "list"]);
        let clients = list["clients"].as_array().unwrap();
        let ids: Vec<&str> = clients.iter().map(|c| c["client_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["alpha", "zeta"]);
        let alpha = ok(db, &["client", "show", "--id", "alpha"]);
        for (field, expected) in [("scopes", "a b"), ("default_scopes", "a"), ("rate_limit", "50/s"),
            ("quota", "100000/d"), ("quota_mode", "observe")] {
            assert_eq!(alpha[field], expected, "{field}");
        }
        assert_eq!(alpha["token_ttl"], 600);
        assert_eq!(alpha["enabled"], true);
        assert_eq!(alpha["previous_secrets"], serde_json::json!([]));
        assert_eq!(clients[1]["rate_limit"], Value::Null, "zeta has no limit");
        assert_eq!(clients[1]["quota_mode"], "enforce");
        let everything = format!("{list}{alpha}");
        assert!(!everything.contains("argon2") && !everything.contains(&secret_of(&created)));
        // A rotation shows up as a previous secret with its end.
        ok(db, &["client", "rotate-secret", "--id", "alpha", "--old-valid-for", "1h"]);
        let alpha = ok(db, &["client", "show", "--id", "alpha"]);
        assert!(alpha["previous_secrets"][0]["valid_until"].as_str().unwrap().ends_with('Z'));
        assert!(refused(db, &["client", "show", "--id", "nobody"], None).contains("no client nobody"));
        assert_eq!(audited(&app, "client_created").await.len(), 2);
    }

    async fn client_update_reaches_every_instance_within_five_seconds(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        let secret = secret_of(&ok(&first.db, &["client", "create", "--id", "desk", "--scope", "a b"]));
        let (status, body) = token_json(&second, "desk", &secret, None).await;
        assert_eq!((status, body["expires_in"].as_u64()), (200, Some(3600)));
        assert_eq!(token_json(&second, "desk", &secret, Some("c")).await.0, 400);

        let shown = ok(&first.db, &["client", "update", "--id", "desk", "--scope", "a b c", "--default-scope", "a",
            "--token-ttl", "10m"]);
        assert_eq!((shown["scopes"].as_str(), shown["token_ttl"].as_u64()), (Some("a b c"), Some(600)));
        within_five_seconds("the update", async || {
            token_json(&second, "desk", &secret, Some("c")).await.0 == 200
        }).await;
        let (_, body) = token_json(&second, "desk", &secret, None).await;
        assert_eq!((body["scope"].as_str(), body["expires_in"].as_u64()), (Some("a"), Some(600)));
        let token = body["access_token"].as_str().unwrap();
        let claims = claims(token);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);

        // Back to the server's lifetime.
        ok(&first.db, &["client", "update", "--id", "desk", "--token-ttl", "none"]);
        within_five_seconds("the server's lifetime", async || {
            token_json(&second, "desk", &secret, None).await.1["expires_in"] == 3600
        }).await;
        let updates = audited(&first, "client_updated").await;
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[0].detail.as_deref(), Some("scopes=a b c default_scopes=a token_ttl=600"));
        assert_eq!(updates[0].source.as_deref(), Some("cli"));
    }

    async fn bad_client_updates_are_refused_clearly_and_change_nothing(backend) {
        let db = TestDb::create(backend).await;
        ok(&db, &["client", "create", "--id", "desk", "--scope", "a b", "--rate-limit", "5/s"]);
        let before = ok(&db, &["client", "show", "--id", "desk"]);
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["--id", "nobody", "--scope", "a"], "no client nobody"),
            (vec!["--id", "desk", "--quota", "0/s"], "refuse every request"),
            (vec!["--id", "desk", "--quota", "-1/d"], "whole number"),
            (vec!["--id", "desk", "--rate-limit", "10/fortnight"], "unit must be s, m, h or d"),
            (vec!["--id", "desk", "--rate-limit", "1e9/s"], "whole number"),
            (vec!["--id", "desk", "--quota-mode", "strict"], "enforce or observe"),
            (vec!["--id", "desk", "--token-ttl", "2h"], "TOLLGATE_ACCESS_TOKEN_TTL"),
            (vec!["--id", "desk", "--scope", "a"], "default scopes must be among the allowed"),
            (vec!["--id", "desk"], "nothing to change"),
            // One bad value among good ones: nothing of the good ones is applied either.
            (vec!["--id", "desk", "--scope", "a b c", "--rate-limit", "9/s", "--quota", "0/d"], "--quota"),
        ];
        for (args, expected) in cases {
            let args: Vec<&str> = ["client", "update"].iter().copied().chain(args).collect();
            let err = refused(&db, &args, None);
            assert!(err.contains(expected), "{args:?}: {err}");
        }
        let mut after = ok(&db, &["client", "show", "--id", "desk"]);
        after["updated_at"] = before["updated_at"].clone();
        assert_eq!(after, before, "nothing half-applied");
        for bad in ["0/s", "-1/d", "10/fortnight", "1e9/s"] {
            let err = refused(&db, &["client", "create", "--id", "new", "--scope", "a", "--quota", bad], None);
            assert!(err.contains("--quota"), "{bad}: {err}");
        }
        assert!(refused(&db, &["client", "show", "--id", "new"], None).contains("no client new"));
    }

    async fn a_disabled_client_loses_everything_on_every_instance_and_enable_gives_it_back(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        let secret = secret_of(&ok(&first.db, &["client", "create", "--id", "desk", "--scope", "profile:read"]));
        let token = second.token("desk", &secret, "profile:read").await;
        let (key, customer) = first.create_key_and_customer().await;
        assert_eq!(second.profile_status(&token, &key, &customer).await, 200);

        let shown = ok(&first.db, &["client", "disable", "--id", "desk"]);
        assert_eq!(shown["enabled"], false);
        within_five_seconds("the disable", async || second.token_status("desk", &secret).await == 400).await;
        assert_eq!(second.profile_status(&token, &key, &customer).await, 401, "its live token too");

        assert_eq!(ok(&first.db, &["client", "enable", "--id", "desk"])["enabled"], true);
        within_five_seconds("the enable", async || second.token_status("desk", &secret).await == 200).await;
        assert_eq!(second.profile_status(&token, &key, &customer).await, 200);
        assert!(refused(&first.db, &["client", "disable", "--id", "nobody"], None).contains("no client nobody"));
        assert_eq!(audited(&first, "client_disabled").await.len(), 1);
        assert_eq!(audited(&first, "client_enabled").await.len(), 1);
    }

    async fn deleting_a_client_ends_its_live_tokens_within_five_seconds_and_keeps_its_id(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        let secret = secret_of(&ok(&first.db, &["client", "create", "--id", "desk", "--scope", "profile:read",
            "--quota", "5/d"]));
        ok(&first.db, &["client", "rotate-secret", "--id", "desk"]);
        let token = second.token("desk", &secret, "profile:read").await;
        let (key, customer) = first.create_key_and_customer().await;
        assert_eq!(second.profile_status(&token, &key, &customer).await, 200);

        let out = ok(&first.db, &["client", "delete", "--id", "desk"]);
        assert_eq!(out["deleted"], true);
        assert!(out["id_reusable_after"].as_str().unwrap().ends_with('Z'));
        // The live token is refused, and the secret no longer authenticates, on the other
        // instance within the bound (the token's check may come first: an instance that has not
        // polled since the client was created asks the database about it).
        within_five_seconds("the delete", async || {
            second.profile_status(&token, &key, &customer).await == 401
                && second.token_status("desk", &secret).await == 401
        }).await;
        assert_eq!(first.store.previous_secrets("desk", 0).await.unwrap().len(), 0);
        assert_eq!(first.store.client_policy("desk").await.unwrap(), None);
        // A new client may not take the id while the old one's tokens could still be unexpired:
        // they would be accepted as its own.
        let err = refused(&first.db, &["client", "create", "--id", "desk", "--scope", "profile:read"], None);
        assert!(err.contains("was deleted"), "{err}");
        assert!(refused(&first.db, &["client", "delete", "--id", "desk"], None).contains("no client desk"));
        let deleted = audited(&first, "client_deleted").await;
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].client_id.as_deref(), Some("desk"));
        assert_eq!(second.profile_status(&token, &key, &customer).await, 401);
    }

    async fn sql_variants_applied_as_provisioning_migrations_do_what_the_commands_do(backend) {
        let db = TestDb::create(backend).await;
        let sql = |args: &[&str]| {
            let out = run_tollgate(&db, args, None);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let create = sql(&["client", "create", "--id", "p2", "--scope", "a b", "--quota", "1000/d",
            "--token-ttl", "5m", "--sql"]);
        let update = sql(&["client", "update", "--id", "p2", "--scope", "a b c", "--default-scope", "a",
            "--rate-limit", "20/s", "--quota", "none", "--sql"]);
        let disable = sql(&["client", "disable", "--id", "p2", "--sql"]);
        for text in [&create, &update, &disable] {
            assert!(text.starts_with("-- tollgate provisioning migration"), "{text}");
        }
        let dir = std::env::temp_dir().join(format!("tollgate-prov-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir_s = dir.to_str().unwrap();
        std::fs::write(dir.join("0001_create.sql"), &create).unwrap();
        ok(&db, &["migrate", "--provisioning", dir_s]);
        let shown = ok(&db, &["client", "show", "--id", "p2"]);
        assert_eq!((shown["quota"].as_str(), shown["token_ttl"].as_u64()), (Some("1000/d"), Some(300)));
        std::fs::write(dir.join("0002_update.sql"), &update).unwrap();
        std::fs::write(dir.join("0003_disable.sql"), &disable).unwrap();
        let report = ok(&db, &["migrate", "--provisioning", dir_s]);
        assert_eq!(report["provisioning"]["applied"], serde_json::json!(["0002_update.sql", "0003_disable.sql"]));
        let shown = ok(&db, &["client", "show", "--id", "p2"]);
        assert_eq!(shown["scopes"], "a b c");
        assert_eq!(shown["default_scopes"], "a");
        assert_eq!(shown["rate_limit"], "20/s");
        assert_eq!(shown["quota"], Value::Null);
        assert_eq!(shown["token_ttl"], 300, "a setting the update did not name stays");
        assert_eq!(shown["enabled"], false);
        let _ = std::fs::remove_dir_all(dir);
        // Without the database, an update must name both scope lists to be checkable.
        let err = refused(&db, &["client", "update", "--id", "p2", "--scope", "a", "--sql"], None);
        assert!(err.contains("together"), "{err}");
    }

    async fn show_and_list_give_the_last_use_of_secrets_and_api_keys(backend) {
        let app = TestApp::spawn(backend).await;
        let db = &app.db;
        let flush = async || {
            let auth = &app.state.authority;
            auth.usage.flush(&auth.store, app.clock.now_millis()).await.unwrap();
        };
        let used_at = |shown: &Value, field: &str| -> Option<String> {
            shown[field].as_str().map(str::to_owned)
        };
        let old = app.create_client("desk", "profile:read").await;
        let (key, customer) = app.create_key_and_customer().await;
        let shown = ok(db, &["client", "show", "--id", "desk"]);
        assert_eq!(used_at(&shown, "secret_last_used_at"), None, "never used");
        assert_eq!(used_at(&ok(db, &["apikey", "list"])["api_keys"][0], "last_used_at"), None);

        let token = app.token("desk", &old, "profile:read").await;
        assert_eq!(app.profile_status(&token, &key, &customer).await, 200);
        flush().await;
        let shown = ok(db, &["client", "show", "--id", "desk"]);
        let first_use = used_at(&shown, "secret_last_used_at").expect("the secret's use");
        assert!(first_use.ends_with('Z'), "{first_use}");
        assert_eq!(used_at(&shown, "previous_secret_last_used_at"), None);
        let listed = ok(db, &["apikey", "list"]);
        assert!(used_at(&listed["api_keys"][0], "last_used_at").is_some(), "{listed}");

        // A rotation starts afresh: the new secret is unused, the old one is now the previous
        // one, and its use from here on tells the admin it cannot go yet.
        let new = secret_of(&ok(db, &["client", "rotate-secret", "--id", "desk", "--old-valid-for", "1h"]));
        let shown = ok(db, &["client", "show", "--id", "desk"]);
        assert_eq!(used_at(&shown, "secret_last_used_at"), None, "{shown}");
        assert_eq!(used_at(&shown, "previous_secret_last_used_at"), None, "{shown}");
        eventually(Duration::from_secs(6), "the rotation seen", async || {
            app.token_status("desk", &new).await == 200
        }).await;
        flush().await;
        assert!(used_at(&ok(db, &["client", "show", "--id", "desk"]), "secret_last_used_at").is_some());
        assert_eq!(app.token_status("desk", &old).await, 200);
        flush().await;
        let shown = ok(db, &["client", "show", "--id", "desk"]);
        assert!(used_at(&shown, "previous_secret_last_used_at").is_some(), "{shown}");
    }

    async fn apikey_list_and_show_print_keys_without_their_secrets(backend) {
        let app = TestApp::spawn(backend).await;
        let db = &app.db;
        let first = ok(db, &["apikey", "create", "--name", "desk"])["api_key"].as_str().unwrap().to_owned();
        ok(db, &["apikey", "create", "--name", "chat", "--api", "getprofile", "--api", "other"]);
        let prefix = first.split('_').nth(1).unwrap().to_owned();
        ok(db, &["apikey", "revoke", "--prefix", &prefix]);
        let list = ok(db, &["apikey", "list"]);
        let keys = list["api_keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        let shown = ok(db, &["apikey", "show", "--prefix", &prefix]);
        assert_eq!(shown["name"], "desk");
        assert_eq!(shown["revoked"], true);
        assert!(shown["revoked_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(ok(db, &["apikey", "show", "--prefix", &first])["prefix"], prefix.as_str(), "the whole key names it too");
        let chat = keys.iter().find(|k| k["name"] == "chat").unwrap();
        assert_eq!(chat["apis"], serde_json::json!(["getprofile", "other"]));
        assert_eq!(chat["revoked"], false);
        // Split as the server parses it: the secret itself may contain `_`.
        let secret_part = first.splitn(3, '_').nth(2).unwrap();
        assert!(!format!("{list}{shown}").contains(secret_part));
        assert!(refused(db, &["apikey", "show", "--prefix", "0000000000000000"], None).contains("no API key"));
    }

    async fn customer_lifecycle_by_username_or_id_applies_at_once(backend) {
        let app = TestApp::spawn(backend).await;
        let db = &app.db;
        let id = create_customer_by_cli(db, "ada", "correct horse battery")["customer_id"].as_str().unwrap().to_owned();
        let by_name = ok(db, &["customer", "show", "--username", "ada"]);
        let by_id = ok(db, &["customer", "show", "--id", &id]);
        assert_eq!(by_name, by_id);
        assert_eq!((by_name["username"].as_str(), by_name["enabled"].as_bool()), (Some("ada"), Some(true)));
        assert!(!by_name.to_string().contains("argon2"));

        let updated = ok(db, &["customer", "update", "--id", &id, "--new-username", "ada.l", "--name", "Ada L",
            "--email", "ada@example.com", "--attributes", "{\"tier\":\"gold\"}"]);
        assert_eq!((updated["username"].as_str(), updated["name"].as_str()), (Some("ada.l"), Some("Ada L")));
        assert_eq!(updated["attributes"]["tier"], "gold");
        assert_eq!(app.login("ada.l", "correct horse battery").await.status(), 200);
        assert_eq!(app.login("ada", "correct horse battery").await.status(), 401);
        let cleared = ok(db, &["customer", "update", "--username", "ada.l", "--email", ""]);
        assert_eq!(cleared["email"], Value::Null);

        let out = run_tollgate(db, &["customer", "set-password", "--username", "ada.l", "--password-stdin"],
            Some("a whole new passphrase\n"));
        assert_eq!(json_of(&out)["customer_id"], id.as_str());
        assert_eq!(app.login("ada.l", "correct horse battery").await.status(), 401);
        assert_eq!(app.login("ada.l", "a whole new passphrase").await.status(), 200);

        // Disabled: no login (answered like a wrong password) and no profile, from the next
        // request on, with no cache to wait for.
        let secret = app.create_client("desk", "profile:read").await;
        let token = app.token("desk", &secret, "profile:read").await;
        let key = app.create_api_key(&["getprofile"]).await;
        assert_eq!(app.profile_status(&token, &key, &id).await, 200);
        assert_eq!(ok(db, &["customer", "disable", "--id", &id])["enabled"], false);
        assert_eq!(app.login("ada.l", "a whole new passphrase").await.status(), 401);
        assert_eq!(app.profile_status(&token, &key, &id).await, 404);
        ok(db, &["customer", "enable", "--username", "ada.l"]);
        assert_eq!(app.login("ada.l", "a whole new passphrase").await.status(), 200);

        assert_eq!(ok(db, &["customer", "delete", "--username", "ada.l"])["deleted"], true);
        assert_eq!(app.profile_status(&token, &key, &id).await, 404);
        assert_eq!(app.login("ada.l", "a whole new passphrase").await.status(), 401);
        assert!(refused(db, &["customer", "show", "--id", &id], None).contains("no such customer"));

        for event in ["customer_created", "customer_updated", "customer_password_set", "customer_disabled",
            "customer_enabled", "customer_deleted"] {
            let rows = audited(&app, event).await;
            assert!(!rows.is_empty(), "{event}");
            assert!(rows.iter().all(|r| r.customer_id.as_deref() == Some(id.as_str())), "{event}");
        }
        let update = &audited(&app, "customer_updated").await[0];
        assert_eq!(update.detail.as_deref(), Some("changed: username name email attributes"));
        assert!(!format!("{update:?}").contains("ada"), "no personal data in the trail");
    }

    async fn bad_customer_commands_are_refused_clearly(backend) {
        let db = TestDb::create(backend).await;
        create_customer_by_cli(&db, "ada", "correct horse battery");
        create_customer_by_cli(&db, "bob", "correct horse battery");
        let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
            (vec!["customer", "show", "--username", "nobody"], None, "no such customer"),
            (vec!["customer", "show"], None, "--username"),
            (vec!["customer", "show", "--username", "ada", "--id", "x"], None, "cannot be used with"),
            (vec!["customer", "update", "--username", "ada"], None, "nothing to change"),
            (vec!["customer", "update", "--username", "ada", "--new-username", "bob"], None, "taken"),
            (vec!["customer", "update", "--username", "ada", "--attributes", "[1]"], None, "JSON object"),
            (vec!["customer", "set-password", "--username", "ada", "--password-stdin"], Some("short\n"), "at least 8"),
            (vec!["customer", "set-password", "--username", "nobody", "--password-stdin"], Some("long enough pw\n"), "no such customer"),
            (vec!["customer", "delete", "--username", "nobody"], None, "no such customer"),
            (vec!["customer", "disable", "--id", "not-a-uuid"], None, "customer_id"),
        ];
        for (args, stdin, expected) in cases {
            let err = refused(&db, &args, stdin);
            assert!(err.contains(expected), "{args:?}: {err}");
        }
        assert_eq!(ok(&db, &["customer", "show", "--username", "ada"])["updated_at"], Value::Null, "nothing changed");
    }
}
