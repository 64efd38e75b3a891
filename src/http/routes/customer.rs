//! `POST /customer_authenticate`: customer login for a customer token.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::SessionMode;
use crate::domain::Error;
use crate::domain::customer_login::{self, LoginRequest};
use crate::domain::form::Form;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{AppState, caller, header};

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

/// `?session=`: whether to also set the session cookie.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum SessionParam {
    Cookie,
    None,
}

/// The login fields, as a form or a JSON object.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LoginForm {
    #[schema(min_length = 1, max_length = 256)]
    username: String,
    #[schema(min_length = 1, max_length = 1024)]
    password: String,
}

#[utoipa::path(
    post,
    path = "/customer_authenticate",
    params(("session" = Option<SessionParam>, Query, description = "`cookie` also sets the token as an HttpOnly session cookie")),
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
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = session_mode(req.query_string(), state.customer_session)?;
    let login = LoginRequest::parse(header(&req, "content-type")?, &body)?;
    let issued = customer_login::login(
        &state.authority,
        login,
        &caller(&req),
        state.clock.now_millis(),
    )
    .await?;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if session == SessionMode::Cookie {
        // Secure + HttpOnly: the cookie travels only over HTTPS and never reaches scripts;
        // Lax keeps it on same-site widget requests and off cross-site POSTs.
        res.insert_header((
            header::SET_COOKIE,
            format!(
                "{}={}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
                state.session_cookie_name, issued.token, issued.expires_in
            ),
        ));
    }
    Ok(res.json(LoginResponse {
        issued_at: issued.issued_at_millis.to_string(),
        jwt: issued.token,
        expires_in: issued.expires_in.to_string(),
    }))
}

fn session_mode(query: &str, default: SessionMode) -> Result<SessionMode, ApiError> {
    let form = Form::parse(query.as_bytes()).map_err(|e| ApiError(Error::InvalidRequest(e)))?;
    match form.get("session") {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| ApiError(Error::invalid_request("session must be cookie or none"))),
    }
}
