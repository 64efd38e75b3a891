//! `private_key_jwt` (RFC 7523 §2.2): partners that hold no shared secret. Tokens for
//! assertions signed by every accepted algorithm, the same method at `/revoke` and
//! `/introspect`, key rotation with `client set-jwks`, the metadata. Refusals are in
//! `refusals.rs`, the `jwks_uri` in `jwks_uri.rs`, the CLI in `cli.rs`, Python's authlib in
//! `authlib.rs`.

mod authlib;
mod cli;
mod jwks_uri;
mod refusals;

use std::time::Duration;

use serde_json::{Value, json};
use tollgate::domain::provisioning::{NewClient, NewClientAuth};
use tollgate::store::ClientJwks;

use crate::backend_test;
use crate::support::*;

/// Registers `id` as a `private_key_jwt` client with these keys (through the CLI's own code).
pub async fn create_key_client(app: &TestApp, id: &str, scopes: &str, jwks: ClientJwks) {
    app.create_client_with(NewClient {
        client_id: id.into(),
        scopes: scopes.into(),
        default_scopes: None,
        audiences: Vec::new(),
        auth: NewClientAuth::PrivateKeyJwt(jwks),
        policy: Default::default(),
        require_dpop: false,
        bind_certificate: false,
    })
    .await;
}

/// POSTs `body` to `path` as a form, without Basic credentials.
/// Two instances on one database whose failure limits stay out of the way: these tests refuse
/// assertions on purpose, and refused assertions count like wrong secrets.
pub async fn two_instances_with_room_for_refusals(backend: Backend) -> (TestApp, TestApp) {
    let generous = |s: &mut tollgate::config::Settings| {
        s.failures_per_minute = 100_000;
        s.address_failures_per_minute = 100_000;
    };
    let first = TestApp::spawn_with(backend, generous).await;
    let second = TestApp::spawn_on(first.db.clone(), generous).await;
    (first, second)
}

pub async fn post(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    app.post_form(path, None, body).await
}

