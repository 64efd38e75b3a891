//! Metadata (RFC 8414), JWKS (RFC 7517), health, OpenAPI, and the selectable algorithms.

use serde_json::Value;

use crate::backend_test;
use crate::support::*;
use tollgate::security::keys::Alg;

backend_test! {
    async fn metadata_follows_rfc_8414(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_client("p1", "chat:write profile:read").await;
        let res = app.http.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let m: Value = res.json().await.unwrap();
        assert_eq!(m["issuer"], "http://tollgate.test");
        assert_eq!(m["token_endpoint"], "http://tollgate.test/access_token");
        assert_eq!(m["jwks_uri"], "http://tollgate.test/.well-known/jwks.json");
        assert_eq!(m["grant_types_supported"], serde_json::json!(["client_credentials"]));
        assert_eq!(m["token_endpoint_auth_methods_supported"], serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt"]));
        assert_eq!(m["scopes_supported"], serde_json::json!(["chat:write", "profile:read"]));
        assert!(m["response_types_supported"].is_array());
    }

    async fn the_jwks_publishes_public_keys_only(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("p1", "a").await;
        let token = app.token("p1", &secret, "a").await;
        let jwks = app.jwks().await;
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let k = &keys[0];
        assert_eq!((k["kty"].as_str(), k["crv"].as_str(), k["use"].as_str(), k["alg"].as_str()),
                   (Some("EC"), Some("P-256"), Some("sig"), Some("ES256")));
        assert!(k.get("d").is_none(), "a private member is published");
        assert_eq!(k["kid"], header(&token)["kid"]);
    }

    async fn health_and_readiness_answer(backend) {
        let app = TestApp::spawn(backend).await;
        for path in ["/healthz", "/readyz"] {
            let res = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
        }
    }

    async fn the_openapi_document_lists_every_endpoint(backend) {
        let app = TestApp::spawn(backend).await;
        let doc: Value = send_json(app.http.get(app.url("/openapi.json"))).await;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for path in ["/access_token", "/customer_authenticate", "/getprofile", "/.well-known/oauth-authorization-server",
                     "/.well-known/jwks.json", "/healthz", "/readyz", "/revoke", "/introspect"] {
            assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
        }
        // Every reference resolves (an unresolvable one makes API fuzzers skip that part).
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external reference {r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        // /getprofile needs both credentials in one requirement (RFC 6750 bearer + API key).
        assert_eq!(doc["paths"]["/getprofile"]["post"]["security"], serde_json::json!([{"bearer": ["profile:read"], "api_key": []}]));
        assert_eq!(doc["components"]["securitySchemes"]["api_key"]["name"], "api-key");
    }

    async fn keys_are_shared_by_instances_on_one_database(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        assert_eq!(first.jwks().await, second.jwks().await);
        let secret = first.create_client("p1", "profile:read").await;
        let token = second.token("p1", &secret, "profile:read").await;
        verify_with_jwks(&token, &first.jwks().await, "http://tollgate.test");
    }

    async fn eddsa_rs256_and_hs256_are_selectable(backend) {
        let db = std::sync::Arc::new(TestDb::create(backend).await);
        for alg in [Alg::EdDsa, Alg::Rs256, Alg::Hs256] {
            let app = TestApp::spawn_on(db.clone(), |s| s.signing_alg = alg).await;
            let secret = app.create_client(&format!("p-{alg}"), "profile:read").await;
            let token = app.token(&format!("p-{alg}"), &secret, "profile:read").await;
            assert_eq!(header(&token)["alg"], alg.as_str());
            let jwks = app.jwks().await;
            if alg == Alg::Hs256 {
                assert!(!jwks.to_string().contains(header(&token)["kid"].as_str().unwrap()),
                        "an HMAC key must never be published");
            } else {
                verify_with_jwks(&token, &jwks, "http://tollgate.test");
            }
            // The server verifies its own tokens whatever the algorithm.
            let key = app.create_api_key(&["getprofile"]).await;
            let id = app.create_customer(&format!("c-{alg}"), "correct horse battery").await;
            let res = app.http.post(app.url("/getprofile")).bearer_auth(&token).header("api-key", key)
                .header("X-Customer-Id", id).send().await.unwrap();
            assert_eq!(res.status(), 200, "{alg}");
            app.stop().await;
        }
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

backend_test! {
    async fn head_is_answered_like_get_without_a_body(backend) {
        let app = TestApp::spawn(backend).await;
        for path in ["/healthz", "/readyz", "/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/openapi.json"] {
            let get = app.http.get(app.url(path)).send().await.unwrap();
            let res = app.http.head(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 200, "HEAD {path}");
            assert_eq!(header_of(&res, "content-type"), header_of(&get, "content-type"), "HEAD {path}");
            assert!(res.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
        }
        let res = app.http.delete(app.url("/healthz")).send().await.unwrap();
        assert_eq!(header_of(&res, "allow").as_deref(), Some("GET, HEAD"));
    }
}
