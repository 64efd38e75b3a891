//! `tollgate keys …`: token-signing keys.

use clap::Subcommand;
use serde_json::json;

use super::{CliError, duration_secs, print, rfc3339};
use crate::app::{master_key, open_store};
use crate::config::Settings;
use crate::domain::Error;
use crate::domain::audit::{AuditEvent, Caller};
use crate::security::keys;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Publish the next signing key now; it signs after --publish-ahead, and the current key
    /// stays in the JWKS until every token it signed has expired.
    Rotate {
        /// How long the new key is published before it signs (longer than the JWKS cache).
        #[arg(long, default_value = "10m")]
        publish_ahead: String,
    },
    /// Every stored key with its state: next, active, previous or retired.
    List,
}

pub async fn run(command: KeysCommand, settings: &Settings, now: i64) -> Result<(), CliError> {
    let store = open_store(settings).await?;
    match command {
        KeysCommand::Rotate { publish_ahead } => {
            let ahead = duration_secs("--publish-ahead", &publish_ahead)?;
            let master = master_key(settings)?;
            let max_ttl = i64::try_from(settings.access_token_ttl.max(settings.customer_token_ttl))
                .unwrap_or(i64::MAX / 4);
            let alg = settings.signing_alg;
            // A first key must exist before there is anything to rotate.
            keys::load_or_create(&store, &master, alg, now)
                .await
                .map_err(Error::from)?;
            let rotation = keys::rotate(&store, &master, alg, ahead, max_ttl, now)
                .await
                .map_err(Error::from)?
                .ok_or_else(|| {
                    CliError::Usage("another rotation of the same key won; run keys list".into())
                })?;
            AuditEvent::key_rotated(
                &Caller::cli(),
                now * 1000,
                &rotation.kid,
                rotation.activates_at,
            )
            .write_now(&store)
            .await?;
            print(&serde_json::to_value(&rotation).unwrap_or_default());
        }
        KeysCommand::List => {
            let mut listed = Vec::new();
            for info in keys::describe(&store.signing_keys().await?, now) {
                let mut key = serde_json::to_value(&info).unwrap_or_default();
                // As far as the servers flushed it (every 2 s, and when they stop).
                key["last_signed_at"] = match store.last_used("signing_key", &info.kid).await? {
                    Some(ms) => json!(rfc3339(ms)),
                    None => serde_json::Value::Null,
                };
                listed.push(key);
            }
            print(&json!({ "keys": listed }));
        }
    }
    Ok(())
}
