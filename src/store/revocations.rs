//! `revoked_tokens`: revoked access tokens by `jti`, kept until the token's own expiry.

use sqlx::Row;

use super::{Store, StoreError};

/// A revoked token as instances sync it.
#[derive(Debug, Clone)]
pub struct RevokedRow {
    pub seq: i64,
    pub jti: String,
    pub expires_at: i64,
}

impl Store {
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(client_id)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(())
    }

    /// Revocations with `seq` above `after`, oldest first.
    pub async fn revocations_since(&self, after: i64) -> Result<Vec<RevokedRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, jti, expires_at FROM revoked_tokens WHERE seq > $1 ORDER BY seq LIMIT 10000",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        rows.into_iter()
            .map(|r| {
                Ok(RevokedRow {
                    seq: r.try_get(0)?,
                    jti: r.try_get(1)?,
                    expires_at: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(row.is_some())
    }

    /// Forgets revocations of tokens that expired before `before`.
    pub async fn purge_revocations(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(done.rows_affected())
    }
}
