//! `POST /getprofile`: API key + bearer token with profile:read + a named customer.

use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::backend_test;
use crate::support::*;

struct Partner {
    app: TestApp,
    token: String,
    api_key: String,
    customer_id: String,
    customer_token: String,
}

async fn partner(backend: Backend) -> Partner {
    partner_with(backend, |_| {}).await
}

async fn partner_with(
    backend: Backend,
    tweak: impl FnOnce(&mut tollgate::config::Settings),
) -> Partner {
    let app = TestApp::spawn_with(backend, tweak).await;
    let secret = app.create_client("desk", "profile:read other").await;
    let token = app.token("desk", &secret, "profile:read").await;
    let (api_key, customer_id) = app.create_key_and_customer().await;
    let customer_token = app.customer_token("ada", "correct horse battery").await;
    Partner {
        app,
        token,
        api_key,
        customer_id,
        customer_token,
    }
}

impl Partner {
    fn request(&self, path: &str) -> RequestBuilder {
        self.app.http.post(self.app.url(path))
    }

    /// A request with every credential right, naming the customer by customer-auth.
    fn good(&self) -> RequestBuilder {
        self.request("/getprofile")
            .header("api-key", &self.api_key)
            .bearer_auth(&self.token)
            .header("customer-auth", format!("JWT {}", self.customer_token))
    }

    fn with_token(&self, token: &str) -> RequestBuilder {
        self.request("/getprofile")
            .header("api-key", &self.api_key)
            .bearer_auth(token)
            .header("customer-auth", format!("JWT {}", self.customer_token))
    }
}

fn assert_profile(body: &Value, customer_id: &str) {
    assert_eq!(body["customer_id"], customer_id);
    assert_eq!(
        body["name"], "Ada Lovelace",
        "core fields win over attributes"
    );
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["phone"], "+14155550100");
    assert_eq!(body["tier"], "gold");
}

async fn expect_invalid_token(res: reqwest::Response, what: &str) {
    let challenge = header_of(&res, "www-authenticate").unwrap_or_default();
    let (status, body) = error_of(res).await;
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["error"], "invalid_token", "{what}");
    assert!(
        challenge.starts_with("Bearer realm=\"tollgate\", error=\"invalid_token\""),
        "{what}: {challenge}"
    );
}

