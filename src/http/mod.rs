//! The HTTP face of tollgate, and the only layer that knows actix-web: routing, extractors,
//! error mapping, CORS and middleware. The handlers in `routes/` are thin: extract, call the
//! domain, map the result.

pub mod conn;
pub mod cors;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod routes;
mod state;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};

use crate::widgets::{CorsPolicy, Widgets};
use error::generic;
pub use state::AppState;

/// Every route. `login_cors` is the origin policy of the login endpoint, `widgets` carry their
/// own.
pub fn routes(cfg: &mut web::ServiceConfig, widgets: &Widgets, login_cors: &CorsPolicy) {
    use routes::{customer, discovery, health, profile, revocation, token};
    for path in ["/access_token", "/oauth/access_token"] {
        cfg.service(resource(path, "POST").route(web::post().to(token::issue)));
    }
    for path in ["/customer_authenticate", "/auth/customer_authenticate"] {
        // A customer logs in from the company's pages, which may live on another origin.
        let login = resource(path, "POST, OPTIONS")
            .route(web::post().to(customer::authenticate))
            .route(options());
        cors::service(cfg, login, login_cors, &customer::CORS);
    }
    for path in ["/getprofile", "/account/getprofile"] {
        cfg.service(resource(path, "POST").route(web::post().to(profile::get)));
    }
    cfg.service(resource("/revoke", "POST").route(web::post().to(revocation::revoke)))
        .service(resource("/introspect", "POST").route(web::post().to(revocation::introspect)));
    cfg.service(readable(
        "/.well-known/oauth-authorization-server",
        discovery::metadata,
    ))
    .service(readable("/.well-known/jwks.json", discovery::jwks))
    .service(readable("/healthz", health::live))
    .service(readable("/readyz", health::ready))
    .service(readable("/openapi.json", openapi::document));
    routes::widgets::routes(cfg, widgets);
}

/// A resource whose other methods get a JSON 405 with the `Allow` header RFC 9110 §15.5.6
/// requires.
pub fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, allow))
            .json(generic(StatusCode::METHOD_NOT_ALLOWED))
    }))
}

/// A GET resource that answers HEAD the same way (RFC 9110 §9.3.2; actix-http sends the head
/// and drops the body).
pub fn readable<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    resource(path, "GET, HEAD")
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
}

/// `OPTIONS` that is not a CORS preflight (actix-cors answers those), or on a resource without
/// CORS: nothing to say, but no 405 either.
pub fn options() -> actix_web::Route {
    web::method(Method::OPTIONS).to(|| async { HttpResponse::NoContent().finish() })
}

pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(generic(StatusCode::NOT_FOUND))
}
