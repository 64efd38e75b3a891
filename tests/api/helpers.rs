//! The test harness: a fresh database per test (a new PostgreSQL database, or a new SQLite
//! file), the real server on a random port, real HTTP clients. `TEST_LOG=1` shows the
//! server's logs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Response;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;

use tollgate::clock::{Clock, ShiftedClock};
use tollgate::config::Settings;
use tollgate::domain::provisioning::{self, NewClient, NewCustomer};
use tollgate::startup::Application;
use tollgate::store::Store;

pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Declares a test that runs once per backend: `name::postgres` and `name::sqlite`.
#[macro_export]
macro_rules! backend_test {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($backend: $crate::helpers::Backend) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::helpers::Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::helpers::Backend::Sqlite).await
            }
        }
    )*};
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

pub fn test_master_key() -> SecretString {
    SecretString::from(STANDARD.encode([42u8; 32]))
}

/// Settings for a test server on `db`: port 0, one HTTP worker, one hashing thread.
pub fn test_settings(db_url: &str) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: SecretString::from(db_url.to_owned()),
        issuer: "http://tollgate.test".into(),
        master_key: Some(test_master_key()),
        workers: 2,
        db_acquire_timeout_ms: 1_000,
        ..Settings::default()
    };
    s.argon2.workers = 1;
    s
}

pub struct TestApp {
    pub address: String,
    pub db: Arc<TestDb>,
    pub clock: Arc<ShiftedClock>,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub store: Store,
    pub state: actix_web::web::Data<tollgate::http::AppState>,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        let db = Arc::new(TestDb::create(backend).await);
        Self::spawn_on(db, tweak).await
    }

    /// Another instance on the same database.
    pub async fn spawn_on(db: Arc<TestDb>, tweak: impl FnOnce(&mut Settings)) -> Self {
        if std::env::var("TEST_LOG").is_ok() {
            tollgate::telemetry::init(tollgate::config::LogFormat::Text);
        }
        let mut settings = test_settings(&db.url);
        tweak(&mut settings);
        let clock = Arc::new(ShiftedClock::default());
        let app = Application::build_with_clock(settings.clone(), clock.clone())
            .await
            .expect("the application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let store = app.authority().store.clone();
        let state = app.state();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            address,
            db,
            clock,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            settings,
            store,
            state,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    pub fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    // --- provisioning, through the same code the CLI uses ----------------------------------

    pub async fn create_client(&self, id: &str, scopes: &str) -> String {
        self.create_client_with(NewClient {
            client_id: id.into(),
            scopes: scopes.into(),
            default_scopes: None,
            audience: None,
            secret: None,
        })
        .await
    }

    pub async fn create_client_with(&self, spec: NewClient) -> String {
        let (_, secret) =
            provisioning::create_client(&self.store, spec, &self.settings.argon2, self.now())
                .await
                .expect("create client");
        use secrecy::ExposeSecret;
        secret.expose_secret().to_owned()
    }

    pub async fn create_api_key(&self, apis: &[&str]) -> String {
        let apis: Vec<String> = apis.iter().map(|a| (*a).to_owned()).collect();
        let key = provisioning::create_api_key(
            &self.store,
            "partner",
            &apis,
            &self.settings.argon2,
            self.now(),
        )
        .await
        .expect("create api key");
        use secrecy::ExposeSecret;
        key.expose_secret().to_owned()
    }

    pub async fn create_customer(&self, username: &str, password: &str) -> String {
        let spec = NewCustomer {
            username: username.into(),
            password: SecretString::from(password.to_owned()),
            name: Some("Ada Lovelace".into()),
            email: Some(format!("{username}@example.com")),
            phone: Some("+14155550100".into()),
            attributes: Some(serde_json::json!({"tier": "gold", "name": "not the real name"})),
        };
        provisioning::create_customer(&self.store, spec, &self.settings.argon2, self.now())
            .await
            .expect("create customer")
            .to_string()
    }

    // --- requests ----------------------------------------------------------------------------

    pub async fn post_form(&self, path: &str, auth: Option<(&str, &str)>, body: &str) -> Response {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some((id, secret)) = auth {
            req = req.header("authorization", basic(id, secret));
        }
        req.send().await.expect("request")
    }

    /// The status of a client-credentials request with HTTP Basic.
    pub async fn token_status(&self, id: &str, secret: &str) -> u16 {
        self.post_form(
            "/access_token",
            Some((id, secret)),
            "grant_type=client_credentials",
        )
        .await
        .status()
        .as_u16()
    }

    /// A token by client_secret_post; panics unless the server says 200.
    pub async fn token(&self, id: &str, secret: &str, scope: &str) -> String {
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", scope),
        ]);
        let res = self.post_form("/access_token", None, &body).await;
        assert_eq!(res.status(), 200, "token request failed");
        let json: Value = res.json().await.unwrap();
        json["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        let body = form(&[("username", username), ("password", password)]);
        self.post_form("/customer_authenticate", None, &body).await
    }

    pub async fn customer_token(&self, username: &str, password: &str) -> String {
        let res = self.login(username, password).await;
        assert_eq!(res.status(), 200);
        let json: Value = res.json().await.unwrap();
        json["JWT"].as_str().unwrap().to_owned()
    }

    pub async fn jwks(&self) -> Value {
        self.http
            .get(self.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_component(s);
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

fn form_component(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_component(k), form_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The claims of a JWT, without verification (for inspecting what a token carries).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

pub fn header(jwt: &str) -> Value {
    let head = jwt.split('.').next().expect("a JWT has a header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).expect("base64url")).expect("JSON")
}

/// Verifies `jwt` with the key the JWK Set publishes for its `kid`.
pub fn verify_with_jwks(jwt: &str, jwks: &Value, audience: &str) -> Value {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).expect("a JWK set");
    let kid = header(jwt)["kid"].as_str().expect("kid").to_owned();
    let jwk = set.find(&kid).expect("the kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("a usable JWK");
    let alg = jsonwebtoken::decode_header(jwt).unwrap().alg;
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[audience]);
    v.set_issuer(&["http://tollgate.test"]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v)
        .expect("the token verifies")
        .claims
}

pub async fn error_of(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ct.starts_with("application/json"),
        "status {status}: content-type {ct:?}"
    );
    let body: Value = res.json().await.expect("a JSON error body");
    assert!(body["error"].is_string(), "no error code in {body}");
    (status, body)
}

pub fn header_of(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// A TCP proxy in front of PostgreSQL that a test can cut and restore, to play a database
/// outage without touching the real server.
pub struct Proxy {
    pub port: u16,
    enabled: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let enabled = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (en, ln) = (enabled.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !en.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                ln.lock().await.push(task.abort_handle());
            }
        });
        Self {
            port,
            enabled,
            links,
        }
    }

    /// Every open connection is closed and new ones are refused.
    pub async fn cut(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
pub fn via_port(url: &str, port: u16) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    let host_part = &rest[..host_end];
    let userinfo = host_part
        .rsplit_once('@')
        .map(|(u, _)| format!("{u}@"))
        .unwrap_or_default();
    format!(
        "{}{userinfo}127.0.0.1:{port}{}",
        &url[..after_scheme],
        &rest[host_end..]
    )
}

/// host:port of a postgres URL.
pub fn host_port(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let host_part = &rest[..rest.find('/').unwrap_or(rest.len())];
    let hp = host_part.rsplit_once('@').map_or(host_part, |(_, h)| h);
    if hp.contains(':') {
        hp.to_owned()
    } else {
        format!("{hp}:5432")
    }
}
