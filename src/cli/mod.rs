//! The `tollgate` command line: `serve` (the default), `migrate`, and provisioning helpers.
//! Every command prints one JSON object on stdout; errors go to stderr with a non-zero exit.
//! No argument reads its value from the environment, so `--help` can never print a secret.

use std::io::Read;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::domain::provisioning::{self, NewClient, NewCustomer};
use crate::startup::{Application, open_store};
use crate::store::client_insert_sql;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "OAuth2 client-credentials and customer-token server"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply the schema migrations, then the provisioning migrations.
    Migrate {
        /// Directory of the admin's provisioning migrations (*.sql, applied in name order).
        #[arg(long)]
        provisioning: Option<PathBuf>,
    },
    /// Partner clients for the client-credentials grant.
    #[command(subcommand)]
    Client(ClientCommand),
    /// API keys for the guarded customer APIs.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Customers who log in with a username and password.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Token-signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Time one argon2id hash with the configured parameters (used by the benchmark).
    #[command(hide = true)]
    BenchArgon2 {
        #[arg(long, default_value_t = 20)]
        hashes: u32,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
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
}

/// A duration such as `30s`, `10m`, `24h` or `7d`, in seconds.
fn duration_secs(raw: &str) -> Option<i64> {
    let unit = match raw.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    raw[..raw.len() - 1]
        .parse::<i64>()
        .ok()
        .map(|n| n.saturating_mul(unit))
}

#[derive(Subcommand)]
enum ApikeyCommand {
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

#[derive(Subcommand)]
enum KeysCommand {
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

#[derive(Subcommand)]
enum AuditCommand {
    /// Print recent events as JSON lines, oldest first.
    Tail {
        /// How far back: `30s`, `10m`, `2h`, `7d`, or Unix seconds (default: 1h).
        #[arg(long, default_value = "1h")]
        since: String,
        /// At most this many events (the newest).
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
}

/// `--since` as milliseconds since the epoch.
fn since_millis(raw: &str, now_ms: i64) -> Result<i64, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--since {raw:?}: expected 30s, 10m, 2h, 7d or Unix seconds"
        ))
    };
    if raw.chars().all(|c| c.is_ascii_digit()) {
        return raw
            .parse::<i64>()
            .map(|secs| secs * 1000)
            .map_err(|_| bad());
    }
    let secs = duration_secs(raw).ok_or_else(bad)?;
    Ok(now_ms - secs.saturating_mul(1000))
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Create a customer; prints the opaque customer id.
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from standard input (required: passwords never go on the
        /// command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// E.164, e.g. +14155550100.
        #[arg(long)]
        phone: Option<String>,
        /// Further profile attributes as a JSON object.
        #[arg(long)]
        attributes: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Startup(#[from] crate::startup::StartupError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{}", describe(.0))]
    Domain(#[from] crate::domain::Error),
    #[error("{0}")]
    Usage(String),
}

fn describe(e: &crate::domain::Error) -> String {
    use crate::domain::Error as E;
    match e {
        E::InvalidRequest(m) | E::InvalidScope(m) => m.to_string(),
        other => other.to_string(),
    }
}

fn read_stdin_secret(what: &str) -> Result<SecretString, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("cannot read the {what} from stdin: {e}")))?;
    let trimmed = text.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        return Err(CliError::Usage(format!("no {what} on stdin")));
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

fn print(value: &serde_json::Value) {
    println!("{value}");
}

