//! `client_policies`: a client's operating settings (token lifetime, rate limit, quota), kept
//! apart from `clients` so that the table of what authenticates a client stays narrow. A client
//! without a row has the server's defaults and no limits.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Store, StoreError, malformed, sql_literal};
use crate::types::{QuotaMode, Rate};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPolicy {
    /// Access-token lifetime in seconds; `None`: the server's. The server's is also the ceiling.
    pub token_ttl: Option<u64>,
    /// The short-term limit (`50/s`).
    pub rate_limit: Option<Rate>,
    /// The long-term quota (`100000/d`).
    pub quota: Option<Rate>,
    pub quota_mode: QuotaMode,
}

impl ClientPolicy {
    /// Whether a token request of this client has anything to count.
    pub fn has_limits(&self) -> bool {
        self.rate_limit.is_some() || self.quota.is_some()
    }

    /// From the policy columns of a row (all NULL when a LEFT JOIN found none).
    pub(super) fn from_row(r: &AnyRow) -> Result<Option<Self>, StoreError> {
        let rate = |count: &str, window: &str| -> Result<Option<Rate>, StoreError> {
            match (
                r.try_get::<Option<i64>, _>(count)?,
                r.try_get::<Option<i64>, _>(window)?,
            ) {
                (Some(c), Some(w)) => Rate::from_parts(c, w)
                    .map(Some)
                    .ok_or_else(|| malformed("client_policies", count, "not a rate")),
                _ => Ok(None),
            }
        };
        let Some(mode) = r.try_get::<Option<String>, _>("quota_mode")? else {
            return Ok(None);
        };
        Ok(Some(Self {
            token_ttl: r
                .try_get::<Option<i64>, _>("token_ttl")?
                .map(|t| u64::try_from(t).unwrap_or(0))
                .filter(|t| *t > 0),
            rate_limit: rate("rate_count", "rate_window")?,
            quota: rate("quota_count", "quota_window")?,
            quota_mode: QuotaMode::parse(&mode)
                .map_err(|_| malformed("client_policies", "quota_mode", "not enforce/observe"))?,
        }))
    }
}

const POLICY_COLUMNS: &str =
    "token_ttl, rate_count, rate_window, quota_count, quota_window, quota_mode";

/// A change to a client's policy: `None` leaves a setting as it is, `Some(None)` returns it to
/// the default. Written as one upsert of only the named columns, so two admins changing
/// different settings at once do not undo each other, and the `--sql` form needs no read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyChange {
    pub token_ttl: Option<Option<u64>>,
    pub rate_limit: Option<Option<Rate>>,
    pub quota: Option<Option<Rate>>,
    pub quota_mode: Option<QuotaMode>,
}

enum Value {
    Int(Option<i64>),
    Text(&'static str),
}

impl Value {
    fn literal(&self) -> String {
        match self {
            Self::Int(v) => v.map_or_else(|| "NULL".to_owned(), |v| v.to_string()),
            Self::Text(t) => sql_literal(Some(t)),
        }
    }
}

impl From<&ClientPolicy> for PolicyChange {
    /// Every setting as in `policy` (for a new client).
    fn from(policy: &ClientPolicy) -> Self {
        Self {
            token_ttl: Some(policy.token_ttl),
            rate_limit: Some(policy.rate_limit),
            quota: Some(policy.quota),
            quota_mode: Some(policy.quota_mode),
        }
    }
}

impl PolicyChange {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The policy after this change.
    pub fn applied_to(&self, current: &ClientPolicy) -> ClientPolicy {
        ClientPolicy {
            token_ttl: self.token_ttl.unwrap_or(current.token_ttl),
            rate_limit: self.rate_limit.unwrap_or(current.rate_limit),
            quota: self.quota.unwrap_or(current.quota),
            quota_mode: self.quota_mode.unwrap_or(current.quota_mode),
        }
    }

