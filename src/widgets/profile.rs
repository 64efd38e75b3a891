//! One widget profile as the server holds it: its CORS policy and its token kind, parsed and
//! checked once from its `[[widget_profiles]]` table.

use std::collections::HashMap;

use secrecy::SecretString;

use super::config::{KindConfig, WidgetProfileConfig};
use super::{CorsPolicy, axp, ccai, dg, generic, presets, sprinklr};

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

    pub(super) fn allows_anonymous(&self) -> bool {
        match self {
            // DG's widget has an unauthenticated mode of its own: no token for anonymous users.
            Self::Dg(_) | Self::Sprinklr(_) => false,
            Self::Generic(g) => g.allows_anonymous(),
            Self::Ccai(_) | Self::Axp(_) => true,
        }
    }
}

impl WidgetProfile {
    pub(super) fn from_config(
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
