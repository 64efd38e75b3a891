//! Cross-cutting response behaviour, set in one place: security headers, a request id, a JSON
//! body for every error the framework produces itself, and one log line per request.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, ErrorHandlerResponse, Next};
use actix_web::{Error, HttpResponse};

use crate::http::error::generic;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id, for handlers (it goes into the audit trail).
#[derive(Clone)]
pub struct RequestId(pub String);

/// Headers every response carries unless a handler set its own: tokens and profiles must never
/// sit in a cache (RFC 6749 §5.1), and browsers must not sniff or frame what we send.
pub fn security_headers() -> DefaultHeaders {
    SECURITY_HEADERS
        .iter()
        .fold(DefaultHeaders::new(), |headers, (name, value)| {
            headers.add((name.clone(), *value))
        })
}

/// The headers of [`security_headers`], also written by `conn` on responses actix-http makes.
pub const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CACHE_CONTROL, "no-store"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// Gives framework-made errors (unknown path, wrong method, oversized body, …) the same JSON
/// shape as ours. Responses that already are JSON pass through untouched.
pub fn json_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.append_header((name.clone(), value.clone()));
        }
    }
    let res = ServiceResponse::new(req, new.json(generic(status)));
    Ok(ErrorHandlerResponse::Response(res.map_into_right_body()))
}

/// A request id unique to this process and, through a random prefix, across instances: 32
/// hex digits like a UUID's. Request ids correlate log lines and audit rows; they need not be
/// unpredictable, so a counter spares every request a random-number syscall (issue 15).
fn next_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    format!("{prefix:016x}{:016x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Request id (taken from `X-Request-Id` when it is sane, else generated), a tracing span for
/// the request, and one log line: method, path, status, latency. Never headers or bodies.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = crate::clock::instant();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(next_request_id, str::to_owned);
    actix_web::HttpMessage::extensions_mut(&req).insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.path().to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    let result = tracing::Instrument::instrument(next.call(req), span.clone()).await;
    let mut res = result?.map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let micros = elapsed.as_micros();
    if let Some(state) = res
        .request()
        .app_data::<actix_web::web::Data<crate::http::AppState>>()
    {
        // The route template (never the raw path: its values are the caller's).
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state
            .authority
            .metrics
            .http_request(route, status, elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(%method, %path, status, micros, "request failed");
        } else {
            tracing::debug!(%method, %path, status, micros, "request");
        }
    });
    Ok(res)
}
