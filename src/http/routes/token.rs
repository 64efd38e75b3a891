//! `POST /access_token`: the client-credentials grant (RFC 6749 §4.4).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::client_credentials::{self, TokenGrant};
use crate::domain::token_request::{self, RawTokenRequest};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{AppState, caller, header};

/// RFC 6749 §5.1, plus the `client_id` and `issued_at` that Apigee-style clients read.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// An RFC 9068 JWT access token.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires (a JSON number, as RFC 6749 §5.1 shows).
    pub expires_in: u64,
    pub scope: String,
    pub client_id: String,
    /// Milliseconds since the Unix epoch, as a string.
    pub issued_at: String,
}

impl From<TokenGrant> for TokenResponse {
    fn from(g: TokenGrant) -> Self {
        Self {
            access_token: g.access_token,
            token_type: "Bearer",
            expires_in: g.expires_in,
            scope: g.scope,
            client_id: g.client_id,
            issued_at: g.issued_at_millis.to_string(),
        }
    }
}

/// The form fields of a token request. (Deserialize only so that `deny_unknown_fields`
/// documents `additionalProperties: false`; the server itself ignores unknown parameters, as
/// RFC 6749 §3.2 requires.)
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TokenForm {
    /// Must be `client_credentials` (may also be sent in the query string).
    #[schema(pattern = "^client_credentials$")]
    grant_type: String,
    /// Space-delimited; absent means the client's default scopes. An empty value counts as
    /// absent, as for every parameter here (RFC 6749 §3.1).
    #[schema(pattern = "^([\\x21\\x23-\\x5B\\x5D-\\x7E]+( [\\x21\\x23-\\x5B\\x5D-\\x7E]+)*)?$")]
    scope: Option<String>,
    /// For `client_secret_post` (empty counts as absent).
    #[schema(pattern = "^[\\x20-\\x7E]{0,128}$")]
    client_id: Option<String>,
    /// For `client_secret_post` (empty counts as absent).
    client_secret: Option<String>,
}

#[utoipa::path(
    post,
    path = "/access_token",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type, invalid_scope or unauthorized_client", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Busy or database unavailable; see Retry-After", body = ErrorBody),
    )
)]
pub async fn issue(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let raw = RawTokenRequest {
        content_type: header(&req, "content-type")?,
        authorization: header(&req, "authorization")?,
        query: req.query_string(),
        body: &body,
    };
    let request = token_request::parse(&raw)?;
    let grant = client_credentials::exchange(
        &state.authority,
        request,
        &caller(&req),
        state.clock.now_millis(),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse::from(grant)))
}
