//! `client_usage`, `usage_flushes`, `credential_last_used`: the counters an instance keeps in
//! memory, added to the database in one transaction per flush.

use serde::{Deserialize, Serialize};
use sqlx::{Acquire, Row};

use super::{Store, StoreError};

/// Tokens issued to one client in one minute, by one instance since its last flush.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCount {
    pub client_id: String,
    pub minute: i64,
    pub tokens: i64,
}

/// The last use of one credential seen by one instance since its last flush.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUsed {
    /// `client_secret`, `client_previous_secret`, `api_key` or `signing_key`.
    pub kind: String,
    pub id: String,
    pub at_ms: i64,
}

/// One flush, applied at most once whatever the number of attempts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageFlush {
    pub flush_id: String,
    pub counts: Vec<UsageCount>,
    pub last_used: Vec<LastUsed>,
}

/// A row of `client_usage`.
#[derive(Debug, Clone, Serialize)]
pub struct UsageRow {
    pub client_id: String,
    pub minute: i64,
    pub tokens: i64,
}

impl Store {
    /// Adds a flush's counts. `Ok(false)` when this flush was applied before (a retry after an
    /// error that hid a successful COMMIT), in which case nothing changes.
    pub async fn apply_usage(&self, flush: &UsageFlush, now_ms: i64) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.note(e))?;
        let mut tx = conn.begin().await.map_err(|e| self.note(e))?;
        let first = sqlx::query(
            "INSERT INTO usage_flushes (flush_id, at_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&flush.flush_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.note(e))?;
        if first.rows_affected() == 0 {
            return Ok(false);
        }
        // Rows in key order: instances flush with their counters in hash order, and two
        // flushes updating the same rows in opposite orders could each hold a row the other
        // needs, which PostgreSQL resolves by aborting one as a deadlock.
        let mut counts: Vec<&UsageCount> = flush.counts.iter().collect();
        counts.sort_unstable_by(|a, b| (&a.client_id, a.minute).cmp(&(&b.client_id, b.minute)));
        let mut last_used: Vec<&LastUsed> = flush.last_used.iter().collect();
        last_used.sort_unstable_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
        for c in counts {
            sqlx::query(
                "INSERT INTO client_usage (client_id, minute, tokens) VALUES ($1, $2, $3) \
                 ON CONFLICT (client_id, minute) DO UPDATE SET tokens = client_usage.tokens + excluded.tokens",
            )
            .bind(&c.client_id)
            .bind(c.minute)
            .bind(c.tokens)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.note(e))?;
        }
        for u in last_used {
            sqlx::query(
                "INSERT INTO credential_last_used (kind, id, last_used_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (kind, id) DO UPDATE SET last_used_ms = \
                 CASE WHEN excluded.last_used_ms > credential_last_used.last_used_ms \
                 THEN excluded.last_used_ms ELSE credential_last_used.last_used_ms END",
            )
            .bind(&u.kind)
            .bind(&u.id)
            .bind(u.at_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.note(e))?;
        }
        tx.commit().await.map_err(|e| self.note(e))?;
        Ok(true)
    }

    /// Usage from `since_minute` on, oldest first; one client's, or everyone's.
    pub async fn usage_since(
        &self,
        client_id: Option<&str>,
        since_minute: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT client_id, minute, tokens FROM client_usage \
             WHERE minute >= $1 AND ($2 IS NULL OR client_id = $2) ORDER BY minute, client_id",
        )
        .bind(since_minute)
        .bind(client_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        rows.into_iter()
            .map(|r| {
                Ok(UsageRow {
                    client_id: r.try_get(0)?,
                    minute: r.try_get(1)?,
                    tokens: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// When the credential `id` of `kind` was last used, as far as flushed (milliseconds).
    pub async fn last_used(&self, kind: &str, id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT last_used_ms FROM credential_last_used WHERE kind = $1 AND id = $2",
        )
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Forgets when a client's secrets were last used: its secret was replaced (the new one
    /// has not been used yet) or the client is gone.
    pub(super) async fn forget_secret_use(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        client_id: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM credential_last_used WHERE id = $1 \
             AND kind IN ('client_secret', 'client_previous_secret')",
        )
        .bind(client_id)
        .execute(&mut **tx)
        .await
        .map(drop)
    }

    /// Forgets the ids of flushes applied before `before_ms`: no retry comes that late.
    pub async fn prune_usage_flushes(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM usage_flushes WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(done.rows_affected())
    }
}
