//! The one background task: every second, poll the database for credential changes and
//! revocations and free the abuse limiter's windows gone by; rotate the signing key when it is due; once an hour, forget revocations of
//! expired tokens and prune old audit events. All on the injected `Clock`, so tests that move
//! the clock move this too.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use crate::domain::audit::{AuditEvent, Caller};
use crate::http::AppState;

pub struct Schedule {
    /// Rotate the signing key when the newest is this old (0: never on schedule).
    pub key_rotation_secs: i64,
    /// Audit events older than this are deleted.
    pub audit_retention_ms: i64,
}

const HOUR_MS: i64 = 3_600_000;
/// Usage counts go to the database this often (and when the server stops).
const USAGE_FLUSH_SECS: i64 = 2;

/// Runs for as long as the application lives (it holds only a weak reference to it).
pub fn spawn(state: &web::Data<AppState>, schedule: Schedule) {
    let weak = Arc::downgrade(&state.clone().into_inner());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_hourly: Option<i64> = None;
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            let now_ms = state.clock.now_millis();
            let now = now_ms.div_euclid(1000);
            state.authority.sync(now).await;
            // A widget key rotated (by the CLI or another instance) moves the epoch too.
            state
                .widgets
                .sync_keys(
                    &state.authority.store,
                    state.authority.freshness.epoch(),
                    now,
                )
                .await;
            state.authority.limits.sweep(now);
            if now % USAGE_FLUSH_SECS == 0 {
                let auth = &state.authority;
                if let Err(e) = auth.usage.flush(&auth.store, now_ms).await {
                    tracing::warn!(error = %e, "usage not flushed yet; kept and retried");
                }
            }
            rotate_if_due(&state, schedule.key_rotation_secs, now_ms).await;
            if last_hourly.is_none_or(|t| now_ms - t >= HOUR_MS) {
                last_hourly = Some(now_ms);
                hourly(&state, schedule.audit_retention_ms, now_ms).await;
            }
        }
    });
}

async fn rotate_if_due(state: &AppState, every_secs: i64, now_ms: i64) {
    let auth = &state.authority;
    let now = now_ms.div_euclid(1000);
    match auth
        .tokens
        .rotate_if_due(&auth.store, every_secs, now)
        .await
    {
        Ok(Some(r)) => {
            tracing::info!(kid = %r.kid, activates_at = r.activates_at, "scheduled key rotation");
            let caller = Caller {
                source: Some("schedule".into()),
                request_id: None,
            };
            if let Err(e) = auth
                .audit
                .record(AuditEvent::key_rotated(
                    &caller,
                    now_ms,
                    &r.kid,
                    r.activates_at,
                ))
                .await
            {
                tracing::error!(error = %e, kid = %r.kid, "the key rotation is not on record");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "scheduled key rotation failed"),
    }
}

async fn hourly(state: &AppState, audit_retention_ms: i64, now_ms: i64) {
    let store = &state.authority.store;
    // Revocations of tokens that expired are no longer needed.
    if let Err(e) = store
        .purge_revocations(now_ms.div_euclid(1000) - 3600)
        .await
    {
        tracing::warn!(error = %e, "cannot purge old revocations");
    }
    if let Err(e) = store.prune_audit_events(now_ms - audit_retention_ms).await {
        tracing::warn!(error = %e, "cannot prune old audit events");
    }
    // No retry of a usage flush comes a day late.
    if let Err(e) = store.prune_usage_flushes(now_ms - 24 * HOUR_MS).await {
        tracing::warn!(error = %e, "cannot prune old usage flush ids");
    }
}
