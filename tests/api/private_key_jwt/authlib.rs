//! A client library outside Rust doing `private_key_jwt` unchanged: Python's authlib (its
//! documented `OAuth2Session` + `PrivateKeyJWT`), and the README's PyJWT one-liner, run by
//! `tests/python/private_key_jwt.py` against the real server. The Python packages are
//! installed by `.ci/run`; without them the test fails saying how to install them.

use std::process::Command;

use serde_json::Value;
use tollgate::store::ClientJwks;

use super::create_key_client;
use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn python_authlib_and_pyjwt_get_tokens_with_private_key_jwt(backend) {
        // The issuer is the address the server really listens on, as in production, so that
        // the libraries' aud (the URL they post to) names it.
        let app = TestApp::spawn_with(backend, |s| s.issuer = String::new()).await;
        let rsa = PartnerKey::generate("RS256", None);
        let ec = PartnerKey::generate("ES256", None);
        create_key_client(&app, "py-rsa", "profile:read", ClientJwks::Inline(jwks_of(&[&rsa]))).await;
        create_key_client(&app, "py-ec", "a", ClientJwks::Inline(jwks_of(&[&ec]))).await;
        let dir = std::env::temp_dir().join(format!("tollgate-py-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rsa.pem"), rsa.private_pem()).unwrap();
        std::fs::write(dir.join("ec.pem"), ec.private_pem()).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/private_key_jwt.py");
        let out = Command::new("python3")
            .arg(script)
            .env("TOLLGATE_URL", &app.address)
            .env("RSA_KEY_PEM", dir.join("rsa.pem"))
            .env("EC_KEY_PEM", dir.join("ec.pem"))
            .output()
            .expect("python3 runs (install it, and: python3 -m pip install authlib pyjwt requests cryptography)");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(out.status.success(), "the Python partner failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let results: Value = serde_json::from_slice(&out.stdout).unwrap();

        let jwks = app.jwks().await;
        let issuer = app.address.clone();
        let check = |token: &Value, client: &str, scope: &str| {
            assert_eq!(token["token_type"], "Bearer");
            let jwt = token["access_token"].as_str().unwrap();
            let claims = verify_with_jwks_for(jwt, &jwks, &issuer, &issuer);
            assert_eq!((claims["client_id"].as_str(), claims["scope"].as_str()), (Some(client), Some(scope)));
        };
        check(&results["rsa"], "py-rsa", "profile:read");
        check(&results["ec"], "py-ec", "a");
        assert_eq!(results["revoke_status"], 200);
        let introspected = app.state.authority.tokens.inspect_access_token(results["ec"]["access_token"].as_str().unwrap(), app.now()).unwrap();
        assert!(app.store.is_revoked(&introspected.jti).await.unwrap(), "authlib's revocation took effect");
        assert_eq!(results["pyjwt"]["status"], 200, "{}", results["pyjwt"]);
        check(&results["pyjwt"]["body"], "py-ec", "a");
        assert_eq!(results["replay"]["status"], 401);
        assert_eq!(results["replay"]["body"]["error"], "invalid_client");
    }
}
