//! A partner outside Rust doing DPoP: `tests/python/dpop.py` builds its proofs with joserfc
//! (authlib's JOSE library) and sends them with requests, retrying with the server's nonce as
//! RFC 9449 §8 and §9 describe. Run with nonces required, against the server's real address.

use std::process::Command;

use serde_json::Value;
use tollgate::domain::dpop::NonceMode;

use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn python_joserfc_gets_a_dpop_token_and_reads_a_profile_with_it(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.issuer = String::new();
            s.dpop_nonce = NonceMode::Required;
        }).await;
        let secret = app.create_client("py-dpop", "profile:read").await;
        let (api_key, customer) = app.create_key_and_customer().await;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/dpop.py");
        let out = Command::new("python3")
            .arg(script)
            .env("TOLLGATE_URL", &app.address)
            .env("CLIENT_ID", "py-dpop")
            .env("CLIENT_SECRET", &secret)
            .env("API_KEY", &api_key)
            .env("CUSTOMER_ID", &customer)
            .output()
            .expect("python3 runs (install it, and: python3 -m pip install authlib joserfc requests cryptography)");
        assert!(out.status.success(), "the Python partner failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let results: Value = serde_json::from_slice(&out.stdout).unwrap();

        let token = &results["token"];
        assert_eq!(token["status"], 200, "{token}");
        assert_eq!(token["retried"], true, "the first proof had no nonce: {token}");
        assert_eq!(token["body"]["token_type"], "DPoP");
        let jwt = token["body"]["access_token"].as_str().unwrap();
        let claims = verify_with_jwks_for(jwt, &app.jwks().await, &app.address, &app.address);
        assert_eq!(claims["cnf"]["jkt"], results["jkt"], "joserfc's RFC 7638 thumbprint");
        assert_eq!(results["profile"]["status"], 200, "{}", results["profile"]);
        assert_eq!(results["profile"]["body"]["customer_id"], customer.as_str());
        assert_eq!(results["stolen"]["status"], 401);
        assert_eq!(results["stolen"]["body"]["error"], "invalid_token");
        assert!(results["stolen"]["www_authenticate"].as_str().unwrap().starts_with("DPoP "));
    }
}
