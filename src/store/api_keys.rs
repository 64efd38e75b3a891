//! `api_keys`: the partners' keys for the guarded customer APIs, found by their public prefix.

use sqlx::Row;

use super::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub prefix: String,
    pub name: String,
    /// argon2id PHC string of the secret part, bound to the prefix.
    pub key_hash: String,
    /// The APIs the key may call.
    pub apis: Vec<String>,
    pub revoked: bool,
}

impl Store {
    pub async fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT prefix, name, key_hash, apis, revoked_at FROM api_keys WHERE prefix = $1",
        )
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        let Some(r) = row else { return Ok(None) };
        let apis: String = r.try_get("apis")?;
        Ok(Some(ApiKeyRecord {
            prefix: r.try_get("prefix")?,
            name: r.try_get("name")?,
            key_hash: r.try_get("key_hash")?,
            apis: apis
                .split(' ')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        }))
    }

    pub async fn insert_api_key(&self, k: &ApiKeyRecord, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (prefix, name, key_hash, apis, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&k.prefix)
        .bind(&k.name)
        .bind(&k.key_hash)
        .bind(k.apis.join(" "))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(())
    }

    /// `false` when there is no such unrevoked key.
    pub async fn revoke_api_key(&self, prefix: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE prefix = $1 AND revoked_at IS NULL",
        )
        .bind(prefix)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(done.rows_affected() == 1)
    }
}

/// An API key as an admin sees it: everything but its hash.
#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub prefix: String,
    pub name: String,
    pub apis: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl ApiKeyRow {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        let apis: String = r.try_get("apis")?;
        Ok(Self {
            prefix: r.try_get("prefix")?,
            name: r.try_get("name")?,
            apis: apis.split_whitespace().map(str::to_owned).collect(),
            created_at: r.try_get("created_at")?,
            revoked_at: r.try_get("revoked_at")?,
        })
    }
}

const ROW: &str = "SELECT prefix, name, apis, created_at, revoked_at FROM api_keys";

impl Store {
    /// Every API key, revoked ones too, oldest first.
    pub async fn api_key_rows(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = sqlx::query(&format!("{ROW} ORDER BY created_at, prefix"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        rows.iter().map(ApiKeyRow::from_row).collect()
    }

    pub async fn api_key_row(&self, prefix: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let row = sqlx::query(&format!("{ROW} WHERE prefix = $1"))
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        row.as_ref().map(ApiKeyRow::from_row).transpose()
    }
}
