//! `tollgate apikey …`: the partners' keys for the guarded customer APIs.

use clap::Subcommand;
use secrecy::ExposeSecret;
use serde_json::json;

use super::{CliError, print};
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::provisioning;

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
    }
    Ok(())
}
