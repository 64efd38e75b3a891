//! The `tollgate` command line: `serve` (the default), `migrate`, and one module per command
//! group for the admins' provisioning. Every command prints JSON on stdout; errors go to stderr
//! with a non-zero exit. No argument reads its value from the environment, so `--help` can
//! never print a secret.

mod apikey;
mod audit;
mod client;
mod client_lifecycle;
mod customer;
mod keys;
mod widget;

use std::io::Read;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::app::Application;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;

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
    /// (Boxed: `client create` has many flags, and the enum is as large as its largest.)
    #[command(subcommand)]
    Client(Box<client::ClientCommand>),
    /// API keys for the guarded customer APIs.
    #[command(subcommand)]
    Apikey(apikey::ApikeyCommand),
    /// Customers who log in with a username and password.
    #[command(subcommand)]
    Customer(customer::CustomerCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Tokens issued per client and minute, as JSON lines, oldest first (flushed every few
    /// seconds by each running server).
    Usage {
        /// Only this client.
        #[arg(long)]
        client: Option<String>,
        /// How far back: `30s`, `10m`, `2h`, `7d`, or Unix seconds (default: 24h).
        #[arg(long, default_value = "24h")]
        since: String,
    },
    /// Token-signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Keys of chat-widget profiles that sign with a key of their own.
    #[command(subcommand)]
    Widget(widget::WidgetCommand),
    /// Time one argon2id hash with the configured parameters (used by the benchmark).
    #[command(hide = true)]
    BenchArgon2 {
        #[arg(long, default_value_t = 20)]
        hashes: u32,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Startup(#[from] crate::app::StartupError),
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

pub async fn run(cli: Cli, settings: Settings) -> Result<(), CliError> {
    let now_ms = SystemClock.now_millis();
    let now = now_ms.div_euclid(1000);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate { provisioning } => {
            let (store, schema) = crate::app::migrate(&Settings {
                provisioning_dir: None,
                ..settings.clone()
            })
            .await?;
            let report = match provisioning.or(settings.provisioning_dir) {
                Some(dir) => Some(store.migrate_provisioning(&dir).await?),
                None => None,
            };
            print(&json!({"schema": schema, "provisioning": report}));
            Ok(())
        }
        Command::Client(c) => client::run(*c, &settings, now).await,
        Command::Apikey(c) => apikey::run(c, &settings, now).await,
        Command::Customer(c) => customer::run(c, &settings, now).await,
        Command::Keys(c) => keys::run(c, &settings, now).await,
        Command::Audit(c) => audit::run(c, &settings, now_ms).await,
        Command::Usage { client, since } => audit::usage(client, &since, &settings, now_ms).await,
        Command::Widget(c) => widget::run(c, &settings, now).await,
        Command::BenchArgon2 { hashes } => {
            let per_hash = crate::security::hashing::time_hashes(&settings.argon2, hashes)
                .map_err(crate::domain::Error::from)?;
            let a = &settings.argon2;
            print(&json!({
                "ms_per_hash": per_hash.as_secs_f64() * 1000.0,
                "memory_kib": a.memory_kib,
                "iterations": a.iterations,
                "parallelism": a.parallelism,
                "hash_workers": a.effective_workers(),
                "cores": std::thread::available_parallelism().map_or(1, usize::from),
            }));
            Ok(())
        }
    }
}

/// A duration such as `30s`, `10m`, `24h`, `7d` or `1h 30m` (humantime), in seconds.
fn duration_secs(flag: &str, raw: &str) -> Result<i64, CliError> {
    humantime::parse_duration(raw)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(|| CliError::Usage(format!("{flag} {raw:?}: expected 30s, 10m, 2h, 7d or 0s")))
}

/// `YYYY-MM-DDThh:mm:ss.mmmZ` for milliseconds since the epoch.
fn rfc3339(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_795_276_255_642), "2026-11-21T15:50:55.642Z");
    }

    #[test]
    fn durations_take_the_units_admins_write() {
        assert_eq!(duration_secs("--x", "24h").unwrap(), 86_400);
        assert_eq!(duration_secs("--x", "7d").unwrap(), 604_800);
        assert_eq!(duration_secs("--x", "0s").unwrap(), 0);
        assert!(duration_secs("--x", "yesterday").is_err());
    }
}
