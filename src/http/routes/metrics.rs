//! `GET /metrics` (Prometheus), served only on the separate metrics listener
//! (`TOLLGATE_METRICS_LISTEN`), never on the public one.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, web};

use crate::http::AppState;
use crate::metrics::Readings;
use crate::security::es256;

pub async fn render(state: web::Data<AppState>) -> HttpResponse {
    let auth = &state.authority;
    let (idle, in_use) = auth.store.pool_connections();
    let now = state.clock.now_secs();
    let readings = Readings {
        hash_queue_depth: auth.hasher.queue_depth(),
        hash_rejected: auth.hasher.rejected(),
        hash_yielded: auth.hasher.yielded(),
        db_pool_idle: idle,
        db_pool_in_use: in_use,
        audit_queue_depth: i64::try_from(auth.audit.queue_depth()).unwrap_or(i64::MAX),
        audit_events_written: auth.audit.written(),
        signing_key_age_seconds: auth
            .tokens
            .keys()
            .active_created_at(now)
            .map_or(0, |created| (now - created).max(0)),
        es256_key_tables: i64::try_from(es256::TABLES.held()).unwrap_or(i64::MAX),
    };
    match auth.metrics.render(&readings) {
        Ok(text) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, OPENMETRICS))
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// What the encoder writes (Prometheus reads it, with `_total` counters and `# EOF`).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
