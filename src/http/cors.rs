//! A CORS policy (`widgets::cors`: a widget profile's, or the login endpoint's), spoken by
//! actix-cors: it answers the preflight and adds the response headers; tollgate keeps the
//! policy and its start-up checks.

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{Resource, web};

use crate::widgets::CorsPolicy;

/// Preflight answers may be cached this long (seconds).
const PREFLIGHT_MAX_AGE: usize = 600;

/// What a page on another origin may send to a resource: the preflight's answer.
pub struct Allowed {
    pub methods: &'static [Method],
    pub headers: &'static [HeaderName],
}

/// Registers `resource` under `policy`, for requests as `allowed` says.
pub fn service(
    cfg: &mut web::ServiceConfig,
    resource: Resource,
    policy: &CorsPolicy,
    allowed: &Allowed,
) {
    match middleware(policy, allowed) {
        None => {
            cfg.service(resource);
        }
        Some(cors) => {
            // Responses to an origin list differ by origin: caches must key on it. (actix-cors'
            // own Vary names the preflight headers too; one `Origin` says what varies.)
            let vary = match policy {
                CorsPolicy::List { .. } => DefaultHeaders::new().add((header::VARY, "Origin")),
                _ => DefaultHeaders::new(),
            };
            cfg.service(
                resource
                    .wrap(cors)
                    .wrap(from_fn(credentials_only_with_origin))
                    .wrap(vary),
            );
        }
    }
}

/// `None` for a same-origin-only policy: no CORS headers at all.
fn middleware(policy: &CorsPolicy, allowed: &Allowed) -> Option<Cors> {
    let base = || {
        Cors::default()
            .allowed_methods(allowed.methods.iter().cloned())
            .allowed_headers(allowed.headers.iter().cloned())
            .max_age(PREFLIGHT_MAX_AGE)
            // Another origin is answered without CORS headers, not refused: the browser then
            // withholds the response, and same-origin callers are unaffected.
            .block_on_origin_mismatch(false)
            .disable_vary_header()
    };
    match policy {
        CorsPolicy::None => None,
        CorsPolicy::Any => Some(base().allow_any_origin().send_wildcard()),
        CorsPolicy::List {
            origins,
            credentials,
        } => {
            let origins = origins.clone();
            // Origins compare case-insensitively (RFC 6454 §6.2 serialises scheme and host in
            // lower case, but a hand-typed Origin need not be).
            let cors = base().allowed_origin_fn(move |origin, _| {
                origin
                    .to_str()
                    .is_ok_and(|o| origins.iter().any(|a| a.eq_ignore_ascii_case(o)))
            });
            Some(if *credentials {
                cors.supports_credentials()
            } else {
                cors
            })
        }
    }
}

/// actix-cors sends `Access-Control-Allow-Credentials` on every response of a credentialed
/// policy, also to origins it does not allow; the Fetch standard pairs it with an allowed
/// origin, so it goes where `Access-Control-Allow-Origin` does not.
async fn credentials_only_with_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
    }
    Ok(res)
}
