//! Keys of a widget profile's own (issue 14): generated and sealed by tollgate, published at
//! `/widget_tokens/<name>/jwks.json`, rotated by `tollgate widget rotate-key` with the previous
//! key published until its tokens have expired, and printed as a PEM (or a JWK with `x5c`) by `widget public-key`.

use std::time::Duration;

use serde_json::Value;

use super::presets::profiles;
use super::*;
use crate::backend_test;

const KEYED: &str = r#"
[[widget_profiles]]
name = "salesforce"
kind = "salesforce"
issuer = "https://www.example.com"
ttl_seconds = 600

[[widget_profiles]]
name = "liveperson"
kind = "liveperson"
issuer = "https://idp.example.com"

[[widget_profiles]]
name = "zendesk"
kind = "zendesk"
kid = "app_123"
secret_env = "ZD_SECRET"
"#;

/// The profiles above in a file the CLI reads through `TOLLGATE_CONFIG`.
fn config_file() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-widget-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tollgate.toml");
    std::fs::write(&path, KEYED).unwrap();
    path
}

fn widget_cli(app: &TestApp, config: &std::path::Path, args: &[&str]) -> std::process::Output {
    tollgate_command(&app.db.url, args)
        .env("TOLLGATE_CONFIG", config)
        .env("ZD_SECRET", ZD_SECRET)
        .output()
        .expect("run tollgate")
}

async fn jwks_of(app: &TestApp, name: &str) -> Value {
    send_json(
        app.http
            .get(app.url(&format!("/widget_tokens/{name}/jwks.json"))),
    )
    .await
}

async fn token(app: &TestApp, name: &str, jwt: &str) -> String {
    token_of(get(app, &format!("/widget_tokens/{name}"), Some(jwt), None).await).await
}

fn verify_rs256(token: &str, key: &jsonwebtoken::DecodingKey) -> Value {
    let v = Validation::new(Algorithm::RS256);
    let mut v = v;
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, key, &v)
        .expect("the token verifies")
        .claims
}

fn jwk_key(jwks: &Value, kid: &str) -> jsonwebtoken::DecodingKey {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    jsonwebtoken::DecodingKey::from_jwk(set.find(kid).expect("published")).unwrap()
}

/// Whether PyJWT refuses `token` under `pem`.
fn tollgate_python_refuses(token: &str, pem: &str) -> bool {
    let items = serde_json::json!([{"name": "x", "token": token, "alg": "RS256", "pem": pem}]);
    !pyjwt_accepts(&items)
}

/// Whether the PyJWT verifier accepts every item.
fn pyjwt_accepts(items: &Value) -> bool {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/verify_widget_tokens.py"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(items.to_string().as_bytes())
        .unwrap();
    child.wait().unwrap().success()
}

