//! `clients` and `previous_client_secrets`: partner clients of the client-credentials grant,
//! with their authentication method, keys and audiences.

use std::sync::Arc;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::client_policies::{ClientPolicy, PolicyChange, policy_sql, write_policy};
use super::tls_subject::{TLS_COLUMNS, TlsSubject};
use super::{Store, StoreError, malformed, sql_literal};
use crate::types::{ClientId, ScopeSet};

#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub client_id: ClientId,
    pub auth: ClientAuth,
    pub allowed_scopes: ScopeSet,
    pub default_scopes: ScopeSet,
    /// The audiences its tokens may be for (RFC 8707); empty: the server's default audience.
    pub audiences: Vec<String>,
    pub enabled: bool,
    /// Token lifetime, rate limit and quota (`client_policies`); `None`: the defaults, no
    /// limits. Shared, so the credential cache hands it out without copying.
    pub policy: Option<Arc<ClientPolicy>>,
    /// A token request without a DPoP proof is refused (RFC 9449 §5).
    pub require_dpop: bool,
    /// Its tokens are bound to its client certificate (RFC 8705 §3).
    pub bind_certificate: bool,
}

/// How a client proves who it is: one method per client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` or `client_secret_post`: the argon2id PHC string of the secret,
    /// bound to the client id.
    Secret { hash: String },
    /// `private_key_jwt` (RFC 7523 §2.2): the client's public keys, or where to fetch them.
    PrivateKeyJwt(ClientJwks),
    /// `tls_client_auth` (RFC 8705 §2.1): a CA-issued certificate naming the client so.
    TlsClientAuth(TlsSubject),
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): a certificate, self-signed or not,
    /// carrying one of these public keys.
    SelfSignedTlsClientAuth(ClientJwks),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientJwks {
    /// An RFC 7517 JWK Set, as JSON text (checked by the CLI before it was stored).
    Inline(String),
    /// A URL serving it.
    Uri(String),
}

impl ClientAuth {
    /// The `auth_method` column's value.
    fn method(&self) -> &'static str {
        match self {
            Self::Secret { .. } => "client_secret",
            Self::PrivateKeyJwt(_) => "private_key_jwt",
            Self::TlsClientAuth(_) => "tls_client_auth",
            Self::SelfSignedTlsClientAuth(_) => "self_signed_tls_client_auth",
        }
    }

    /// `secret_hash`, `jwks`, `jwks_uri`. A key-based client has no secret: its hash column is
    /// empty, which no argon2 verification accepts.
    fn columns(&self) -> (&str, Option<&str>, Option<&str>) {
        match self {
            Self::Secret { hash } => (hash, None, None),
            Self::PrivateKeyJwt(ClientJwks::Inline(jwks))
            | Self::SelfSignedTlsClientAuth(ClientJwks::Inline(jwks)) => ("", Some(jwks), None),
            Self::PrivateKeyJwt(ClientJwks::Uri(uri))
            | Self::SelfSignedTlsClientAuth(ClientJwks::Uri(uri)) => ("", None, Some(uri)),
            Self::TlsClientAuth(_) => ("", None, None),
        }
    }

    fn tls_columns(&self) -> [Option<String>; 5] {
        match self {
            Self::TlsClientAuth(subject) => subject.columns(),
            _ => Default::default(),
        }
    }
}

fn scopes(row: &AnyRow, column: &str) -> Result<ScopeSet, StoreError> {
    let raw: String = row.try_get(column)?;
    ScopeSet::parse(&raw).map_err(|why| malformed("clients", column, why))
}

/// Audiences are stored space-delimited: they are absolute URIs (or the server's own audience
/// name), which never contain a space.
pub fn audiences_column(audiences: &[String]) -> Option<String> {
    (!audiences.is_empty()).then(|| audiences.join(" "))
}

/// The audiences `audiences_column` stored.
pub(super) fn audiences_of(column: Option<String>) -> Vec<String> {
    column
        .iter()
        .flat_map(|a| a.split_ascii_whitespace())
        .map(str::to_owned)
        .collect()
}

