//! `tollgate widget …`: the keys of widget profiles that sign with a key of their own
//! (salesforce, liveperson, zoom, generic templates with an asymmetric `alg`).

use clap::{Subcommand, ValueEnum};

use super::{CliError, print};
use crate::app::{master_key, open_store};
use crate::config::Settings;
use crate::domain::Error;
use crate::security::keys::{self, Alg};
use crate::widgets::Widgets;

#[derive(Subcommand)]
pub enum WidgetCommand {
    /// A new key for the profile, signing at once; the previous key stays in the profile's JWKS
    /// until every token it signed has expired.
    RotateKey {
        #[arg(long)]
        profile: String,
    },
    /// The profile's signing key: as a PEM public key, to paste in the vendor's console, or
    /// (`--format jwk`) as one JWK with kid, alg, use and x5c, to upload.
    PublicKey {
        #[arg(long)]
        profile: String,
        #[arg(long, value_enum, default_value_t = KeyFormat::Pem)]
        format: KeyFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KeyFormat {
    /// `{"profile","kid","alg","public_key_pem"}`.
    Pem,
    /// The public JWK alone (RFC 7517), its self-signed certificate as `x5c` (Salesforce's
    /// *Upload JWK*).
    Jwk,
}

/// The profile's key algorithm and token lifetime, from the configuration file.
fn key_profile(settings: &Settings, profile: &str) -> Result<(Alg, i64), CliError> {
    let widgets = Widgets::from_config(&settings.widget_profiles, &settings.named_secrets)
        .map_err(CliError::Usage)?;
    if widgets.get(profile).is_none() {
        return Err(CliError::Usage(format!(
            "no widget profile {profile:?} in the configuration (TOLLGATE_CONFIG)"
        )));
    }
    widgets
        .key_profiles()
        .into_iter()
        .find(|(name, _, _)| name == profile)
        .map(|(_, alg, ttl)| (alg, ttl))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "widget profile {profile:?} signs with a vendor secret, not a key of its own"
            ))
        })
}

pub async fn run(command: WidgetCommand, settings: &Settings, now: i64) -> Result<(), CliError> {
    let (name, format) = match &command {
        WidgetCommand::RotateKey { profile } => (profile, None),
        WidgetCommand::PublicKey { profile, format } => (profile, Some(*format)),
    };
    let (alg, ttl) = key_profile(settings, name)?;
    let store = open_store(settings).await?;
    let master = master_key(settings)?;
    let Some(format) = format else {
        // A first key must exist before there is anything to rotate.
        keys::load_or_create_widget_keys(&store, &master, &[(name.clone(), alg, ttl)], now)
            .await
            .map_err(Error::from)?;
        let rotation = keys::rotate_widget_key(&store, &master, name, alg, ttl, now)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| CliError::Usage("another rotation of the same key won".into()))?;
        print(&serde_json::to_value(&rotation).unwrap_or_default());
        return Ok(());
    };
    let keys = keys::profile_keys(&store, &master, name, alg, ttl, now)
        .await
        .map_err(Error::from)?;
    match format {
        KeyFormat::Pem => {
            let info = keys::widget_key_info(&keys, name).map_err(Error::from)?;
            print(&serde_json::to_value(&info).unwrap_or_default());
        }
        KeyFormat::Jwk => {
            let jwk = keys.signer_jwk(name).ok_or_else(|| {
                Error::Internal(format!(
                    "widget profile {name} has no published signing key"
                ))
            })?;
            print(jwk);
        }
    }
    Ok(())
}
