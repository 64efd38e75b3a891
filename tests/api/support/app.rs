//! The server under test: the real application on a random port over a test database, with
//! a shiftable clock, provisioning through the same code the CLI uses, and request helpers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Response;
use secrecy::SecretString;
use serde_json::Value;

use tollgate::app::Application;
use tollgate::clock::{Clock, ShiftedClock};
use tollgate::config::Settings;
use tollgate::domain::provisioning::{self, NewClient, NewClientAuth, NewCustomer};
use tollgate::store::Store;

use super::db::{Backend, TestDb, test_master_key};
use super::http::{basic, form, send_json};
use super::proxy::{Proxy, host_port, via_port};

/// Settings for a test server on `db`: port 0, one HTTP worker, one hashing thread.
pub fn test_settings(db_url: &str) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: SecretString::from(db_url.to_owned()),
        issuer: "http://tollgate.test".into(),
        master_key: Some(test_master_key()),
        workers: 2,
        // PostgreSQL outage tests want a 503 fast; an embedded SQLite file has no outage, and a
        // server starting while dozens of test servers migrate on two busy cores may wait longer
        // than a second for its connection.
        db_acquire_timeout_ms: if db_url.starts_with("sqlite:") {
            5_000
        } else {
            1_000
        },
        // Each server its own spool: what one test leaves there must not reach another.
        spool_dir: std::env::temp_dir()
            .join("tollgate-test-spools")
            .join(uuid::Uuid::new_v4().simple().to_string()),
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
    /// `http://127.0.0.1:port/metrics` when `metrics_listen` was set.
    pub metrics_url: Option<String>,
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

    /// Two instances on one database, as behind a load balancer: what reaches one through the
    /// database must reach the other too.
    pub async fn spawn_two(backend: Backend) -> (Self, Self) {
        let first = Self::spawn(backend).await;
        let second = Self::spawn_on(first.db.clone(), |_| {}).await;
        (first, second)
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
        let metrics_url = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}/metrics"));
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
            metrics_url,
            handle,
        }
    }

    /// An instance on a fresh PostgreSQL database that it reaches only through a [`Proxy`], so
    /// that the test can cut the database away and bring it back (PostgreSQL only: an embedded
    /// SQLite file has no connection to lose). `acquire_timeout_ms` bounds how long a request
    /// waits for a connection while the link is cut.
    pub async fn spawn_behind_proxy(acquire_timeout_ms: u64) -> (Self, Proxy) {
        let db = Arc::new(TestDb::create(Backend::Postgres).await);
        let proxy = Proxy::start(host_port(&db.url)).await;
        let via_proxy = via_port(&db.url, proxy.port);
        let app = Self::spawn_on(db, |s| {
            s.database_url = SecretString::from(via_proxy);
            s.db_acquire_timeout_ms = acquire_timeout_ms;
        })
        .await;
        (app, proxy)
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
        self.create_client_with(new_client(id, scopes, None)).await
    }

    /// A client whose tokens are for `audience` instead of the issuer's own API.
    pub async fn create_client_for_audience(
        &self,
        id: &str,
        scopes: &str,
        audience: &str,
    ) -> String {
        self.create_client_with(new_client(id, scopes, Some(audience)))
            .await
    }

    /// Creates the client; returns its secret (empty for a key-based client).
    pub async fn create_client_with(&self, spec: NewClient) -> String {
        let (_, secret) = provisioning::create_client(
            &self.store,
            spec,
            &self.settings.argon2,
            self.settings.default_audience(),
            self.now(),
        )
        .await
        .expect("create client");
        use secrecy::ExposeSecret;
        secret.map_or_else(String::new, |s| s.expose_secret().to_owned())
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

    /// An API key for `/getprofile` and the customer "ada" (password "correct horse battery")
    /// it may read: what a profile request needs besides a token.
    pub async fn create_key_and_customer(&self) -> (String, String) {
        let key = self.create_api_key(&["getprofile"]).await;
        let customer = self.create_customer("ada", "correct horse battery").await;
        (key, customer)
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

    /// The status of a `POST /getprofile` with `token` and API `key`, naming the customer by id.
    pub async fn profile_status(&self, token: &str, key: &str, customer: &str) -> u16 {
        self.http
            .post(self.url("/getprofile"))
            .bearer_auth(token)
            .header("api-key", key)
            .header("X-Customer-Id", customer)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
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
        send_json(self.http.get(self.url("/.well-known/jwks.json"))).await
    }
}

/// Repeats `probe` every 100 ms until it returns true; returns how long that took, and fails
/// with `what` once `limit` has passed. For what instances pick up by polling the database
/// (credential changes, revocations, new keys), which a test may wait for but never assume.
pub async fn eventually(
    limit: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    while !probe().await {
        assert!(start.elapsed() < limit, "{what} not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

/// A client allowed `scopes`, which are also its default scopes, with a generated secret.
pub fn new_client(id: &str, scopes: &str, audience: Option<&str>) -> NewClient {
    NewClient {
        client_id: id.into(),
        scopes: scopes.into(),
        default_scopes: None,
        audiences: audience.map(str::to_owned).into_iter().collect(),
        auth: NewClientAuth::Secret(None),
        policy: Default::default(),
        require_dpop: false,
        bind_certificate: false,
    }
}

/// Moves every app's clock to the start of one and the same minute: the limits count in
/// one-minute windows, and a window ending amid a test's failures would give it a fresh limit
/// (which is right, but not what the test counts). Failures of a test here take seconds.
pub fn to_the_start_of_a_minute(apps: &[&TestApp]) {
    let minute = (apps[0].now().div_euclid(60) + 1) * 60;
    for app in apps {
        app.clock.advance_secs(minute - app.now());
    }
}
