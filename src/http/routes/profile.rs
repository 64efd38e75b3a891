//! `POST /getprofile`: a customer's profile, for a partner holding an API key and a token.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::domain::Error;
use crate::domain::profile::{self, ProfileRequest, RawProfileRequest};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{AppState, header};

/// One way to name the customer (the headers are the others); exactly one must be used.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ProfileBody {
    /// A customer token from /customer_authenticate.
    #[schema(min_length = 1)]
    customer_token: Option<String>,
    /// The opaque customer id.
    #[schema(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    customer_id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/getprofile",
    params(
        ("customer-auth" = Option<String>, Header, pattern = r"^[Jj][Ww][Tt] +\S+$", description = "`JWT <customer token>`"),
        ("X-Customer-Id" = Option<String>, Header, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The opaque customer id"),
    ),
    request_body(content = Option<ProfileBody>, content_type = "application/json",
        description = "Optional: `{\"customer_token\": …}` or `{\"customer_id\": …}`"),
    // Both at once: an API key *and* a bearer token with profile:read.
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
