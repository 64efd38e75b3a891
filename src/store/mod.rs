//! The database behind one interface. Production runs PostgreSQL, the zero-setup default an
//! embedded SQLite file; both go through sqlx's `Any` driver with portable SQL (`$n`
//! placeholders, integers for times and flags), so each query is written once, in the file of
//! its table group. What differs between the backends lives in few places: the DDL
//! (`migrations/postgres`, `migrations/sqlite`), the SQLite connection settings below, the audit
//! trail's bulk insert (`audit/postgres.rs`, `audit/sqlite.rs`), and the reading of each
//! backend's error codes (`error.rs`: what is an outage, what is our bug).
//!
//! Rows come back typed (`ClientId`, `ScopeSet`, `CustomerId`, …): a malformed stored value is
//! a `StoreError`, never something the layers above parse again. The store imports nothing
//! from them.

pub mod api_keys;
mod assertion_jtis;
pub mod audit;
pub mod client_admin;
pub mod client_policies;
pub mod clients;
pub mod customers;
mod error;
pub mod keys;
mod migrate;
mod recycle;
pub mod revocations;
pub mod spool;
mod tls_subject;
pub mod usage;
pub mod widget_keys;

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};

use error::Fault;
use recycle::Recycler;

pub use api_keys::{ApiKeyRecord, ApiKeyRow};
pub use audit::{AuditEvent, AuditRow};
pub use client_admin::{ClientRow, ClientUpdate, client_enabled_sql, client_update_sql};
pub use client_policies::{ClientPolicy, PolicyChange};
pub use clients::{ClientAuth, ClientJwks, ClientRecord, client_insert_sql};
pub use customers::{
    CustomerKey, CustomerLogin, CustomerRecord, CustomerRow, CustomerUpdate, Profile,
};
pub use error::StoreError;
pub use keys::StoredKey;
pub use migrate::MigrationReport;
pub use revocations::RevokedRow;
pub use tls_subject::TlsSubject;
pub use widget_keys::StoredWidgetKey;

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

/// A stored value that does not parse as its type: the row was written by something other than
/// tollgate (an admin's SQL) and is refused rather than half-used.
fn malformed(table: &str, column: &str, why: &str) -> StoreError {
    StoreError::Query(format!("{table}.{column} is malformed: {why}"))
}

#[derive(Clone)]
pub struct Store {
    /// Every call's error goes through `Store::note`, so that a bad session is retired.
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL only: see `audit::postgres`.
    copy_pool: Option<sqlx::PgPool>,
    /// Shared by both pools: see `recycle`.
    recycler: Recycler,
}

impl Store {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let recycler = Recycler::new();
        let (on_acquire, on_release) = (recycler.clone(), recycler.clone());
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(acquire_timeout)
            // `test_before_acquire` (on by default) still pings, which finds dead connections;
            // these two retire live ones whose session went bad (see `recycle`).
            .before_acquire(move |_, meta| {
                Box::pin(std::future::ready(Ok(on_acquire.keep(meta.age))))
            })
            .after_release(move |_, meta| {
                Box::pin(std::future::ready(Ok(on_release.keep(meta.age))))
            })
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
            Backend::Postgres => Some(audit::postgres::copy_pool(url, acquire_timeout, &recycler)?),
            Backend::Sqlite => None,
        };
        Ok(Self {
            pool,
            backend,
            copy_pool,
            recycler,
        })
    }

    /// The `StoreError` for a failed call (classified in `error`). An error that says the
    /// session is bad also retires every pooled connection opened before it (see `recycle`).
    fn note(&self, e: sqlx::Error) -> StoreError {
        if error::fault(&e) == Fault::BadSession {
            self.recycler.session_went_bad();
        }
        e.into()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connections in the main pool: (idle, in use).
    pub fn pool_connections(&self) -> (i64, i64) {
        let size = i64::from(self.pool.size());
        let idle = i64::try_from(self.pool.num_idle()).unwrap_or(size);
        (idle, (size - idle).max(0))
    }

    /// A cheap round trip, for readiness. It reads a table rather than `SELECT 1`: a database
    /// re-created under us answers, but is not ready until its schema is migrated.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.cache_epoch().await.map(drop)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The counter that triggers move when a client, an API key or a signing key changes (see
    /// `domain::cache`).
    pub async fn cache_epoch(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT epoch FROM cache_epoch WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
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
    fn literals_escape_quotes() {
        assert_eq!(sql_literal(Some("a'b")), "'a''b'");
        assert_eq!(sql_literal(None), "NULL");
    }
}
