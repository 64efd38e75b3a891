//! `POST /getprofile`: a customer's profile, for a partner holding an API key and a token.

use actix_web::{HttpResponse, web};

use crate::domain::profile;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Parsed;
use crate::wire::client_cert::ClientCertificate;
use crate::wire::dpop::DpopRequest;
use crate::wire::profile_request::{ProfileBody, ProfileRequest};

#[utoipa::path(
    post,
    path = "/getprofile",
    params(
        ("customer-auth" = Option<String>, Header, pattern = r"^[Jj][Ww][Tt] +\S+$", description = "`JWT <customer token>`"),
        ("X-Customer-Id" = Option<String>, Header, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The opaque customer id"),
        ("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449 §7.1), required with a DPoP-bound token (`Authorization: DPoP <token>`)"),
    ),
    request_body(content = Option<ProfileBody>, content_type = "application/json",
        description = "Optional: `{\"customer_token\": …}` or `{\"customer_id\": …}`"),
    // Both at once: an API key *and* a bearer token with profile:read (or a DPoP-bound one,
    // `Authorization: DPoP <token>` with a `DPoP` proof header, RFC 9449 §7.1).
    security(("bearer" = ["profile:read"], "api_key" = [])),
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
    Parsed(request): Parsed<ProfileRequest>,
    dpop: DpopRequest,
    cert: ClientCertificate,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_secs();
    let profile = profile::get_profile(&state.authority, request, &dpop, &cert, now).await?;
    Ok(HttpResponse::Ok().json(profile))
}
