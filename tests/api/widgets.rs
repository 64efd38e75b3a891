//! Chat-widget tokens (issue 4): every kind for a logged-in customer and an anonymous visitor,
//! the AXP flow against a stand-in AXP server, CORS, HTTPS, and 401 on bad credentials.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use secrecy::SecretString;
use serde_json::{Value, json};
use tollgate::config::{Settings, TlsSettings, WidgetKind, WidgetProfileConfig};
use tollgate::startup::{Application, StartupError};

use crate::backend_test;
use crate::helpers::*;

const CCAI_SECRET: &str = "ccai-company-secret-0123456789";
const DG_SECRET: &str = "dg-api-secret-0123456789abcdef";
const DG_API_KEY: &str = "dg-api-key-4242";
const ZD_SECRET: &str = "zendesk-shared-secret-0123456789";
const AXP_CLIENT_SECRET: &str = "axp-client-secret-s3cr3t";
const AXP_APP_KEY: &str = "axp-app-key-k3y";
const PASSWORD: &str = "correct horse battery";
const WEB: &str = "https://www.example.com";

fn secrets() -> HashMap<String, SecretString> {
    [
        ("CCAI_COMPANY_SECRET", CCAI_SECRET),
        ("DG_API_SECRET", DG_SECRET),
        ("DG_API_KEY", DG_API_KEY),
        ("ZD_SECRET", ZD_SECRET),
        ("AXP_CLIENT_SECRET", AXP_CLIENT_SECRET),
        ("AXP_APP_KEY", AXP_APP_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), SecretString::from(v.to_owned())))
    .collect()
}

fn ccai(name: &str) -> WidgetProfileConfig {
    WidgetProfileConfig {
        name: name.into(),
        kind: Some(WidgetKind::Ccai),
        issuer: Some("ACME".into()),
        secret_env: Some("CCAI_COMPANY_SECRET".into()),
        allowed_origins: vec![WEB.into()],
        ..Default::default()
    }
}

fn dg() -> WidgetProfileConfig {
    WidgetProfileConfig {
        name: "dg".into(),
        kind: Some(WidgetKind::Dg),
        secret_env: Some("DG_API_SECRET".into()),
        api_key_env: Some("DG_API_KEY".into()),
        ttl_seconds: Some(600),
        ..Default::default()
    }
}

/// A Zendesk-messaging-style template.
fn zendesk() -> WidgetProfileConfig {
    let mut claims = serde_json::Map::new();
    claims.insert("scope".into(), json!("user"));
    WidgetProfileConfig {
        name: "zendesk".into(),
        kind: Some(WidgetKind::Generic),
        alg: Some("HS512".into()),
        kid: Some("app_123".into()),
        secret_env: Some("ZD_SECRET".into()),
        claims,
        customer_claims: [("external_id", "id"), ("name", "name"), ("email", "email")]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect(),
        ..Default::default()
    }
}

fn axp(base_url: &str) -> WidgetProfileConfig {
    WidgetProfileConfig {
        name: "axp".into(),
        kind: Some(WidgetKind::Axp),
        base_url: Some(base_url.into()),
        account_id: Some("ACCT01".into()),
        integration_id: Some("integration-7".into()),
        client_id: Some("axp-client".into()),
        client_secret_env: Some("AXP_CLIENT_SECRET".into()),
        app_key_env: Some("AXP_APP_KEY".into()),
        jwt_validity_minutes: Some(30),
        region: Some("NA".into()),
        config_id: Some("cfg-1".into()),
        upstream_timeout_ms: Some(700),
        ..Default::default()
    }
}

async fn spawn(backend: Backend, profiles: Vec<WidgetProfileConfig>) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.widget_profiles = profiles;
        s.named_secrets = secrets();
    })
    .await
}

/// The app with a customer "ada"; returns the opaque id and a customer token.
async fn with_customer(app: &TestApp) -> (String, String) {
    let id = app.create_customer("ada", PASSWORD).await;
    let token = app.customer_token("ada", PASSWORD).await;
    (id, token)
}

