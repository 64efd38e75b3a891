//! Chat-widget tokens: contact-center chat SDKs ask for a signed token saying who the visitor
//! is. The visitor's identity always comes from tollgate's own customer session (or a signed
//! anonymous-visitor cookie), never from the request body.
//!
//! Each `[[widget_profiles]]` table (`config.rs`) becomes a `WidgetProfile`: its CORS policy and
//! a token kind, one module per vendor. Keys and secrets are parsed once, here, at start-up.

pub mod axp;
pub mod ccai;
pub mod config;
pub mod cors;
pub mod dg;
pub mod generic;
pub mod presets;
pub mod sprinklr;
pub mod visitor;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, EncodingKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::domain::{Authority, Error};
use crate::security::keys::{self, Alg, MasterKey, WidgetKeys};
use crate::security::tokens::Issued;
use config::{KindConfig, WidgetProfileConfig};
pub use cors::CorsPolicy;
pub use visitor::{Credentials, Visitor};

/// The kinds of chat-widget token tollgate can issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WidgetKind {
    Ccai,
    Dg,
    Axp,
    /// A template, or a vendor preset built on one.
    Generic,
    Sprinklr,
}

/// Default token lifetime when a profile sets none (the vendors' documented default).
pub const DEFAULT_TTL_SECS: u64 = 3600;
pub const MAX_TTL_SECS: u64 = 24 * 3600;

pub struct WidgetProfile {
    pub name: String,
    pub cors: CorsPolicy,
    pub token: TokenKind,
    /// Token lifetime, seconds.
    pub ttl: i64,
}

pub enum TokenKind {
    Ccai(ccai::Ccai),
    Dg(dg::Dg),
    Axp(Box<axp::Axp>),
    Generic(generic::Generic),
    Sprinklr(Box<sprinklr::Sprinklr>),
}

impl TokenKind {
    pub fn kind(&self) -> WidgetKind {
        match self {
            Self::Ccai(_) => WidgetKind::Ccai,
            Self::Dg(_) => WidgetKind::Dg,
            Self::Axp(_) => WidgetKind::Axp,
            Self::Generic(_) => WidgetKind::Generic,
            Self::Sprinklr(_) => WidgetKind::Sprinklr,
        }
    }

    fn allows_anonymous(&self) -> bool {
        match self {
            // DG's widget has an unauthenticated mode of its own: no token for anonymous users.
            Self::Dg(_) | Self::Sprinklr(_) => false,
            Self::Generic(g) => g.allows_anonymous(),
            Self::Ccai(_) | Self::Axp(_) => true,
        }
    }
}

/// Every profile, in file order (the first of a kind also serves the vendor's sample path).
#[derive(Default)]
pub struct Widgets {
    profiles: Vec<WidgetProfile>,
    /// The profiles' own keys, loaded once the database is open and swapped when they change.
    keys: RwLock<Arc<WidgetKeys>>,
    /// The cache epoch the keys were loaded at (`u64::MAX`: never).
    keys_epoch: AtomicU64,
    master: Option<MasterKey>,
}

impl Widgets {
    /// Parses and checks every profile; the error names the profile and what is wrong.
    pub fn from_config(
        configs: &[WidgetProfileConfig],
        secrets: &HashMap<String, SecretString>,
    ) -> Result<Self, String> {
        let mut profiles: Vec<WidgetProfile> = Vec::with_capacity(configs.len());
        for config in configs {
            let profile = WidgetProfile::from_config(config, secrets)
                .map_err(|e| format!("widget profile {:?}: {e}", config.name))?;
            if profiles.iter().any(|p| p.name == profile.name) {
                return Err(format!(
                    "widget profile {:?} is declared twice",
                    config.name
                ));
            }
            profiles.push(profile);
        }
        Ok(Self {
            profiles,
            keys: RwLock::default(),
            keys_epoch: AtomicU64::new(u64::MAX),
            master: None,
        })
    }

