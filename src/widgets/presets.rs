//! The vendor presets: each is a `GenericConfig` built from the few keys the vendor's console
//! gives an admin, following the vendor's public documentation (cited beside each). Nothing
//! here signs: the generic template does, so a preset is data, checked like any template.
//! Sprinklr's hash is not a JWT and has its own small module (`sprinklr.rs`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::config::GenericConfig;

/// What a preset becomes: a template, and the longest lifetime the vendor accepts.
pub struct Preset {
    pub template: GenericConfig,
    pub max_ttl: Option<u64>,
}

/// Zendesk messaging end-user authentication: HS256 with a signing key from the Admin Center,
/// header `kid` = the key id (`app_…`); claims `scope: "user"`, `external_id`, optionally
/// `name`, `email`, `email_verified`.
/// https://support.zendesk.com/hc/en-us/articles/4411666638746 (Setting up user authentication
/// for messaging) and https://developer.zendesk.com/api-reference/widget-messaging/web/authentication/
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// The signing key's id (`app_…`).
    pub kid: String,
    /// The variable holding the signing key's shared secret.
    pub secret_env: String,
    /// HS256 only.
    pub alg: Option<String>,
    /// `email_verified` comes from the customer's own `email_verified` attribute (a JSON
    /// boolean, set with `tollgate customer update --attributes`); for a customer without one,
    /// `true` here sends `email_verified: true` (only when every customer's email is known to be
    /// verified: Zendesk then trusts the email identity), `false` (the default) leaves it out.
    #[serde(default)]
    pub email_verified: bool,
}

/// Intercom Messenger security: a JWT signed HS256 with the Messenger API secret; claims
/// `user_id` (required), `email`, `name`, `exp`; passed to the Messenger as
/// `intercom_user_jwt`. https://developers.intercom.com/installing-intercom/web/identity-verification
/// and https://intercom.com/help/en/articles/10589769-authenticating-users-in-the-messenger-with-json-web-tokens-jwts
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntercomConfig {
    /// The variable holding the Messenger API secret.
    pub secret_env: String,
    /// HS256 only.
    pub alg: Option<String>,
}

/// Salesforce Messaging for In-App and Web, token-based user verification: RS256 or RS512 with
/// a key pair of tollgate's; the keyset's issuer must match `iss`; the vendor reads the public
/// key from the JWKS endpoint URL (`/widget_tokens/<name>/jwks.json`) or from an uploaded JWK
/// (with `x5c`). Claims `iss`, `sub`, `exp`, `iat`, optionally `aud`; header `kid`, `typ: JWT`.
/// https://help.salesforce.com/s/articleView?id=service.miaw_token_based_user_verification_setup.htm&language=en_US&type=5
/// and https://developer.salesforce.com/docs/service/messaging-web/guide/user-verification.html
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceConfig {
    /// The keyset's issuer: the token's `iss`.
    pub issuer: String,
    /// RS256 (default) or RS512.
    pub alg: Option<String>,
    pub audience: Option<String>,
}

/// LivePerson authenticated messaging, implicit flow: an RS256 JWT the Web Tag's identity
/// function hands over; claims `sub`, `iss`, `exp`, `iat`, optionally `aud`, `name` and
/// `lp_sdes` (the customer info an agent sees: `generic/fields.rs`); LivePerson verifies with
/// the public key pasted in the connector (`tollgate widget public-key`). The tutorial's
/// decoded token has the header `{"alg":"RS256","typ":"JWT"}`, without `kid`.
/// https://developers.liveperson.com/messaging-window-api-tutorials-authentication.html and
/// https://developers.liveperson.com/consumer-authentication-authenticate-in-web-and-mobile-messaging-implementation-considerations.html
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivepersonConfig {
    /// The token's `iss`, as configured in the LivePerson connector.
    pub issuer: String,
    /// RS256 only.
    pub alg: Option<String>,
    pub audience: Option<String>,
    /// Whether the token carries `lp_sdes` (default true).
    pub customer_info: Option<bool>,
}