fn verify_hs(token: &str, secret: &str, alg: Algorithm) -> Value {
    let mut v = Validation::new(alg);
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iat"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(secret.as_bytes()), &v)
        .expect("the widget token verifies with the vendor secret")
        .claims
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

async fn get(
    app: &TestApp,
    path: &str,
    auth: Option<&str>,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut req = app.http.get(app.url(path));
    if let Some(t) = auth {
        req = req.bearer_auth(t);
    }
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn token_of(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 200);
    assert_eq!(
        header_of(&res, "cache-control").as_deref(),
        Some("no-store")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(keys(&body), set(&["token"]));
    body["token"].as_str().unwrap().to_owned()
}

/// The anonymous cookie pair `tollgate_visitor=…` from a Set-Cookie header.
fn visitor_cookie(res: &reqwest::Response) -> String {
    let set_cookie = header_of(res, "set-cookie").expect("an anonymous visitor gets a cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie} lacks {attr}");
    }
    set_cookie.split(';').next().unwrap().to_owned()
}

fn assert_no_pii(claims: &Value) {
    // Needles that cannot occur by chance in the random ids and numbers of a token: the bare
    // username "ada" is a hex string, so it is looked for as a whole JSON string only.
    let text = claims.to_string().to_lowercase();
    for pii in ["\"ada\"", "lovelace", "example.com", "+1415", "gold"] {
        assert!(!text.contains(pii), "{pii} leaked into {claims}");
    }
}

backend_test! {
    async fn ccai_token_for_a_customer_carries_the_opaque_id_and_the_profile(backend) {
        let app = spawn(backend, vec![ccai("web")]).await;
        let (id, jwt) = with_customer(&app).await;
        let res = get(&app, "/widget_tokens/web", Some(&jwt), None).await;
        assert!(header_of(&res, "set-cookie").is_none(), "customers get no anonymous cookie");
        assert!(header_of(&res, "strict-transport-security").is_none(), "no HSTS over HTTP");
        let token = token_of(res).await;
        assert_eq!(header(&token), json!({"alg": "HS256", "typ": "JWT"}));
        let claims = verify_hs(&token, CCAI_SECRET, Algorithm::HS256);
        assert_eq!(keys(&claims), set(&["iss", "iat", "exp", "identifier", "name", "email", "phone"]));
        assert_eq!(claims["iss"], "ACME");
        assert_eq!(claims["identifier"], id);
        assert_eq!(claims["name"], "Ada Lovelace");
        assert_eq!(claims["email"], "ada@example.com");
        assert_eq!(claims["phone"], "+14155550100");
        let iat = claims["iat"].as_i64().unwrap();
        assert!((iat - app.now()).abs() <= 2);
        assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);
        // Signed with the company secret, not something else.
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_aud = false;
        assert!(jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_secret(b"another-secret-0123456789"), &v).is_err());
    }

    async fn ccai_is_served_at_auth_token_from_the_session_cookie_and_can_use_hs384(backend) {
        let mut hs384 = ccai("mobile");
        hs384.alg = Some("HS384".into());
        hs384.ttl_seconds = Some(900);
        let app = spawn(backend, vec![ccai("web"), hs384]).await;
        let (id, jwt) = with_customer(&app).await;
        let cookie = format!("other=1; tollgate_session={jwt}");
        let token = token_of(get(&app, "/auth/token", None, Some(&cookie)).await).await;
        assert_eq!(header(&token)["alg"], "HS256", "/auth/token is the first ccai profile");
        assert_eq!(verify_hs(&token, CCAI_SECRET, Algorithm::HS256)["identifier"], id);

        let token = token_of(get(&app, "/widget_tokens/mobile", Some(&jwt), None).await).await;
        assert_eq!(header(&token), json!({"alg": "HS384", "typ": "JWT"}));
        let claims = verify_hs(&token, CCAI_SECRET, Algorithm::HS384);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    }

    async fn ccai_anonymous_visitors_keep_a_random_id_in_an_httponly_cookie(backend) {
        let app = spawn(backend, vec![ccai("web")]).await;
        let res = get(&app, "/widget_tokens/web", None, None).await;
        let cookie = visitor_cookie(&res);
        let claims = verify_hs(&token_of(res).await, CCAI_SECRET, Algorithm::HS256);
        assert_eq!(keys(&claims), set(&["iss", "iat", "exp", "identifier"]));
        let anon = claims["identifier"].as_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&anon).is_ok(), "UUID-like, never an email");

        // The same browser keeps its id …
        let res = get(&app, "/widget_tokens/web", None, Some(&cookie)).await;
        visitor_cookie(&res);
        let again = verify_hs(&token_of(res).await, CCAI_SECRET, Algorithm::HS256);
        assert_eq!(again["identifier"], anon.as_str());
        // … another browser gets another.
        let other = verify_hs(&token_of(get(&app, "/widget_tokens/web", None, None).await).await, CCAI_SECRET, Algorithm::HS256);
        assert_ne!(other["identifier"], anon.as_str());

        // The visitor cookie never passes as a customer session, nor as a bearer token.
        let value = cookie.split_once('=').unwrap().1;
        let res = get(&app, "/widget_tokens/web", Some(value), None).await;
        assert_eq!(error_of(res).await.0, 401);
        let res = get(&app, "/widget_tokens/web", None, Some(&format!("tollgate_session={value}"))).await;
        assert_eq!(error_of(res).await.0, 401);
    }

    async fn dg_token_has_the_api_key_as_kid_and_only_the_external_id(backend) {
        let app = spawn(backend, vec![dg()]).await;
        let (id, jwt) = with_customer(&app).await;
        let res = app.http.post(app.url("/widget_tokens/dg")).bearer_auth(&jwt).send().await.unwrap();
        let token = token_of(res).await;
        assert_eq!(header(&token), json!({"alg": "HS256", "typ": "JWT", "kid": DG_API_KEY}));
        let claims = verify_hs(&token, DG_SECRET, Algorithm::HS256);
        assert_eq!(keys(&claims), set(&["scope", "external_id", "iat", "exp"]));
        assert_eq!(claims["scope"], "user");
        assert_eq!(claims["external_id"], id);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
        assert_no_pii(&claims);
    }

    async fn dg_refuses_anonymous_visitors(backend) {
        let app = spawn(backend, vec![dg()]).await;
        let res = get(&app, "/widget_tokens/dg", None, None).await;
        assert!(header_of(&res, "set-cookie").is_none());
        let (status, body) = error_of(res).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "login_required");
    }

    async fn generic_template_expresses_a_zendesk_style_token(backend) {
        let app = spawn(backend, vec![zendesk()]).await;
        let (id, jwt) = with_customer(&app).await;
        let token = token_of(get(&app, "/widget_tokens/zendesk", Some(&jwt), None).await).await;
        assert_eq!(header(&token), json!({"alg": "HS512", "typ": "JWT", "kid": "app_123"}));
        let claims = verify_hs(&token, ZD_SECRET, Algorithm::HS512);
        assert_eq!(keys(&claims), set(&["scope", "external_id", "name", "email", "iat", "exp"]));
        assert_eq!(claims["scope"], "user");
        assert_eq!(claims["external_id"], id);
        assert_eq!(claims["name"], "Ada Lovelace");
        assert_eq!(claims["email"], "ada@example.com");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
        // Anonymous visitors only when the template says so.
        let (status, body) = error_of(get(&app, "/widget_tokens/zendesk", None, None).await).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (401, "login_required"));
    }

    async fn generic_template_can_sign_with_the_servers_own_key(backend) {
        let mut p = zendesk();
        p.name = "own".into();
        p.alg = Some("server".into());
        p.kid = None;
        p.secret_env = None;
        p.allow_anonymous = Some(true);
        p.issuer = Some("http://tollgate.test".into());
        p.claims.insert("aud".into(), json!("chat-vendor"));
        let app = spawn(backend, vec![p]).await;
        let (id, jwt) = with_customer(&app).await;
        let token = token_of(get(&app, "/widget_tokens/own", Some(&jwt), None).await).await;
        let claims = verify_with_jwks(&token, &app.jwks().await, "chat-vendor");
        assert_eq!(claims["external_id"], id);
        // Anonymous: only the id, nothing else mapped.
        let res = get(&app, "/widget_tokens/own", None, None).await;
        visitor_cookie(&res);
        let claims = verify_with_jwks(&token_of(res).await, &app.jwks().await, "chat-vendor");
        assert_eq!(keys(&claims), set(&["scope", "aud", "iss", "external_id", "iat", "exp"]));
        assert_ne!(claims["external_id"], id);

        // An HMAC server key is never published: such a template is refused at start-up.
        let db = TestDb::create(backend).await;
        let mut settings = test_settings(&db.url);
        settings.signing_alg = tollgate::domain::keys::Alg::Hs256;
        let mut p = zendesk();
        p.alg = Some("server".into());
        p.kid = None;
        p.secret_env = None;
        settings.widget_profiles = vec![p];
        let err = Application::build(settings).await.err().expect("refused");
        assert!(err.to_string().contains("asymmetric"), "{err}");
    }

    async fn bad_customer_credentials_get_401_on_every_kind(backend) {
        let upstream = StandIn::start(120).await;
        let app = spawn(backend, vec![ccai("web"), dg(), zendesk(), axp(&upstream.url)]).await;
        let (_, jwt) = with_customer(&app).await;
        let (head, rest) = jwt.split_once('.').unwrap();
        let (payload, _) = rest.split_once('.').unwrap();
        // Forged: the payload names another customer, the signature is the original one.
        let mut claims = claims(&jwt);
        claims["sub"] = json!(uuid::Uuid::new_v4().to_string());
        let forged_payload = base64_url(&serde_json::to_vec(&claims).unwrap());
        let forged = jwt.replacen(payload, &forged_payload, 1);
        // Wrongly signed: a well-formed token signed with a key that is not the server's.
        let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
        h.kid = header(&jwt)["kid"].as_str().map(str::to_owned);
        let wrong = jsonwebtoken::encode(&h, &crate::helpers::claims(&jwt), &EncodingKey::from_secret(b"not the server key at all")).unwrap();
        let garbage = format!("{head}.e30.c2ln");
        let visitor_forged = format!("tollgate_visitor={wrong}");

        let paths = ["/widget_tokens/web", "/widget_tokens/dg", "/widget_tokens/zendesk", "/widget_tokens/axp"];
        for path in paths {
            for bad in [&forged, &wrong, &garbage] {
                let res = app.http.post(app.url(path)).bearer_auth(bad).send().await.unwrap();
                assert_eq!(error_of(res).await.0, 401, "{path} bearer");
                let res = app.http.post(app.url(path)).header("cookie", format!("tollgate_session={bad}")).send().await.unwrap();
                assert_eq!(error_of(res).await.0, 401, "{path} cookie");
            }
            let res = app.http.post(app.url(path)).header("authorization", "Basic YTpi").send().await.unwrap();
            assert_eq!(error_of(res).await.0, 401, "{path} non-bearer");
            let res = app.http.post(app.url(path)).header("cookie", &visitor_forged).send().await.unwrap();
            assert_eq!(error_of(res).await.0, 401, "{path} forged visitor cookie");
        }
        // Expired: the genuine token, an hour and more later.
        app.clock.advance_secs(3600 + 60);
        for path in paths {
            let res = app.http.post(app.url(path)).bearer_auth(&jwt).send().await.unwrap();
            let (status, body) = error_of(res).await;
            assert_eq!(status, 401, "{path} expired");
            assert_eq!(body["error_description"], "the token has expired");
            let res = app.http.post(app.url(path)).header("cookie", format!("tollgate_session={jwt}")).send().await.unwrap();
            assert_eq!(error_of(res).await.0, 401, "{path} expired cookie");
        }
        assert_eq!(upstream.exchanges(), 0, "no upstream call for a refused visitor");
    }

    async fn axp_customer_token_is_verified_and_the_exchange_is_cached(backend) {
        let upstream = StandIn::start(300).await;
        let app = spawn(backend, vec![axp(&upstream.url)]).await;
        let (id, jwt) = with_customer(&app).await;
        for path in ["/widget_tokens/axp", "/token"] {
            let res = app.http.post(app.url(path)).bearer_auth(&jwt)
                // Display data only: a name the profile overrides, identifiers never forwarded.
                .json(&json!({"userName": "Mallory", "userIdentifiers": {"emailAddresses": ["mallory@evil.example"]}}))
                .send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(header_of(&res, "cache-control").as_deref(), Some("no-store"));
            let body: Value = res.json().await.unwrap();
            assert_eq!(keys(&body), set(&["jwtToken", "axpIntegrationId", "axpHostName", "axpRegion", "configId"]));
            assert!(body["jwtToken"].as_str().unwrap().starts_with("axp-jwt-"));
            assert_eq!(body["axpIntegrationId"], "integration-7");
            assert_eq!(body["axpHostName"], upstream.url.trim_start_matches("http://"));
            assert_eq!(body["axpRegion"], "NA");
            let text = body.to_string();
            assert!(!text.contains(AXP_CLIENT_SECRET) && !text.contains(AXP_APP_KEY));
        }
        assert_eq!(upstream.exchanges(), 1, "two widget requests, one upstream exchange");
        assert_eq!(upstream.token_calls(), 2);
        let sent = upstream.last_body();
        assert_eq!(sent, json!({
            "customerId": id,
            "customerName": "Ada Lovelace",
            "customerIdentifiers": {"emailAddresses": ["ada@example.com"], "phoneNumbers": ["+14155550100"]},
            "verifiedCustomer": true,
            "integrationId": "integration-7",
            "ttl": 30,
        }));
        upstream.assert_no_violations();
    }

    async fn axp_anonymous_visitors_send_no_identifiers_and_are_unverified(backend) {
        let upstream = StandIn::start(300).await;
        let app = spawn(backend, vec![axp(&upstream.url)]).await;
        let res = app.http.post(app.url("/token"))
            .json(&json!({"userName": "Visitor 9", "userIdentifiers": {"emailAddresses": ["v@x.example"]}}))
            .send().await.unwrap();
        let cookie = visitor_cookie(&res);
        assert_eq!(res.status(), 200);
        let sent = upstream.last_body();
        assert_eq!(sent["verifiedCustomer"], false);
        assert_eq!(sent["customerIdentifiers"], json!({}));
        assert_eq!(sent["customerName"], "Visitor 9");
        let anon = sent["customerId"].as_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&anon).is_ok());
        let res = app.http.post(app.url("/token")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(upstream.last_body()["customerId"], anon.as_str(), "stable for the browser");
        assert_eq!(upstream.last_body()["customerName"], "Guest");
        upstream.assert_no_violations();
    }

    async fn axp_refreshes_the_access_token_after_it_expires(backend) {
        let upstream = StandIn::start(120).await;
        let app = spawn(backend, vec![axp(&upstream.url)]).await;
        let post = || app.http.post(app.url("/widget_tokens/axp")).send();
        assert_eq!(post().await.unwrap().status(), 200);
        app.clock.advance_secs(60);
        assert_eq!(post().await.unwrap().status(), 200);
        assert_eq!(upstream.exchanges(), 1, "still fresh after 60 s of 120");
        app.clock.advance_secs(60);
        assert_eq!(post().await.unwrap().status(), 200);
        assert_eq!(upstream.exchanges(), 2, "refreshed once it (nearly) expired");
        upstream.assert_no_violations();
    }

    async fn axp_exchanges_anew_after_the_tokens_api_refuses_the_access_token(backend) {
        let upstream = StandIn::start(3600).await;
        let app = spawn(backend, vec![axp(&upstream.url)]).await;
        let post = || app.http.post(app.url("/widget_tokens/axp")).send();
        assert_eq!(post().await.unwrap().status(), 200);
        upstream.set_mode(Mode::TokensUnauthorized);
        assert_eq!(error_of(post().await.unwrap()).await.0, 502);
        upstream.set_mode(Mode::Ok);
        assert_eq!(post().await.unwrap().status(), 200);
        assert_eq!(upstream.exchanges(), 2, "the refused access token was dropped");
        upstream.assert_no_violations();
    }

    async fn axp_concurrent_requests_share_one_exchange(backend) {
        let upstream = StandIn::start(300).await;
        upstream.set_mode(Mode::SlowExchange);
        let app = spawn(backend, vec![axp(&upstream.url)]).await;
        let reqs = (0..4).map(|_| app.http.post(app.url("/widget_tokens/axp")).send());
        for res in futures_join(reqs).await {
            assert_eq!(res.unwrap().status(), 200);
        }
        assert_eq!(upstream.exchanges(), 1, "one refresh in flight at a time");
    }

    async fn axp_upstream_errors_and_timeouts_give_502_without_secrets(backend) {
        let upstream = StandIn::start(300).await;
        let app = spawn(backend, vec![axp(&upstream.url)]).await;
        // Hang first: with nothing cached, the exchange itself times out; last: the tokens call.
        for mode in [Mode::Hang, Mode::ExchangeFails, Mode::TokensFail, Mode::Hang] {
            upstream.set_mode(mode);
            let started = Instant::now();
            let res = app.http.post(app.url("/widget_tokens/axp")).send().await.unwrap();
            let (status, body) = error_of(res).await;
            assert_eq!(status, 502, "{mode:?}");
            assert_eq!(body["error"], "upstream_error");
            let text = body.to_string();
            for secret in [AXP_CLIENT_SECRET, AXP_APP_KEY, "upstream-body"] {
                assert!(!text.contains(secret), "{mode:?}: {text}");
            }
            assert!(started.elapsed() < Duration::from_secs(4), "{mode:?}: the timeout is bounded");
        }
        upstream.set_mode(Mode::Ok);
        let res = app.http.post(app.url("/widget_tokens/axp")).send().await.unwrap();
        assert_eq!(res.status(), 200, "recovers once AXP does");
    }

    async fn axp_config_answers_the_same_fields_without_a_token(backend) {
        let upstream = StandIn::start(300).await;
        let mut p = axp(&upstream.url);
        p.expose_app_key = true;
        p.calling_remote_address = Some("sip:queue@example.com".into());
        let app = spawn(backend, vec![p, ccai("web")]).await;
        let res = get(&app, "/widget_tokens/axp/config", None, None).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(keys(&body), set(&["axpIntegrationId", "axpHostName", "axpRegion", "appKey", "callingRemoteAddress", "configId"]));
        assert_eq!(body["appKey"], AXP_APP_KEY, "exposed only because the profile says so");
        assert_eq!(upstream.exchanges(), 0);
        assert_eq!(error_of(get(&app, "/widget_tokens/web/config", None, None).await).await.0, 404);
        assert_eq!(error_of(get(&app, "/widget_tokens/nope", None, None).await).await.0, 404);
    }

    async fn axp_ttl_outside_15_to_60_minutes_is_refused_at_start_up(backend) {
        let db = TestDb::create(backend).await;
        for minutes in [14, 61] {
            let mut p = axp("http://127.0.0.1:9");
            p.jwt_validity_minutes = Some(minutes);
            let err = start(&db, vec![p]).await.err().expect("refused");
            assert!(err.to_string().contains("15 to 60"), "{err}");
        }
    }

    async fn cors_echoes_an_allowed_origin_with_credentials(backend) {
        let app = spawn(backend, vec![ccai("web")]).await;
        let res = app.http.get(app.url("/widget_tokens/web")).header("origin", WEB).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some(WEB));
        assert_eq!(header_of(&res, "access-control-allow-credentials").as_deref(), Some("true"));
        assert_eq!(header_of(&res, "vary").as_deref(), Some("Origin"));
        // Errors too, so the widget can read a 401 and send the visitor to log in.
        let res = app.http.get(app.url("/widget_tokens/web")).header("origin", WEB).bearer_auth("x.y.z").send().await.unwrap();
        assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some(WEB));
        assert_eq!(error_of(res).await.0, 401);
    }

    async fn cors_gives_a_disallowed_origin_no_headers(backend) {
        let app = spawn(backend, vec![ccai("web")]).await;
        for method in [reqwest::Method::GET, reqwest::Method::OPTIONS] {
            let res = app.http.request(method.clone(), app.url("/widget_tokens/web"))
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "GET")
                .send().await.unwrap();
            for h in ["access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods"] {
                assert!(header_of(&res, h).is_none(), "{method} {h}");
            }
        }
    }

    async fn cors_preflight_allows_the_methods_and_headers_a_widget_needs(backend) {
        let upstream = StandIn::start(300).await;
        let app = spawn(backend, vec![ccai("web"), axp(&upstream.url)]).await;
        for path in ["/widget_tokens/web", "/auth/token"] {
            let res = app.http.request(reqwest::Method::OPTIONS, app.url(path))
                .header("origin", WEB)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization")
                .send().await.unwrap();
            assert_eq!(res.status(), 204, "{path}");
            assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some(WEB));
            assert_eq!(header_of(&res, "access-control-allow-credentials").as_deref(), Some("true"));
            assert!(header_of(&res, "access-control-allow-methods").unwrap().contains("GET"));
            assert!(header_of(&res, "access-control-allow-headers").unwrap().to_lowercase().contains("authorization"));
            assert_eq!(header_of(&res, "access-control-max-age").as_deref(), Some("600"));
        }
        // The axp profile lists no origin: same-origin only.
        let res = app.http.request(reqwest::Method::OPTIONS, app.url("/token")).header("origin", WEB).send().await.unwrap();
        assert!(header_of(&res, "access-control-allow-origin").is_none());
    }

    async fn cors_star_allows_any_origin_but_never_credentials(backend) {
        let mut p = ccai("web");
        p.allowed_origins = vec!["*".into()];
        let app = spawn(backend, vec![p]).await;
        let res = app.http.get(app.url("/widget_tokens/web")).header("origin", "https://any.example").send().await.unwrap();
        assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some("*"));
        assert!(header_of(&res, "access-control-allow-credentials").is_none());

        let db = TestDb::create(backend).await;
        let mut p = ccai("web");
        p.allowed_origins = vec!["*".into()];
        p.allow_credentials = Some(true);
        let err = start(&db, vec![p]).await.err().expect("refused");
        assert!(err.to_string().contains("cannot allow credentials"), "{err}");
    }

    async fn openapi_describes_the_widget_endpoints(backend) {
        let app = spawn(backend, vec![]).await;
        let doc: Value = get(&app, "/openapi.json", None, None).await.json().await.unwrap();
        let paths = &doc["paths"];
        assert!(paths["/widget_tokens/{name}"]["get"].is_object(), "{paths}");
        assert!(paths["/widget_tokens/{name}"]["post"].is_object());
        assert!(paths["/widget_tokens/{name}/config"]["get"].is_object());
        // The visitor is a customer (token or cookie) or anonymous; never a partner's bearer token.
        assert_eq!(paths["/widget_tokens/{name}"]["get"]["security"], json!([{}, {"customer_token": []}]));
        assert_eq!(doc["components"]["securitySchemes"]["customer_token"]["scheme"], "bearer");
        // Without profiles, the vendor sample paths answer a JSON 404.
        assert_eq!(error_of(get(&app, "/auth/token", None, None).await).await.0, 404);
    }

    async fn https_with_an_encrypted_key_serves_a_token_to_a_client_trusting_the_test_ca(backend) {
        let db = TestDb::create(backend).await;
        let pki = TestPki::new();
        let mut settings = test_settings(&db.url);
        settings.widget_profiles = vec![ccai("web")];
        settings.named_secrets = secrets();
        settings.named_secrets.insert("TLS_KEY_PASS".into(), SecretString::from("key passphrase".to_owned()));
        settings.tls = Some(TlsSettings {
            cert_path: pki.cert_path.clone(),
            key_path: pki.key_path.clone(),
            key_passphrase_env: Some("TLS_KEY_PASS".into()),
        });
        let app = Application::build(settings.clone()).await.expect("starts with TLS");
        let port = app.port();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());

        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
            .resolve("localhost", ([127, 0, 0, 1], port).into())
            .build()
            .unwrap();
        let res = client.get(format!("https://localhost:{port}/widget_tokens/web")).send().await.expect("TLS handshake with the test CA");
        assert!(header_of(&res, "strict-transport-security").unwrap().contains("max-age="));
        let claims = verify_hs(&token_of(res).await, CCAI_SECRET, Algorithm::HS256);
        assert_eq!(claims["iss"], "ACME");

        // A client that does not trust the test CA is refused.
        let stranger = reqwest::Client::builder().resolve("localhost", ([127, 0, 0, 1], port).into()).build().unwrap();
        assert!(stranger.get(format!("https://localhost:{port}/healthz")).send().await.is_err());

        // The wrong passphrase is a start-up error that does not echo it.
        settings.named_secrets.insert("TLS_KEY_PASS".into(), SecretString::from("wrong phrase".to_owned()));
        let err = Application::build(settings).await.err().expect("refused");
        assert!(err.to_string().contains("wrong passphrase") && !err.to_string().contains("wrong phrase"), "{err}");
        handle.stop(true).await;
    }
}