backend_test! {
    async fn a_partner_reads_a_profile_every_documented_way(backend) {
        let p = partner(backend).await;
        let ways = vec![
            ("customer-auth header", p.good()),
            ("alias path", p.request("/account/getprofile").header("x-api-key", &p.api_key).bearer_auth(&p.token)
                .header("customer-auth", format!("JWT {}", p.customer_token))),
            ("customer_token body", p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
                .json(&json!({"customer_token": p.customer_token}))),
            ("customer_id body", p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
                .json(&json!({"customer_id": p.customer_id}))),
            ("X-Customer-Id header", p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
                .header("X-Customer-Id", &p.customer_id)),
        ];
        for (what, req) in ways {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "{what}");
            assert_eq!(header_of(&res, "cache-control").as_deref(), Some("no-store"), "{what}");
            assert_profile(&res.json().await.unwrap(), &p.customer_id);
        }
    }

    async fn a_missing_token_gets_a_bare_bearer_challenge(backend) {
        let p = partner(backend).await;
        let res = p.request("/getprofile").header("api-key", &p.api_key)
            .header("customer-auth", format!("JWT {}", p.customer_token)).send().await.unwrap();
        // RFC 6750 §3.1: no error code when the request carries no credentials.
        assert_eq!(header_of(&res, "www-authenticate").as_deref(), Some("Bearer realm=\"tollgate\""));
        assert_eq!(error_of(res).await.0, 401);
    }

    async fn malformed_tampered_and_foreign_tokens_are_invalid_token(backend) {
        let p = partner(backend).await;
        let kid = header(&p.token)["kid"].as_str().unwrap().to_owned();
        let mut parts: Vec<String> = p.token.split('.').map(str::to_owned).collect();
        let mut c = claims(&p.token);
        c["scope"] = json!("profile:read admin");
        parts[1] = base64_url(c.to_string().as_bytes());
        let tampered = parts.join(".");
        let none_header = base64_url(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string().as_bytes());
        let alg_none = format!("{none_header}.{}.", parts[1]);
        let hs_header = base64_url(json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}).to_string().as_bytes());
        let alg_confusion = format!("{hs_header}.{}.{}", parts[1], parts[2]);
        let wrongly_signed = forged(&kid, &claims(&p.token));
        let bad = vec![
            ("malformed", "not-a-jwt".to_owned()),
            ("garbage characters", "a.b.c!".to_owned()),
            ("tampered", tampered),
            ("alg none", alg_none),
            ("alg confusion", alg_confusion),
            ("wrongly signed", wrongly_signed),
            ("customer token as access token", p.customer_token.clone()),
        ];
        for (what, token) in bad {
            expect_invalid_token(p.with_token(&token).send().await.unwrap(), what).await;
        }
    }

    async fn a_token_for_another_audience_is_refused(backend) {
        let p = partner(backend).await;
        let secret = p.app.create_client_for_audience("elsewhere", "profile:read", "https://other-api.example").await;
        let token = p.app.token("elsewhere", &secret, "profile:read").await;
        expect_invalid_token(p.with_token(&token).send().await.unwrap(), "foreign audience").await;
    }

    async fn an_expired_token_is_refused(backend) {
        let p = partner(backend).await;
        p.app.clock.advance_secs(3600 + 31);
        expect_invalid_token(p.good().send().await.unwrap(), "expired").await;
    }

    async fn a_token_without_profile_read_is_insufficient_scope(backend) {
        let p = partner(backend).await;
        let secret = p.app.create_client("narrow", "other").await;
        let token = p.app.token("narrow", &secret, "other").await;
        let res = p.with_token(&token).send().await.unwrap();
        assert_eq!(
            header_of(&res, "www-authenticate").as_deref(),
            Some("Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"profile:read\"")
        );
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (403, "insufficient_scope"));
    }

    async fn api_keys_are_checked(backend) {
        let p = partner(backend).await;
        let other_api = p.app.create_api_key(&["someotherapi"]).await;
        let mut wrong = p.api_key.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        let cases = vec![
            ("missing", None, 401, "invalid_api_key"),
            ("wrong secret", Some(wrong), 401, "invalid_api_key"),
            ("malformed", Some("letmein".to_owned()), 401, "invalid_api_key"),
            ("unknown prefix", Some(format!("tg_0000000000000000_{}", "a".repeat(43))), 401, "invalid_api_key"),
            ("not allowed", Some(other_api), 403, "access_denied"),
        ];
        for (what, key, status, code) in cases {
            let mut req = p.request("/getprofile").bearer_auth(&p.token)
                .header("customer-auth", format!("JWT {}", p.customer_token));
            if let Some(k) = &key {
                req = req.header("api-key", k);
            }
            let (got, body) = error_of(req.send().await.unwrap()).await;
            assert_eq!((got, body["error"].as_str().unwrap()), (status, code), "{what}");
        }
        p.app.db.sql("UPDATE api_keys SET revoked_at = 1").await;
        let (got, _) = error_of(p.good().send().await.unwrap()).await;
        assert_eq!(got, 401, "revoked");
    }

    async fn customer_tokens_are_verified(backend) {
        let p = partner_with(backend, |s| s.customer_token_ttl = 60).await;
        let mut parts: Vec<String> = p.customer_token.split('.').map(str::to_owned).collect();
        let mut c = claims(&p.customer_token);
        c["sub"] = json!(uuid::Uuid::new_v4().to_string());
        parts[1] = base64_url(c.to_string().as_bytes());
        let tampered = parts.join(".");
        for (what, token) in [("tampered", tampered), ("access token as customer token", p.token.clone())] {
            let res = p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
                .header("customer-auth", format!("JWT {token}")).send().await.unwrap();
            let (status, body) = error_of(res).await;
            assert_eq!((status, body["error"].as_str().unwrap()), (401, "invalid_customer_token"), "{what}");
        }
        p.app.clock.advance_secs(60 + 31);
        let (status, body) = error_of(p.good().send().await.unwrap()).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (401, "invalid_customer_token"), "expired");
    }

    async fn unknown_customers_are_404_and_ambiguous_requests_400(backend) {
        let p = partner(backend).await;
        let res = p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
            .header("X-Customer-Id", uuid::Uuid::new_v4().to_string()).send().await.unwrap();
        assert_eq!(error_of(res).await.0, 404);
        let cases = vec![
            ("named twice", p.good().header("X-Customer-Id", &p.customer_id)),
            ("not named", p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)),
            ("not an id", p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
                .header("X-Customer-Id", "ada@example.com")),
            ("broken json", p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
                .header("content-type", "application/json").body("{")),
            ("bad customer-auth", p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
                .header("customer-auth", "Bearer x")),
        ];
        for (what, req) in cases {
            let (status, body) = error_of(req.send().await.unwrap()).await;
            assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_request"), "{what}");
        }
    }
}

