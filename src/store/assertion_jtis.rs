//! `client_assertion_jtis`: the `jti`s of accepted client assertions, so that a replay is
//! refused on every instance (RFC 7523 §3 item 7).

use super::{Store, StoreError};

impl Store {
    /// Records `jti` for `client_id` until `expires_at`. `false` when it is already recorded
    /// and unexpired: a replay. An expired record of the same `jti` is taken over (the
    /// assertion it belonged to can no longer be used), so correctness does not wait for the
    /// clean-up. One statement, atomic on both backends: two instances racing on one `jti`
    /// cannot both get `true`.
    pub async fn record_assertion_jti(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO client_assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE client_assertion_jtis.expires_at <= $4",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(done.rows_affected() > 0)
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