    /// The named columns and their new values.
    fn columns(&self) -> Vec<(&'static str, Value)> {
        let count = |r: Option<Rate>| Value::Int(r.map(|r| i64::from(r.count())));
        let window = |r: Option<Rate>| Value::Int(r.map(Rate::window_secs));
        let mut out = Vec::new();
        if let Some(ttl) = self.token_ttl {
            out.push((
                "token_ttl",
                Value::Int(ttl.and_then(|t| i64::try_from(t).ok())),
            ));
        }
        if let Some(rate) = self.rate_limit {
            out.push(("rate_count", count(rate)));
            out.push(("rate_window", window(rate)));
        }
        if let Some(quota) = self.quota {
            out.push(("quota_count", count(quota)));
            out.push(("quota_window", window(quota)));
        }
        if let Some(mode) = self.quota_mode {
            out.push(("quota_mode", Value::Text(mode.as_str())));
        }
        out
    }

    /// The upsert with `$n` placeholders ($1 client id, $2 time, then the columns), or literals.
    fn upsert(&self, literals: Option<(&str, i64)>) -> (String, Vec<Value>) {
        let columns = self.columns();
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let values: Vec<String> = match literals {
            Some((id, now)) => [sql_literal(Some(id)), now.to_string()]
                .into_iter()
                .chain(columns.iter().map(|(_, v)| v.literal()))
                .collect(),
            None => (1..=columns.len() + 2).map(|i| format!("${i}")).collect(),
        };
        let sets: Vec<String> = ["updated_at"]
            .iter()
            .chain(&names)
            .map(|n| format!("{n} = excluded.{n}"))
            .collect();
        let sql = format!(
            "INSERT INTO client_policies (client_id, updated_at{}{}) VALUES ({}) \
             ON CONFLICT (client_id) DO UPDATE SET {}",
            if names.is_empty() { "" } else { ", " },
            names.join(", "),
            values.join(", "),
            sets.join(", ")
        );
        (sql, columns.into_iter().map(|(_, v)| v).collect())
    }
}

impl Store {
    pub async fn client_policy(&self, client_id: &str) -> Result<Option<ClientPolicy>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM client_policies WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(row
            .as_ref()
            .map(ClientPolicy::from_row)
            .transpose()?
            .flatten())
    }
}

/// Writes a policy change inside the caller's transaction (nothing when it changes nothing).
pub(super) async fn write_policy(
    tx: &mut Transaction<'_, Any>,
    client_id: &str,
    change: &PolicyChange,
    now: i64,
) -> Result<(), sqlx::Error> {
    if change.is_empty() {
        return Ok(());
    }
    let (sql, values) = change.upsert(None);
    let mut query = sqlx::query(&sql).bind(client_id).bind(now);
    for value in values {
        query = match value {
            Value::Int(v) => query.bind(v),
            Value::Text(t) => query.bind(t),
        };
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// `write_policy` as literal SQL for a provisioning migration (PostgreSQL and SQLite alike:
/// both read `INSERT … ON CONFLICT … DO UPDATE`); `None` when the change changes nothing.
pub fn policy_sql(client_id: &str, change: &PolicyChange, now: i64) -> Option<String> {
    (!change.is_empty()).then(|| change.upsert(Some((client_id, now))).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_sql_names_only_what_changes_and_has_no_placeholder() {
        let change = PolicyChange {
            token_ttl: Some(Some(600)),
            rate_limit: Some(Some(Rate::parse("50/s").unwrap())),
            quota: Some(None),
            quota_mode: Some(QuotaMode::Observe),
        };
        let sql = policy_sql("it's", &change, 1_700_000_000).unwrap();
        assert!(!sql.contains('$'), "{sql}");
        assert!(
            sql.contains(
                "(client_id, updated_at, token_ttl, rate_count, rate_window, quota_count, \
                 quota_window, quota_mode) VALUES ('it''s', 1700000000, 600, 50, 1, NULL, NULL, \
                 'observe')"
            ),
            "{sql}"
        );
        let only_ttl = PolicyChange {
            token_ttl: Some(Some(60)),
            ..PolicyChange::default()
        };
        let sql = policy_sql("p", &only_ttl, 1).unwrap();
        assert!(
            sql.ends_with(
                "DO UPDATE SET updated_at = excluded.updated_at, token_ttl = excluded.token_ttl"
            ),
            "{sql}"
        );
        assert_eq!(policy_sql("p", &PolicyChange::default(), 1), None);
    }
}