    /// The profiles that sign with a key of their own: name, algorithm, token lifetime.
    pub fn key_profiles(&self) -> Vec<(String, Alg, i64)> {
        self.profiles
            .iter()
            .filter_map(|p| match &p.token {
                TokenKind::Generic(g) => {
                    g.profile_key_alg().map(|alg| (p.name.clone(), alg, p.ttl))
                }
                _ => None,
            })
            .collect()
    }

    /// Loads (creating where missing) every profile key; from then on `sync_keys` reloads them
    /// when the database's cache epoch moves (a rotation by the CLI or another instance).
    pub async fn load_keys(
        &mut self,
        store: &crate::store::Store,
        master: MasterKey,
        epoch: u64,
        now: i64,
    ) -> Result<(), crate::security::KeyError> {
        let wanted = self.key_profiles();
        if wanted.is_empty() {
            return Ok(());
        }
        let loaded = keys::load_or_create_widget_keys(store, &master, &wanted, now).await?;
        self.swap_keys(loaded, epoch);
        self.master = Some(master);
        Ok(())
    }

    /// Reloads the profile keys when `epoch` moved since they were loaded.
    pub async fn sync_keys(&self, store: &crate::store::Store, epoch: u64, now: i64) {
        let Some(master) = &self.master else { return };
        if self.keys_epoch.load(Ordering::Acquire) == epoch {
            return;
        }
        match keys::load_or_create_widget_keys(store, master, &self.key_profiles(), now).await {
            Ok(loaded) => self.swap_keys(loaded, epoch),
            Err(e) => tracing::warn!(error = %e, "cannot reload the widget profile keys"),
        }
    }

    fn swap_keys(&self, loaded: WidgetKeys, epoch: u64) {
        if let Ok(mut keys) = self.keys.write() {
            *keys = Arc::new(loaded);
        }
        self.keys_epoch.store(epoch, Ordering::Release);
    }

    pub fn keys(&self) -> Arc<WidgetKeys> {
        self.keys.read().map(|k| Arc::clone(&k)).unwrap_or_default()
    }

    pub fn get(&self, name: &str) -> Option<&WidgetProfile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &WidgetProfile> {
        self.profiles.iter()
    }

