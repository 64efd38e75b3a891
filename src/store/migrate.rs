//! Two migration sets, tracked apart: the schema's own (compiled into the binary, one list per
//! backend) and an admin's provisioning migrations (SQL files read at run time from a
//! directory, so adding a partner never needs a rebuild). Each migration runs in its own
//! transaction and is recorded with a SHA-256 of its text; a file changed after it was applied
//! is refused rather than silently skipped. On PostgreSQL an advisory lock keeps two instances
//! starting together from migrating at once.

use std::path::Path;

use aws_lc_rs::digest;
use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::{Connection, Row};

use super::{Backend, Store, StoreError};

struct Migration {
    id: String,
    sql: String,
}

/// Embeds the same list of migration files for one backend's directory.
macro_rules! migrations {
    ($dir:literal: $($id:literal),* $(,)?) => {
        &[$(($id, include_str!(concat!("../../migrations/", $dir, "/", $id, ".sql")))),*]
    };
}

// One id per line, in the order they apply (ids leave gaps between work that landed apart).
const POSTGRES: &[(&str, &str)] = migrations!("postgres":
    "0001_initial",
    "0002_cache_epoch",
    "0003_revoked_tokens",
    "0004_audit_events",
    "0005_previous_client_secrets",
    "0006_signing_key_schedule",
    "0007_client_insert_epoch",
    "0008_client_auth_methods",
    "0009_client_assertion_jtis",
    "0010_widget_keys",
    "0020_client_lifecycle",
    "0030_usage",
    "0040_sender_constrained",
    "0045_mtls_self_signed_and_san",
);
const SQLITE: &[(&str, &str)] = migrations!("sqlite":
    "0001_initial",
    "0002_cache_epoch",
    "0003_revoked_tokens",
    "0004_audit_events",
    "0005_previous_client_secrets",
    "0006_signing_key_schedule",
    "0007_client_insert_epoch",
    "0008_client_auth_methods",
    "0009_client_assertion_jtis",
    "0010_widget_keys",
    "0020_client_lifecycle",
    "0030_usage",
    "0040_sender_constrained",
    "0045_mtls_self_signed_and_san",
    "0050_assertion_jtis_rowid",
);

/// Arbitrary constant naming tollgate's advisory lock.
const LOCK_KEY: i64 = 0x746f_6c6c_6761_7465;

/// What a migration run did.
#[derive(Debug, Serialize)]
pub struct MigrationReport {
    pub applied: Vec<String>,
    pub already_applied: usize,
}

impl Store {
    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let list = match self.backend {
            Backend::Postgres => POSTGRES,
            Backend::Sqlite => SQLITE,
        };
        let migrations = list
            .iter()
            .map(|(id, sql)| Migration {
                id: (*id).to_owned(),
                sql: (*sql).to_owned(),
            })
            .collect::<Vec<_>>();
        let applied = self.apply("schema_migrations", &migrations).await?;
        if !applied.is_empty() {
            tracing::info!(
                ?applied,
                backend = self.backend.name(),
                "applied schema migrations"
            );
        }
        Ok(MigrationReport {
            already_applied: migrations.len() - applied.len(),
            applied,
        })
    }

    /// Applies the `*.sql` files of `dir` in file-name order, each once.
    pub async fn migrate_provisioning(&self, dir: &Path) -> Result<MigrationReport, StoreError> {
        let io = |e: std::io::Error| StoreError::Migration(format!("{}: {e}", dir.display()));
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        let mut migrations = Vec::with_capacity(files.len());
        for path in files {
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| {
                    StoreError::Migration(format!("{} has no UTF-8 name", path.display()))
                })?
                .to_owned();
            let sql = std::fs::read_to_string(&path).map_err(io)?;
            migrations.push(Migration { id, sql });
        }
        let total = migrations.len();
        let applied = self.apply("provisioning_migrations", &migrations).await?;
        Ok(MigrationReport {
            already_applied: total - applied.len(),
            applied,
        })
    }

    async fn apply(
        &self,
        table: &str,
        migrations: &[Migration],
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.acquire().await?.detach();
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(LOCK_KEY)
                .execute(&mut conn)
                .await?;
        }
        let result = apply_locked(&mut conn, table, migrations).await;
        // Closing the detached connection also releases the session-level advisory lock.
        let _ = conn.close().await;
        result
    }
}

async fn apply_locked(
    conn: &mut AnyConnection,
    table: &str,
    migrations: &[Migration],
) -> Result<Vec<String>, StoreError> {
    sqlx::raw_sql(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)"
    ))
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query(&format!("SELECT id, checksum FROM {table}"))
        .fetch_all(&mut *conn)
        .await?;
    let mut done = std::collections::HashMap::new();
    for row in rows {
        done.insert(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
    }
    let mut applied = Vec::new();
    for m in migrations {
        let checksum = hex_sha256(&m.sql);
        if let Some(recorded) = done.get(&m.id) {
            if *recorded != checksum {
                return Err(StoreError::Migration(format!(
                    "{} was changed after it was applied; add a new migration instead",
                    m.id
                )));
            }
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(&m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Migration(format!("{}: {e}", m.id)))?;
        sqlx::query(&format!(
            "INSERT INTO {table} (id, checksum, applied_at) VALUES ($1, $2, $3)"
        ))
        .bind(&m.id)
        .bind(&checksum)
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        applied.push(m.id.clone());
    }
    Ok(applied)
}

fn hex_sha256(text: &str) -> String {
    digest::digest(&digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unix_now() -> i64 {
    use crate::clock::{Clock, SystemClock};
    SystemClock.now_secs()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn listed(list: &[(&str, &str)]) -> Vec<Migration> {
        list.iter()
            .map(|(id, sql)| Migration {
                id: (*id).to_owned(),
                sql: (*sql).to_owned(),
            })
            .collect()
    }

    /// 0050 rebuilds SQLite's jti table with a rowid: the rows recorded before it survive, and
    /// the replay check still finds them.
    #[tokio::test]
    async fn sqlite_jtis_survive_the_rowid_rebuild() {
        let path = std::env::temp_dir().join(format!("tollgate-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = Store::connect(&url, 1, Duration::from_secs(5))
            .await
            .unwrap();
        let (before, _) = SQLITE.split_at(SQLITE.len() - 1);
        assert_eq!(SQLITE[SQLITE.len() - 1].0, "0050_assertion_jtis_rowid");
        store
            .apply("schema_migrations", &listed(before))
            .await
            .unwrap();
        let rows = [("p", "seen", 2_000), ("q", "other", 3_000)];
        let firsts = store.record_assertion_jtis(&rows, 1_000).await.unwrap();
        assert_eq!(firsts, [true, true]);
        let report = store.migrate().await.unwrap();
        assert_eq!(report.applied, ["0050_assertion_jtis_rowid"]);
        let count = |sql: &'static str| {
            let store = store.clone();
            async move {
                let row = sqlx::query(sql).fetch_one(&store.pool).await.unwrap();
                row.try_get::<i64, _>(0).unwrap()
            }
        };
        // `rowid` is an error on a WITHOUT ROWID table.
        assert_eq!(
            count("SELECT COUNT(rowid) FROM client_assertion_jtis").await,
            2
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'client_assertion_jtis_expiry'")
                .await,
            1
        );
        let again = store.record_assertion_jtis(&rows, 1_500).await.unwrap();
        assert_eq!(again, [false, false]);
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
