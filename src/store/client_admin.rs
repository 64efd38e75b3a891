//! What an admin does to clients after creating them: list, inspect, change, disable, delete.
//! Every change is one transaction, so a refused or failed command leaves nothing half-done;
//! the cache-epoch triggers on `clients` and `client_policies` carry it to every instance.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::TlsSubject;
use super::client_policies::{ClientPolicy, PolicyChange, policy_sql, write_policy};
use super::clients::{audiences_column, audiences_of};
use super::{Store, StoreError, malformed, sql_literal};
use crate::types::ScopeSet;

/// A client as an admin sees it: everything but its secret hash.
#[derive(Debug, Clone)]
pub struct ClientRow {
    pub client_id: String,
    pub allowed_scopes: ScopeSet,
    pub default_scopes: ScopeSet,
    /// Empty: the server's default audience.
    pub audiences: Vec<String>,
    /// `client_secret`, `private_key_jwt`, `tls_client_auth` or `self_signed_tls_client_auth`.
    pub auth_method: String,
    /// What a `tls_client_auth` client's certificate must name.
    pub tls_subject: Option<TlsSubject>,
    /// Where a key-based client publishes its keys (a registered set is not shown).
    pub jwks_uri: Option<String>,
    pub enabled: bool,
    /// A token request without a DPoP proof is refused (RFC 9449 §5).
    pub require_dpop: bool,
    /// Its tokens are bound to its client certificate (RFC 8705 §3).
    pub bind_certificate: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub policy: ClientPolicy,
}

/// A change to a client; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    /// (allowed, default) scopes, set together so the defaults stay among the allowed.
    pub scopes: Option<(ScopeSet, ScopeSet)>,
    /// The audiences its tokens may be for (`Some(empty)`: the server's default).
    pub audiences: Option<Vec<String>>,
    pub require_dpop: Option<bool>,
    pub bind_certificate: Option<bool>,
    pub policy: PolicyChange,
}

/// A value the UPDATE writes: text (or NULL), or the time of the change.
enum Column {
    Text(Option<String>),
    Flag(bool),
    Now,
}

impl ClientUpdate {
    pub fn is_empty(&self) -> bool {
        self.scopes.is_none()
            && self.audiences.is_none()
            && self.require_dpop.is_none()
            && self.bind_certificate.is_none()
            && self.policy.is_empty()
    }

    /// The `SET` list of the UPDATE on `clients`, each value as `value` writes it.
    fn assignments(&self, mut value: impl FnMut(Column) -> String) -> String {
        let mut set = Vec::new();
        if let Some((allowed, defaults)) = &self.scopes {
            let (a, d) = (allowed.to_string(), defaults.to_string());
            set.push(format!("allowed_scopes = {}", value(Column::Text(Some(a)))));
            set.push(format!("default_scopes = {}", value(Column::Text(Some(d)))));
        }
        if let Some(audiences) = &self.audiences {
            let column = Column::Text(audiences_column(audiences));
            set.push(format!("audience = {}", value(column)));
        }
        if let Some(required) = self.require_dpop {
            set.push(format!("require_dpop = {}", value(Column::Flag(required))));
        }
        if let Some(bind) = self.bind_certificate {
            set.push(format!("bind_certificate = {}", value(Column::Flag(bind))));
        }
        set.push(format!("updated_at = {}", value(Column::Now)));
        set.join(", ")
    }
}

const SELECT: &str = "SELECT c.client_id, c.allowed_scopes, c.default_scopes, c.audience, \
    c.auth_method, c.enabled, c.require_dpop, c.bind_certificate, c.jwks_uri, \
    c.tls_subject_dn, c.tls_san_dns, c.tls_san_uri, c.tls_san_ip, c.tls_san_email, \
    c.created_at, c.updated_at, p.token_ttl, p.rate_count, p.rate_window, \
    p.quota_count, p.quota_window, p.quota_mode \
    FROM clients c LEFT JOIN client_policies p ON p.client_id = c.client_id";

fn scopes(r: &AnyRow, column: &str) -> Result<ScopeSet, StoreError> {
    let raw: String = r.try_get(column)?;
    ScopeSet::parse(&raw).map_err(|why| malformed("clients", column, why))
}

