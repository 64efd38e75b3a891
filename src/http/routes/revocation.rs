//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::audit::Caller;
use crate::domain::revocation;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Parsed;
use crate::security::tokens::{AccessClaims, Confirmation};
use crate::wire::client_cert::ClientCertificate;
use crate::wire::token_request::{TokenOperation, TokenOperationForm};

#[utoipa::path(
    post,
    path = "/revoke",
    request_body(content = TokenOperationForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (RFC 7009 §2.2)"),
        (status = 400, description = "Malformed request, or a token issued to another client", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Busy or database unavailable; see Retry-After", body = ErrorBody),
    )
)]
pub async fn revoke(
    Parsed(op): Parsed<TokenOperation>,
    cert: ClientCertificate,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_secs();
    revocation::revoke(&state.authority, op, &cert, &caller, now).await?;
    Ok(HttpResponse::Ok().finish())
}

/// RFC 7662 §2.2 introspection response.
#[derive(Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<IntrospectionDetails>,
}

#[derive(Serialize)]
pub struct IntrospectionDetails {
    scope: String,
    client_id: String,
    token_type: &'static str,
    exp: i64,
    iat: i64,
    sub: String,
    /// As issued: a string for one audience, an array for several.
    aud: crate::types::Audience,
    iss: String,
    jti: String,
    /// RFC 7800 §3.1: what the token is bound to (RFC 9449 §6.2: `jkt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
}

impl From<AccessClaims> for IntrospectionDetails {
    fn from(c: AccessClaims) -> Self {
        Self {
            scope: c.scope,
            client_id: c.client_id,
            // RFC 9449 §6.2: a bound token's type is DPoP.
            token_type: if c.cnf.as_ref().is_some_and(|c| c.jkt.is_some()) {
                "DPoP"
            } else {
                "Bearer"
            },
            exp: c.exp,
            iat: c.iat,
            sub: c.sub,
            aud: c.aud,
            iss: c.iss,
            jti: c.jti,
            cnf: c.cnf,
        }
    }
}

#[utoipa::path(
    post,
    path = "/introspect",
    request_body(content = TokenOperationForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "RFC 7662 §2.2: `active` and, when true, the token's claims", body = Introspection),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "invalid_client; or invalid_token: the holder of a certificate-bound token asked about it without that certificate (RFC 8705 §3.2)", body = ErrorBody),
        (status = 403, description = "The client is not allowed the introspect scope", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Busy or database unavailable; see Retry-After", body = ErrorBody),
    )
)]
pub async fn introspect(
    Parsed(op): Parsed<TokenOperation>,
    cert: ClientCertificate,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_secs();
    let claims = revocation::introspect(&state.authority, op, &cert, &caller, now).await?;
    Ok(match claims {
        Some(c) => HttpResponse::Ok().json(Introspection {
            active: true,
            details: Some(c.into()),
        }),
        None => HttpResponse::Ok().json(json!({"active": false})),
    })
}
