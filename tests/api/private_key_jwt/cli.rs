//! `tollgate client create --auth-method private_key_jwt` and `client set-jwks`, run as an admin
//! would: what they register works, and every unusable JWK Set or URL is refused with a
//! message naming the problem.

use serde_json::{Value, json};

use super::post;
use crate::backend_test;
use crate::support::*;

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("tollgate-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The exit status and stderr of a command that must fail, and that it printed nothing.
fn refused(db: &TestDb, args: &[&str]) -> String {
    let out = run_tollgate(db, args, None);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).unwrap()
}

backend_test! {
    async fn a_key_client_created_by_the_cli_gets_tokens_and_has_no_secret(backend) {
        let db = std::sync::Arc::new(TestDb::create(backend).await);
        let key = PartnerKey::generate("ES256", Some("k1"));
        let file = temp_file("jwks.json", &jwks_of(&[&key]));
        let out = tollgate_json(&db, &["client", "create", "--id", "partner", "--scope", "profile:read",
            "--auth-method", "private_key_jwt", "--jwks-file", &file], None);
        assert_eq!(out, json!({"client_id": "partner", "token_endpoint_auth_method": "private_key_jwt"}));
        let app = TestApp::spawn_on(db.clone(), |_| {}).await;
        let jwt = key.sign(&assertion_claims(&app, "partner"), &json!({}));
        assert_eq!(post(&app, "/access_token", &assertion_body(&jwt, &[])).await.status(), 200);
        // Secret commands do not apply to it.
        let err = refused(&db, &["client", "rotate-secret", "--id", "partner"]);
        assert!(err.contains("no client partner that authenticates with a secret"), "{err}");
        // And the SQL form of the same client, for a provisioning migration, carries no secret.
        let out = run_tollgate(&db, &["client", "create", "--id", "p2", "--scope", "a",
            "--auth-method", "private_key_jwt", "--jwks-file", &file, "--sql"], None);
        assert!(out.status.success() && out.stderr.is_empty());
        let sql = String::from_utf8(out.stdout).unwrap();
        assert!(sql.contains("'private_key_jwt'") && sql.contains("\"kty\":\"EC\""), "{sql}");
    }

    async fn unusable_jwk_sets_and_urls_are_refused_with_the_reason(backend) {
        let db = TestDb::create(backend).await;
        let key = PartnerKey::generate("ES256", Some("k1"));
        let public = key.public_jwk();
        let mut private = public.clone();
        private["d"] = json!("c2VjcmV0");
        let mut rsa_private = PartnerKey::generate("RS256", None).public_jwk();
        rsa_private["p"] = json!("AQAB");
        let cases: Vec<(&str, Value, &str)> = vec![
            ("a private EC key", json!({"keys": [private]}), "private member \"d\""),
            ("a private RSA key", json!({"keys": [rsa_private]}), "private member \"p\""),
            ("a symmetric key", json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}), "symmetric key"),
            ("an unknown kty", json!({"keys": [{"kty": "PQC", "x": "AA"}]}), "unknown kty \"PQC\""),
            ("duplicate kids", json!({"keys": [public.clone(), public.clone()]}), "duplicate kid \"k1\""),
            ("an HS256 alg", json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "HS256", "x": public["x"], "y": public["y"]}]}), "alg \"HS256\" is not accepted"),
            ("no keys", json!({"keys": []}), "no keys"),
            ("not a set", json!([public]), "no \"keys\" array"),
        ];
        for (what, jwks, reason) in cases {
            let file = temp_file("jwks.json", &jwks.to_string());
            let err = refused(&db, &["client", "create", "--id", "p", "--scope", "a",
                "--auth-method", "private_key_jwt", "--jwks-file", &file]);
            assert!(err.contains(reason), "{what}: {err}");
        }
        for (uri, reason) in [
            ("http://partner.example/jwks.json", "https://"),
            ("ftp://partner.example/jwks.json", "https://"),
            ("not a url", "not a URL"),
        ] {
            let err = refused(&db, &["client", "create", "--id", "p", "--scope", "a",
                "--auth-method", "private_key_jwt", "--jwks-uri", uri]);
            assert!(err.contains(reason), "{uri}: {err}");
        }
        let err = refused(&db, &["client", "create", "--id", "p", "--scope", "a", "--auth-method", "private_key_jwt"]);
        assert!(err.contains("--jwks-file or --jwks-uri"), "{err}");
        let file = temp_file("jwks.json", &jwks_of(&[&key]));
        let err = refused(&db, &["client", "create", "--id", "p", "--scope", "a", "--jwks-file", &file]);
        assert!(err.contains("private_key_jwt"), "{err}");
        // Nothing was created by any of these.
        assert_eq!(db.sql_count("SELECT COUNT(*) FROM clients").await, 0);
        // set-jwks checks the same way, and only for a key-based client.
        tollgate_json(&db, &["client", "create", "--id", "s", "--scope", "a"], None);
        let err = refused(&db, &["client", "set-jwks", "--id", "s", "--jwks-file", &file]);
        assert!(err.contains("no client s that authenticates with private_key_jwt"), "{err}");
        let bad = temp_file("jwks.json", &json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string());
        let err = refused(&db, &["client", "set-jwks", "--id", "s", "--jwks-file", &bad]);
        assert!(err.contains("symmetric key"), "{err}");
    }
}
