//! The vendor presets (issue 14), one golden test each: a token for a known customer at a fixed
//! clock, compared header field by header field and claim by claim with what the vendor's page
//! documents, its signature checked as the vendor would: with `jsonwebtoken` against the key
//! fetched from the profile's JWKS URL, and with PyJWT (`tests/python/verify_widget_tokens.py`)
//! against the vendor secret, the JWKS URL or the PEM the vendor console takes.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tollgate::widgets::config::WidgetProfileConfig;

use super::*;
use crate::backend_test;

/// Twilio's documented example token was issued at this instant (1450471147, Dec 2015): every
/// golden token is issued then, so Twilio's `jti`, `nbf` and `exp` equal the example's.
pub(crate) const FIXED_SECS: i64 = 1_450_471_147;

pub(crate) const INTERCOM_SECRET: &str = "intercom-messenger-api-secret-0123";
pub(crate) const TWILIO_SECRET: &str = "twilio-api-key-secret-0123456789ab";
pub(crate) const SPRINKLR_KEY: &str = "acf32e61-14a6-291b-3a1b-cc8854134ea1";
pub(crate) const AC: &str = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
pub(crate) const SK: &str = "SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
pub(crate) const IS: &str = "ISxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// `[[widget_profiles]]` tables as an admin writes them.
pub(crate) fn profiles(toml_text: &str) -> Vec<WidgetProfileConfig> {
    #[derive(serde::Deserialize)]
    struct File {
        widget_profiles: Vec<WidgetProfileConfig>,
    }
    toml::from_str::<File>(toml_text)
        .expect("the profiles parse")
        .widget_profiles
}

/// Every preset, one profile each, as the README shows them.
pub(crate) fn every_preset() -> String {
    // Twilio's placeholders are not hex: the example token's SIDs are `x`s. Real SIDs are
    // checked (see `startup.rs`); the golden test uses valid stand-ins of the same length.
    format!(
        r#"
[[widget_profiles]]
name = "zendesk"
kind = "zendesk"
kid = "app_123"
secret_env = "ZD_SECRET"

[[widget_profiles]]
name = "intercom"
kind = "intercom"
secret_env = "INTERCOM_SECRET"

[[widget_profiles]]
name = "salesforce"
kind = "salesforce"
issuer = "https://www.example.com"

[[widget_profiles]]
name = "liveperson"
kind = "liveperson"
issuer = "https://idp.example.com"
audience = "acc:12345678"

[[widget_profiles]]
name = "twilio"
kind = "twilio"
account_sid = "{ac}"
api_key_sid = "{sk}"
service_sid = "{is}"
secret_env = "TWILIO_SECRET"

[[widget_profiles]]
name = "zoom"
kind = "zoom"

[[widget_profiles]]
name = "sprinklr"
kind = "sprinklr"
secret_env = "SPRINKLR_KEY"
"#,
        ac = hex_sid(AC),
        sk = hex_sid(SK),
        is = hex_sid(IS)
    )
}

/// The example's `ACxxxx…` with the `x`s as `0`s: a SID tollgate accepts.
pub(crate) fn hex_sid(example: &str) -> String {
    example.replace('x', "0")
}

pub(crate) fn with_presets(settings: &mut Settings, toml_text: &str) {
    configure(settings, profiles(toml_text));
    for (k, v) in [
        ("INTERCOM_SECRET", INTERCOM_SECRET),
        ("TWILIO_SECRET", TWILIO_SECRET),
        ("SPRINKLR_KEY", SPRINKLR_KEY),
    ] {
        settings
            .named_secrets
            .insert(k.into(), SecretString::from(v.to_owned()));
    }
}

async fn body_of(app: &TestApp, name: &str, jwt: &str) -> Value {
    let res = get(app, &format!("/widget_tokens/{name}"), Some(jwt), None).await;
    assert_eq!(res.status(), 200, "{name}");
    assert_eq!(
        header_of(&res, "cache-control").as_deref(),
        Some("no-store")
    );
    res.json().await.unwrap()
}

