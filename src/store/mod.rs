//! The database behind one interface. Production runs PostgreSQL, the zero-setup default an
//! embedded SQLite file; both go through sqlx's `Any` driver with portable SQL (`$n`
//! placeholders, integers for times and flags), so every query below is written once. What
//! differs between the two, the DDL, lives in `migrations/postgres` and `migrations/sqlite`.

mod migrate;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use sqlx::postgres::PgPoolCopyExt;

use crate::domain::audit::AuditEvent;

pub use migrate::ProvisioningReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached: callers answer 503 and try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("database error: {0}")]
    Query(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("unsupported database URL (expected postgres://… or sqlite:…)")]
    UnsupportedUrl,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                Self::Unavailable(e.to_string())
            }
            E::Database(ref db) => {
                if db.is_unique_violation() {
                    return Self::Conflict(db.constraint().unwrap_or("row").to_owned());
                }
                // PostgreSQL class 08 (connection exception), 57P0x (shutting down, cannot
                // connect now), 53300 (too many connections): the database is not there for us.
                let code = db.code().unwrap_or_default();
                if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
                    Self::Unavailable(e.to_string())
                } else {
                    Self::Query(e.to_string())
                }
            }
            other => Self::Query(other.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub client_id: String,
    pub secret_hash: String,
    pub allowed_scopes: String,
    pub default_scopes: String,
    pub audience: Option<String>,
    pub enabled: bool,
}

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub prefix: String,
    pub name: String,
    pub key_hash: String,
    pub apis: String,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct CustomerLogin {
    pub customer_id: String,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct CustomerRecord {
    pub customer_id: String,
    pub username: String,
    pub password_hash: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// A JSON object of extra profile attributes.
    pub attributes: String,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub customer_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub attributes: String,
}

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

/// An audit event as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditRow {
    pub at_ms: i64,
    pub event: String,
    pub client_id: Option<String>,
    pub customer_id: Option<String>,
    pub source: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

/// A revoked token as instances sync it.
#[derive(Debug, Clone)]
pub struct RevokedRow {
    pub seq: i64,
    pub jti: String,
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL only: a small native pool for `COPY`, which the `Any` driver cannot do. The
    /// audit trail must keep up with tens of thousands of rows a second.
    copy_pool: Option<sqlx::PgPool>,
}

impl Store {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers proceed while a writer commits; NORMAL sync is
                        // durable across application crashes, which is what WAL is for.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let copy_pool = match backend {
            Backend::Postgres => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(acquire_timeout)
                    .connect_lazy(url)?,
            ),
            Backend::Sqlite => None,
        };
        Ok(Self {
            pool,
            backend,
            copy_pool,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The counter that moves when a client or API key changes (see `domain::cache`).
    pub async fn cache_epoch(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT epoch FROM cache_epoch WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
    }

    // --- audit trail ---------------------------------------------------------------------

    /// Writes a batch: `COPY` on PostgreSQL, one transaction of cached single-row INSERTs on
    /// SQLite. (A multi-row INSERT through the `Any` driver managed ~15k rows/s here and filled
    /// the statement cache with one huge statement per batch size.)
    pub async fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        if let Some(pg) = &self.copy_pool {
            let mut copy = pg
                .copy_in_raw(
                    "COPY audit_events (at_ms, event, client_id, customer_id, source, request_id, \
                     detail) FROM STDIN",
                )
                .await?;
            let mut buf = String::with_capacity(events.len() * 160);
            for e in events {
                buf.push_str(&e.at_ms.to_string());
                for field in [
                    Some(e.event),
                    e.client_id.as_deref(),
                    e.customer_id.as_deref(),
                    e.source.as_deref(),
                    e.request_id.as_deref(),
                    e.detail.as_deref(),
                ] {
                    buf.push('\t');
                    copy_text_field(&mut buf, field);
                }
                buf.push('\n');
            }
            copy.send(buf.into_bytes()).await?;
            copy.finish().await?;
            return Ok(());
        }
        // SQLite: the whole batch is one JSON array bound to one parameter, unpacked by
        // json_each. A multi-row VALUES list needs seven parameters per row, and SQLite finds
        // each parameter by a linear scan of the statement's parameter names, so binding cost
        // grows with the square of the rows per statement (5–6 % of the server's CPU under
        // token load with 64-row statements); single-row INSERTs cost a statement each.
        let rows: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.at_ms,
                    e.event,
                    &e.client_id,
                    &e.customer_id,
                    &e.source,
                    &e.request_id,
                    &e.detail,
                )
            })
            .collect();
        let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Query(e.to_string()))?;
        sqlx::query(
            "INSERT INTO audit_events (at_ms, event, client_id, customer_id, source, request_id, \
             detail) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, \
             value ->> 5, value ->> 6 FROM json_each($1)",
        )
        .bind(rows)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn prune_audit_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_events WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
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
        .await?;
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

    // --- revoked tokens ------------------------------------------------------------------

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
        .await?;
        Ok(())
    }

    /// Revocations with `seq` above `after`, oldest first.
    pub async fn revocations_since(&self, after: i64) -> Result<Vec<RevokedRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, jti, expires_at FROM revoked_tokens WHERE seq > $1 ORDER BY seq LIMIT 10000",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
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
            .await?;
        Ok(row.is_some())
    }

    /// Forgets revocations of tokens that expired before `before`.
    pub async fn purge_revocations(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    // --- clients -------------------------------------------------------------------------

    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, secret_hash, allowed_scopes, default_scopes, audience, enabled \
             FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ClientRecord {
                client_id: r.try_get("client_id")?,
                secret_hash: r.try_get("secret_hash")?,
                allowed_scopes: r.try_get("allowed_scopes")?,
                default_scopes: r.try_get("default_scopes")?,
                audience: r.try_get("audience")?,
                enabled: r.try_get::<i64, _>("enabled")? != 0,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| StoreError::from(e))
    }

    pub async fn insert_client(&self, c: &ClientRecord, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO clients (client_id, secret_hash, allowed_scopes, default_scopes, \
             audience, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&c.client_id)
        .bind(&c.secret_hash)
        .bind(&c.allowed_scopes)
        .bind(&c.default_scopes)
        .bind(&c.audience)
        .bind(i64::from(c.enabled))
        .bind(now)
        .execute(&self.pool)
        .await?;
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
        .await?;
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
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO previous_client_secrets (client_id, secret_hash, expires_at, created_at) \
             SELECT client_id, secret_hash, $2, $3 FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .bind(old_valid_until)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE clients SET secret_hash = $2, updated_at = $3 WHERE client_id = $1")
            .bind(client_id)
            .bind(new_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends every previous secret of a client now; returns how many were still stored.
    pub async fn revoke_previous_secrets(&self, client_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM previous_client_secrets WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// `false` when there is no such unrevoked key.
    pub async fn revoke_api_key(&self, prefix: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE prefix = $1 AND revoked_at IS NULL",
        )
        .bind(prefix)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every scope some client may request: for RFC 8414 `scopes_supported`.
    pub async fn scopes_in_use(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT allowed_scopes FROM clients WHERE enabled = 1")
            .fetch_all(&self.pool)
            .await?;
        let mut scopes: Vec<String> = Vec::new();
        for row in rows {
            let list: String = row.try_get(0)?;
            scopes.extend(list.split(' ').filter(|s| !s.is_empty()).map(str::to_owned));
        }
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }

    // --- API keys ------------------------------------------------------------------------

    pub async fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT prefix, name, key_hash, apis, revoked_at FROM api_keys WHERE prefix = $1",
        )
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r: AnyRow| -> Result<ApiKeyRecord, sqlx::Error> {
                Ok(ApiKeyRecord {
                    prefix: r.try_get("prefix")?,
                    name: r.try_get("name")?,
                    key_hash: r.try_get("key_hash")?,
                    apis: r.try_get("apis")?,
                    revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                })
            })
            .transpose()?)
    }

    pub async fn insert_api_key(&self, k: &ApiKeyRecord, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (prefix, name, key_hash, apis, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&k.prefix)
        .bind(&k.name)
        .bind(&k.key_hash)
        .bind(&k.apis)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // --- customers -----------------------------------------------------------------------

    pub async fn customer_login(
        &self,
        username: &str,
    ) -> Result<Option<CustomerLogin>, StoreError> {
        let row =
            sqlx::query("SELECT customer_id, password_hash FROM customers WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row
            .map(|r: AnyRow| -> Result<CustomerLogin, sqlx::Error> {
                Ok(CustomerLogin {
                    customer_id: r.try_get("customer_id")?,
                    password_hash: r.try_get("password_hash")?,
                })
            })
            .transpose()?)
    }

    pub async fn profile(&self, customer_id: &str) -> Result<Option<Profile>, StoreError> {
        let row = sqlx::query(
            "SELECT customer_id, name, email, phone, attributes FROM customers \
             WHERE customer_id = $1",
        )
        .bind(customer_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r: AnyRow| -> Result<Profile, sqlx::Error> {
                Ok(Profile {
                    customer_id: r.try_get("customer_id")?,
                    name: r.try_get("name")?,
                    email: r.try_get("email")?,
                    phone: r.try_get("phone")?,
                    attributes: r.try_get("attributes")?,
                })
            })
            .transpose()?)
    }

    pub async fn insert_customer(&self, c: &CustomerRecord, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO customers (customer_id, username, password_hash, name, email, phone, \
             attributes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.customer_id)
        .bind(&c.username)
        .bind(&c.password_hash)
        .bind(&c.name)
        .bind(&c.email)
        .bind(&c.phone)
        .bind(&c.attributes)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // --- signing keys --------------------------------------------------------------------

    /// All keys, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, alg, sealed_private, public_jwk, created_at, activates_at, retires_at, \
             rotated_from FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
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

    /// Stores the first key of an algorithm. Two instances starting together on an empty
    /// database both try; the unique `first_of_alg` lets exactly one win, and the loser
    /// reloads and uses the winner's key.
    /// Adds a rotated-in key and schedules the retirement of the keys it replaces, in one
    /// transaction. `false` when another instance already rotated the same key (the unique
    /// `rotated_from` refuses a second successor).
    pub async fn rotate_signing_key(
        &self,
        k: &StoredKey,
        retiring: &[String],
        retires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO signing_keys (kid, alg, sealed_private, public_jwk, created_at, \
             activates_at, rotated_from) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.sealed_private)
        .bind(&k.public_jwk)
        .bind(k.created_at)
        .bind(k.activates_at)
        .bind(&k.rotated_from)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        for kid in retiring {
            sqlx::query(
                "UPDATE signing_keys SET retires_at = $2 WHERE kid = $1 AND retires_at IS NULL",
            )
            .bind(kid)
            .bind(retires_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn insert_signing_key(&self, k: &StoredKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, sealed_private, public_jwk, first_of_alg, \
             created_at, activates_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.sealed_private)
        .bind(&k.public_jwk)
        .bind(&k.alg)
        .bind(k.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The INSERT for a client, with literals rather than parameters so that the CLI can print it
/// for an admin's provisioning migration. The statement is plain SQL that PostgreSQL and
/// SQLite read alike; values are quoted by `sql_literal`.
pub fn client_insert_sql(c: &ClientRecord, now: i64) -> String {
    format!(
        "INSERT INTO clients (client_id, secret_hash, allowed_scopes, default_scopes, audience, \
         enabled, created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {now}, {now})",
        sql_literal(Some(&c.client_id)),
        sql_literal(Some(&c.secret_hash)),
        sql_literal(Some(&c.allowed_scopes)),
        sql_literal(Some(&c.default_scopes)),
        sql_literal(c.audience.as_deref()),
        i64::from(c.enabled),
    )
}

/// One field of PostgreSQL's COPY text format: `\N` for NULL, and backslash, tab, newline and
/// carriage return escaped so no value can break out of its column or row.
fn copy_text_field(buf: &mut String, value: Option<&str>) {
    let Some(v) = value else {
        buf.push_str("\\N");
        return;
    };
    for c in v.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

/// A standard SQL string literal: single quotes doubled. Values reaching here are printable
/// ASCII (client ids, scopes, PHC strings) by construction; anything else is still quoted
/// correctly because both dialects treat only `'` specially in standard literals.
fn sql_literal(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("'{}'", v.replace('\'', "''")),
        None => "NULL".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_fields_cannot_break_out_of_their_column() {
        let mut buf = String::new();
        copy_text_field(&mut buf, Some("a\tb\\c\nd"));
        buf.push('|');
        copy_text_field(&mut buf, None);
        assert_eq!(buf, "a\\tb\\\\c\\nd|\\N");
    }

    #[test]
    fn literals_escape_quotes() {
        assert_eq!(sql_literal(Some("a'b")), "'a''b'");
        assert_eq!(sql_literal(None), "NULL");
    }
}
