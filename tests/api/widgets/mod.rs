//! Chat-widget tokens (issue 4): every kind for a logged-in customer and an anonymous visitor,
//! the AXP flow against a stand-in AXP server, CORS, HTTPS, and 401 on bad credentials. One
//! file per vendor kind or concern; the profiles, secrets and request helpers they share are
//! here.

mod axp;
mod browser;
mod ccai;
mod cors;
mod credentials;
mod dg;
mod generic;
mod openapi;
mod presets;
mod profile_keys;
mod startup;
mod tls;

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::SecretString;
use serde_json::{Value, json};
use tollgate::app::{Application, StartupError};
use tollgate::config::Settings;
use tollgate::widgets::config::{
    AxpConfig, CcaiConfig, DgConfig, GenericConfig, KindConfig, WidgetProfileConfig,
};

use crate::support::*;

pub(crate) const CCAI_SECRET: &str = "ccai-company-secret-0123456789";
const DG_SECRET: &str = "dg-api-secret-0123456789abcdef";
const DG_API_KEY: &str = "dg-api-key-4242";
const ZD_SECRET: &str = "zendesk-shared-secret-0123456789";
const PASSWORD: &str = "correct horse battery";
const WEB: &str = "https://www.example.com";

fn secrets() -> HashMap<String, SecretString> {
    [
        ("CCAI_COMPANY_SECRET", CCAI_SECRET),
        ("DG_API_SECRET", DG_SECRET),
        ("DG_API_KEY", DG_API_KEY),
        ("ZD_SECRET", ZD_SECRET),
        ("AXP_CLIENT_SECRET", AXP_CLIENT_SECRET),
        ("AXP_APP_KEY", AXP_APP_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), SecretString::from(v.to_owned())))
    .collect()
}

fn ccai(name: &str) -> WidgetProfileConfig {
    ccai_for(name, &[WEB])
}

/// A ccai profile `name` for `origins`; its secret is `CCAI_COMPANY_SECRET` (see `secrets`).
pub(crate) fn ccai_for(name: &str, origins: &[&str]) -> WidgetProfileConfig {
    let mut p = WidgetProfileConfig::new(
        name,
        KindConfig::Ccai(CcaiConfig {
            issuer: "ACME".into(),
            secret_env: "CCAI_COMPANY_SECRET".into(),
            alg: None,
        }),
    );
    p.allowed_origins = origins.iter().map(|o| (*o).to_owned()).collect();
    p
}

fn dg() -> WidgetProfileConfig {
    let mut p = WidgetProfileConfig::new(
        "dg",
        KindConfig::Dg(DgConfig {
            secret_env: "DG_API_SECRET".into(),
            api_key_env: "DG_API_KEY".into(),
            alg: None,
        }),
    );
    p.ttl_seconds = Some(600);
    p
}

/// A Zendesk-messaging-style template.
fn zendesk() -> WidgetProfileConfig {
    let mut claims = serde_json::Map::new();
    claims.insert("scope".into(), json!("user"));
    WidgetProfileConfig::new(
        "zendesk",
        KindConfig::Generic(GenericConfig {
            alg: Some("HS512".into()),
            kid: Some("app_123".into()),
            secret_env: Some("ZD_SECRET".into()),
            claims,
            customer_claims: [("external_id", "id"), ("name", "name"), ("email", "email")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
            ..Default::default()
        }),
    )
}

fn axp(base_url: &str) -> WidgetProfileConfig {
    WidgetProfileConfig::new(
        "axp",
        KindConfig::Axp(AxpConfig {
            base_url: base_url.into(),
            account_id: "ACCT01".into(),
            integration_id: "integration-7".into(),
            client_id: "axp-client".into(),
            client_secret_env: "AXP_CLIENT_SECRET".into(),
            app_key_env: "AXP_APP_KEY".into(),
            jwt_validity_minutes: 30,
            region: "NA".into(),
            expose_app_key: false,
            calling_remote_address: None,
            fcm_connector_base_url: None,
            config_id: Some("cfg-1".into()),
            upstream_timeout_ms: Some(700),
        }),
    )
}

/// The keys of a profile's kind, for a test to change one.
fn ccai_keys(p: &mut WidgetProfileConfig) -> &mut CcaiConfig {
    match &mut p.kind {
        KindConfig::Ccai(c) => c,
        _ => panic!("not a ccai profile"),
    }
}

fn generic_keys(p: &mut WidgetProfileConfig) -> &mut GenericConfig {
    match &mut p.kind {
        KindConfig::Generic(c) => c,
        _ => panic!("not a generic profile"),
    }
}

fn axp_keys(p: &mut WidgetProfileConfig) -> &mut AxpConfig {
    match &mut p.kind {
        KindConfig::Axp(c) => c,
        _ => panic!("not an axp profile"),
    }
}

async fn spawn(backend: Backend, profiles: Vec<WidgetProfileConfig>) -> TestApp {
    TestApp::spawn_with(backend, |s| configure(s, profiles)).await
}

/// The app with a customer "ada"; returns the opaque id and a customer token.
async fn with_customer(app: &TestApp) -> (String, String) {
    let id = app.create_customer("ada", PASSWORD).await;
    let token = app.customer_token("ada", PASSWORD).await;
    (id, token)
}

fn verify_hs(token: &str, secret: &str, alg: Algorithm) -> Value {
    let mut v = Validation::new(alg);
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iat"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(secret.as_bytes()), &v)
        .expect("the widget token verifies with the vendor secret")
        .claims
}

async fn get(
    app: &TestApp,
    path: &str,
    auth: Option<&str>,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut req = app.http.get(app.url(path));
    if let Some(t) = auth {
        req = req.bearer_auth(t);
    }
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn token_of(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 200);
    assert_eq!(
        header_of(&res, "cache-control").as_deref(),
        Some("no-store")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(keys(&body), set(&["token"]));
    body["token"].as_str().unwrap().to_owned()
}

/// The anonymous cookie pair `tollgate_visitor=…` from a Set-Cookie header.
fn visitor_cookie(res: &reqwest::Response) -> String {
    let set_cookie = header_of(res, "set-cookie").expect("an anonymous visitor gets a cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie} lacks {attr}");
    }
    set_cookie.split(';').next().unwrap().to_owned()
}

fn assert_no_pii(claims: &Value) {
    // Needles that cannot occur by chance in the random ids and numbers of a token: the bare
    // username "ada" is a hex string, so it is looked for as a whole JSON string only.
    let text = claims.to_string().to_lowercase();
    for pii in ["\"ada\"", "lovelace", "example.com", "+1415", "gold"] {
        assert!(!text.contains(pii), "{pii} leaked into {claims}");
    }
}

/// `profiles`, and the vendor secrets they name, added to test settings.
fn configure(settings: &mut Settings, profiles: Vec<WidgetProfileConfig>) {
    settings.widget_profiles = profiles;
    settings.named_secrets = secrets();
}

/// Builds, without serving, an application with `profiles`: for settings start-up must refuse.
async fn start(
    db: &TestDb,
    profiles: Vec<WidgetProfileConfig>,
) -> Result<Application, StartupError> {
    let mut settings: Settings = test_settings(&db.url);
    configure(&mut settings, profiles);
    Application::build(settings).await
}