/// A token for an assertion of `key`; fails unless the server answers 200.
pub async fn token_with(app: &TestApp, key: &PartnerKey, client_id: &str) -> Value {
    let jwt = key.sign(&assertion_claims(app, client_id), &json!({}));
    let res = post(app, "/access_token", &assertion_body(&jwt, &[])).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

backend_test! {
    async fn an_assertion_signed_with_jsonwebtoken_gets_a_token(backend) {
        let app = TestApp::spawn(backend).await;
        let key = PartnerKey::generate("ES256", Some("partner-2026"));
        create_key_client(&app, "partner", "profile:read", ClientJwks::Inline(jwks_of(&[&key]))).await;
        // What a Rust partner writes with reqwest + jsonwebtoken, nothing of tollgate's.
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("partner-2026".into());
        let encoding = jsonwebtoken::EncodingKey::from_ec_der(key.pkcs8_der());
        let jwt = jsonwebtoken::encode(&header, &assertion_claims(&app, "partner"), &encoding).unwrap();
        let res = reqwest::Client::new()
            .post(app.url("/access_token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", jwt.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["client_id"], "partner");
        let claims = verify_with_jwks(body["access_token"].as_str().unwrap(), &app.jwks().await, "http://tollgate.test");
        assert_eq!((claims["sub"].as_str(), claims["scope"].as_str()), (Some("partner"), Some("profile:read")));
    }

    async fn every_accepted_algorithm_signs_with_or_without_a_kid(backend) {
        let app = TestApp::spawn(backend).await;
        for alg in ["ES256", "ES384", "RS256", "PS256", "EdDSA"] {
            // Two keys of the algorithm without kids: the server tries each (libraries such as
            // authlib send no kid); and one with a kid, chosen by it.
            let (a, b) = (PartnerKey::generate(alg, None), PartnerKey::generate(alg, None));
            let named = PartnerKey::generate(alg, Some("k1"));
            let id = format!("p-{alg}");
            create_key_client(&app, &id, "a", ClientJwks::Inline(jwks_of(&[&a, &b, &named]))).await;
            for key in [&a, &b, &named] {
                let token = token_with(&app, key, &id).await;
                assert_eq!(claims(token["access_token"].as_str().unwrap())["client_id"], id.as_str(), "{alg}");
            }
        }
    }

    async fn a_busy_key_is_verified_on_its_own_table_and_still_refuses_forgeries(backend) {
        let app = TestApp::spawn(backend).await;
        let key = PartnerKey::generate("ES256", Some("k1"));
        create_key_client(&app, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        let auth = &app.state.authority;
        let has_table = || async {
            let client = auth.client_keys.client(&auth.store, &auth.freshness, "partner").await.unwrap().unwrap();
            let tollgate::domain::client_keys::KeySource::Registered(keys) = &client.keys else { panic!("no keys") };
            keys.candidates(jsonwebtoken::Algorithm::ES256, Some("k1")).all(|k| k.has_table())
        };
        for _ in 0..tollgate::security::es256::BUSY_AFTER {
            assert!(!has_table().await);
            token_with(&app, &key, "partner").await;
        }
        assert!(has_table().await);
        // On the table: an assertion of the key still gets a token.
        let token = token_with(&app, &key, "partner").await;
        assert_eq!(claims(token["access_token"].as_str().unwrap())["client_id"], "partner");
        // Another key's signature under this key's kid, and a replay of a good assertion.
        let forger = PartnerKey::generate("ES256", Some("k1"));
        let forged = forger.sign(&assertion_claims(&app, "partner"), &json!({}));
        let good = key.sign(&assertion_claims(&app, "partner"), &json!({}));
        for (jwt, status) in [(&forged, 401), (&good, 200), (&good, 401)] {
            assert_eq!(post(&app, "/access_token", &assertion_body(jwt, &[])).await.status(), status);
        }
    }

    async fn a_key_client_has_no_secret(backend) {
        let app = TestApp::spawn(backend).await;
        let key = PartnerKey::generate("ES256", None);
        create_key_client(&app, "partner", "a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        // The stored hash column is empty, so no secret at all can match, the empty one included.
        for secret in ["", "anything at all", "\u{0}"] {
            let res = app.post_form("/access_token", Some(("partner", secret)), "grant_type=client_credentials").await;
            assert_eq!(error_of(res).await, (401, json!({"error": "invalid_client", "error_description": "client authentication failed"})));
        }
        let body = form(&[("grant_type", "client_credentials"), ("client_id", "partner"), ("client_secret", "x")]);
        let (status, body) = error_of(post(&app, "/access_token", &body).await).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (401, "invalid_client"));
    }

    async fn revocation_and_introspection_take_assertions_too(backend) {
        let app = TestApp::spawn(backend).await;
        let key = PartnerKey::generate("EdDSA", Some("k"));
        create_key_client(&app, "rs", "introspect a", ClientJwks::Inline(jwks_of(&[&key]))).await;
        let token = token_with(&app, &key, "rs").await["access_token"].as_str().unwrap().to_owned();
        // A client library puts the URL it calls into aud; the issuer is accepted everywhere.
        let assertion = |aud: String| {
            let mut c = assertion_claims(&app, "rs");
            c["aud"] = json!(aud);
            key.sign(&c, &json!({}))
        };
        let issuer = app.settings.issuer.clone();
        let introspect = async |aud: String| {
            let body = form(&[("token", token.as_str()), ("client_assertion_type", JWT_BEARER), ("client_assertion", &assertion(aud))]);
            post(&app, "/introspect", &body).await.json::<Value>().await.unwrap()
        };
        assert_eq!(introspect(format!("{issuer}/introspect")).await["active"], true);
        assert_eq!(introspect(issuer.clone()).await["client_id"], "rs");
        let body = form(&[("token", token.as_str()), ("client_assertion_type", JWT_BEARER), ("client_assertion", &assertion(format!("{issuer}/revoke")))]);
        assert_eq!(post(&app, "/revoke", &body).await.status(), 200);
        assert_eq!(introspect(format!("{issuer}/access_token")).await, json!({"active": false}));
        // An assertion for /revoke is not one for /introspect.
        let body = form(&[("token", token.as_str()), ("client_assertion_type", JWT_BEARER), ("client_assertion", &assertion(format!("{issuer}/revoke")))]);
        assert_eq!(post(&app, "/introspect", &body).await.status(), 401);
    }

    async fn metadata_lists_the_three_methods_and_the_algorithms(backend) {
        let app = TestApp::spawn(backend).await;
        let doc = send_json(app.http.get(app.url("/.well-known/oauth-authorization-server"))).await;
        let methods = json!(["client_secret_basic", "client_secret_post", "private_key_jwt"]);
        let algs = json!(["ES256", "ES384", "RS256", "PS256", "EdDSA"]);
        for endpoint in ["token_endpoint", "revocation_endpoint", "introspection_endpoint"] {
            assert_eq!(doc[format!("{endpoint}_auth_methods_supported")], methods, "{endpoint}");
            assert_eq!(doc[format!("{endpoint}_auth_signing_alg_values_supported")], algs, "{endpoint}");
        }
    }

    async fn set_jwks_rolls_keys_over_on_every_instance_without_downtime(backend) {
        // Polling until a key change arrives refuses assertions on purpose.
        let (first, second) = two_instances_with_room_for_refusals(backend).await;
        let old = PartnerKey::generate("ES256", Some("2026-01"));
        let new = PartnerKey::generate("ES256", Some("2026-07"));
        let dir = std::env::temp_dir().join(format!("tollgate-jwks-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, keys: &[&PartnerKey]| {
            let path = dir.join(name);
            std::fs::write(&path, jwks_of(keys)).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let only_old = file("old.json", &[&old]);
        tollgate_json(&first.db, &["client", "create", "--id", "partner", "--scope", "a",
            "--auth-method", "private_key_jwt", "--jwks-file", &only_old], None);
        for app in [&first, &second] {
            token_with(app, &old, "partner").await;
        }
        // Step 1: publish the new key beside the old one; both work everywhere.
        let both = file("both.json", &[&old, &new]);
        let out = tollgate_json(&first.db, &["client", "set-jwks", "--id", "partner", "--jwks-file", &both], None);
        assert_eq!(out, json!({"client_id": "partner", "updated": ["jwks"]}));
        let status = |app: &TestApp, key: &PartnerKey| {
            let body = assertion_body(&key.sign(&assertion_claims(app, "partner"), &json!({})), &[]);
            let (http, url) = (app.http.clone(), app.url("/access_token"));
            async move {
                http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body)
                    .send().await.unwrap().status().as_u16()
            }
        };
        for app in [&first, &second] {
            eventually(Duration::from_secs(5), "the new key", async || status(app, &new).await == 200).await;
            assert_eq!(status(app, &old).await, 200, "the old key still works");
        }
        // Step 2: retire the old key.
        let only_new = file("new.json", &[&new]);
        tollgate_json(&second.db, &["client", "set-jwks", "--id", "partner", "--jwks-file", &only_new], None);
        for app in [&first, &second] {
            eventually(Duration::from_secs(5), "the old key's retirement", async || status(app, &old).await == 401).await;
            assert_eq!(status(app, &new).await, 200);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
