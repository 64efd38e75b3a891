//! `tollgate client …`: partner clients of the client-credentials grant.

use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::client_lifecycle::{self, LifecycleCommand, PolicyArgs};
use super::{CliError, duration_secs, print, read_stdin_secret, rfc3339};
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::provisioning::{self, NewClient};
use crate::store::{Backend, client_insert_sql};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Create a client; prints its secret once.
    Create {
        #[arg(long)]
        id: String,
        /// Space-delimited scopes the client may request.
        #[arg(long)]
        scope: String,
        /// Scopes granted when a request names none (default: all of --scope).
        #[arg(long)]
        default_scope: Option<String>,
        /// The `aud` of this client's tokens (default: the server's audience).
        #[arg(long)]
        audience: Option<String>,
        /// Use this secret instead of generating one (visible to other local users: prefer
        /// --secret-stdin).
        #[arg(long, conflicts_with = "secret_stdin")]
        secret: Option<String>,
        /// Read the secret from standard input.
        #[arg(long)]
        secret_stdin: bool,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print an SQL INSERT for a provisioning migration instead of writing to the
        /// database; the secret goes to stderr.
        #[arg(long)]
        sql: bool,
    },
    /// Give a client a new secret (printed once); the old one works for --old-valid-for.
    RotateSecret {
        #[arg(long)]
        id: String,
        /// How long the current secret keeps working: 30m, 24h, 7d, or 0s to end it now.
        #[arg(long, default_value = "24h")]
        old_valid_for: String,
        /// Read the new secret from standard input instead of generating one.
        #[arg(long)]
        secret_stdin: bool,
    },
    /// End a client's previous secrets now.
    RevokeSecret {
        #[arg(long)]
        id: String,
    },
    #[command(flatten)]
    Lifecycle(LifecycleCommand),
}

pub async fn run(command: ClientCommand, settings: &Settings, now: i64) -> Result<(), CliError> {
    match command {
        ClientCommand::Create {
            id,
            scope,
            default_scope,
            audience,
            secret,
            secret_stdin,
            policy,
            sql,
        } => {
            let secret = match (secret, secret_stdin) {
                (Some(s), _) => Some(SecretString::from(s)),
                (None, true) => Some(read_stdin_secret("client secret")?),
                (None, false) => None,
            };
            // A secret the admin supplied is never printed: only a generated one, once.
            let generated = secret.is_none();
            let spec = NewClient {
                client_id: id,
                scopes: scope,
                default_scopes: default_scope,
                audience,
                secret,
                policy: policy.policy(settings)?,
            };
            if sql {
                let (record, secret) = provisioning::prepare_client(spec, &settings.argon2)?;
                let backend = Backend::from_url(settings.database_url.expose_secret())
                    .map_or("sql", |b| b.name());
                println!(
                    "-- tollgate provisioning migration ({backend}): client {}\n{};",
                    record.client_id,
                    client_insert_sql(&record, now)
                );
                if generated {
                    eprintln!(
                        "client_secret for {}: {}",
                        record.client_id,
                        secret.expose_secret()
                    );
                }
                return Ok(());
            }
            let store = open_store(settings).await?;
            let (client_id, secret) =
                provisioning::create_client(&store, spec, &settings.argon2, now).await?;
            print(&with_generated(
                json!({"client_id": client_id}),
                generated.then_some(&secret),
            ));
        }
        ClientCommand::RotateSecret {
            id,
            old_valid_for,
            secret_stdin,
        } => {
            let grace = duration_secs("--old-valid-for", &old_valid_for)?;
            let new_secret = if secret_stdin {
                Some(read_stdin_secret("client secret")?)
            } else {
                None
            };
            let store = open_store(settings).await?;
            let (secret, until) = provisioning::rotate_client_secret(
                &store,
                &id,
                new_secret,
                grace,
                &settings.argon2,
                now,
            )
            .await?;
            print(&with_generated(
                json!({"client_id": id, "old_secret_valid_until": rfc3339(until * 1000)}),
                (!secret_stdin).then_some(&secret),
            ));
        }
        ClientCommand::Lifecycle(command) => client_lifecycle::run(command, settings, now).await?,
        ClientCommand::RevokeSecret { id } => {
            let store = open_store(settings).await?;
            let revoked = provisioning::revoke_previous_secrets(&store, &id, now).await?;
            print(&json!({"client_id": id, "previous_secrets_revoked": revoked}));
        }
    }
    Ok(())
}

/// `out` with `client_secret` when tollgate generated it (shown once), without when the admin
/// supplied it.
fn with_generated(
    mut out: serde_json::Value,
    generated: Option<&SecretString>,
) -> serde_json::Value {
    if let Some(secret) = generated {
        out["client_secret"] = json!(secret.expose_secret());
    }
    out
}