    pub fn first_of(&self, kind: WidgetKind) -> Option<&WidgetProfile> {
        self.profiles.iter().find(|p| p.token.kind() == kind)
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// Checks the profiles against the server's own keys and tokens: `alg = "server"` promises
    /// a token anyone can verify through the JWKS, so it needs an asymmetric server key (an HMAC
    /// one is never published); and no template may claim one of the audiences of tollgate's
    /// own tokens.
    pub fn check_against_server(
        &self,
        server_alg: Alg,
        own_audiences: &[&str],
    ) -> Result<(), String> {
        for p in &self.profiles {
            let TokenKind::Generic(g) = &p.token else {
                continue;
            };
            if g.uses_server_key() && server_alg == Alg::Hs256 {
                return Err(format!(
                    "widget profile {:?}: alg = \"server\" needs an asymmetric signing_alg \
                     (ES256, EdDSA or RS256), not HS256",
                    p.name
                ));
            }
            if let Some(aud) = g.audience().filter(|a| own_audiences.contains(a)) {
                return Err(format!(
                    "widget profile {:?}: audience {aud:?} is one of tollgate's own token \
                     audiences",
                    p.name
                ));
            }
        }
        Ok(())
    }
}

impl WidgetProfile {
    fn from_config(
        c: &WidgetProfileConfig,
        secrets: &HashMap<String, SecretString>,
    ) -> Result<Self, String> {
        // The name is a path segment: keep it to characters that need no escaping.
        let url_safe = !c.name.is_empty()
            && c.name.len() <= 64
            && c.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && c.name != "."
            && c.name != "..";
        if !url_safe {
            return Err("name must be 1 to 64 characters among A-Z a-z 0-9 - _ .".into());
        }
        let ttl = i64::try_from(c.ttl_seconds.unwrap_or(DEFAULT_TTL_SECS)).unwrap_or(i64::MAX / 4);
        let preset = match &c.kind {
            KindConfig::Zendesk(k) => Some(presets::zendesk(k)?),
            KindConfig::Intercom(k) => Some(presets::intercom(k)?),
            KindConfig::Salesforce(k) => Some(presets::salesforce(k)?),
            KindConfig::Liveperson(k) => Some(presets::liveperson(k)?),
            KindConfig::Twilio(k) => Some(presets::twilio(k)?),
            KindConfig::Zoom(k) => Some(presets::zoom(k)?),
            _ => None,
        };
        // The vendor's own limit first: its message is the more useful one.
        if let Some(max) = preset
            .as_ref()
            .and_then(|p| p.max_ttl)
            .filter(|m| c.ttl_seconds.is_some_and(|t| t > *m))
        {
            return Err(format!(
                "ttl_seconds: this vendor accepts tokens of at most {max} seconds"
            ));
        }
        // A widget token is a bearer credential handed to a browser: keep it short-lived.
        if c.ttl_seconds
            .is_some_and(|t| !(1..=MAX_TTL_SECS).contains(&t))
        {
            return Err(format!("ttl_seconds must be between 1 and {MAX_TTL_SECS}"));
        }
        let token = match (&c.kind, preset) {
            (_, Some(preset)) => TokenKind::Generic(generic::Generic::from_config(
                &c.name,
                &preset.template,
                ttl,
                secrets,
            )?),
            (KindConfig::Ccai(k), None) => {
                TokenKind::Ccai(ccai::Ccai::from_config(k, ttl, secrets)?)
            }
            (KindConfig::Dg(k), None) => TokenKind::Dg(dg::Dg::from_config(k, ttl, secrets)?),
            (KindConfig::Axp(k), None) => {
                TokenKind::Axp(Box::new(axp::Axp::from_config(k, secrets)?))
            }
            (KindConfig::Generic(k), None) => {
                TokenKind::Generic(generic::Generic::from_config(&c.name, k, ttl, secrets)?)
            }
            (KindConfig::Sprinklr(k), None) => {
                TokenKind::Sprinklr(Box::new(sprinklr::Sprinklr::from_config(k, secrets)?))
            }
            (_, None) => return Err("a preset without its template".into()),
        };
        Ok(Self {
            name: c.name.clone(),
            cors: CorsPolicy::from_config(&c.allowed_origins, c.allow_credentials)?,
            token,
            ttl,
        })
    }
}

/// What the handler extracted from the request.
pub struct WidgetRequest<'a> {
    pub credentials: Credentials<'a>,
    /// axp only: the optional `{"userName", "userIdentifiers"}` body, display data only.
    pub body: &'a [u8],
}

pub struct WidgetResponse {
    pub body: Value,
    /// A (re)issued anonymous-visitor cookie to set.
    pub anonymous_cookie: Option<Issued>,
}

/// Issues the profile's token for the visitor the request's credentials prove.
pub async fn issue(
    authority: &Authority,
    widgets: &Widgets,
    profile: &WidgetProfile,
    request: WidgetRequest<'_>,
    now_millis: i64,
) -> Result<WidgetResponse, Error> {
    let now_secs = now_millis.div_euclid(1000);
    let (visitor, anonymous_cookie) = visitor::resolve(
        authority,
        &request.credentials,
        profile.token.allows_anonymous(),
        now_millis,
    )
    .await?;
    let body = match &profile.token {
        TokenKind::Ccai(k) => k.issue(&visitor, now_secs)?,
        TokenKind::Dg(k) => k.issue(&visitor, now_secs)?,
        TokenKind::Generic(k) => k.issue(authority, &widgets.keys(), &visitor, now_secs)?,
        TokenKind::Sprinklr(k) => k.issue(&visitor, now_millis)?,
        TokenKind::Axp(k) => k.issue(&visitor, request.body, now_millis).await?,
    };
    Ok(WidgetResponse {
        body,
        anonymous_cookie,
    })
}

// --- helpers shared by the kinds ------------------------------------------------------------

