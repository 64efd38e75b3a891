//! Generic widget templates: a Zendesk-style token from claims and mappings, and tokens
//! signed with the server's own (published) key.

use jsonwebtoken::Algorithm;
use serde_json::json;
use tollgate::app::Application;
use tollgate::widgets::config::WidgetProfileConfig;

use super::*;
use crate::backend_test;
use crate::support::*;

backend_test! {
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
        let g = generic_keys(&mut p);
        g.alg = Some("server".into());
        g.kid = None;
        g.secret_env = None;
        g.allow_anonymous = Some(true);
        g.issuer = Some("http://tollgate.test".into());
        g.audience = Some("chat-vendor".into());
        let app = spawn(backend, vec![p]).await;
        let (id, jwt) = with_customer(&app).await;
        let token = token_of(get(&app, "/widget_tokens/own", Some(&jwt), None).await).await;
        let claims = verify_with_jwks(&token, &app.jwks().await, "chat-vendor");
        assert_eq!(claims["external_id"], id);
        // Its own type: no verifier of tollgate's takes it for an access or customer token.
        assert_eq!(header(&token)["typ"], "widget+jwt");
        // Anonymous: only the id, nothing else mapped.
        let res = get(&app, "/widget_tokens/own", None, None).await;
        visitor_cookie(&res);
        let claims = verify_with_jwks(&token_of(res).await, &app.jwks().await, "chat-vendor");
        assert_eq!(keys(&claims), set(&["scope", "aud", "iss", "external_id", "iat", "exp"]));
        assert_ne!(claims["external_id"], id);

        // An HMAC server key is never published: such a template is refused at start-up.
        let db = TestDb::create(backend).await;
        let mut settings = test_settings(&db.url);
        settings.signing_alg = tollgate::security::keys::Alg::Hs256;
        let mut p = zendesk();
        let g = generic_keys(&mut p);
        g.alg = Some("server".into());
        g.kid = None;
        g.secret_env = None;
        settings.widget_profiles = vec![p];
        let err = Application::build(settings).await.err().expect("refused");
        assert!(err.to_string().contains("asymmetric"), "{err}");
    }
}

backend_test! {
    async fn templates_may_not_set_the_claims_tollgate_sets(backend) {
        let db = TestDb::create(backend).await;
        // Signed with the server's key, a template sets no registered claim at all (it could
        // imitate one of tollgate's own tokens); with a vendor's secret, it may name `sub` and
        // `jti` (Twilio does), never the ones tollgate computes.
        let server = |mut p: WidgetProfileConfig| {
            let g = generic_keys(&mut p);
            g.alg = Some("server".into());
            g.kid = None;
            g.secret_env = None;
            p
        };
        for claim in ["iss", "sub", "aud", "jti", "nbf", "iat", "exp"] {
            for hmac in [true, false] {
                if hmac && ["sub", "jti"].contains(&claim) {
                    continue;
                }
                let mut p = if hmac { zendesk() } else { server(zendesk()) };
                generic_keys(&mut p).claims.insert(claim.into(), json!("x"));
                let err = start(&db, vec![p]).await.err().expect("refused");
                assert!(err.to_string().contains(claim) && err.to_string().contains("zendesk"), "{claim}: {err}");
            }
        }
        for claim in ["iss", "aud", "jti", "nbf", "iat", "exp"] {
            let mut p = server(zendesk());
            generic_keys(&mut p).customer_claims.insert(claim.into(), "id".into());
            let err = start(&db, vec![p]).await.err().expect("refused");
            assert!(err.to_string().contains(claim), "mapped {claim}: {err}");
        }
        let mut p = zendesk();
        generic_keys(&mut p).customer_claims.insert("exp".into(), "id".into());
        assert!(start(&db, vec![p]).await.is_err(), "exp mapped on an HMAC template");
        // A server-signed template may not claim one of tollgate's own audiences either.
        for audience in ["http://tollgate.test/customer", "http://tollgate.test/anonymous", "http://tollgate.test"] {
            let mut p = zendesk();
            let g = generic_keys(&mut p);
            g.alg = Some("server".into());
            g.kid = None;
            g.secret_env = None;
            g.audience = Some(audience.into());
            let err = start(&db, vec![p]).await.err().expect("refused");
            assert!(err.to_string().contains("audience"), "{audience}: {err}");
        }
    }
}

backend_test! {
    async fn a_generic_template_covers_a_new_vendor_without_code(backend) {
        // A key of the profile's own (PS256), header fields, nested and formatted claims, a
        // stored attribute, times in milliseconds and a named response field.
        let p = super::presets::profiles(r#"
[[widget_profiles]]
name = "acme-chat"
kind = "generic"
alg = "PS256"
header = { typ = "JWT", cty = "acme;v=2" }
issuer = "https://shop.example.com"
claims = { "context.channel" = "web" }
formatted_claims = { jti = "acme-{id}-{iat}" }
customer_claims = { "user.id" = "id", "user.first" = "first_name", "user.last" = "last_name", "user.tier" = "attributes.tier" }
time_claims = { issued_ms = "issued", "context.expires_ms" = "expires" }
time_unit = "milliseconds"
response_field = "jwtToken"
ttl_seconds = 300
"#);
        let app = TestApp::spawn_with(backend, |s| configure(s, p)).await;
        app.clock.freeze_at_millis(1_700_000_000_000);
        let (id, jwt) = with_customer(&app).await;
        let res = get(&app, "/widget_tokens/acme-chat", Some(&jwt), None).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(keys(&body), set(&["jwtToken"]));
        let token = body["jwtToken"].as_str().unwrap();
        let head = header(token);
        assert_eq!((head["alg"].as_str(), head["typ"].as_str(), head["cty"].as_str()),
            (Some("PS256"), Some("JWT"), Some("acme;v=2")));
        assert_eq!(claims(token), json!({
            "iss": "https://shop.example.com",
            "jti": format!("acme-{id}-1700000000000"),
            "issued_ms": 1_700_000_000_000_i64,
            "context": {"channel": "web", "expires_ms": 1_700_000_300_000_i64},
            "user": {"id": id, "first": "Ada", "last": "Lovelace", "tier": "gold"},
        }));
        // Verified with the key the profile's JWKS URL publishes.
        let jwks: Value = send_json(app.http.get(app.url("/widget_tokens/acme-chat/jwks.json"))).await;
        let set_: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(set_.find(head["kid"].as_str().unwrap()).unwrap()).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::PS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        jsonwebtoken::decode::<Value>(token, &key, &v).expect("verifies");
        // The profile key is not the server's: it is absent from the server's JWKS.
        assert!(!kids(&app.jwks().await).contains(&head["kid"].as_str().unwrap().to_owned()));
    }
}
