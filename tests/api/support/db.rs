//! A database of its own for every test: a new PostgreSQL database created from the admin URL
//! (`TEST_DATABASE_URL`), or a new SQLite file, dropped afterwards; and the master key the
//! servers and the binary seal their signing keys with.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use sqlx::Connection;

pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database of its own for one test, dropped afterwards.
pub struct TestDb {
    pub url: String,
    pg_name: Option<(String, String)>,
    sqlite_dir: Option<PathBuf>,
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into())
}

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let no_query = base.split('?').next().unwrap_or(base);
    let after_scheme = no_query.find("://").map_or(0, |i| i + 3);
    match no_query[after_scheme..].find('/') {
        Some(slash) => format!("{}/{name}", &no_query[..after_scheme + slash]),
        None => format!("{no_query}/{name}"),
    }
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        let name = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Postgres => {
                let admin = admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "\n\nPostgreSQL is not reachable at {admin}: {e}\n\
                         The test suite runs every test on PostgreSQL and SQLite. Start PostgreSQL with\n  \
                         pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
                         or `docker compose up -d postgres`, or point TEST_DATABASE_URL at one.\n"
                    )
                });
                sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                Self {
                    url: with_database(&admin, &name),
                    pg_name: Some((admin, name)),
                    sqlite_dir: None,
                }
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(name);
                std::fs::create_dir_all(&dir).expect("temp dir");
                Self {
                    url: format!("sqlite://{}?mode=rwc", dir.join("tollgate.db").display()),
                    pg_name: None,
                    sqlite_dir: Some(dir),
                }
            }
        }
    }

    /// The PostgreSQL database's name (`None` for SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        self.pg_name.as_ref().map(|(_, name)| name.as_str())
    }

    /// Runs one SQL statement against the test database (as an admin would).
    pub async fn sql(&self, statement: &str) {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url)
            .await
            .expect("connect");
        sqlx::raw_sql(statement)
            .execute(&mut conn)
            .await
            .expect("sql");
        let _ = conn.close().await;
    }

    /// The one integer a query such as `SELECT COUNT(*) …` answers.
    pub async fn sql_count(&self, query: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url)
            .await
            .expect("connect");
        let n: i64 = sqlx::query_scalar(query)
            .fetch_one(&mut conn)
            .await
            .expect("query");
        let _ = conn.close().await;
        n
    }
}

/// Runs one SQL statement on the admin database: what an operator does to the cluster (refuse
/// connections, terminate backends, drop a database) cannot go through the database it changes.
pub async fn admin_sql(statement: &str) {
    let mut conn = sqlx::PgConnection::connect(&admin_url())
        .await
        .expect("connect as admin");
    sqlx::raw_sql(statement)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    let _ = conn.close().await;
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_name.take() {
            // Drop runs outside async: use a private runtime on a helper thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
                Ok::<(), std::io::Error>(())
            })
            .join();
        }
        if let Some(dir) = self.sqlite_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The master key every test server and every run of the binary shares, so that what one
/// seals another can open.
pub fn test_master_key() -> SecretString {
    SecretString::from(STANDARD.encode([42u8; 32]))
}