async fn start(
    db: &TestDb,
    profiles: Vec<WidgetProfileConfig>,
) -> Result<Application, StartupError> {
    let mut settings: Settings = test_settings(&db.url);
    settings.widget_profiles = profiles;
    settings.named_secrets = secrets();
    Application::build(settings).await
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn futures_join<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

// --- a stand-in AXP server ------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    Ok = 0,
    ExchangeFails = 1,
    TokensFail = 2,
    /// Never answers in time.
    Hang = 3,
    /// The exchange takes a moment, so concurrent requests overlap.
    SlowExchange = 4,
    /// The tokens API says the access token is no longer good.
    TokensUnauthorized = 5,
}

struct StandInState {
    expires_in: u64,
    mode: AtomicU8,
    exchanges: AtomicUsize,
    token_calls: AtomicUsize,
    last_body: std::sync::Mutex<Value>,
    violations: std::sync::Mutex<Vec<String>>,
}

/// A small AXP look-alike: checks the headers, form and JSON it receives, answers like the
/// real API, and counts calls.
struct StandIn {
    url: String,
    state: Arc<StandInState>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let h = self.handle.clone();
        tokio::spawn(async move { h.stop(false).await });
    }
}

impl StandInState {
    fn violation(&self, what: String) -> HttpResponse {
        self.violations.lock().unwrap().push(what);
        HttpResponse::BadRequest().json(json!({"error": "invalid_request"}))
    }

    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            1 => Mode::ExchangeFails,
            2 => Mode::TokensFail,
            3 => Mode::Hang,
            4 => Mode::SlowExchange,
            5 => Mode::TokensUnauthorized,
            _ => Mode::Ok,
        }
    }
}