/// Verifies with `jsonwebtoken`, the key taken from the profile's JWKS URL by the token's kid
/// (times unchecked: the clock is fixed in the past).
async fn verify_from_jwks_url(app: &TestApp, name: &str, token: &str) -> Value {
    let jwks: Value = app
        .http
        .get(app.url(&format!("/widget_tokens/{name}/jwks.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let kid = header(token)["kid"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| set.keys.first().and_then(|k| k.common.key_id.clone()))
        .unwrap();
    let jwk = set.find(&kid).expect("the kid is published");
    // x5c (RFC 7517 §4.7): standard base64 of a DER certificate (a SEQUENCE).
    let x5c = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()["x5c"][0]
        .as_str()
        .unwrap()
        .to_owned();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(x5c)
        .unwrap();
    assert_eq!(der.first(), Some(&0x30), "{name}: x5c is a DER certificate");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(jsonwebtoken::decode_header(token).unwrap().alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .claims
}

/// Runs the PyJWT verifier over `items`; its answer by name.
pub(crate) fn pyjwt(items: &Value) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/verify_widget_tokens.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "python3 runs (the golden tests need Python 3 with PyJWT: pip install 'pyjwt[crypto]')",
        );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(items.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "PyJWT refused a token (needs `pip install 'pyjwt[crypto]'`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

backend_test! {
    async fn every_preset_issues_the_vendors_documented_shape_at_a_fixed_clock(backend) {
        let app = TestApp::spawn_with(backend, |s| with_presets(s, &every_preset())).await;
        app.clock.freeze_at_millis(FIXED_SECS * 1000);
        let (id, jwt) = with_customer(&app).await;
        // Ada's stored attributes, as an admin sets them with the CLI: names LivePerson documents
        // for Customer Info (ctype, balance) and Personal Info (gender) reach `lp_sdes`, and
        // Zendesk reads `email_verified`.
        let out = run_tollgate(&app.db, &["customer", "update", "--id", &id, "--attributes",
            r#"{"tier": "gold", "ctype": "vip", "balance": -400.99, "gender": "FEMALE", "email_verified": true}"#], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (t, exp) = (FIXED_SECS, FIXED_SECS + 3600);

        // Zendesk: header kid = the key id; scope "user", external_id, name, email, and
        // email_verified from the customer's attribute.
        let zendesk = body_of(&app, "zendesk", &jwt).await["token"].as_str().unwrap().to_owned();
        assert_eq!(header(&zendesk), json!({"alg": "HS256", "typ": "JWT", "kid": "app_123"}));
        assert_eq!(claims(&zendesk), json!({"scope": "user", "external_id": id,
            "name": "Ada Lovelace", "email": "ada@example.com", "email_verified": true,
            "iat": t, "exp": exp}));

        // Intercom: user_id, email, name, exp (the Messenger security page's payload).
        let intercom = body_of(&app, "intercom", &jwt).await["token"].as_str().unwrap().to_owned();
        assert_eq!(header(&intercom), json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(claims(&intercom), json!({"user_id": id, "email": "ada@example.com",
            "name": "Ada Lovelace", "exp": exp}));

        // Salesforce: iss = the keyset's issuer, sub, iat, exp; kid names the JWKS key.
        let sf = body_of(&app, "salesforce", &jwt).await["token"].as_str().unwrap().to_owned();
        let sf_header = header(&sf);
        assert_eq!(sf_header["alg"], "RS256");
        assert_eq!(sf_header["typ"], "JWT");
        assert_eq!(keys(&sf_header), set(&["alg", "typ", "kid"]));
        let expected = json!({"iss": "https://www.example.com", "sub": id, "iat": t, "exp": exp});
        assert_eq!(claims(&sf), expected);
        assert_eq!(verify_from_jwks_url(&app, "salesforce", &sf).await, expected);

        // LivePerson: the tutorial's decoded token is {"alg":"RS256","typ":"JWT"} over sub,
        // iss, aud, exp, iat, name: the same fields here; and `lp_sdes` shaped as LivePerson's
        // example JWT for authenticated customer info (a `ctmrinfo` SDE, then `personal`).
        let lp = body_of(&app, "liveperson", &jwt).await["token"].as_str().unwrap().to_owned();
        assert_eq!(header(&lp), json!({"alg": "RS256", "typ": "JWT"}));
        let expected = json!({"sub": id, "iss": "https://idp.example.com", "aud": "acc:12345678",
            "exp": exp, "iat": t, "name": "Ada Lovelace", "lp_sdes": [
                {"type": "ctmrinfo", "info": {"customerId": id, "ctype": "vip", "balance": -400.99}},
                {"type": "personal", "personal": {"firstname": "Ada", "lastname": "Lovelace",
                    "contacts": [{"email": "ada@example.com", "phone": "+14155550100"}],
                    "gender": "FEMALE"}},
            ]});
        assert_eq!(claims(&lp), expected);
        assert_eq!(verify_from_jwks_url(&app, "liveperson", &lp).await, expected);

        // Twilio: the Access Tokens page's example, field for field: its header exactly, its
        // jti/iss/sub/nbf/exp at its own instant; the grant is Conversations' (`chat`) where
        // the example shows the older `ip_messaging`, and the identity is the opaque id.
        let tw = body_of(&app, "twilio", &jwt).await["token"].as_str().unwrap().to_owned();
        assert_eq!(header(&tw), json!({"typ": "JWT", "alg": "HS256", "cty": "twilio-fpa;v=1"}));
        let sk = hex_sid(SK);
        assert_eq!(claims(&tw), json!({
            "jti": format!("{sk}-1450471147"), "iss": sk, "sub": hex_sid(AC),
            "nbf": 1_450_471_147, "exp": 1_450_474_747,
            "grants": {"identity": id, "chat": {"service_sid": hex_sid(IS)}},
        }));

        // Zoom: {"loginUserIdJwt"}, ES256, header cty text/plain (and the key's kid), exp and
        // the consumer's fields.
        let zoom_body = body_of(&app, "zoom", &jwt).await;
        assert_eq!(keys(&zoom_body), set(&["loginUserIdJwt"]));
        let zoom = zoom_body["loginUserIdJwt"].as_str().unwrap().to_owned();
        let zoom_header = header(&zoom);
        assert_eq!((zoom_header["alg"].as_str(), zoom_header["cty"].as_str()),
            (Some("ES256"), Some("text/plain")));
        assert_eq!(keys(&zoom_header), set(&["alg", "cty", "kid"]));
        let expected = json!({"user_id": id, "name": "Ada Lovelace", "email": "ada@example.com",
            "phone": "+14155550100", "iat": t, "exp": exp});
        assert_eq!(claims(&zoom), expected);
        assert_eq!(verify_from_jwks_url(&app, "zoom", &zoom).await, expected);

        // Sprinklr: the user object of sprChatSettings, hash over the fields and the time (ms).
        let spr = body_of(&app, "sprinklr", &jwt).await;
        assert_eq!(keys(&spr), set(&["id", "firstName", "lastName", "profileImageUrl",
            "phoneNo", "email", "hash", "hashCreationTime"]));
        assert_eq!((spr["id"].as_str(), spr["firstName"].as_str(), spr["lastName"].as_str()),
            (Some(id.as_str()), Some("Ada"), Some("Lovelace")));
        assert_eq!(spr["hashCreationTime"], FIXED_SECS * 1000);
        assert_eq!(spr["hash"].as_str().unwrap().len(), 64);

        // The same tokens through PyJWT, keys as each vendor holds them (LivePerson's pasted
        // key: the profile's one public key).
        let jwks_uri = |name: &str| app.url(&format!("/widget_tokens/{name}/jwks.json"));
        let lp_jwks: Value = app.http.get(jwks_uri("liveperson")).send().await.unwrap().json().await.unwrap();
        let lp_jwk = lp_jwks["keys"][0].clone();
        let verified = pyjwt(&json!([
            {"name": "zendesk", "token": zendesk, "alg": "HS256", "secret": ZD_SECRET},
            {"name": "intercom", "token": intercom, "alg": "HS256", "secret": INTERCOM_SECRET},
            {"name": "twilio", "token": tw, "alg": "HS256", "secret": TWILIO_SECRET},
            {"name": "salesforce", "token": sf, "alg": "RS256", "jwks_uri": jwks_uri("salesforce")},
            {"name": "zoom", "token": zoom, "alg": "ES256", "jwks_uri": jwks_uri("zoom")},
            {"name": "liveperson", "token": lp, "alg": "RS256", "jwk": lp_jwk},
            {"name": "sprinklr", "sprinklr": spr, "secret": SPRINKLR_KEY},
        ]));
        assert_eq!(verified["zendesk"]["external_id"], id);
        assert_eq!(verified["intercom"]["user_id"], id);
        assert_eq!(verified["twilio"]["grants"]["identity"], id);
        assert_eq!(verified["salesforce"]["sub"], id);
        assert_eq!(verified["zoom"]["user_id"], id);
        assert_eq!(verified["liveperson"]["lp_sdes"][0]["info"]["customerId"], id);
        assert_eq!(verified["sprinklr"], spr["hash"]);

        // A wrong secret is refused by the same script: the check can fail.
        let refused = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/verify_widget_tokens.py"))
            .stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null())
            .spawn().unwrap();
        let mut refused = refused;
        refused.stdin.take().unwrap().write_all(json!([{"name": "z", "token": zendesk,
            "alg": "HS256", "secret": "not-the-zendesk-secret-0123456789"}]).to_string().as_bytes()).unwrap();
        assert!(!refused.wait().unwrap().success());
    }

    async fn zendesk_email_verified_comes_from_the_customer_and_else_from_the_profile(backend) {
        let toml_text = r#"
[[widget_profiles]]
name = "zd-verified"
kind = "zendesk"
kid = "app_123"
secret_env = "ZD_SECRET"
email_verified = true

[[widget_profiles]]
name = "zd"
kind = "zendesk"
kid = "app_123"
secret_env = "ZD_SECRET"

[[widget_profiles]]
name = "lp"
kind = "liveperson"
issuer = "https://idp.example.com"
customer_info = false
"#;
        let app = TestApp::spawn_with(backend, |s| with_presets(s, toml_text)).await;
        let (id, jwt) = with_customer(&app).await;
        let verified = async |profile: &str| {
            claims(&token_of(get(&app, &format!("/widget_tokens/{profile}"), Some(&jwt), None).await).await)
                .get("email_verified").cloned()
        };
        // Ada's attributes say nothing: the profile's setting, or no claim at all.
        assert_eq!(verified("zd-verified").await, Some(json!(true)));
        assert_eq!(verified("zd").await, None);
        // What the customer record says wins over the profile's setting, either way.
        for (attribute, expected) in [(false, false), (true, true)] {
            let attrs = json!({"email_verified": attribute}).to_string();
            let out = run_tollgate(&app.db, &["customer", "update", "--id", &id, "--attributes", &attrs], None);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(verified("zd-verified").await, Some(json!(expected)), "{attribute}");
            assert_eq!(verified("zd").await, Some(json!(expected)), "{attribute}");
        }
        // LivePerson's customer info can be left out.
        let lp = claims(&token_of(get(&app, "/widget_tokens/lp", Some(&jwt), None).await).await);
        assert_eq!((lp.get("lp_sdes"), lp["sub"].as_str()), (None, Some(id.as_str())));
    }

    async fn presets_for_logged_in_customers_refuse_anonymous_visitors_and_twilio_serves_them(backend) {
        let app = TestApp::spawn_with(backend, |s| with_presets(s, &every_preset())).await;
        for name in ["zendesk", "intercom", "salesforce", "liveperson", "zoom", "sprinklr"] {
            let (status, body) = error_of(get(&app, &format!("/widget_tokens/{name}"), None, None).await).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("login_required")), "{name}");
        }
        let res = get(&app, "/widget_tokens/twilio", None, None).await;
        let cookie = visitor_cookie(&res);
        let first = claims(&token_of(res).await)["grants"]["identity"].clone();
        let again = get(&app, "/widget_tokens/twilio", None, Some(&cookie)).await;
        assert_eq!(claims(&token_of(again).await)["grants"]["identity"], first);
        // HMAC profiles have no JWKS of their own.
        let res = app.http.get(app.url("/widget_tokens/zendesk/jwks.json")).send().await.unwrap();
        assert_eq!(res.status(), 404);
    }
}