/// Twilio Conversations access token: HS256 with an API key secret, header `cty:
/// "twilio-fpa;v=1"`; claims `jti` = `<API key SID>-<unix time>`, `iss` = API key SID, `sub`
/// = account SID, `nbf`, `exp` (at most 24 h), `grants: {identity, chat: {service_sid}}`.
/// https://twilio.com/docs/iam/access-tokens (its decoded example token is the golden test's)
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub api_key_sid: String,
    /// The Conversations service (`IS…`).
    pub service_sid: String,
    /// The variable holding the API key's secret.
    pub secret_env: String,
    /// HS256 only.
    pub alg: Option<String>,
    /// Whether anonymous visitors get a token (with their anonymous id as identity); default
    /// true, as a Conversations client needs an identity whoever the visitor is.
    pub allow_anonymous: Option<bool>,
}

/// Zoom Contact Center consumer authentication: the Web SDK GETs the authentication endpoint
/// and expects `{"loginUserIdJwt": <JWT>}`, ES256 (the public key pasted in the admin portal),
/// header `{"cty": "text/plain", "alg": "ES256"}`, payload `exp` and the consumer's fields,
/// which the admin maps to global variables.
/// https://support.zoom.com/hc/en/article?id=zm_kb&sysparm_article=KB0057542
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoomConfig {
    /// ES256 (default) or RS256, both in Zoom's documentation.
    pub alg: Option<String>,
}

/// Sprinklr live chat user verification: not a JWT (`sprinklr.rs`).
/// https://www.sprinklr.com/help/articles/initialize-sprinklr-live-chat/how-to-generate-hash/683930dc0a718d29a525c7e0
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SprinklrConfig {
    /// The variable holding the API key from the Live Chat Builder's Dev Tools.
    pub secret_env: String,
}

fn only(kind: &str, raw: Option<&str>, allowed: &[&str], what: &str) -> Result<String, String> {
    let alg = raw.unwrap_or(allowed.first().copied().unwrap_or_default());
    if allowed.contains(&alg) {
        Ok(alg.to_owned())
    } else {
        Err(format!(
            "alg: {kind} verifies {}, not {alg} ({what})",
            allowed.join(" or ")
        ))
    }
}

fn non_empty(key: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{key} must not be empty"))
    } else {
        Ok(())
    }
}

fn sid(key: &str, value: &str, prefix: &str) -> Result<(), String> {
    // Twilio SIDs: two letters and 32 hex digits.
    let ok = value.len() == 34
        && value.starts_with(prefix)
        && value.bytes().skip(2).all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key} must be a Twilio SID: {prefix} and 32 hex digits"
        ))
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn object(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), b.clone()))
        .collect()
}

/// An empty template signing with the vendor's `alg` (one of `allowed`, the first by default;
/// `what` names the key, for the refusal).
fn template(
    kind: &str,
    raw: Option<&str>,
    allowed: &[&str],
    what: &str,
) -> Result<GenericConfig, String> {
    Ok(GenericConfig {
        alg: Some(only(kind, raw, allowed, what)?),
        ..GenericConfig::default()
    })
}

/// A template signed by a key pair of tollgate's, with the vendor's `iss` (and `aud`) and
/// `typ: JWT`: Salesforce and LivePerson.
fn key_pair(
    kind: &str,
    raw: Option<&str>,
    allowed: &[&str],
    issuer: &str,
    audience: Option<&String>,
) -> Result<GenericConfig, String> {
    non_empty("issuer", issuer)?;
    Ok(GenericConfig {
        issuer: Some(issuer.to_owned()),
        audience: audience.cloned(),
        header: object(&[("typ", json!("JWT"))]),
        ..template(kind, raw, allowed, "a key pair held by tollgate")?
    })
}

impl From<GenericConfig> for Preset {
    fn from(template: GenericConfig) -> Self {
        Self {
            template,
            max_ttl: None,
        }
    }
}

