//! `audit_events`: the audit trail's rows. Written in batches by the domain's auditor (and one
//! at a time by the CLI); the bulk insert is the one query that differs per backend.

pub mod postgres;
mod sqlite;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Store, StoreError};

/// An event to write. Never a secret, a password, a key, a whole token or a username.
/// Serialisable both ways: it waits in the on-disk spool while the database is away.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at_ms: i64,
    pub event: Cow<'static, str>,
    pub client_id: Option<String>,
    pub customer_id: Option<String>,
    pub source: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

/// An audit event as stored.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub at_ms: i64,
    pub event: String,
    pub client_id: Option<String>,
    pub customer_id: Option<String>,
    pub source: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    /// Writes a batch: one `COPY` on PostgreSQL, one `INSERT … SELECT FROM json_each` on SQLite.
    pub async fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        match &self.copy_pool {
            Some(pg) => postgres::insert(pg, events).await,
            None => sqlite::insert(&self.pool, events).await,
        }
        .map_err(|e| self.note(e))
    }

    pub async fn prune_audit_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_events WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(done.rows_affected())
    }

    /// Events at or after `since_ms`, oldest first; the newest `limit` of them.
    pub async fn audit_events_since(
        &self,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, event, client_id, customer_id, source, request_id, detail FROM \
             (SELECT * FROM audit_events WHERE at_ms >= $1 ORDER BY at_ms DESC, id DESC LIMIT $2) \
             AS recent ORDER BY at_ms, id",
        )
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditRow {
                    at_ms: r.try_get(0)?,
                    event: r.try_get(1)?,
                    client_id: r.try_get(2)?,
                    customer_id: r.try_get(3)?,
                    source: r.try_get(4)?,
                    request_id: r.try_get(5)?,
                    detail: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