backend_test! {
    async fn a_rotated_profile_key_signs_at_once_and_the_old_one_stays_published_until_its_tokens_expire(backend) {
        let app = TestApp::spawn_with(backend, |s| configure(s, profiles(KEYED))).await;
        let (_, jwt) = with_customer(&app).await;
        let old_token = token(&app, "salesforce", &jwt).await;
        let old_kid = header(&old_token)["kid"].as_str().unwrap().to_owned();
        assert_eq!(kids(&jwks_of(&app, "salesforce").await), vec![old_kid.clone()]);
        // Another profile's key is another key, in another JWKS.
        let lp_kids = kids(&jwks_of(&app, "liveperson").await);
        assert_eq!(lp_kids.len(), 1);
        assert_ne!(lp_kids[0], old_kid);

        let config = config_file();
        let out = widget_cli(&app, &config, &["widget", "rotate-key", "--profile", "salesforce"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rotation = json_of(&out);
        let new_kid = rotation["kid"].as_str().unwrap().to_owned();
        assert_eq!(rotation["retiring"], serde_json::json!([old_kid]));
        assert_eq!(rotation["profile"], "salesforce");
        // 600 s of token lifetime and a minute of leeway after the rotation.
        let retires_at = rotation["retires_at"].as_i64().unwrap();
        assert!((retires_at - app.now() - 660).abs() <= 5, "{rotation}");

        // The running server picks the new key up through the cache epoch.
        eventually(Duration::from_secs(10), "the rotated key signing", async || {
            header(&token(&app, "salesforce", &jwt).await)["kid"] == new_kid.as_str()
        })
        .await;
        let jwks = jwks_of(&app, "salesforce").await;
        // Both published, in no particular order (keys made within one second sort by kid).
        let mut published = kids(&jwks);
        published.sort();
        let mut both = vec![old_kid.clone(), new_kid.clone()];
        both.sort();
        assert_eq!(published, both);
        // A token signed before the rotation still verifies with what the JWKS publishes.
        verify_rs256(&old_token, &jwk_key(&jwks, &old_kid));
        let new_token = token(&app, "salesforce", &jwt).await;
        verify_rs256(&new_token, &jwk_key(&jwks, &new_kid));

        // Once every token of the old key has expired, it leaves the JWKS.
        app.clock.advance_secs(retires_at - app.now() + 1);
        assert_eq!(kids(&jwks_of(&app, "salesforce").await), vec![new_kid]);
        let _ = std::fs::remove_dir_all(config.parent().unwrap());
    }

    async fn the_public_key_command_prints_the_pem_that_verifies_the_profiles_tokens(backend) {
        let app = TestApp::spawn_with(backend, |s| configure(s, profiles(KEYED))).await;
        let (id, jwt) = with_customer(&app).await;
        let config = config_file();
        let out = widget_cli(&app, &config, &["widget", "public-key", "--profile", "liveperson"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let info = json_of(&out);
        let pem = info["public_key_pem"].as_str().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert_eq!(info["alg"], "RS256");
        // What an admin pastes in LivePerson's connector verifies what the server signs.
        let lp = token(&app, "liveperson", &jwt).await;
        // (PyJWT reads the PEM; tollgate's jsonwebtoken is built without PEM support.)
        let verified = super::presets::pyjwt(
            &serde_json::json!([{"name": "lp", "token": lp, "alg": "RS256", "pem": pem}]),
        );
        assert_eq!(verified["lp"]["sub"], id);
        // And a token of another key is refused with it: the check can fail.
        let other = token(&app, "salesforce", &jwt).await;
        let refused = tollgate_python_refuses(&other, pem);
        assert!(refused, "a salesforce token verified with the liveperson key");

        // Salesforce's *Upload JWK*: one JWK, its x5c certificate holding the same key, which
        // verifies the profile's tokens (checked by PyJWT and `cryptography`, not tollgate).
        let out = widget_cli(&app, &config, &["widget", "public-key", "--profile", "salesforce", "--format", "jwk"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let jwk = json_of(&out);
        let jwks = jwks_of(&app, "salesforce").await;
        assert_eq!(jwk, jwks["keys"][0], "the key the JWKS URL publishes");
        assert_eq!((jwk["alg"].as_str(), jwk["use"].as_str(), jwk["kty"].as_str()), (Some("RS256"), Some("sig"), Some("RSA")));
        assert!(jwk["kid"].is_string() && jwk["x5c"].as_array().unwrap().len() == 1, "{jwk}");
        let sf = token(&app, "salesforce", &jwt).await;
        assert_eq!(header(&sf)["kid"], jwk["kid"]);
        let verified = super::presets::pyjwt(
            &serde_json::json!([{"name": "sf", "token": sf, "alg": "RS256", "x5c_jwk": jwk}]),
        );
        assert_eq!(verified["sf"]["sub"], id);
        // A JWK whose certificate is another key's is refused: the comparison can fail.
        let mut mixed = jwk.clone();
        mixed["x5c"] = jwks_of(&app, "liveperson").await["keys"][0]["x5c"].clone();
        assert!(!pyjwt_accepts(&serde_json::json!([{"name": "m", "token": sf, "alg": "RS256", "x5c_jwk": mixed}])));

        // Refusals name what is wrong.
        for (args, needle) in [
            (vec!["widget", "public-key", "--profile", "zendesk"], "vendor secret"),
            (vec!["widget", "rotate-key", "--profile", "nope"], "no widget profile \"nope\""),
        ] {
            let out = widget_cli(&app, &config, &args);
            assert!(!out.status.success(), "{args:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(needle), "{args:?}: {stderr}");
        }
        let _ = std::fs::remove_dir_all(config.parent().unwrap());
    }
}

backend_test! {
    async fn a_profile_without_a_key_of_its_own_publishes_no_keys(backend) {
        let app = spawn(backend, vec![ccai("web")]).await;
        let (status, body) = error_of(app.http.get(app.url("/widget_tokens/web/jwks.json")).send().await.unwrap()).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (404, "not_found"), "{body}");
        // A declared path answers 405 to a method it does not take, as every other path does.
        let trace = app.http.request(reqwest::Method::TRACE, app.url("/widget_tokens/web/jwks.json")).send().await.unwrap();
        assert_eq!(header_of(&trace, "allow").as_deref(), Some("GET"));
        assert_eq!(error_of(trace).await.0, 405);
    }
}