const ACCESS_TOKEN: &str = "upstream-access-token";

async fn exchange(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
    state: web::Data<StandInState>,
) -> HttpResponse {
    match state.mode() {
        Mode::ExchangeFails => {
            return HttpResponse::InternalServerError().body("upstream-body: stack trace");
        }
        Mode::Hang => tokio::time::sleep(Duration::from_secs(3)).await,
        Mode::SlowExchange => tokio::time::sleep(Duration::from_millis(300)).await,
        _ => {}
    }
    state.exchanges.fetch_add(1, Ordering::SeqCst);
    let expect = [
        ("grant_type", "client_credentials"),
        ("client_id", "axp-client"),
        ("client_secret", AXP_CLIENT_SECRET),
    ];
    if path.as_str() != "ACCT01" {
        return state.violation(format!("account {path}"));
    }
    for (k, v) in expect {
        if form.get(k).map(String::as_str) != Some(v) {
            return state.violation(format!("form field {k}"));
        }
    }
    if req.headers().get("appkey").and_then(|v| v.to_str().ok()) != Some(AXP_APP_KEY) {
        return state.violation("exchange appkey header".into());
    }
    HttpResponse::Ok().json(json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": state.expires_in,
    }))
}

async fn tokens(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
    state: web::Data<StandInState>,
) -> HttpResponse {
    match state.mode() {
        Mode::TokensFail => return HttpResponse::InternalServerError().body("upstream-body"),
        Mode::TokensUnauthorized => return HttpResponse::Unauthorized().finish(),
        Mode::Hang => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    let n = state.token_calls.fetch_add(1, Ordering::SeqCst);
    if path.as_str() != "ACCT01" {
        return state.violation(format!("account {path}"));
    }
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {ACCESS_TOKEN}")) {
        return state.violation("tokens authorization header".into());
    }
    if req.headers().get("appkey").and_then(|v| v.to_str().ok()) != Some(AXP_APP_KEY) {
        return state.violation("tokens appkey header".into());
    }
    let fields = set(&[
        "customerId",
        "customerName",
        "customerIdentifiers",
        "verifiedCustomer",
        "integrationId",
        "ttl",
    ]);
    if keys(&body) != fields {
        return state.violation(format!("tokens body fields {:?}", keys(&body)));
    }
    *state.last_body.lock().unwrap() = body.into_inner();
    HttpResponse::Created().json(json!({"jwtToken": format!("axp-jwt-{n}")}))
}

