//! `POST /access_token`: the client-credentials grant (RFC 6749 §4.4).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::audit::Caller;
use crate::domain::grant::{self, TokenGrant};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Parsed;
use crate::wire::client_cert::ClientCertificate;
use crate::wire::dpop::DpopRequest;
use crate::wire::token_request::{TokenForm, TokenRequest};

/// RFC 6749 §5.1, plus the `client_id` and `issued_at` that Apigee-style clients read.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// An RFC 9068 JWT access token.
    pub access_token: String,
    /// `DPoP` when the request carried a DPoP proof (the token is bound to its key, RFC 9449
    /// §5), else `Bearer`.
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
            token_type: g.token_type,
            expires_in: g.expires_in,
            scope: g.scope,
            client_id: g.client_id,
            issued_at: g.issued_at_millis.to_string(),
        }
    }
}

#[utoipa::path(
    post,
    path = "/access_token",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449 §4): the token is then bound to its key")),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type, invalid_scope, unauthorized_client, invalid_dpop_proof or use_dpop_nonce (with a DPoP-Nonce header)", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address, or the client is over its rate limit or quota; see Retry-After", body = ErrorBody),
        (status = 503, description = "Busy or database unavailable; see Retry-After", body = ErrorBody),
    )
)]
pub async fn issue(
    Parsed(request): Parsed<TokenRequest>,
    dpop: DpopRequest,
    cert: ClientCertificate,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_millis();
    let mut grant = grant::exchange(&state.authority, request, &dpop, &cert, &caller, now).await?;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if let Some(nonce) = grant.dpop_nonce.take() {
        res.insert_header(("DPoP-Nonce", nonce));
    }
    Ok(res.json(TokenResponse::from(grant)))
}
