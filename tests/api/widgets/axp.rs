//! AXP widget tokens through a stand-in AXP server: the client-credentials exchange is cached
//! and shared, refreshed when it expires or is refused, and upstream failures are a bounded 502
//! that names no secret.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::backend_test;
use crate::support::*;

/// A stand-in AXP server whose access tokens last `expires_in` seconds, and an app with one
/// axp profile that uses it. The app asks AXP for nothing until a visitor asks for a token.
async fn with_stand_in(backend: Backend, expires_in: u64) -> (StandIn, TestApp) {
    let upstream = StandIn::start(expires_in).await;
    let app = spawn(backend, vec![axp(&upstream.url)]).await;
    (upstream, app)
}

/// `POST /widget_tokens/axp` as an anonymous visitor.
async fn post_axp(app: &TestApp) -> reqwest::Response {
    app.http
        .post(app.url("/widget_tokens/axp"))
        .send()
        .await
        .unwrap()
}

backend_test! {
    async fn axp_customer_token_is_verified_and_the_exchange_is_cached(backend) {
        let (upstream, app) = with_stand_in(backend, 300).await;
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
        let (upstream, app) = with_stand_in(backend, 300).await;
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
        let (upstream, app) = with_stand_in(backend, 120).await;
        assert_eq!(post_axp(&app).await.status(), 200);
        app.clock.advance_secs(60);
        assert_eq!(post_axp(&app).await.status(), 200);
        assert_eq!(upstream.exchanges(), 1, "still fresh after 60 s of 120");
        app.clock.advance_secs(60);
        assert_eq!(post_axp(&app).await.status(), 200);
        assert_eq!(upstream.exchanges(), 2, "refreshed once it (nearly) expired");
        upstream.assert_no_violations();
    }

    async fn axp_exchanges_anew_after_the_tokens_api_refuses_the_access_token(backend) {
        let (upstream, app) = with_stand_in(backend, 3600).await;
        assert_eq!(post_axp(&app).await.status(), 200);
        upstream.set_mode(Mode::TokensUnauthorized);
        assert_eq!(error_of(post_axp(&app).await).await.0, 502);
        upstream.set_mode(Mode::Ok);
        assert_eq!(post_axp(&app).await.status(), 200);
        assert_eq!(upstream.exchanges(), 2, "the refused access token was dropped");
        upstream.assert_no_violations();
    }

    async fn axp_concurrent_requests_share_one_exchange(backend) {
        let (upstream, app) = with_stand_in(backend, 300).await;
        upstream.set_mode(Mode::SlowExchange);
        let reqs = (0..4).map(|_| app.http.post(app.url("/widget_tokens/axp")).send());
        for res in futures_join(reqs).await {
            assert_eq!(res.unwrap().status(), 200);
        }
        assert_eq!(upstream.exchanges(), 1, "one refresh in flight at a time");
    }

    async fn axp_upstream_errors_and_timeouts_give_502_without_secrets(backend) {
        let (upstream, app) = with_stand_in(backend, 300).await;
        // Hang first: with nothing cached, the exchange itself times out; last: the tokens call.
        for mode in [Mode::Hang, Mode::ExchangeFails, Mode::TokensFail, Mode::Hang] {
            upstream.set_mode(mode);
            let started = Instant::now();
            let res = post_axp(&app).await;
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
        let res = post_axp(&app).await;
        assert_eq!(res.status(), 200, "recovers once AXP does");
    }

    async fn axp_config_answers_the_same_fields_without_a_token(backend) {
        let upstream = StandIn::start(300).await;
        let mut p = axp(&upstream.url);
        axp_keys(&mut p).expose_app_key = true;
        axp_keys(&mut p).calling_remote_address = Some("sip:queue@example.com".into());
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
            axp_keys(&mut p).jwt_validity_minutes = minutes;
            let err = start(&db, vec![p]).await.err().expect("refused");
            assert!(err.to_string().contains("15 to 60"), "{err}");
        }
    }
}
