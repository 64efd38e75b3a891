//! `tollgate apikey …`: the partners' keys for the guarded customer APIs.

use clap::Subcommand;
use secrecy::ExposeSecret;
use serde_json::json;

use super::{CliError, print, rfc3339};
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::provisioning;
use crate::domain::usage::Credential;
use crate::store::{ApiKeyRow, Store};
use crate::types::ApiKey;

#[derive(Subcommand)]
pub enum ApikeyCommand {
    /// Create an API key; prints it once.
    Create {
        #[arg(long)]
        name: String,
        /// An API the key may call (repeatable).
        #[arg(long = "api", default_value = "getprofile")]
        apis: Vec<String>,
    },
    /// Revoke an API key, named by its public prefix (the part after `tg_`) or the whole key.
    Revoke {
        #[arg(long)]
        prefix: String,
    },
    /// List every API key, revoked ones too (never the keys themselves).
    List,
    /// Show one API key, named by its public prefix (or the whole key).
    Show {
        #[arg(long)]
        prefix: String,
    },
}

pub async fn run(command: ApikeyCommand, settings: &Settings, now: i64) -> Result<(), CliError> {
    let store = open_store(settings).await?;
    match command {
        ApikeyCommand::Create { name, apis } => {
            let key =
                provisioning::create_api_key(&store, &name, &apis, &settings.argon2, now).await?;
            print(&json!({"api_key": key.expose_secret(), "name": name, "apis": apis}));
        }
        ApikeyCommand::Revoke { prefix } => {
            let prefix = provisioning::revoke_api_key(&store, &prefix, now).await?;
            print(&json!({"prefix": prefix, "revoked": true}));
        }
        ApikeyCommand::List => {
            let mut keys = Vec::new();
            for row in store.api_key_rows().await? {
                keys.push(key_json(&store, &row).await?);
            }
            print(&json!({ "api_keys": keys }));
        }
        ApikeyCommand::Show { prefix } => {
            // The whole key is accepted too; only its public prefix is used.
            let prefix = ApiKey::parse(prefix.trim())
                .map_or_else(|_| prefix.trim().to_owned(), |k| k.prefix().to_owned());
            let row = store
                .api_key_row(&prefix)
                .await?
                .ok_or_else(|| CliError::Usage(format!("no API key with prefix {prefix}")))?;
            print(&key_json(&store, &row).await?);
        }
    }
    Ok(())
}

/// An API key as `list` and `show` print it, with its last use as far as the servers have
/// flushed it (every 2 seconds and when they stop).
async fn key_json(store: &Store, row: &ApiKeyRow) -> Result<serde_json::Value, CliError> {
    let last_used = store
        .last_used(Credential::ApiKey.as_str(), &row.prefix)
        .await?;
    Ok(json!({
        "prefix": row.prefix,
        "name": row.name,
        "apis": row.apis,
        "created_at": rfc3339(row.created_at * 1000),
        "revoked": row.revoked_at.is_some(),
        "revoked_at": row.revoked_at.map(|t| rfc3339(t * 1000)),
        "last_used_at": last_used.map(rfc3339),
    }))
}
