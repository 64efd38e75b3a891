//! The widget demo page (`examples/widget-demo/`) in a real browser (issue 14): headless Debian
//! `chromium` driven by `tests/browser/widget_demo.mjs` (playwright-core), against the real
//! server. The page is served from another origin of the same site (every host `localhost`, one
//! port each), as `www.example.com` and `auth.example.com` are. It must get its tokens: an
//! anonymous visitor's (the same id after a reload, another in a fresh browser context), a
//! logged-in customer's with the session cookie (`credentials: 'include'`), and refreshed ones
//! before expiry; the page's script must not read the session cookie, and a page on an origin
//! tollgate does not list must get nothing.
//!
//! `WIDGET_DEMO_SCREENSHOT=path` also saves a screenshot of the page there (the README's).
//! SQLite only, as the login CORS browser test: the store changes nothing the browser sees.

use std::path::Path;

use serde_json::json;

use super::presets::{TWILIO_SECRET, hex_sid, with_presets};
use super::{PASSWORD, ZD_SECRET};
use crate::login_cors::browser::{browser_dir, run_script, serve_file};
use crate::support::*;

fn demo_profiles(page: &str) -> String {
    format!(
        r#"
[[widget_profiles]]
name = "visitor"
kind = "twilio"
account_sid = "{ac}"
api_key_sid = "{sk}"
service_sid = "{is}"
secret_env = "TWILIO_SECRET"
allowed_origins = ["{page}"]

[[widget_profiles]]
name = "zendesk"
kind = "zendesk"
kid = "app_123"
secret_env = "ZD_SECRET"
allowed_origins = ["{page}"]

[[widget_profiles]]
name = "short"
kind = "zendesk"
kid = "app_123"
secret_env = "ZD_SECRET"
ttl_seconds = 3
allowed_origins = ["{page}"]
"#,
        ac = hex_sid(super::presets::AC),
        sk = hex_sid(super::presets::SK),
        is = hex_sid(super::presets::IS),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_gets_every_token_in_a_real_browser() {
    let browser = browser_dir();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/widget-demo/index.html");
    let page = serve_file(&demo).await;
    let unlisted = serve_file(&demo).await;
    let profiles = demo_profiles(&page);
    let app = TestApp::spawn_with(Backend::Sqlite, |s| with_presets(s, &profiles)).await;
    let customer = app.create_customer("ada", PASSWORD).await;
    let tollgate = app.address.replace("127.0.0.1", "localhost");
    let mut params = json!({
        "tollgate": tollgate, "page": page, "unlistedPage": unlisted,
        "username": "ada", "password": PASSWORD,
        "visitor": "visitor", "customer": "zendesk", "refresh": "short",
    });
    if let Ok(path) = std::env::var("WIDGET_DEMO_SCREENSHOT") {
        params["screenshot"] = json!(path);
    }
    let report = run_script(&browser, "widget_demo.mjs", &params).await;

    // The anonymous visitor's token arrives; its identity survives a reload and differs in a
    // fresh browser context.
    let identity = |r: &serde_json::Value| {
        assert_eq!(
            (&r["rejected"], &r["status"]),
            (&json!(false), &json!(200)),
            "{report:#}"
        );
        r["claims"]["grants"]["identity"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = identity(&report["anonymous"]);
    assert_eq!(identity(&report["anonymousAfterReload"]), first);
    assert_ne!(identity(&report["anonymousFreshContext"]), first);
    assert_ne!(first, customer);
    // The token verifies with the vendor's secret.
    let token = report["anonymous"]["body"]["token"].as_str().unwrap();
    verify_hmac(token, TWILIO_SECRET);

    // The customer logs in from the page; the session cookie alone then gets the token.
    assert_eq!(report["login"]["status"], 200, "{report:#}");
    assert_eq!(report["customer"]["status"], 200, "{report:#}");
    assert_eq!(
        report["customer"]["claims"]["external_id"],
        customer.as_str()
    );
    verify_hmac(
        report["customer"]["body"]["token"].as_str().unwrap(),
        ZD_SECRET,
    );
    // Neither cookie is readable from page script, both are HttpOnly, Secure, SameSite=Lax.
    let document_cookie = report["documentCookie"].as_str().unwrap();
    assert!(!document_cookie.contains("tollgate_"), "{document_cookie}");
    for name in ["tollgate_session", "tollgate_visitor"] {
        let cookie = report["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} cookie: {report:#}"));
        assert_eq!(
            (&cookie["httpOnly"], &cookie["secure"], &cookie["sameSite"]),
            (&json!(true), &json!(true), &json!("Lax")),
            "{name}"
        );
    }

    // Refreshed before expiry: each new token was fetched before the previous one's `exp`.
    let refreshes = report["refreshes"].as_array().unwrap();
    assert!(refreshes.len() >= 3, "{report:#}");
    for pair in refreshes.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        assert_eq!(
            prev["exp"].as_i64().unwrap() - prev["iat"].as_i64().unwrap(),
            3
        );
        assert!(
            next["fetchedAt"].as_i64().unwrap() < prev["exp"].as_i64().unwrap() * 1000,
            "refreshed after expiry: {report:#}"
        );
    }

    // An origin tollgate does not list: CORS keeps every answer from the page.
    assert_eq!(report["unlisted"]["rejected"], true, "{report:#}");
    assert_eq!(report["unlistedCustomer"]["rejected"], true, "{report:#}");
}

fn verify_hmac(token: &str, secret: &str) {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &v,
    )
    .expect("the token verifies with the vendor's secret");
}
