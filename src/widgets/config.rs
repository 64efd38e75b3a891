//! One `[[widget_profiles]]` table: the keys every profile has, and one variant per `kind` with
//! the keys that kind needs (required ones are not `Option`). Secrets are never inline: only the
//! names of the environment variables that hold them (`*_env`), resolved by `config` into
//! `Settings::named_secrets`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct WidgetProfileConfig {
    /// Served at `/widget_tokens/<name>`.
    pub name: String,
    /// Token lifetime (ccai, dg, generic); default 3600.
    pub ttl_seconds: Option<u64>,
    /// Origins allowed by CORS, or `["*"]`. Empty: no CORS headers at all (same-origin use).
    pub allowed_origins: Vec<String>,
    /// Whether browsers may send cookies cross-origin; default true for an explicit origin
    /// list. Refused together with `*` (Fetch standard: credentials need an exact origin).
    pub allow_credentials: Option<bool>,
    pub kind: KindConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum KindConfig {
    /// Google Contact Center AI Platform web and mobile SDKs.
    Ccai(CcaiConfig),
    /// DigitalGenius chat widget.
    Dg(DgConfig),
    /// Avaya Experience Platform Digital / Omni SDK.
    Axp(AxpConfig),
    /// A claim template (Zendesk-messaging-style tokens and the like).
    Generic(GenericConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CcaiConfig {
    /// The company name: the token's `iss`.
    pub issuer: String,
    /// The variable holding the company secret.
    pub secret_env: String,
    /// HS256 (default) or HS384.
    pub alg: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DgConfig {
    /// The variable holding the DG API secret (signs the token).
    pub secret_env: String,
    /// The variable holding the DG API key (the header's `kid`).
    pub api_key_env: String,
    /// HS256 only.
    pub alg: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxpConfig {
    /// `https://{hostName}`; configurable so regional hosts and tests work.
    pub base_url: String,
    pub account_id: String,
    pub integration_id: String,
    pub client_id: String,
    pub client_secret_env: String,
    pub app_key_env: String,
    /// Lifetime of the AXP JWT, 15 to 60 minutes (the API's bounds).
    pub jwt_validity_minutes: u32,
    pub region: String,
    /// Whether the app key is also handed to the browser (the vendor's sample does so).
    #[serde(default)]
    pub expose_app_key: bool,
    pub calling_remote_address: Option<String>,
    pub fcm_connector_base_url: Option<String>,
    pub config_id: Option<String>,
    /// Upstream timeout in milliseconds; default 5000.
    pub upstream_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericConfig {
    /// HS256, HS384, HS512 or `server` (the server's own signing key, published in the JWKS).
    pub alg: Option<String>,
    /// The JWT header's `kid` (HMAC only).
    pub kid: Option<String>,
    /// The variable holding the HMAC secret (HMAC only).
    pub secret_env: Option<String>,
    /// The `iss` claim, if any.
    pub issuer: Option<String>,
    /// The `aud` claim, if any (never one of tollgate's own audiences).
    pub audience: Option<String>,
    /// Claims copied as they are into every token.
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// Claim name -> customer field (`id`, `name`, `email`, `phone`).
    #[serde(default)]
    pub customer_claims: BTreeMap<String, String>,
    /// Whether anonymous visitors get a token (their id under the `id` claims).
    pub allow_anonymous: Option<bool>,
}

impl WidgetProfileConfig {
    pub fn new(name: &str, kind: KindConfig) -> Self {
        Self {
            name: name.to_owned(),
            ttl_seconds: None,
            allowed_origins: Vec::new(),
            allow_credentials: None,
            kind,
        }
    }

    /// The names of every environment variable this profile reads.
    pub fn secret_env_names(&self) -> Vec<&str> {
        match &self.kind {
            KindConfig::Ccai(c) => vec![c.secret_env.as_str()],
            KindConfig::Dg(c) => vec![c.secret_env.as_str(), c.api_key_env.as_str()],
            KindConfig::Axp(c) => vec![c.client_secret_env.as_str(), c.app_key_env.as_str()],
            KindConfig::Generic(c) => c.secret_env.iter().map(String::as_str).collect(),
        }
    }
}

/// The common keys are taken out first, then the rest must be exactly one kind's keys. (serde's
/// `flatten` cannot be combined with `deny_unknown_fields`, and a typo must not pass.)
impl<'de> Deserialize<'de> for WidgetProfileConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = Map::<String, Value>::deserialize(deserializer)?;
        let name: String = take(&mut table, "name")
            .map_err(D::Error::custom)?
            .ok_or_else(|| D::Error::missing_field("name"))?;
        let in_profile =
            |e: serde_json::Error| D::Error::custom(format!("widget profile {name:?}: {e}"));
        let ttl_seconds = take(&mut table, "ttl_seconds").map_err(in_profile)?;
        let allowed_origins = take(&mut table, "allowed_origins")
            .map_err(in_profile)?
            .unwrap_or_default();
        let allow_credentials = take(&mut table, "allow_credentials").map_err(in_profile)?;
        if !table.contains_key("kind") {
            return Err(in_profile(serde_json::Error::custom(
                "kind is required (ccai, dg, axp or generic)",
            )));
        }
        let kind = KindConfig::deserialize(Value::Object(table)).map_err(in_profile)?;
        Ok(Self {
            name,
            ttl_seconds,
            allowed_origins,
            allow_credentials,
            kind,
        })
    }
}

fn take<T: serde::de::DeserializeOwned>(
    table: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<T>, serde_json::Error> {
    table
        .remove(key)
        .map(|v| {
            serde_json::from_value(v).map_err(|e| serde_json::Error::custom(format!("{key}: {e}")))
        })
        .transpose()
}
