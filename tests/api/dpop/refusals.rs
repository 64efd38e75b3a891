//! The bad proofs at the token endpoint: each a 400 `invalid_dpop_proof` (RFC 9449 §5)
//! whose description says what is wrong, never a 500, and no token.

use serde_json::json;

use super::{DpopKey, htu, token_request};
use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn each_bad_proof_is_refused_and_no_token_is_issued(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("partner", "a").await;
        let key = DpopKey::new("ES256");
        let other = DpopKey::new("ES256");
        let now = app.now();
        let url = htu(&app, "/access_token");
        assert_eq!(url, "http://tollgate.test/access_token");
        let claims = |htm: &str, htu: &str, iat: i64| json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": iat});
        let good = claims("POST", &url, now);
        let mut private_jwk = key.0.public_jwk();
        private_jwk["d"] = json!(base64_url(&[1u8; 32]));
        let mut huge_jwk = key.0.public_jwk();
        huge_jwk["pad"] = json!("A".repeat(64 * 1024));
        let cases: Vec<(&str, String, &str)> = vec![
            ("https instead of http", key.signed(&claims("POST", "https://tollgate.test/access_token", now), &json!({})), "htu"),
            ("another host", key.signed(&claims("POST", "http://evil.test/access_token", now), &json!({})), "htu"),
            ("another port", key.signed(&claims("POST", "http://tollgate.test:8080/access_token", now), &json!({})), "htu"),
            ("another path", key.signed(&claims("POST", "http://tollgate.test/getprofile", now), &json!({})), "htu"),
            ("htm lowercase", key.signed(&claims("post", &url, now), &json!({})), "htm"),
            ("htm GET", key.signed(&claims("GET", &url, now), &json!({})), "htm"),
            ("iat an hour old", key.signed(&claims("POST", &url, now - 3600), &json!({})), "too old"),
            ("iat an hour ahead", key.signed(&claims("POST", &url, now + 3600), &json!({})), "future"),
            ("a 64 KiB jwk", key.signed(&good, &json!({"jwk": huge_jwk})), "too long"),
            ("x5c instead of jwk", key.signed(&good, &json!({"jwk": null, "x5c": ["MIIBszCCAVmgAwIBAgIU"]})), "x5c"),
            ("signed by another key than its jwk", key.signed(&good, &json!({"jwk": other.0.public_jwk()})), "signature"),
            ("a private jwk", key.signed(&good, &json!({"jwk": private_jwk})), "private"),
            ("typ JWT", key.signed(&good, &json!({"typ": "JWT"})), "typ"),
            ("alg none", format!("{}.{}.", base64_url(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.0.public_jwk()}).to_string().as_bytes()), base64_url(good.to_string().as_bytes())), "alg"),
            ("no jti", key.signed(&json!({"htm": "POST", "htu": url, "iat": now}), &json!({})), "jti"),
            // PostgreSQL cannot store a NUL: written, it would fail every jti in its batch.
            ("a NUL in the jti", key.signed(&json!({"jti": "a\u{0}b", "htm": "POST", "htu": url, "iat": now}), &json!({})), "control"),
            ("garbage", "not-a-jwt".into(), "three parts"),
        ];
        for (what, proof, reason) in cases {
            let res = token_request(&app, "partner", &secret, Some(&proof)).await;
            let (status, body) = error_of(res).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{what}: {body}");
            assert!(body["error_description"].as_str().unwrap().contains(reason), "{what}: {body}");
            assert!(body.get("access_token").is_none());
        }
        // RFC 9449 §4.3 item 1: one DPoP header, not two.
        let proof = key.signed(&good, &json!({}));
        let res = app.http.post(app.url("/access_token"))
            .header("authorization", basic("partner", &secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("DPoP", &proof)
            .header("DPoP", &proof)
            .body("grant_type=client_credentials")
            .send().await.unwrap();
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
        // And the good proof, to show the cases above failed for their fault only.
        assert_eq!(token_request(&app, "partner", &secret, Some(&proof)).await.status(), 200);
    }

    async fn the_proof_age_window_is_configurable(backend) {
        let app = TestApp::spawn_with(backend, |s| s.dpop_proof_max_age = 600).await;
        let secret = app.create_client("partner", "a").await;
        let key = DpopKey::new("ES256");
        let url = htu(&app, "/access_token");
        let five_minutes_old = key.proof_at("POST", &url, app.now() - 300, None, None);
        assert_eq!(token_request(&app, "partner", &secret, Some(&five_minutes_old)).await.status(), 200);
        let eleven_minutes_old = key.proof_at("POST", &url, app.now() - 660, None, None);
        let (status, body) = error_of(token_request(&app, "partner", &secret, Some(&eleven_minutes_old)).await).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    }
}