/// The HMAC key named by `secret_env`, parsed once.
fn hmac_key(
    env_name: &str,
    what: &str,
    secrets: &HashMap<String, SecretString>,
) -> Result<EncodingKey, String> {
    let value = named_secret(env_name, what, secrets)?;
    if value.expose_secret().len() < 16 {
        return Err(format!("{what} is shorter than 16 bytes"));
    }
    Ok(EncodingKey::from_secret(value.expose_secret().as_bytes()))
}

/// The secret an `*_env` key names. The message names the variable, never its value.
fn named_secret<'s>(
    name: &str,
    what: &str,
    secrets: &'s HashMap<String, SecretString>,
) -> Result<&'s SecretString, String> {
    secrets
        .get(name)
        .filter(|s| !s.expose_secret().is_empty())
        .ok_or_else(|| format!("the environment variable {name} ({what}) is not set"))
}

fn hmac_alg(raw: Option<&str>, allowed: &[Algorithm]) -> Result<Algorithm, String> {
    let alg = match raw.unwrap_or("HS256") {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        other => return Err(format!("unsupported alg {other:?}")),
    };
    if allowed.contains(&alg) {
        Ok(alg)
    } else {
        Err(format!("alg {alg:?} is not available for this kind"))
    }
}

/// E.164: `+` then 2 to 15 digits, the first not 0. Anything else is left out of tokens.
fn e164(phone: Option<&str>) -> Option<&str> {
    phone.filter(|p| {
        p.strip_prefix('+').is_some_and(|d| {
            (2..=15).contains(&d.len())
                && d.bytes().all(|b| b.is_ascii_digit())
                && !d.starts_with('0')
        })
    })
}

fn sign_hs(
    header: &jsonwebtoken::Header,
    claims: &impl serde::Serialize,
    key: &EncodingKey,
) -> Result<String, Error> {
    jsonwebtoken::encode(header, claims, key)
        .map_err(|e| Error::Internal(format!("signing a widget token failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn secrets(pairs: &[(&str, &str)]) -> HashMap<String, SecretString> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretString::from((*v).to_owned())))
            .collect()
    }

    fn ccai(name: &str) -> WidgetProfileConfig {
        WidgetProfileConfig::new(
            name,
            KindConfig::Ccai(config::CcaiConfig {
                issuer: "ACME".into(),
                secret_env: "S".into(),
                alg: None,
            }),
        )
    }

    #[test]
    fn duplicate_and_unsafe_names_are_refused() {
        let s = secrets(&[("S", "0123456789abcdef0123")]);
        let err = Widgets::from_config(&[ccai("web"), ccai("web")], &s)
            .err()
            .unwrap();
        assert!(err.contains("declared twice"), "{err}");
        for bad in ["", "a/b", "a b", "..", "é"] {
            assert!(Widgets::from_config(&[ccai(bad)], &s).is_err(), "{bad:?}");
        }
        assert!(Widgets::from_config(&[ccai("web-1.x_y")], &s).is_ok());
    }

    #[test]
    fn out_of_range_ttls_and_credentialed_stars_are_start_up_errors() {
        let s = secrets(&[("S", "0123456789abcdef0123")]);
        let mut short = ccai("web");
        short.ttl_seconds = Some(0);
        let mut star = ccai("web");
        star.allowed_origins = vec!["*".into()];
        star.allow_credentials = Some(true);
        for (profile, expected) in [(short, "ttl_seconds"), (star, "credentials")] {
            let err = Widgets::from_config(&[profile], &s).err().unwrap();
            assert!(err.contains(expected) && err.contains("\"web\""), "{err}");
        }
    }

    #[test]
    fn a_missing_secret_names_the_variable_not_a_value() {
        let err = Widgets::from_config(&[ccai("web")], &HashMap::new())
            .err()
            .unwrap();
        assert!(err.contains("environment variable S"), "{err}");
    }

    #[test]
    fn only_e164_phones_pass() {
        assert_eq!(e164(Some("+14155550100")), Some("+14155550100"));
        for bad in ["14155550100", "+0123", "+1 415", "+", "+1234567890123456"] {
            assert_eq!(e164(Some(bad)), None, "{bad}");
        }
    }
}
