//! The HTTP face of tollgate: routing, extraction helpers, error mapping and middleware. The
//! handlers in `routes/` are thin: extract, call the domain, map the result.

pub mod error;
pub mod middleware;
pub mod openapi;
pub mod routes;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::clock::Clock;
use crate::config::SessionMode;
use actix_web::HttpMessage;

use crate::domain::audit::Caller;
use crate::domain::{Authority, Error};
use error::{ApiError, generic};

/// Shared by every worker.
pub struct AppState {
    pub authority: Authority,
    pub clock: Arc<dyn Clock>,
    pub customer_session: SessionMode,
    /// How many `X-Forwarded-For` entries, from the right, were added by our own proxies.
    pub trusted_proxy_hops: usize,
    /// Scheduled signing-key rotation period in seconds (0: off).
    pub key_rotation_secs: i64,
    pub session_cookie_name: String,
    /// The OpenAPI document, rendered once.
    pub openapi: String,
    /// Chat-widget token profiles (issue 4).
    pub widgets: crate::domain::widgets::Widgets,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    use routes::{customer, discovery, health, profile, revocation, token};
    for path in ["/access_token", "/oauth/access_token"] {
        cfg.service(resource(path, "POST").route(web::post().to(token::issue)));
    }
    for path in ["/customer_authenticate", "/auth/customer_authenticate"] {
        cfg.service(resource(path, "POST").route(web::post().to(customer::authenticate)));
    }
    for path in ["/getprofile", "/account/getprofile"] {
        cfg.service(resource(path, "POST").route(web::post().to(profile::get)));
    }
    cfg.service(resource("/revoke", "POST").route(web::post().to(revocation::revoke)))
        .service(resource("/introspect", "POST").route(web::post().to(revocation::introspect)));
    cfg.service(
        resource("/.well-known/oauth-authorization-server", "GET")
            .route(web::get().to(discovery::metadata)),
    )
    .service(resource("/.well-known/jwks.json", "GET").route(web::get().to(discovery::jwks)))
    .service(resource("/healthz", "GET").route(web::get().to(health::live)))
    .service(resource("/readyz", "GET").route(web::get().to(health::ready)))
    .service(resource("/openapi.json", "GET").route(web::get().to(openapi::document)));
    widget_routes(cfg);
}

fn widget_routes(cfg: &mut web::ServiceConfig) {
    use actix_web::http::Method;
    use routes::widgets;
    let options = || web::method(Method::OPTIONS).to(widgets::preflight);
    cfg.service(
        resource("/widget_tokens/{name}", "GET, POST, OPTIONS")
            .route(web::get().to(widgets::token))
            .route(web::post().to(widgets::token))
            .route(options()),
    )
    .service(
        resource("/widget_tokens/{name}/config", "GET, OPTIONS")
            .route(web::get().to(widgets::config))
            .route(options()),
    )
    // The vendors' sample paths: the CCAI Web SDK fetches `/auth/token`, AXP's sample token
    // server answers `POST /token`.
    .service(
        resource("/auth/token", "GET, OPTIONS")
            .route(web::get().to(widgets::ccai_token))
            .route(options()),
    )
    .service(
        resource("/token", "POST, OPTIONS")
            .route(web::post().to(widgets::axp_token))
            .route(options()),
    );
}

/// A resource whose other methods get a JSON 405 with the `Allow` header RFC 9110 §15.5.6
/// requires.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, allow))
            .json(generic(StatusCode::METHOD_NOT_ALLOWED))
    }))
}

pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(generic(StatusCode::NOT_FOUND))
}

/// Who is calling, for the audit trail: the peer address and the request id.
pub fn caller(req: &HttpRequest) -> Caller {
    let hops = req
        .app_data::<web::Data<AppState>>()
        .map_or(0, |s| s.trusted_proxy_hops);
    Caller {
        source: client_address(req, hops),
        request_id: req
            .extensions()
            .get::<middleware::RequestId>()
            .map(|r| r.0.clone()),
    }
}

/// The caller's address. `X-Forwarded-For` is believed only as far as our own proxies wrote it:
/// each trusted proxy appends the address it saw, so the client is the `hops`-th entry from the
/// right. Anything left of that was written by the client and proves nothing.
fn client_address(req: &HttpRequest, hops: usize) -> Option<String> {
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries
        .len()
        .checked_sub(hops)
        .and_then(|i| entries.get(i))
        .and_then(|a| a.parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string())
        .or(peer)
}

/// A header as text. Present but not visible ASCII is a malformed request, not "absent".
pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Result<Option<&'a str>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            ApiError(Error::invalid_request(format!(
                "the {name} header is not ASCII"
            )))
        }),
    }
}
