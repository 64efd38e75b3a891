//! Liveness and readiness.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::domain::Error;
use crate::http::AppState;
use crate::http::error::ApiError;

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The process is up")))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "The database answers"),
    (status = 503, description = "The database does not answer", body = crate::http::error::ErrorBody),
))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.authority.store.ping()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Ok(Err(e)) => Err(ApiError(Error::from(e))),
        Err(_) => Err(ApiError(Error::Unavailable(
            "the readiness probe timed out".into(),
        ))),
    }
}
