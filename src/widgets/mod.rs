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
mod profile;
mod signing;
pub mod sprinklr;
pub mod visitor;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use secrecy::SecretString;
use serde_json::Value;

use crate::domain::{Authority, Error};
use crate::security::keys::{self, Alg, MasterKey, WidgetKeys};
use crate::security::tokens::Issued;
use config::WidgetProfileConfig;
pub use cors::CorsPolicy;
pub use profile::{DEFAULT_TTL_SECS, MAX_TTL_SECS, TokenKind, WidgetKind, WidgetProfile};
use signing::{e164, hmac_alg, hmac_key, named_secret, sign_hs};
pub use visitor::{Credentials, Visitor};

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
            config::KindConfig::Ccai(config::CcaiConfig {
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
}