impl ClientRecord {
    fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        let id: String = r.try_get("client_id")?;
        let method: String = r.try_get("auth_method")?;
        let jwks: Option<String> = r.try_get("jwks")?;
        let jwks_uri: Option<String> = r.try_get("jwks_uri")?;
        let auth = match (method.as_str(), jwks, jwks_uri) {
            ("client_secret", _, _) => ClientAuth::Secret {
                hash: r.try_get("secret_hash")?,
            },
            ("private_key_jwt", Some(jwks), None) => {
                ClientAuth::PrivateKeyJwt(ClientJwks::Inline(jwks))
            }
            ("private_key_jwt", None, Some(uri)) => ClientAuth::PrivateKeyJwt(ClientJwks::Uri(uri)),
            ("self_signed_tls_client_auth", Some(jwks), None) => {
                ClientAuth::SelfSignedTlsClientAuth(ClientJwks::Inline(jwks))
            }
            ("self_signed_tls_client_auth", None, Some(uri)) => {
                ClientAuth::SelfSignedTlsClientAuth(ClientJwks::Uri(uri))
            }
            ("tls_client_auth", ..) => {
                let mut columns: [Option<String>; 5] = Default::default();
                for (slot, name) in columns.iter_mut().zip(TLS_COLUMNS) {
                    *slot = r.try_get(name)?;
                }
                let subject = TlsSubject::from_columns(columns).ok_or_else(|| {
                    malformed(
                        "clients",
                        "tls_subject_dn",
                        "needs exactly one of tls_subject_dn, tls_san_dns, tls_san_uri, \
                         tls_san_ip (an address), tls_san_email",
                    )
                })?;
                ClientAuth::TlsClientAuth(subject)
            }
            ("private_key_jwt" | "self_signed_tls_client_auth", ..) => {
                return Err(malformed(
                    "clients",
                    "jwks",
                    "needs jwks or jwks_uri, not both",
                ));
            }
            _ => return Err(malformed("clients", "auth_method", "unknown method")),
        };
        Ok(Self {
            client_id: ClientId::parse(&id)
                .map_err(|why| malformed("clients", "client_id", why))?,
            auth,
            allowed_scopes: scopes(r, "allowed_scopes")?,
            default_scopes: scopes(r, "default_scopes")?,
            audiences: audiences_of(r.try_get("audience")?),
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            policy: None,
            require_dpop: r.try_get::<i64, _>("require_dpop")? != 0,
            bind_certificate: r.try_get::<i64, _>("bind_certificate")? != 0,
        })
    }
}

const CLIENT_COLUMNS: &str = "client_id, secret_hash, allowed_scopes, default_scopes, audience, \
                              enabled, auth_method, jwks, jwks_uri, require_dpop, \
                              bind_certificate, tls_subject_dn, tls_san_dns, tls_san_uri, \
                              tls_san_ip, tls_san_email";

impl Store {
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1"
        ))
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
        let (hash, jwks, jwks_uri) = c.auth.columns();
        let [tls_dn, tls_dns, tls_uri, tls_ip, tls_email] = c.auth.tls_columns();
        sqlx::query(&format!(
            "INSERT INTO clients ({CLIENT_COLUMNS}, created_at, updated_at) VALUES ($1, $2, $3, \
             $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)"
        ))
        .bind(c.client_id.as_str())
        .bind(hash)
        .bind(c.allowed_scopes.to_string())
        .bind(c.default_scopes.to_string())
        .bind(audiences_column(&c.audiences))
        .bind(i64::from(c.enabled))
        .bind(c.auth.method())
        .bind(jwks)
        .bind(jwks_uri)
        .bind(i64::from(c.require_dpop))
        .bind(i64::from(c.bind_certificate))
        .bind(tls_dn)
        .bind(tls_dns)
        .bind(tls_uri)
        .bind(tls_ip)
        .bind(tls_email)
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

    /// Replaces a key-based client's public keys (a JWK Set, or the URL serving one). `false`
    /// when there is no such client, or it authenticates with a secret or a CA-issued
    /// certificate. The UPDATE moves the
    /// cache epoch, so every instance uses the new keys within the cache bound.
    pub async fn set_client_jwks(
        &self,
        client_id: &str,
        jwks: &ClientJwks,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (jwks, uri) = match jwks {
            ClientJwks::Inline(j) => (Some(j.as_str()), None),
            ClientJwks::Uri(u) => (None, Some(u.as_str())),
        };
        let done = sqlx::query(
            "UPDATE clients SET jwks = $2, jwks_uri = $3, updated_at = $4 WHERE client_id = $1 \
             AND auth_method IN ('private_key_jwt', 'self_signed_tls_client_auth')",
        )
        .bind(client_id)
        .bind(jwks)
        .bind(uri)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(done.rows_affected() > 0)
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
    /// `old_valid_until`. `false` when there is no such client with a secret.
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
             SELECT client_id, secret_hash, $2, $3 FROM clients \
             WHERE client_id = $1 AND auth_method = 'client_secret'",
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
        // From here on, a use of the old secret counts as a use of a previous one.
        Store::forget_secret_use(&mut tx, client_id)
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
    let (hash, jwks, jwks_uri) = c.auth.columns();
    let [tls_dn, tls_dns, tls_uri, tls_ip, tls_email] = c.auth.tls_columns();
    let insert = format!(
        "INSERT INTO clients ({CLIENT_COLUMNS}, created_at, updated_at) VALUES ({}, {}, {}, {}, \
         {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {now}, {now})",
        sql_literal(Some(c.client_id.as_str())),
        sql_literal(Some(hash)),
        sql_literal(Some(&c.allowed_scopes.to_string())),
        sql_literal(Some(&c.default_scopes.to_string())),
        sql_literal(audiences_column(&c.audiences).as_deref()),
        i64::from(c.enabled),
        sql_literal(Some(c.auth.method())),
        sql_literal(jwks),
        sql_literal(jwks_uri),
        i64::from(c.require_dpop),
        i64::from(c.bind_certificate),
        sql_literal(tls_dn.as_deref()),
        sql_literal(tls_dns.as_deref()),
        sql_literal(tls_uri.as_deref()),
        sql_literal(tls_ip.as_deref()),
        sql_literal(tls_email.as_deref()),
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
