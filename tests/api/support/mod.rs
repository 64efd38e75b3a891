//! The test harness: a fresh database per test (a new PostgreSQL database, or a new SQLite
//! file), the real server on a random port, real HTTP clients. `TEST_LOG=1` shows the
//! server's logs.
//!
//! One file per job: `db` (the test databases), `app` (the server under test and its
//! provisioning), `http` and `jwt` (reading answers and tokens), `proxy` (a cuttable TCP link),
//! `binary` (the built `tollgate` binary), `partner` (a partner's own keys, assertions and
//! `jwks_uri`), `pki` (a test CA for HTTPS) and `axp` (a stand-in AXP
//! server for the widget tests).

mod app;
mod axp;
mod binary;
mod db;
mod http;
mod jwt;
mod partner;
mod pki;
mod proxy;

pub use app::*;
pub use axp::*;
pub use binary::*;
pub use db::*;
pub use http::*;
pub use jwt::*;
pub use partner::*;
pub use pki::*;
pub use proxy::*;

/// Declares a test that runs once per backend: `name::postgres` and `name::sqlite`.
#[macro_export]
macro_rules! backend_test {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($backend: $crate::support::Backend) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::support::Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::support::Backend::Sqlite).await
            }
        }
    )*};
}