impl ClientRow {
    fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            client_id: r.try_get("client_id")?,
            allowed_scopes: scopes(r, "allowed_scopes")?,
            default_scopes: scopes(r, "default_scopes")?,
            audiences: audiences_of(r.try_get("audience")?),
            auth_method: r.try_get("auth_method")?,
            tls_subject: TlsSubject::from_columns([
                r.try_get("tls_subject_dn")?,
                r.try_get("tls_san_dns")?,
                r.try_get("tls_san_uri")?,
                r.try_get("tls_san_ip")?,
                r.try_get("tls_san_email")?,
            ]),
            jwks_uri: r.try_get("jwks_uri")?,
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            require_dpop: r.try_get::<i64, _>("require_dpop")? != 0,
            bind_certificate: r.try_get::<i64, _>("bind_certificate")? != 0,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            policy: ClientPolicy::from_row(r)?.unwrap_or_default(),
        })
    }
}

impl Store {
    /// Every client, by id.
    pub async fn client_rows(&self) -> Result<Vec<ClientRow>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT} ORDER BY c.client_id"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        rows.iter().map(ClientRow::from_row).collect()
    }

    pub async fn client_row(&self, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE c.client_id = $1"))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        row.as_ref().map(ClientRow::from_row).transpose()
    }

    /// Applies `change` in one transaction. `false`: no such client, nothing changed.
    pub async fn update_client(
        &self,
        client_id: &str,
        change: &ClientUpdate,
        now: i64,
    ) -> Result<bool, StoreError> {
        let note = |e| self.note(e);
        let mut tx = self.pool.begin().await.map_err(note)?;
        // Parameters in the order `assignments` names them.
        let mut values = Vec::new();
        let set = change.assignments(|v| {
            values.push(v);
            format!("${}", values.len() + 1)
        });
        let sql = format!("UPDATE clients SET {set} WHERE client_id = $1");
        let mut query = sqlx::query(&sql).bind(client_id);
        for v in values {
            query = match v {
                Column::Text(text) => query.bind(text),
                Column::Flag(on) => query.bind(i64::from(on)),
                Column::Now => query.bind(now),
            };
        }
        let touched = query.execute(&mut *tx).await.map_err(note)?;
        if touched.rows_affected() == 0 {
            return Ok(false);
        }
        write_policy(&mut tx, client_id, &change.policy, now)
            .await
            .map_err(note)?;
        tx.commit().await.map_err(note)?;
        Ok(true)
    }

    /// `false`: no such client.
    pub async fn set_client_enabled(
        &self,
        client_id: &str,
        enabled: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE clients SET enabled = $2, updated_at = $3 WHERE client_id = $1")
                .bind(client_id)
                .bind(i64::from(enabled))
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| self.note(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a client with its previous secrets and policy, and keeps its id in
    /// `deleted_clients` until `reusable_at`. `false`: no such client.
    pub async fn delete_client(
        &self,
        client_id: &str,
        now: i64,
        reusable_at: i64,
    ) -> Result<bool, StoreError> {
        let note = |e| self.note(e);
        let mut tx = self.pool.begin().await.map_err(note)?;
        for table in ["previous_client_secrets", "client_policies"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE client_id = $1"))
                .bind(client_id)
                .execute(&mut *tx)
                .await
                .map_err(note)?;
        }
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(note)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        Store::forget_secret_use(&mut tx, client_id)
            .await
            .map_err(note)?;
        sqlx::query(
            "INSERT INTO deleted_clients (client_id, deleted_at, reusable_at) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id) DO UPDATE SET deleted_at = excluded.deleted_at, \
             reusable_at = excluded.reusable_at",
        )
        .bind(client_id)
        .bind(now)
        .bind(reusable_at)
        .execute(&mut *tx)
        .await
        .map_err(note)?;
        tx.commit().await.map_err(note)?;
        Ok(true)
    }

    /// Until when the id of a deleted client stays unused, if a client of this id was deleted.
    pub async fn client_id_reusable_at(&self, client_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT reusable_at FROM deleted_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
    }
}

/// `update_client` as literal SQL for a provisioning migration. Applied to an unknown id, the
/// UPDATE changes nothing and the policy INSERT fails on its foreign key.
pub fn client_update_sql(client_id: &str, change: &ClientUpdate, now: i64) -> String {
    let id = sql_literal(Some(client_id));
    let set = change.assignments(|v| match v {
        Column::Text(text) => sql_literal(text.as_deref()),
        Column::Flag(on) => i64::from(on).to_string(),
        Column::Now => now.to_string(),
    });
    let mut statements = vec![format!("UPDATE clients SET {set} WHERE client_id = {id}")];
    statements.extend(policy_sql(client_id, &change.policy, now));
    statements.join(";\n")
}

/// `set_client_enabled` as literal SQL.
pub fn client_enabled_sql(client_id: &str, enabled: bool, now: i64) -> String {
    format!(
        "UPDATE clients SET enabled = {}, updated_at = {now} WHERE client_id = {}",
        i64::from(enabled),
        sql_literal(Some(client_id))
    )
}