pub fn zendesk(c: &ZendeskConfig) -> Result<Preset, String> {
    non_empty("kid", &c.kid)?;
    let defaults = if c.email_verified {
        object(&[("email_verified", json!(true))])
    } else {
        Map::new()
    };
    Ok(GenericConfig {
        kid: Some(c.kid.clone()),
        secret_env: Some(c.secret_env.clone()),
        header: object(&[("typ", json!("JWT"))]),
        claims: object(&[("scope", json!("user"))]),
        customer_claims: map(&[
            ("external_id", "id"),
            ("name", "name"),
            ("email", "email"),
            ("email_verified", "attributes.email_verified"),
        ]),
        customer_claim_defaults: defaults,
        ..template(
            "zendesk",
            c.alg.as_deref(),
            &["HS256"],
            "an HMAC with the Admin Center's key",
        )?
    }
    .into())
}

pub fn intercom(c: &IntercomConfig) -> Result<Preset, String> {
    Ok(GenericConfig {
        secret_env: Some(c.secret_env.clone()),
        customer_claims: map(&[("user_id", "id"), ("email", "email"), ("name", "name")]),
        time_claims: Some(map(&[("exp", "expires")])),
        ..template(
            "intercom",
            c.alg.as_deref(),
            &["HS256"],
            "an HMAC with the Messenger API secret",
        )?
    }
    .into())
}

pub fn salesforce(c: &SalesforceConfig) -> Result<Preset, String> {
    let alg = c.alg.as_deref();
    Ok(GenericConfig {
        customer_claims: map(&[("sub", "id")]),
        ..key_pair(
            "salesforce",
            alg,
            &["RS256", "RS512"],
            &c.issuer,
            c.audience.as_ref(),
        )?
    }
    .into())
}

pub fn liveperson(c: &LivepersonConfig) -> Result<Preset, String> {
    let mut customer_claims = map(&[("sub", "id"), ("name", "name")]);
    if c.customer_info.unwrap_or(true) {
        customer_claims.insert("lp_sdes".into(), "liveperson_sdes".into());
    }
    let alg = c.alg.as_deref();
    Ok(GenericConfig {
        customer_claims,
        key_id_header: Some(false),
        ..key_pair(
            "liveperson",
            alg,
            &["RS256"],
            &c.issuer,
            c.audience.as_ref(),
        )?
    }
    .into())
}

/// Twilio refuses access tokens that live longer than a day.
pub const TWILIO_MAX_TTL: u64 = 24 * 3600;

pub fn twilio(c: &TwilioConfig) -> Result<Preset, String> {
    sid("account_sid", &c.account_sid, "AC")?;
    sid("api_key_sid", &c.api_key_sid, "SK")?;
    sid("service_sid", &c.service_sid, "IS")?;
    let template = GenericConfig {
        secret_env: Some(c.secret_env.clone()),
        issuer: Some(c.api_key_sid.clone()),
        header: object(&[("typ", json!("JWT")), ("cty", json!("twilio-fpa;v=1"))]),
        claims: object(&[
            ("sub", json!(c.account_sid)),
            ("grants.chat.service_sid", json!(c.service_sid)),
        ]),
        formatted_claims: map(&[("jti", &format!("{}-{{iat}}", c.api_key_sid))]),
        customer_claims: map(&[("grants.identity", "id")]),
        time_claims: Some(map(&[("nbf", "issued"), ("exp", "expires")])),
        allow_anonymous: Some(c.allow_anonymous.unwrap_or(true)),
        ..template(
            "twilio",
            c.alg.as_deref(),
            &["HS256"],
            "an HMAC with the API key secret",
        )?
    };
    Ok(Preset {
        template,
        max_ttl: Some(TWILIO_MAX_TTL),
    })
}

pub fn zoom(c: &ZoomConfig) -> Result<Preset, String> {
    Ok(GenericConfig {
        header: object(&[("cty", json!("text/plain"))]),
        customer_claims: map(&[
            ("user_id", "id"),
            ("name", "name"),
            ("email", "email"),
            ("phone", "phone"),
        ]),
        response_field: Some("loginUserIdJwt".into()),
        ..template(
            "zoom",
            c.alg.as_deref(),
            &["ES256", "RS256"],
            "a key pair held by tollgate",
        )?
    }
    .into())
}