/// `claims` signed with the server's own active key under `header` (alg and kid added).
fn signed_by_the_server(p: &Partner, header: Value, claims: &Value) -> String {
    let keys = p.app.state.authority.tokens.keys();
    let key = keys.active(p.app.now()).unwrap();
    key.sign_jwt_with_header(header.as_object().unwrap(), claims)
        .unwrap()
}

backend_test! {
    async fn tokens_with_claims_tollgate_never_issues_are_refused(backend) {
        let p = partner(backend).await;
        let rs = p.app.create_client("rs", "introspect").await;
        let now = p.app.now();
        let base = claims(&p.token);
        let at = json!({"typ": "at+jwt"});
        let cases = [
            ("nbf in the future", at.clone(), json!({"nbf": now + 3600})),
            ("iat in the future", at.clone(), json!({"iat": now + 3600})),
            ("a crit header", json!({"typ": "at+jwt", "crit": ["exp"]}), json!({})),
        ];
        for (what, header, extra) in cases {
            let mut c = base.clone();
            c["jti"] = json!(uuid::Uuid::new_v4().to_string());
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            let token = signed_by_the_server(&p, header, &c);
            expect_invalid_token(p.with_token(&token).send().await.unwrap(), what).await;
            let res = p.app.post_form("/introspect", Some(("rs", &rs)), &form(&[("token", &token)])).await;
            assert_eq!(res.json::<Value>().await.unwrap()["active"], false, "{what}");
        }
        // The same claims without the oddity pass: the checks are what refused them.
        let token = signed_by_the_server(&p, at, &base);
        assert_eq!(p.with_token(&token).send().await.unwrap().status(), 200);
    }

    async fn a_token_of_another_kind_never_passes_as_a_customer_token(backend) {
        let p = partner(backend).await;
        let mut c = claims(&p.customer_token);
        c["jti"] = json!(uuid::Uuid::new_v4().to_string());
        // The customer token's own claims, signed by the server under other types.
        for typ in ["widget+jwt", "visitor+jwt", "at+jwt"] {
            let token = signed_by_the_server(&p, json!({"typ": typ}), &c);
            let res = p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
                .header("customer-auth", format!("JWT {token}")).send().await.unwrap();
            let (status, body) = error_of(res).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_customer_token")), "{typ}");
        }
    }

    async fn repeated_credential_headers_are_refused(backend) {
        let p = partner(backend).await;
        let by_id = || p.request("/getprofile").header("api-key", &p.api_key).bearer_auth(&p.token)
            .header("x-customer-id", &p.customer_id);
        assert_eq!(by_id().send().await.unwrap().status(), 200);
        for (name, request) in [
            ("api-key", p.good().header("api-key", &p.api_key)),
            ("authorization", p.good().bearer_auth(&p.token)),
            ("customer-auth", p.good().header("customer-auth", format!("JWT {}", p.customer_token))),
            ("x-customer-id", by_id().header("x-customer-id", &p.customer_id)),
        ] {
            let (status, body) = error_of(request.send().await.unwrap()).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "two {name} headers");
        }
        let secret = p.app.create_client("two", "a").await;
        let res = p.app.http.post(p.app.url("/access_token"))
            .header("authorization", basic("two", &secret))
            .header("authorization", basic("two", &secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials").send().await.unwrap();
        assert_eq!(error_of(res).await.0, 400, "two Authorization headers at the token endpoint");
    }
}
