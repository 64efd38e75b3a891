//! `tollgate audit …` and `tollgate usage`: the audit trail and the usage counts.

use clap::Subcommand;
use serde_json::json;

use super::{CliError, duration_secs, rfc3339};
use crate::app::open_store;
use crate::config::Settings;

#[derive(Subcommand)]
pub enum AuditCommand {
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

pub async fn run(command: AuditCommand, settings: &Settings, now_ms: i64) -> Result<(), CliError> {
    let AuditCommand::Tail { since, limit } = command;
    let since = since_millis(&since, now_ms)?;
    let store = open_store(settings).await?;
    for row in store
        .audit_events_since(since, limit.clamp(1, 100_000))
        .await?
    {
        let mut line = serde_json::to_value(&row).unwrap_or_default();
        line["at"] = json!(rfc3339(row.at_ms));
        println!("{line}");
    }
    Ok(())
}

/// `tollgate usage`: tokens issued per client and minute, as JSON lines, oldest first.
pub async fn usage(
    client: Option<String>,
    since: &str,
    settings: &Settings,
    now_ms: i64,
) -> Result<(), CliError> {
    let since_minute = since_millis(since, now_ms)?.div_euclid(60_000);
    let store = open_store(settings).await?;
    for row in store.usage_since(client.as_deref(), since_minute).await? {
        println!(
            "{}",
            json!({
                "client_id": row.client_id,
                "minute": rfc3339(row.minute * 60_000),
                "tokens": row.tokens,
            })
        );
    }
    Ok(())
}

/// `--since` as milliseconds since the epoch: Unix seconds, or a duration before now.
pub(super) fn since_millis(raw: &str, now_ms: i64) -> Result<i64, CliError> {
    if !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit()) {
        return raw
            .parse::<i64>()
            .map(|secs| secs.saturating_mul(1000))
            .map_err(|_| CliError::Usage(format!("--since {raw:?}: too large")));
    }
    let secs = duration_secs("--since", raw)?;
    Ok(now_ms - secs.saturating_mul(1000))
}