pub async fn run(cli: Cli, settings: Settings) -> Result<(), CliError> {
    let now = SystemClock.now_secs();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate { provisioning } => {
            let store = open_store(&Settings {
                provisioning_dir: None,
                ..settings.clone()
            })
            .await?;
            let report = match provisioning.or(settings.provisioning_dir) {
                Some(dir) => Some(store.migrate_provisioning(&dir).await?),
                None => None,
            };
            print(&json!({"schema": "up to date", "provisioning": report}));
            Ok(())
        }
        Command::Client(ClientCommand::Create {
            id,
            scope,
            default_scope,
            audience,
            secret,
            secret_stdin,
            sql,
        }) => {
            let secret = match (secret, secret_stdin) {
                (Some(s), _) => Some(SecretString::from(s)),
                (None, true) => Some(read_stdin_secret("client secret")?),
                (None, false) => None,
            };
            let spec = NewClient {
                client_id: id,
                scopes: scope,
                default_scopes: default_scope,
                audience,
                secret,
            };
            if sql {
                let (record, secret) = provisioning::prepare_client(spec, &settings.argon2)?;
                let backend =
                    crate::store::Backend::from_url(settings.database_url.expose_secret())
                        .map_or("sql", |b| b.name());
                println!(
                    "-- tollgate provisioning migration ({backend}): client {}\n{};",
                    record.client_id,
                    client_insert_sql(&record, now)
                );
                eprintln!(
                    "client_secret for {}: {}",
                    record.client_id,
                    secret.expose_secret()
                );
                return Ok(());
            }
            let store = open_store(&settings).await?;
            let (client_id, secret) =
                provisioning::create_client(&store, spec, &settings.argon2, now).await?;
            print(&json!({"client_id": client_id, "client_secret": secret.expose_secret()}));
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate { publish_ahead }) => {
            let ahead = duration_secs(&publish_ahead).ok_or_else(|| {
                CliError::Usage(format!(
                    "--publish-ahead {publish_ahead:?}: expected 10m, 1h or 0s"
                ))
            })?;
            let store = open_store(&settings).await?;
            let master = crate::startup::master_key(&settings)?;
            let max_ttl = i64::try_from(settings.access_token_ttl.max(settings.customer_token_ttl))
                .unwrap_or(i64::MAX / 4);
            // A first key must exist before there is anything to rotate.
            crate::domain::keys::load_or_create(&store, &master, settings.signing_alg, now).await?;
            let rotation = crate::domain::keys::rotate(
                &store,
                &master,
                settings.signing_alg,
                ahead,
                max_ttl,
                now,
            )
            .await?
            .ok_or_else(|| {
                CliError::Usage("another rotation of the same key won; run keys list".into())
            })?;
            let event = crate::domain::audit::AuditEvent::new(
                crate::domain::audit::AuditKind::KeyRotated,
                &crate::domain::audit::Caller::cli(),
                now * 1000,
            )
            .detail(format!(
                "kid={} activates_at={}",
                rotation.kid, rotation.activates_at
            ));
            store.insert_audit_events(&[event]).await?;
            print(&serde_json::to_value(&rotation).unwrap_or_default());
            Ok(())
        }
        Command::Keys(KeysCommand::List) => {
            let store = open_store(&settings).await?;
            let keys = crate::domain::keys::describe(&store.signing_keys().await?, now);
            print(&json!({ "keys": keys }));
            Ok(())
        }
        Command::Audit(AuditCommand::Tail { since, limit }) => {
            let since = since_millis(&since, SystemClock.now_millis())?;
            let store = open_store(&settings).await?;
            for row in store
                .audit_events_since(since, limit.clamp(1, 100_000))
                .await?
            {
                let mut line = serde_json::to_value(&row).unwrap_or_default();
                line["at"] = json!(crate::domain::audit::rfc3339(row.at_ms));
                println!("{line}");
            }
            Ok(())
        }
        Command::BenchArgon2 { hashes } => {
            let per_hash = crate::domain::hashing::time_hashes(&settings.argon2, hashes)
                .map_err(crate::domain::Error::from)?;
            let ms = per_hash.as_secs_f64() * 1000.0;
            let a = &settings.argon2;
            print(&json!({
                "ms_per_hash": ms,
                "memory_kib": a.memory_kib,
                "iterations": a.iterations,
                "parallelism": a.parallelism,
                "hash_workers": a.effective_workers(),
                "cores": std::thread::available_parallelism().map_or(1, usize::from),
            }));
            Ok(())
        }
        Command::Client(ClientCommand::RotateSecret {
            id,
            old_valid_for,
            secret_stdin,
        }) => {
            let grace = duration_secs(&old_valid_for).ok_or_else(|| {
                CliError::Usage(format!(
                    "--old-valid-for {old_valid_for:?}: expected 30m, 24h, 7d or 0s"
                ))
            })?;
            let new_secret = if secret_stdin {
                Some(read_stdin_secret("client secret")?)
            } else {
                None
            };
            let store = open_store(&settings).await?;
            let (secret, until) = provisioning::rotate_client_secret(
                &store,
                &id,
                new_secret,
                grace,
                &settings.argon2,
                now,
            )
            .await?;
            print(&json!({
                "client_id": id,
                "client_secret": secret.expose_secret(),
                "old_secret_valid_until": crate::domain::audit::rfc3339(until * 1000),
            }));
            Ok(())
        }
        Command::Client(ClientCommand::RevokeSecret { id }) => {
            let store = open_store(&settings).await?;
            let revoked = provisioning::revoke_previous_secrets(&store, &id, now).await?;
            print(&json!({"client_id": id, "previous_secrets_revoked": revoked}));
            Ok(())
        }
        Command::Apikey(ApikeyCommand::Revoke { prefix }) => {
            let store = open_store(&settings).await?;
            let prefix = provisioning::revoke_api_key(&store, &prefix, now).await?;
            print(&json!({"prefix": prefix, "revoked": true}));
            Ok(())
        }
        Command::Apikey(ApikeyCommand::Create { name, apis }) => {
            let store = open_store(&settings).await?;
            let key =
                provisioning::create_api_key(&store, &name, &apis, &settings.argon2, now).await?;
            print(&json!({"api_key": key.expose_secret(), "name": name, "apis": apis}));
            Ok(())
        }
        Command::Customer(CustomerCommand::Create {
            username,
            password_stdin: _,
            name,
            email,
            phone,
            attributes,
        }) => {
            let password = read_stdin_secret("password")?;
            let attributes = attributes
                .map(|a| serde_json::from_str(&a))
                .transpose()
                .map_err(|e| CliError::Usage(format!("--attributes is not JSON: {e}")))?;
            let store = open_store(&settings).await?;
            let spec = NewCustomer {
                username,
                password,
                name,
                email,
                phone,
                attributes,
            };
            let id = provisioning::create_customer(&store, spec, &settings.argon2, now).await?;
            print(&json!({"customer_id": id.as_str()}));
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    let app = Application::build(settings.clone()).await?;
    let backend = crate::store::Backend::from_url(settings.database_url.expose_secret())
        .map_or("?", |b| b.name());
    eprintln!(
        "tollgate listening on http://{}:{} ({backend} database)\n\
         Create a first client with:\n  \
         tollgate client create --id my-partner --scope \"profile:read\"\n\
         (or `cargo run --release -- client create …` from the source tree)",
        settings.listen.ip(),
        app.port()
    );
    let handle = app.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        handle.stop(true).await;
    });
    app.run_until_stopped()
        .await
        .map_err(|e| CliError::Usage(format!("server error: {e}")))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
