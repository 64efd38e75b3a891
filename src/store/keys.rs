//! `signing_keys`: token-signing keys, private parts sealed under the master key.

use sqlx::Row;

use super::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    /// nonce || AES-256-GCM(private key) under the master key.
    pub sealed_private: Vec<u8>,
    pub public_jwk: Option<String>,
    pub created_at: i64,
    /// Signs from then on (Unix seconds); published from creation.
    pub activates_at: i64,
    /// Leaves the JWKS then.
    pub retires_at: Option<i64>,
    /// The kid this key replaces.
    pub rotated_from: Option<String>,
}

impl Store {
    /// All keys, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, alg, sealed_private, public_jwk, created_at, activates_at, retires_at, \
             rotated_from FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredKey {
                    kid: r.try_get("kid")?,
                    alg: r.try_get("alg")?,
                    sealed_private: r.try_get("sealed_private")?,
                    public_jwk: r.try_get("public_jwk")?,
                    created_at: r.try_get("created_at")?,
                    activates_at: r.try_get("activates_at")?,
                    retires_at: r.try_get("retires_at")?,
                    rotated_from: r.try_get("rotated_from")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Adds a rotated-in key and schedules the retirement of the keys it replaces, in one
    /// transaction. `false` when another instance already rotated the same key (the unique
    /// `rotated_from` refuses a second successor).
    pub async fn rotate_signing_key(
        &self,
        k: &StoredKey,
        retiring: &[String],
        retires_at: i64,
    ) -> Result<bool, StoreError> {
        self.insert_and_retire(insert(k, None), "signing_keys", retiring, retires_at)
            .await
    }

    /// The one rotation of a key table (`signing_keys`, `widget_keys`): runs `insert` (an
    /// `INSERT … ON CONFLICT DO NOTHING` of the new key) and schedules the retirement of the
    /// keys it replaces, in one transaction. `false`, and nothing retired, when the insert
    /// changed nothing: a concurrent rotation of the same key won (unique `rotated_from`).
    pub(super) async fn insert_and_retire<'q>(
        &self,
        insert: KeyInsert<'q>,
        table: &'static str,
        retiring: &[String],
        retires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.note(e))?;
        let inserted = insert.execute(&mut *tx).await.map_err(|e| self.note(e))?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        // `table` is one of the two names above, never input.
        let retire =
            format!("UPDATE {table} SET retires_at = $2 WHERE kid = $1 AND retires_at IS NULL");
        for kid in retiring {
            sqlx::query(&retire)
                .bind(kid)
                .bind(retires_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.note(e))?;
        }
        tx.commit().await.map_err(|e| self.note(e))?;
        Ok(true)
    }

    /// Stores the first key of an algorithm. Two instances starting together on an empty
    /// database both try; the unique `first_of_alg` lets exactly one win, and the loser
    /// reloads and uses the winner's key.
    pub async fn insert_signing_key(&self, k: &StoredKey) -> Result<(), StoreError> {
        insert(k, Some(&k.alg))
            .execute(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(())
    }
}

/// An INSERT of a key row, bound and ready to run.
pub(super) type KeyInsert<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The one INSERT of a key: `first_of_alg` set only for the first key of an algorithm (its
/// unique index lets one of several instances starting together win).
fn insert<'q>(k: &'q StoredKey, first_of_alg: Option<&'q str>) -> KeyInsert<'q> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, sealed_private, public_jwk, first_of_alg, \
         created_at, activates_at, rotated_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&k.kid)
    .bind(&k.alg)
    .bind(&k.sealed_private)
    .bind(&k.public_jwk)
    .bind(first_of_alg)
    .bind(k.created_at)
    .bind(k.activates_at)
    .bind(&k.rotated_from)
}
