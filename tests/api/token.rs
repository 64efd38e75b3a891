//! `POST /access_token`: RFC 6749 §4.4 with RFC 9068 tokens, through a stock OAuth2 client
//! and through raw requests for every error case.

use std::time::Instant;

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use serde_json::Value;

use crate::backend_test;
use crate::support::*;

async fn oauth2_token(
    app: &TestApp,
    id: &str,
    secret: &str,
    auth: AuthType,
    scope: Option<&str>,
) -> String {
    let client = BasicClient::new(ClientId::new(id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_token_uri(TokenUrl::new(app.url("/access_token")).unwrap())
        .set_auth_type(auth);
    let mut req = client.exchange_client_credentials();
    if let Some(s) = scope {
        req = req.add_scope(Scope::new(s.into()));
    }
    let http = oauth2::reqwest::Client::new();
    let token = req
        .request_async(&http)
        .await
        .expect("the oauth2 crate gets a token");
    assert_eq!(token.token_type().as_ref(), "bearer");
    assert_eq!(token.expires_in().unwrap().as_secs(), 3600);
    token.access_token().secret().clone()
}

fn assert_rfc_9068(jwt: &str, jwks: &Value, client_id: &str, scope: &str) {
    let head = header(jwt);
    assert_eq!(head["typ"], "at+jwt");
    assert_eq!(head["alg"], "ES256");
    assert!(head["kid"].is_string());
    let c = verify_with_jwks(jwt, jwks, "http://tollgate.test");
    assert_eq!(c["iss"], "http://tollgate.test");
    assert_eq!(c["sub"], client_id);
    assert_eq!(c["client_id"], client_id);
    assert_eq!(c["aud"], "http://tollgate.test");
    assert_eq!(c["scope"], scope);
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
}

backend_test! {
    async fn oauth2_crate_gets_a_token_with_client_secret_basic(backend) {
        let app = TestApp::spawn(backend).await;
        // A colon and a plus in the id exercise the §2.3.1 form-encoding inside Basic.
        let secret = app.create_client("desk:one+two", "profile:read chat:write").await;
        let jwt = oauth2_token(&app, "desk:one+two", &secret, AuthType::BasicAuth, None).await;
        assert_rfc_9068(&jwt, &app.jwks().await, "desk:one+two", "chat:write profile:read");
    }

    async fn oauth2_crate_gets_a_token_with_client_secret_post(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("chat-vendor", "profile:read chat:write").await;
        let jwt = oauth2_token(&app, "chat-vendor", &secret, AuthType::RequestBody, Some("profile:read")).await;
        assert_rfc_9068(&jwt, &app.jwks().await, "chat-vendor", "profile:read");
    }

    async fn success_has_the_documented_shape_and_no_store_headers(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "profile:read").await;
        let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        for path in ["/access_token", "/oauth/access_token"] {
            let res = app.post_form(path, Some(("p1", &secret)), "grant_type=client_credentials").await;
            assert_eq!(res.status(), 200);
            assert_eq!(header_of(&res, "cache-control").as_deref(), Some("no-store"));
            assert_eq!(header_of(&res, "pragma").as_deref(), Some("no-cache"));
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["token_type"], "Bearer");
            assert_eq!(body["expires_in"], 3600);
            assert_eq!(body["scope"], "profile:read");
            assert_eq!(body["client_id"], "p1");
            let issued: u128 = body["issued_at"].as_str().unwrap().parse().unwrap();
            assert!(issued >= before && issued < before + 60_000);
        }
    }

    async fn every_token_has_a_unique_jti(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a").await;
        let a = app.token("p1", &secret, "a").await;
        let b = app.token("p1", &secret, "a").await;
        assert_ne!(claims(&a)["jti"], claims(&b)["jti"]);
    }

    async fn grant_type_in_the_query_string_is_accepted(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a").await;
        let res = app.post_form("/access_token?grant_type=client_credentials", Some(("p1", &secret)), "").await;
        assert_eq!(res.status(), 200);
    }

    async fn empty_parameters_count_as_omitted(backend) {
        // RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were
        // omitted": an empty client_secret next to Basic is not a second method, and an empty
        // scope means the default scopes (schemathesis sent exactly this).
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a").await;
        let res = app.post_form("/access_token", Some(("p1", &secret)), "scope=&client_secret=&grant_type=client_credentials").await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["scope"], "a");
    }

    async fn the_clients_audience_goes_into_aud(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client_for_audience("p1", "a", "https://api.partner.example").await;
        let jwt = app.token("p1", &secret, "a").await;
        assert_eq!(claims(&jwt)["aud"], "https://api.partner.example");
    }

    async fn unknown_client_gets_the_same_answer_as_a_wrong_secret(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a").await;
        let mut wrong = Vec::new();
        let mut unknown = Vec::new();
        let mut bodies = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let res = app.post_form("/access_token", Some(("p1", "not-the-secret-at-all")), "grant_type=client_credentials").await;
            wrong.push(t.elapsed());
            assert_eq!(header_of(&res, "www-authenticate").as_deref(), Some("Basic realm=\"tollgate\""));
            bodies.push(error_of(res).await);
            let t = Instant::now();
            let res = app.post_form("/access_token", Some(("nobody", "not-the-secret-at-all")), "grant_type=client_credentials").await;
            unknown.push(t.elapsed());
            assert_eq!(header_of(&res, "www-authenticate").as_deref(), Some("Basic realm=\"tollgate\""));
            bodies.push(error_of(res).await);
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "answers differ: {bodies:?}");
        assert_eq!(bodies[0].0, 401);
        assert_eq!(bodies[0].1["error"], "invalid_client");
        // Both pay for an argon2 verification: without the dummy hash an unknown client
        // would answer ~100 times faster. (The benchmark prints the precise ratio.)
        let (w, u) = (median(wrong), median(unknown));
        assert!(u.as_secs_f64() > 0.5 * w.as_secs_f64(), "unknown {u:?} vs wrong {w:?}");
        assert!(!secret.is_empty());
    }

    async fn a_secret_differing_in_its_last_byte_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a").await;
        let mut near = secret.clone();
        let last = near.pop().unwrap();
        near.push(if last == 'A' { 'B' } else { 'A' });
        let res = app.post_form("/access_token", Some(("p1", &near)), "grant_type=client_credentials").await;
        assert_eq!(error_of(res).await.0, 401);
        // …and the real one still works afterwards.
        let res = app.post_form("/access_token", Some(("p1", &secret)), "grant_type=client_credentials").await;
        assert_eq!(res.status(), 200);
    }

    async fn request_errors_carry_rfc_6749_codes(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a b").await;
        let s = secret.as_str();
        type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, String, u16, &'a str);
        let cases: Vec<Case> = vec![
            ("missing grant_type", Some(("p1", s)), "scope=a".into(), 400, "invalid_request"),
            ("unknown grant", Some(("p1", s)), "grant_type=password".into(), 400, "unsupported_grant_type"),
            ("scope not allowed", Some(("p1", s)), "grant_type=client_credentials&scope=a+z".into(), 400, "invalid_scope"),
            ("malformed scope", Some(("p1", s)), "grant_type=client_credentials&scope=a%22b".into(), 400, "invalid_scope"),
            ("repeated parameter", Some(("p1", s)), "grant_type=client_credentials&scope=a&scope=b".into(), 400, "invalid_request"),
            ("both methods", Some(("p1", s)), format!("grant_type=client_credentials&client_secret={s}"), 400, "invalid_request"),
            ("no credentials", None, "grant_type=client_credentials".into(), 401, "invalid_client"),
            ("id without secret", None, "grant_type=client_credentials&client_id=p1".into(), 401, "invalid_client"),
            ("invalid UTF-8", Some(("p1", s)), "grant_type=client_credentials&scope=%FF".into(), 400, "invalid_request"),
        ];
        for (what, auth, body, status, code) in cases {
            let res = app.post_form("/access_token", auth, &body).await;
            assert_eq!(header_of(&res, "cache-control").as_deref(), Some("no-store"), "{what}");
            let (got, json) = error_of(res).await;
            assert_eq!((got, json["error"].as_str().unwrap()), (status, code), "{what}: {json}");
            assert!(json["error_description"].is_string(), "{what}");
            assert!(!json.to_string().contains(s), "{what}: the secret is echoed");
        }
    }

    async fn malformed_requests_are_400_never_500(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a").await;
        let url = app.url("/access_token");
        let ok_body = "grant_type=client_credentials";
        let reqs = vec![
            ("json body", app.http.post(&url).header("authorization", basic("p1", &secret)).json(&serde_json::json!({"grant_type": "client_credentials"}))),
            ("no content type", app.http.post(&url).header("authorization", basic("p1", &secret)).body(ok_body)),
            ("basic not base64", app.http.post(&url).header("authorization", "Basic %%%").header("content-type", "application/x-www-form-urlencoded").body(ok_body)),
            ("basic without colon", app.http.post(&url).header("authorization", "Basic cDE=").header("content-type", "application/x-www-form-urlencoded").body(ok_body)),
            ("raw invalid utf-8", app.http.post(&url).header("authorization", basic("p1", &secret)).header("content-type", "application/x-www-form-urlencoded").body(vec![b'a', b'=', 0xff, 0xfe])),
            ("secret in the url", app.http.post(format!("{url}?client_secret=x")).header("content-type", "application/x-www-form-urlencoded").body("grant_type=client_credentials&client_id=p1")),
        ];
        for (what, req) in reqs {
            let res = req.send().await.unwrap();
            let (status, body) = error_of(res).await;
            assert_eq!(status, 400, "{what}: {body}");
            assert_eq!(body["error"], "invalid_request", "{what}");
        }
        let huge = format!("grant_type=client_credentials&pad={}", "x".repeat(64 * 1024));
        let res = app.post_form("/access_token", Some(("p1", &secret)), &huge).await;
        let (status, _) = error_of(res).await;
        assert_eq!(status, 413);
    }

    async fn a_disabled_client_is_unauthorized(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a").await;
        app.db.sql("UPDATE clients SET enabled = 0 WHERE client_id = 'p1'").await;
        let res = app.post_form("/access_token", Some(("p1", &secret)), "grant_type=client_credentials").await;
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (400, "unauthorized_client"));
    }

    async fn a_client_without_default_scopes_must_ask_for_one(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client_with(tollgate::domain::provisioning::NewClient {
            client_id: "p1".into(),
            scopes: "a".into(),
            default_scopes: Some(String::new()),
            audiences: Vec::new(),
            auth: tollgate::domain::provisioning::NewClientAuth::Secret(None),
            policy: Default::default(),
            require_dpop: false,
            bind_certificate: false,
        }).await;
        let res = app.post_form("/access_token", Some(("p1", &secret)), "grant_type=client_credentials").await;
        assert_eq!(error_of(res).await.1["error"], "invalid_scope");
        let res = app.post_form("/access_token", Some(("p1", &secret)), "grant_type=client_credentials&scope=a").await;
        assert_eq!(res.status(), 200);
    }
}
