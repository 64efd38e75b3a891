//! `POST /getprofile`: a customer's profile, for a partner holding an API key and a token.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::domain::Error;
use crate::domain::profile::{self, ProfileRequest, RawProfileRequest};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{AppState, header};

#[utoipa::path(
    post,
    path = "/getprofile",
    params(
        ("api-key" = Option<String>, Header, description = "The partner's API key (x-api-key is accepted too)"),
        ("customer-auth" = Option<String>, Header, description = "`JWT <customer token>`"),
        ("X-Customer-Id" = Option<String>, Header, description = "The opaque customer id"),
    ),
    request_body(content = Option<serde_json::Value>, content_type = "application/json",
        description = "Optional: `{\"customer_token\": …}` or `{\"customer_id\": …}`"),
    security(("bearer" = ["profile:read"])),
    responses(
        (status = 200, description = "The profile: customer_id, name, email, phone and further attributes", body = serde_json::Value),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Missing or invalid token, API key or customer token", body = ErrorBody),
        (status = 403, description = "insufficient_scope, or the API key may not call this API", body = ErrorBody),
        (status = 404, description = "Unknown customer", body = ErrorBody),
        (status = 503, description = "Busy or database unavailable; see Retry-After", body = ErrorBody),
    )
)]
pub async fn get(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let api_key = match (header(&req, "api-key")?, header(&req, "x-api-key")?) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError(Error::invalid_request(
                "api-key and x-api-key differ",
            )));
        }
        (a, b) => a.or(b),
    };
    let raw = RawProfileRequest {
        authorization: header(&req, "authorization")?,
        api_key,
        customer_auth: header(&req, "customer-auth")?,
        customer_id_header: header(&req, "x-customer-id")?,
        content_type: header(&req, "content-type")?,
        body: &body,
    };
    let request = ProfileRequest::parse(&raw);
    let profile = profile::get_profile(&state.authority, request, state.clock.now_secs()).await?;
    Ok(HttpResponse::Ok().json(profile))
}
