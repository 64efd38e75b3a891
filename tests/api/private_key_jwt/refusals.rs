//! Every refusal of a client assertion: the same 401 `invalid_client` body and challenge, and
//! no argon2 run; replays refused on every instance, through the database or Redis.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sqlx::Connection;
use tollgate::store::ClientJwks;

use super::{create_key_client, post, two_instances_with_room_for_refusals};
use crate::backend_test;
use crate::support::*;

const REDIS: &str = "redis://127.0.0.1:6379";

/// The status, body and challenge of a token request authenticated by `jwt`.
async fn answer(app: &TestApp, jwt: &str, extra: &[(&str, &str)]) -> (u16, Value, Option<String>) {
    let res = post(app, "/access_token", &assertion_body(jwt, extra)).await;
    let challenge = header_of(&res, "www-authenticate");
    // Not `error_of`: a case wrongly accepted must fail the comparison that names it.
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body, challenge)
}

/// A server with one `private_key_jwt` client, `partner` (scope `a`), and its ES256 key (no `kid`).
async fn partner_app(backend: Backend) -> (TestApp, PartnerKey) {
    let app = TestApp::spawn(backend).await;
    let key = PartnerKey::generate("ES256", None);
    create_key_client(&app, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
    (app, key)
}

/// What a refusal case is, the assertion, and further form parameters.
type Case = (&'static str, String, Vec<(&'static str, &'static str)>);

fn with(claims: &Value, changes: Value) -> Value {
    let mut c = claims.clone();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

backend_test! {
    async fn every_refusal_is_one_invalid_client_answer_and_costs_no_argon2(backend) {
        // Large enough a body that a 64 KiB assertion reaches the assertion check itself; and a
        // failure budget above the cases' count (limits are `bad_assertions_are_limited_…`).
        let app = TestApp::spawn_with(backend, |s| {
            s.max_body_bytes = 256 * 1024;
            s.failures_per_minute = 1000;
            s.address_failures_per_minute = 1000;
        }).await;
        let key = PartnerKey::generate("ES256", Some("k1"));
        let stranger = PartnerKey::generate("ES256", Some("k1"));
        create_key_client(&app, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        app.create_client("secret-client", "a").await;
        let now = app.now();
        // Each case starts from fresh, valid claims (a new jti), so that its own defect is the
        // only reason to refuse it.
        let good = || assertion_claims(&app, "partner");
        let sign = |c: &Value| key.sign(c, &json!({}));
        let issuer = app.settings.issuer.clone();
        // The reference: a refusal everyone agrees on (an unknown client).
        let hashes_before = app.state.authority.hasher.submitted();
        let reference = answer(&app, &sign(&with(&good(), json!({"iss": "nobody", "sub": "nobody"}))), &[]).await;
        assert_eq!(reference.0, 401);
        assert_eq!(reference.1, json!({"error": "invalid_client", "error_description": "client authentication failed"}));
        assert_eq!(reference.2.as_deref(), Some("Basic realm=\"tollgate\""));

        let used = sign(&good());
        assert_eq!(post(&app, "/access_token", &assertion_body(&used, &[])).await.status(), 200);
        let header = b64(r#"{"alg":"ES256","kid":"k1"}"#);
        let payload = b64(&good().to_string());
        let hs256 = {
            // A MAC keyed with the public key's bytes: the classic algorithm-confusion forgery.
            let mac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.public_jwk().to_string().as_bytes());
            let input = format!("{}.{payload}", b64(r#"{"alg":"HS256","kid":"k1"}"#));
            let tag = aws_lc_rs::hmac::sign(&mac_key, input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
        };
        let cases: Vec<Case> = vec![
            ("signed by a key the client does not have", stranger.sign(&good(), &json!({})), vec![]),
            ("HS256 keyed with the public key", hs256, vec![]),
            ("alg none", format!("{}.{payload}.", b64(r#"{"alg":"none"}"#)), vec![]),
            ("a kid the client does not have", key.sign(&good(), &json!({"kid": "k2"})), vec![]),
            ("a crit header", key.sign(&good(), &json!({"crit": ["exp"]})), vec![]),
            ("iss is not sub", sign(&with(&good(), json!({"iss": "someone-else"}))), vec![]),
            ("no iss", sign(&with(&good(), json!({"iss": null}))), vec![]),
            ("sub is another client", sign(&with(&good(), json!({"iss": "secret-client", "sub": "secret-client"}))), vec![]),
            ("client_id differs from sub", sign(&good()), vec![("client_id", "secret-client")]),
            ("aud is someone else", sign(&with(&good(), json!({"aud": "https://elsewhere.example/token"}))), vec![]),
            ("aud array without us", sign(&with(&good(), json!({"aud": ["https://a.example", "https://b.example"]}))), vec![]),
            ("aud a prefix of the issuer", sign(&with(&good(), json!({"aud": format!("{issuer}/access_tokenX")}))), vec![]),
            ("no aud", sign(&with(&good(), json!({"aud": null}))), vec![]),
            ("no exp", sign(&with(&good(), json!({"exp": null}))), vec![]),
            ("expired", sign(&with(&good(), json!({"iat": now - 200, "exp": now - 60}))), vec![]),
            // Both times pinned: `good()` stamps its own `iat`, a second later than `now` when
            // the clock ticks in between, which would make this a 3600 s assertion.
            ("lives longer than 60 minutes", sign(&with(&good(), json!({"iat": now, "exp": now + 3601}))), vec![]),
            ("lived longer than 60 minutes", sign(&with(&good(), json!({"iat": now - 3590, "exp": now + 30}))), vec![]),
            ("no iat, 2 hours left", sign(&with(&good(), json!({"iat": null, "exp": now + 7200}))), vec![]),
            ("issued in the future", sign(&with(&good(), json!({"iat": now + 120, "exp": now + 180}))), vec![]),
            ("not valid yet", sign(&with(&good(), json!({"nbf": now + 120}))), vec![]),
            ("no jti", sign(&with(&good(), json!({"jti": null}))), vec![]),
            ("empty jti", sign(&with(&good(), json!({"jti": ""}))), vec![]),
            ("a replay", used.clone(), vec![]),
            ("exp as a string", sign(&with(&good(), json!({"exp": (now + 60).to_string()}))), vec![]),
            ("a huge jti", sign(&with(&good(), json!({"jti": "j".repeat(10_000)}))), vec![]),
            ("a 300-byte jti", sign(&with(&good(), json!({"jti": "j".repeat(300)}))), vec![]),
            ("a 64 KiB assertion", sign(&with(&good(), json!({"pad": "p".repeat(64 * 1024)}))), vec![]),
            ("two parts", format!("{header}.{payload}"), vec![]),
            ("four parts", format!("{}.x", sign(&good())), vec![]),
            ("bad base64url", format!("{header}.{payload}!.c2ln"), vec![]),
            ("padded base64", format!("{header}.{payload}==.c2ln"), vec![]),
            ("claims that are not an object", key.sign_raw(r#"{"alg":"ES256","kid":"k1"}"#, "[1,2,3]"), vec![]),
            ("claims that are not JSON", key.sign_raw(r#"{"alg":"ES256","kid":"k1"}"#, "not json"), vec![]),
            ("a header that is not an object", key.sign_raw("\"ES256\"", &good().to_string()), vec![]),
            ("a tampered payload", {
                let jwt = sign(&with(&good(), json!({"jti": "tampered"})));
                let parts: Vec<&str> = jwt.split('.').collect();
                format!("{}.{payload}.{}", parts[0], parts[2])
            }, vec![]),
            ("a secret client's assertion", sign(&with(&good(), json!({"iss": "secret-client", "sub": "secret-client"}))), vec![("client_id", "secret-client")]),
        ];
        for (what, jwt, extra) in &cases {
            let got = answer(&app, jwt, extra).await;
            assert_eq!(got, reference, "{what}");
        }
        assert_eq!(app.state.authority.hasher.submitted(), hashes_before, "no argon2 run for any refusal");
        // Half an assertion, or another assertion type, is no client authentication at all.
        for body in [
            form(&[("grant_type", "client_credentials"), ("client_assertion", &sign(&assertion_claims(&app, "partner")))]),
            form(&[("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER)]),
            form(&[("grant_type", "client_credentials"), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), ("client_assertion", "PHNhbWw+")]),
        ] {
            let res = post(&app, "/access_token", &body).await;
            assert_eq!(error_of(res).await, (reference.0, reference.1.clone()), "{body}");
        }
        // An aud array that contains the token endpoint passes, as does the issuer alone.
        for aud in [json!(["https://other.example", format!("{issuer}/access_token")]), json!(issuer)] {
            let jwt = sign(&with(&assertion_claims(&app, "partner"), json!({"aud": aud})));
            assert_eq!(post(&app, "/access_token", &assertion_body(&jwt, &[])).await.status(), 200, "{aud}");
        }
    }

    async fn an_unknown_client_costs_the_signature_check_a_bad_signature_costs(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_client("secret-client", "a").await;
        let hashes_before = app.state.authority.hasher.submitted();
        let work = || app.state.authority.client_keys.verifications();
        for (alg, client) in [("ES256", "es"), ("ES384", "es384"), ("RS256", "rs"), ("PS256", "ps"), ("EdDSA", "ed")] {
            let key = PartnerKey::generate(alg, Some("k1"));
            let stranger = PartnerKey::generate(alg, Some("k1"));
            create_key_client(&app, client, "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
            // What one refusal cost, in signature verifications.
            let cost = async |who: &str, header: Value| {
                let before = work();
                let jwt = stranger.sign(&assertion_claims(&app, who), &header);
                let res = post(&app, "/access_token", &assertion_body(&jwt, &[])).await;
                assert_eq!(res.status(), 401, "{alg} {who}");
                work() - before
            };
            let bad_signature = cost(client, json!({})).await;
            assert_eq!(bad_signature, 1, "{alg}: the client's one key is tried");
            assert_eq!(cost("nobody", json!({})).await, bad_signature, "{alg}: an unknown client");
            assert_eq!(cost("nobody", json!({"kid": "made-up"})).await, bad_signature, "{alg}: an unknown client, a kid");
            assert_eq!(cost("secret-client", json!({})).await, bad_signature, "{alg}: a client without keys");
        }
        assert_eq!(app.state.authority.hasher.submitted(), hashes_before, "and no argon2 run");
    }

    async fn bad_assertions_are_limited_like_wrong_secrets(backend) {
        let app = TestApp::spawn_with(backend, |s| s.failures_per_minute = 3).await;
        to_the_start_of_a_minute(&[&app]);
        let key = PartnerKey::generate("ES256", None);
        let stranger = PartnerKey::generate("ES256", None);
        create_key_client(&app, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        let secret = app.create_client("desk", "a").await;
        let assertion = async |by: &PartnerKey| {
            let jwt = by.sign(&assertion_claims(&app, "partner"), &json!({}));
            post(&app, "/access_token", &assertion_body(&jwt, &[])).await.status().as_u16()
        };
        let with_secret = async |s: &str| {
            app.post_form("/access_token", Some(("desk", s)), "grant_type=client_credentials").await.status().as_u16()
        };
        // Two failures, then successes: a success gives its slot back, so they count nothing.
        assert_eq!(assertion(&stranger).await, 401);
        assert_eq!(assertion(&stranger).await, 401);
        for _ in 0..4 {
            assert_eq!(assertion(&key).await, 200);
        }
        // The third failure is the last the window allows; then bad assertions wait. The right
        // key still passes: a verified assertion, like a secret known good, is not counted.
        assert_eq!(assertion(&stranger).await, 401);
        let jwt = stranger.sign(&assertion_claims(&app, "partner"), &json!({}));
        let (status, body) = error_of(post(&app, "/access_token", &assertion_body(&jwt, &[])).await).await;
        assert_eq!((status, body["error"].as_str()), (429, Some("slow_down")));
        assert_eq!(assertion(&key).await, 200);
        assert_eq!(assertion(&stranger).await, 429);
        // Wrong secrets of another client, from the same address: the same budget of three.
        let mut secrets = Vec::new();
        for _ in 0..4 {
            secrets.push(with_secret("wrong-secret-wrong-secret").await);
        }
        assert_eq!(secrets, [401, 401, 401, 429]);
        assert_eq!(with_secret(&secret).await, 429);
        // The next window starts afresh, for both.
        app.clock.advance_secs(60);
        assert_eq!(assertion(&stranger).await, 401);
        assert_eq!(with_secret(&secret).await, 200);
    }

    async fn an_assertion_and_a_secret_together_are_a_malformed_request(backend) {
        let (app, key) = partner_app(backend).await;
        let jwt = key.sign(&assertion_claims(&app, "partner"), &json!({}));
        let res = app.post_form("/access_token", Some(("partner", "x")), &assertion_body(&jwt, &[])).await;
        assert_eq!(error_of(res).await.1["error"], "invalid_request");
        let body = assertion_body(&jwt, &[("client_secret", "x")]);
        assert_eq!(error_of(post(&app, "/access_token", &body).await).await.1["error"], "invalid_request");
    }

    async fn a_replay_is_refused_on_the_other_instance(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        let key = PartnerKey::generate("ES256", Some("k"));
        create_key_client(&first, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        let body = assertion_body(&key.sign(&assertion_claims(&first, "partner"), &json!({})), &[]);
        assert_eq!(post(&first, "/access_token", &body).await.status(), 200);
        assert_eq!(post(&second, "/access_token", &body).await.status(), 401);
        assert_eq!(post(&first, "/access_token", &body).await.status(), 401);
        // Racing: sixteen copies of one fresh assertion at both instances at once; one wins.
        let body = assertion_body(&key.sign(&assertion_claims(&first, "partner"), &json!({})), &[]);
        let requests = (0..16).map(|i| {
            let url = if i % 2 == 0 { first.url("/access_token") } else { second.url("/access_token") };
            let (http, body) = (first.http.clone(), body.clone());
            async move {
                http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body)
                    .send().await.unwrap().status().as_u16()
            }
        });
        let statuses = futures_join(requests).await;
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
        let rows = first.db.sql_count("SELECT COUNT(*) FROM client_assertion_jtis").await;
        assert_eq!(rows, 2, "the database holds the two jtis used");
    }

    async fn assertions_sent_to_both_instances_at_once_are_each_accepted_once(backend) {
        // A hundred assertions, each sent to both instances, all in flight together and in
        // opposite orders: every one is accepted exactly once, and nothing else fails (no
        // 5xx). The lock order of overlapping batches has its own test below: batches this
        // small rarely meet mid-statement.
        let (first, second) = two_instances_with_room_for_refusals(backend).await;
        let key = PartnerKey::generate("ES256", Some("k"));
        create_key_client(&first, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        let bodies: Vec<String> = (0..100)
            .map(|_| assertion_body(&key.sign(&assertion_claims(&first, "partner"), &json!({})), &[]))
            .collect();
        let sends = (0..200).map(|i| {
            let (url, body) = if i % 2 == 0 {
                (first.url("/access_token"), bodies[i / 2].clone())
            } else {
                (second.url("/access_token"), bodies[99 - i / 2].clone())
            };
            let http = first.http.clone();
            async move {
                let res = http.post(url).header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone()).send().await.unwrap();
                (body, res.status().as_u16())
            }
        });
        let answers = futures_join(sends).await;
        for body in &bodies {
            let mut statuses: Vec<u16> = answers.iter().filter(|(b, _)| b == body).map(|(_, s)| *s).collect();
            statuses.sort_unstable();
            assert_eq!(statuses, [200, 401], "each assertion once");
        }
        assert_eq!(first.db.sql_count("SELECT COUNT(*) FROM client_assertion_jtis").await, 100);
    }

    async fn a_replay_is_refused_across_instances_through_redis(backend) {
        let prefix = format!("tg-test-{}", uuid::Uuid::new_v4());
        let redis = |s: &mut tollgate::config::Settings| {
            s.redis_url = Some(secrecy::SecretString::from(REDIS));
            s.redis_prefix = prefix.clone();
        };
        let first = TestApp::spawn_with(backend, redis).await;
        let second = TestApp::spawn_on(first.db.clone(), redis).await;
        let key = PartnerKey::generate("ES256", Some("k"));
        create_key_client(&first, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        let claims = assertion_claims(&first, "partner");
        let body = assertion_body(&key.sign(&claims, &json!({})), &[]);
        assert_eq!(post(&first, "/access_token", &body).await.status(), 200);
        assert_eq!(post(&second, "/access_token", &body).await.status(), 401);
        assert_eq!(first.db.sql_count("SELECT COUNT(*) FROM client_assertion_jtis").await, 0, "Redis, not the database");
        let mut conn = redis::Client::open(REDIS).unwrap().get_multiplexed_async_connection().await.unwrap();
        let key_name = format!("{prefix}:jti:7:partner:{}", claims["jti"].as_str().unwrap());
        let ttl: i64 = redis::cmd("TTL").arg(&key_name).query_async(&mut conn).await.unwrap();
        assert!((1..=90).contains(&ttl), "kept until the assertion expires (+30 s leeway): {ttl}");
    }

    async fn a_jti_with_a_nul_is_refused_and_harms_no_other_request(backend) {
        let (app, key) = partner_app(backend).await;
        let claims = with(&assertion_claims(&app, "partner"), json!({"jti": "a\u{0}b"}));
        let bad = assertion_body(&key.sign(&claims, &json!({})), &[]);
        let good = assertion_body(&key.sign(&assertion_claims(&app, "partner"), &json!({})), &[]);
        // Sent together, so that they could have shared a batch of the jti writer.
        let (bad, good) = tokio::join!(post(&app, "/access_token", &bad), post(&app, "/access_token", &good));
        let (status, body) = error_of(bad).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        assert_eq!(good.status(), 200);
    }

    async fn a_replay_is_refused_through_the_database_when_redis_is_away(backend) {
        // Nothing listens on port 1: every Redis write fails at once, and the batch goes to the
        // database instead, where the replay is refused as without Redis.
        let app = TestApp::spawn_with(backend, |s| {
            s.redis_url = Some(secrecy::SecretString::from("redis://127.0.0.1:1"));
            s.redis_prefix = format!("tg-test-{}", uuid::Uuid::new_v4());
        })
        .await;
        let key = PartnerKey::generate("ES256", Some("k"));
        create_key_client(&app, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        let body = assertion_body(&key.sign(&assertion_claims(&app, "partner"), &json!({})), &[]);
        assert_eq!(post(&app, "/access_token", &body).await.status(), 200);
        assert_eq!(post(&app, "/access_token", &body).await.status(), 401);
        assert_eq!(app.db.sql_count("SELECT COUNT(*) FROM client_assertion_jtis").await, 1);
    }

    async fn a_batch_with_one_replay_records_its_other_jtis_as_new(backend) {
        // The writer first sends a batch as a plain INSERT and, when one row already exists,
        // again as the upsert that says which rows were new: the others must not be lost with
        // the failed statement, and an expired record is taken over.
        let app = TestApp::spawn(backend).await;
        let now = app.now();
        let earlier = [("p", "seen", now + 60), ("p", "old", now - 1)];
        assert_eq!(app.store.record_assertion_jtis(&earlier, now - 10).await.unwrap(), [true, true]);
        let batch = [("p", "fresh", now + 60), ("p", "seen", now + 60), ("q", "seen", now + 60), ("p", "old", now + 60)];
        assert_eq!(app.store.record_assertion_jtis(&batch, now).await.unwrap(), [true, false, true, true]);
        assert_eq!(app.store.record_assertion_jtis(&batch, now).await.unwrap(), [false; 4]);
        assert_eq!(app.db.sql_count("SELECT COUNT(*) FROM client_assertion_jtis").await, 4);
    }

    async fn two_batches_of_the_same_jtis_in_opposite_orders_do_not_deadlock(backend) {
        // Two instances may write batches holding the same jtis (replays sent to both) in
        // opposite orders. Each row's unique-index entry is a lock until its statement
        // commits: rows written in arrival order would let each statement wait for the other,
        // and PostgreSQL would abort one with a deadlock, failing every request of its batch.
        // A transaction holding the first jti of each order makes both batches wait, then
        // lets them go at once.
        let app = TestApp::spawn(backend).await;
        let now = app.now();
        let jtis: Vec<String> = (0..200).map(|i| format!("j{i:03}")).collect();
        let rows: Vec<_> = jtis.iter().map(|j| ("p", j.as_str(), now + 60)).collect();
        let reversed: Vec<_> = rows.iter().rev().copied().collect();
        let mut holder = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
        sqlx::raw_sql(&format!(
            "BEGIN; INSERT INTO client_assertion_jtis (client_id, jti, expires_at) \
             VALUES ('p', 'j000', {t}), ('p', 'j199', {t})",
            t = now + 60
        ))
        .execute(&mut holder)
        .await
        .unwrap();
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
        };
        let (a, b, ()) = tokio::join!(
            app.store.record_assertion_jtis(&rows, now),
            app.store.record_assertion_jtis(&reversed, now),
            release
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        // Each jti is new to exactly one of the two batches.
        for (i, first) in a.iter().enumerate() {
            assert_ne!(*first, b[199 - i], "jti {i}");
        }
        assert_eq!(app.db.sql_count("SELECT COUNT(*) FROM client_assertion_jtis").await, 200);
    }

    async fn the_lifetime_ceiling_is_configurable(backend) {
        let app = TestApp::spawn_with(backend, |s| s.client_assertion_max_lifetime = 120).await;
        let key = PartnerKey::generate("ES256", None);
        create_key_client(&app, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        let now = app.now();
        let status = async |lifetime: i64| {
            let claims = with(&assertion_claims(&app, "partner"), json!({"iat": now, "exp": now + lifetime}));
            post(&app, "/access_token", &assertion_body(&key.sign(&claims, &json!({})), &[])).await.status().as_u16()
        };
        assert_eq!(status(300).await, 401);
        assert_eq!(status(120).await, 200);
    }

    async fn an_expired_jti_may_come_again(backend) {
        let (app, key) = partner_app(backend).await;
        let claims = with(&assertion_claims(&app, "partner"), json!({"jti": "reused"}));
        let body = assertion_body(&key.sign(&claims, &json!({})), &[]);
        assert_eq!(post(&app, "/access_token", &body).await.status(), 200);
        // Past the assertion's life (and the leeway) the record no longer blocks a new one.
        app.clock.advance_secs(100);
        let claims = with(&assertion_claims(&app, "partner"), json!({"jti": "reused"}));
        let body = assertion_body(&key.sign(&claims, &json!({})), &[]);
        assert_eq!(post(&app, "/access_token", &body).await.status(), 200);
        assert_eq!(post(&app, "/access_token", &body).await.status(), 401);
    }

    async fn a_disabled_key_client_is_told_so_once_it_proved_who_it_is(backend) {
        let (app, key) = partner_app(backend).await;
        app.db.sql("UPDATE clients SET enabled = 0 WHERE client_id = 'partner'").await;
        let body = assertion_body(&key.sign(&assertion_claims(&app, "partner"), &json!({})), &[]);
        let (status, body) = error_of(post(&app, "/access_token", &body).await).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (400, "unauthorized_client"));
    }
}

#[tokio::test]
async fn the_jti_clean_up_skips_a_row_a_writer_holds_on_postgres() {
    // A writer taking an expired jti over holds its row until it commits; a clean-up that
    // waited for it could hold other rows that writer wants next (a deadlock). It must skip
    // the held row and delete the rest at once. (SQLite has one writer at a time.)
    let app = TestApp::spawn(Backend::Postgres).await;
    let now = app.now();
    let expired = [("p", "free", now - 1), ("p", "held", now - 1)];
    app.store
        .record_assertion_jtis(&expired, now - 10)
        .await
        .unwrap();
    let mut holder = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
    sqlx::raw_sql(&format!(
        "BEGIN; UPDATE client_assertion_jtis SET expires_at = {} WHERE jti = 'held'",
        now + 60
    ))
    .execute(&mut holder)
    .await
    .unwrap();
    let deleted = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        app.store.delete_expired_assertion_jtis(now),
    )
    .await
    .expect("the clean-up waited for the held row")
    .unwrap();
    assert_eq!(deleted, 1);
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    assert_eq!(
        app.db
            .sql_count("SELECT COUNT(*) FROM client_assertion_jtis WHERE jti = 'held'")
            .await,
        1
    );
    assert_eq!(
        app.db
            .sql_count("SELECT COUNT(*) FROM client_assertion_jtis")
            .await,
        1
    );
}
