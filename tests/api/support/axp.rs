//! A stand-in AXP server for the widget tests: it checks the headers, form and JSON tollgate
//! sends, answers like the real API, counts calls, and can be told to fail or hang.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::http::{keys, set};

/// The client secret the stand-in expects in the exchange, which no answer may ever echo.
pub const AXP_CLIENT_SECRET: &str = "axp-client-secret-s3cr3t";
/// The app key the stand-in expects on every call, which no answer may echo unless a profile
/// says so.
pub const AXP_APP_KEY: &str = "axp-app-key-k3y";

/// How the stand-in answers; a test switches it with [`StandIn::set_mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Ok = 0,
    ExchangeFails = 1,
    TokensFail = 2,
    /// Never answers in time.
    Hang = 3,
    /// The exchange takes a moment, so concurrent requests overlap.
    SlowExchange = 4,
    /// The tokens API says the access token is no longer good.
    TokensUnauthorized = 5,
}

struct StandInState {
    expires_in: u64,
    mode: AtomicU8,
    exchanges: AtomicUsize,
    token_calls: AtomicUsize,
    last_body: std::sync::Mutex<Value>,
    violations: std::sync::Mutex<Vec<String>>,
}

/// A small AXP look-alike: checks the headers, form and JSON it receives, answers like the
/// real API, and counts calls.
pub struct StandIn {
    pub url: String,
    state: Arc<StandInState>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let h = self.handle.clone();
        tokio::spawn(async move { h.stop(false).await });
    }
}

impl StandInState {
    fn violation(&self, what: String) -> HttpResponse {
        self.violations.lock().unwrap().push(what);
        HttpResponse::BadRequest().json(json!({"error": "invalid_request"}))
    }

    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            1 => Mode::ExchangeFails,
            2 => Mode::TokensFail,
            3 => Mode::Hang,
            4 => Mode::SlowExchange,
            5 => Mode::TokensUnauthorized,
            _ => Mode::Ok,
        }
    }
}

const ACCESS_TOKEN: &str = "upstream-access-token";

async fn exchange(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
    state: web::Data<StandInState>,
) -> HttpResponse {
    match state.mode() {
        Mode::ExchangeFails => {
            return HttpResponse::InternalServerError().body("upstream-body: stack trace");
        }
        Mode::Hang => tokio::time::sleep(Duration::from_secs(3)).await,
        Mode::SlowExchange => tokio::time::sleep(Duration::from_millis(300)).await,
        _ => {}
    }
    state.exchanges.fetch_add(1, Ordering::SeqCst);
    let expect = [
        ("grant_type", "client_credentials"),
        ("client_id", "axp-client"),
        ("client_secret", AXP_CLIENT_SECRET),
    ];
    if path.as_str() != "ACCT01" {
        return state.violation(format!("account {path}"));
    }
    for (k, v) in expect {
        if form.get(k).map(String::as_str) != Some(v) {
            return state.violation(format!("form field {k}"));
        }
    }
    if req.headers().get("appkey").and_then(|v| v.to_str().ok()) != Some(AXP_APP_KEY) {
        return state.violation("exchange appkey header".into());
    }
    HttpResponse::Ok().json(json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": state.expires_in,
    }))
}

async fn tokens(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
    state: web::Data<StandInState>,
) -> HttpResponse {
    match state.mode() {
        Mode::TokensFail => return HttpResponse::InternalServerError().body("upstream-body"),
        Mode::TokensUnauthorized => return HttpResponse::Unauthorized().finish(),
        Mode::Hang => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    let n = state.token_calls.fetch_add(1, Ordering::SeqCst);
    if path.as_str() != "ACCT01" {
        return state.violation(format!("account {path}"));
    }
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {ACCESS_TOKEN}")) {
        return state.violation("tokens authorization header".into());
    }
    if req.headers().get("appkey").and_then(|v| v.to_str().ok()) != Some(AXP_APP_KEY) {
        return state.violation("tokens appkey header".into());
    }
    let fields = set(&[
        "customerId",
        "customerName",
        "customerIdentifiers",
        "verifiedCustomer",
        "integrationId",
        "ttl",
    ]);
    if keys(&body) != fields {
        return state.violation(format!("tokens body fields {:?}", keys(&body)));
    }
    *state.last_body.lock().unwrap() = body.into_inner();
    HttpResponse::Created().json(json!({"jwtToken": format!("axp-jwt-{n}")}))
}

impl StandIn {
    pub async fn start(expires_in: u64) -> Self {
        let state = web::Data::new(StandInState {
            expires_in,
            mode: AtomicU8::new(Mode::Ok as u8),
            exchanges: AtomicUsize::new(0),
            token_calls: AtomicUsize::new(0),
            last_body: std::sync::Mutex::new(Value::Null),
            violations: std::sync::Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/api/auth/v1/{account}/protocol/openid-connect/token",
                    web::post().to(exchange),
                )
                .route(
                    "/api/digital/chat/v1/accounts/{account}/tokens",
                    web::post().to(tokens),
                )
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            state: state.into_inner(),
            handle,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn exchanges(&self) -> usize {
        self.state.exchanges.load(Ordering::SeqCst)
    }

    pub fn token_calls(&self) -> usize {
        self.state.token_calls.load(Ordering::SeqCst)
    }

    pub fn last_body(&self) -> Value {
        self.state.last_body.lock().unwrap().clone()
    }

    pub fn assert_no_violations(&self) {
        let v = self.state.violations.lock().unwrap();
        assert!(v.is_empty(), "the stand-in AXP server saw: {v:?}");
    }
}