impl StandIn {
    async fn start(expires_in: u64) -> Self {
        let state = web::Data::new(StandInState {
            expires_in,
            mode: AtomicU8::new(Mode::Ok as u8),
            exchanges: AtomicUsize::new(0),
            token_calls: AtomicUsize::new(0),
            last_body: std::sync::Mutex::new(Value::Null),
            violations: std::sync::Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/api/auth/v1/{account}/protocol/openid-connect/token",
                    web::post().to(exchange),
                )
                .route(
                    "/api/digital/chat/v1/accounts/{account}/tokens",
                    web::post().to(tokens),
                )
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            state: state.into_inner(),
            handle,
        }
    }

    fn set_mode(&self, mode: Mode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn exchanges(&self) -> usize {
        self.state.exchanges.load(Ordering::SeqCst)
    }

    fn token_calls(&self) -> usize {
        self.state.token_calls.load(Ordering::SeqCst)
    }

    fn last_body(&self) -> Value {
        self.state.last_body.lock().unwrap().clone()
    }

    fn assert_no_violations(&self) {
        let v = self.state.violations.lock().unwrap();
        assert!(v.is_empty(), "the stand-in AXP server saw: {v:?}");
    }
}

// --- a test PKI -------------------------------------------------------------------------------

struct TestPki {
    dir: std::path::PathBuf,
    ca_pem: String,
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestPki {
    /// A CA, a `localhost` certificate it signs, and that certificate's key as an encrypted
    /// PKCS#8 PEM (PBES2: PBKDF2-SHA256 + AES-256-CBC, what `openssl pkcs8 -topk8` writes).
    fn new() -> Self {
        use pkcs8::pkcs5::pbes2;
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tollgate test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();

        let der = leaf_key.serialize_der();
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut iv);
        let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).unwrap();
        let encrypted = info.encrypt_with_params(params, "key passphrase").unwrap();
        let key_pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .unwrap();

        let dir =
            std::env::temp_dir().join(format!("tollgate-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, leaf.pem()).unwrap();
        std::fs::write(&key_path, key_pem.as_bytes()).unwrap();
        Self {
            dir,
            ca_pem: ca.pem(),
            cert_path,
            key_path,
        }
    }
}
