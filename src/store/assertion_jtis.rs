//! `client_assertion_jtis`: the `jti`s of accepted client assertions, so that a replay is
//! refused on every instance (RFC 7523 §3 item 7).

use std::collections::HashSet;

use sqlx::Row;

use super::{Store, StoreError};

/// One `jti` to record: (client id, jti, expires at).
pub type JtiRow<'a> = (&'a str, &'a str, i64);

impl Store {
    /// Records each `jti` until its expiry, in one statement; returns the rows that were new.
    /// A row left out was already recorded and unexpired: a replay. An expired record of the
    /// same `jti` is taken over (the assertion it belonged to can no longer be used), so
    /// correctness does not wait for the clean-up. Atomic on both backends: two instances
    /// racing on one `jti` cannot both see it as new. `rows` must not repeat a (client, jti).
    pub async fn record_assertion_jtis(
        &self,
        rows: &[JtiRow<'_>],
        now: i64,
    ) -> Result<HashSet<(String, String)>, StoreError> {
        if rows.is_empty() {
            return Ok(HashSet::new());
        }
        let values: Vec<String> = (0..rows.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 2, 3 * i + 3, 3 * i + 4))
            .collect();
        let sql = format!(
            "INSERT INTO client_assertion_jtis (client_id, jti, expires_at) VALUES {} \
             ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE client_assertion_jtis.expires_at <= $1 RETURNING client_id, jti",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(now);
        for (client_id, jti, expires_at) in rows {
            query = query.bind(*client_id).bind(*jti).bind(*expires_at);
        }
        let inserted = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        inserted
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Deletes the records of assertions that have expired; returns how many.
    pub async fn delete_expired_assertion_jtis(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM client_assertion_jtis WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(done.rows_affected())
    }
}
