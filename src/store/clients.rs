//! `clients` and `previous_client_secrets`: partner clients of the client-credentials grant.

use std::sync::Arc;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::client_policies::{ClientPolicy, PolicyChange, policy_sql, write_policy};
use super::{Store, StoreError, malformed, sql_literal};
use crate::types::{ClientId, ScopeSet};

#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub client_id: ClientId,
    /// argon2id PHC string of the secret, bound to the client id.
    pub secret_hash: String,
    pub allowed_scopes: ScopeSet,
    pub default_scopes: ScopeSet,
    pub audience: Option<String>,
    pub enabled: bool,
    /// Token lifetime, rate limit and quota (`client_policies`); `None`: the defaults, no
    /// limits. Shared, so the credential cache hands it out without copying.
    pub policy: Option<Arc<ClientPolicy>>,
}

fn scopes(row: &AnyRow, column: &str) -> Result<ScopeSet, StoreError> {
    let raw: String = row.try_get(column)?;
    ScopeSet::parse(&raw).map_err(|why| malformed("clients", column, why))
}

impl ClientRecord {
    fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        let id: String = r.try_get("client_id")?;
        Ok(Self {
            client_id: ClientId::parse(&id)
                .map_err(|why| malformed("clients", "client_id", why))?,
            secret_hash: r.try_get("secret_hash")?,
            allowed_scopes: scopes(r, "allowed_scopes")?,
            default_scopes: scopes(r, "default_scopes")?,
            audience: r.try_get("audience")?,
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            policy: None,
        })
    }
}

impl Store {
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, secret_hash, allowed_scopes, default_scopes, audience, enabled \
             FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        let Some(mut record) = row.as_ref().map(ClientRecord::from_row).transpose()? else {
            return Ok(None);
        };
        record.policy = self.client_policy(client_id).await?.map(Arc::new);
        Ok(Some(record))
    }

    /// Inserts a client and its policy, together or not at all.
    pub async fn insert_client(&self, c: &ClientRecord, now: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.note(e))?;
        sqlx::query(
            "INSERT INTO clients (client_id, secret_hash, allowed_scopes, default_scopes, \
             audience, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(c.client_id.as_str())
        .bind(&c.secret_hash)
        .bind(c.allowed_scopes.to_string())
        .bind(c.default_scopes.to_string())
        .bind(&c.audience)
        .bind(i64::from(c.enabled))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.note(e))?;
        if let Some(policy) = &c.policy {
            let change = PolicyChange::from(&**policy);
            write_policy(&mut tx, c.client_id.as_str(), &change, now)
                .await
                .map_err(|e| self.note(e))?;
        }
        tx.commit().await.map_err(|e| self.note(e))?;
        Ok(())
    }

    /// Unexpired previous secrets of a client: (PHC hash, expires_at).
    pub async fn previous_secrets(
        &self,
        client_id: &str,
        now: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT secret_hash, expires_at FROM previous_client_secrets \
             WHERE client_id = $1 AND expires_at > $2 ORDER BY id DESC",
        )
        .bind(client_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Makes `new_hash` the client's secret; the current one stays valid until
    /// `old_valid_until`. `false` when there is no such client.
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        new_hash: &str,
        old_valid_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.note(e))?;
        let inserted = sqlx::query(
            "INSERT INTO previous_client_secrets (client_id, secret_hash, expires_at, created_at) \
             SELECT client_id, secret_hash, $2, $3 FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .bind(old_valid_until)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.note(e))?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE clients SET secret_hash = $2, updated_at = $3 WHERE client_id = $1")
            .bind(client_id)
            .bind(new_hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.note(e))?;
        tx.commit().await.map_err(|e| self.note(e))?;
        Ok(true)
    }

    /// Ends every previous secret of a client now; returns how many were still stored.
    pub async fn revoke_previous_secrets(&self, client_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM previous_client_secrets WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(done.rows_affected())
    }

    /// The ids of every enabled client.
    pub async fn enabled_client_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT client_id FROM clients WHERE enabled = 1")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    /// Every scope some enabled client may request: for RFC 8414 `scopes_supported`.
    pub async fn scopes_in_use(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT allowed_scopes FROM clients WHERE enabled = 1")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        let mut all = ScopeSet::default();
        for row in rows {
            all.union_with(&scopes(&row, "allowed_scopes")?);
        }
        Ok(all.iter().map(str::to_owned).collect())
    }
}

/// The INSERT for a client, with literals rather than parameters so that the CLI can print it
/// for an admin's provisioning migration. The statement is plain SQL that PostgreSQL and
/// SQLite read alike; values are quoted by `sql_literal`. A client with a policy gets a second
/// statement for it (the caller ends the last one).
pub fn client_insert_sql(c: &ClientRecord, now: i64) -> String {
    let insert = format!(
        "INSERT INTO clients (client_id, secret_hash, allowed_scopes, default_scopes, audience, \
         enabled, created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {now}, {now})",
        sql_literal(Some(c.client_id.as_str())),
        sql_literal(Some(&c.secret_hash)),
        sql_literal(Some(&c.allowed_scopes.to_string())),
        sql_literal(Some(&c.default_scopes.to_string())),
        sql_literal(c.audience.as_deref()),
        i64::from(c.enabled),
    );
    let policy = c
        .policy
        .as_ref()
        .and_then(|p| policy_sql(c.client_id.as_str(), &PolicyChange::from(&**p), now));
    match policy {
        Some(policy) => format!("{insert};\n{policy}"),
        None => insert,
    }
}
