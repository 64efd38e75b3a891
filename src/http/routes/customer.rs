//! `POST /customer_authenticate`: customer login for a customer token.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::audit::Caller;
use crate::domain::customer_login;
use crate::http::AppState;
use crate::http::cors;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Parsed;
use crate::wire::login::{LoginForm, LoginRequest, SessionMode, session_mode};

/// A login page on another origin posts a form or JSON (the latter is preflighted); it sends
/// no `Authorization`: the credentials are in the body.
pub const CORS: cors::Allowed = cors::Allowed {
    methods: &[Method::POST],
    headers: &[header::CONTENT_TYPE],
};

/// All three fields are strings: the shape partner platforms already parse.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Milliseconds since the Unix epoch.
    pub issued_at: String,
    /// The customer token; its `sub` is the opaque customer id.
    #[serde(rename = "JWT")]
    pub jwt: String,
    /// Seconds until the token expires.
    pub expires_in: String,
}

#[utoipa::path(
    post,
    path = "/customer_authenticate",
    params(("session" = Option<SessionMode>, Query, description = "`cookie` also sets the token as an HttpOnly session cookie")),
    request_body(content(
        (LoginForm = "application/x-www-form-urlencoded"),
        (LoginForm = "application/json"),
    )),
    responses(
        (status = 200, description = "A customer token", body = LoginResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Unknown user or wrong password (one answer for both)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Busy or database unavailable; see Retry-After", body = ErrorBody),
    )
)]
pub async fn authenticate(
    req: HttpRequest,
    Parsed(login): Parsed<LoginRequest>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = session_mode(req.query_string(), state.customer_session)?;
    let now = state.clock.now_millis();
    let issued = customer_login::login(&state.authority, login, &caller, now).await?;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if session == SessionMode::Cookie {
        res.cookie(session_cookie(
            state.session_cookie_name.clone(),
            issued.token.clone(),
            issued.expires_in,
        ));
    }
    Ok(res.json(LoginResponse {
        issued_at: issued.issued_at_millis.to_string(),
        jwt: issued.token,
        expires_in: issued.expires_in.to_string(),
    }))
}

/// A cookie holding a signed token: Secure + HttpOnly, so it travels only over HTTPS and never
/// reaches scripts; SameSite=Lax keeps it on same-site widget requests and off cross-site
/// POSTs. Used for the customer session and the anonymous visitor alike.
pub fn session_cookie(name: String, token: String, max_age_secs: u64) -> Cookie<'static> {
    Cookie::build(name, token)
        .path("/")
        .max_age(Duration::seconds(
            i64::try_from(max_age_secs).unwrap_or(i64::MAX),
        ))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .finish()
}
