//! The audit trail. Events are queued without waiting (a bounded channel) and written by one
//! background task in batches of up to 2000 rows or every 100 ms, so issuing a token never waits
//! for an INSERT. If the database falls behind or is away, the queue fills and further events
//! are dropped and counted, never blocking a request. Old rows are pruned by the maintenance
//! task (`app::maintenance`) on the injected clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

pub use crate::store::AuditEvent;
use crate::store::{Store, StoreError};

/// About 6 MiB of queued events at most: half a second of a saturated token endpoint.
const QUEUE: usize = 16_384;
/// Rows per COPY (PostgreSQL) or per transaction (SQLite). Larger batches measured worse here:
/// the queue fills while one long write runs.
const BATCH: usize = 2_000;
const FLUSH_EVERY: Duration = Duration::from_millis(100);
const IMPORTANT_QUEUE: usize = 4_096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    TokenIssued,
    ClientAuthFailed,
    LoginSucceeded,
    LoginFailed,
    ClientCreated,
    ApiKeyCreated,
    TokenRevoked,
    SecretRotated,
    SecretRevoked,
    ApiKeyRevoked,
    KeyRotated,
    ClientUpdated,
    ClientDisabled,
    ClientEnabled,
    ClientDeleted,
    CustomerCreated,
    CustomerUpdated,
    CustomerDisabled,
    CustomerEnabled,
    CustomerDeleted,
    CustomerPasswordSet,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenIssued => "token_issued",
            Self::ClientAuthFailed => "client_auth_failed",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::ClientCreated => "client_created",
            Self::ApiKeyCreated => "api_key_created",
            Self::TokenRevoked => "token_revoked",
            Self::SecretRotated => "secret_rotated",
            Self::SecretRevoked => "secret_revoked",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::KeyRotated => "key_rotated",
            Self::ClientUpdated => "client_updated",
            Self::ClientDisabled => "client_disabled",
            Self::ClientEnabled => "client_enabled",
            Self::ClientDeleted => "client_deleted",
            Self::CustomerCreated => "customer_created",
            Self::CustomerUpdated => "customer_updated",
            Self::CustomerDisabled => "customer_disabled",
            Self::CustomerEnabled => "customer_enabled",
            Self::CustomerDeleted => "customer_deleted",
            Self::CustomerPasswordSet => "customer_password_set",
        }
    }
}

/// Who asked, as far as the audit trail is concerned.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub source: Option<String>,
    pub request_id: Option<String>,
}

impl Caller {
    pub fn cli() -> Self {
        Self {
            source: Some("cli".into()),
            request_id: None,
        }
    }
}

impl AuditEvent {
    pub fn new(kind: AuditKind, caller: &Caller, at_ms: i64) -> Self {
        Self {
            at_ms,
            event: kind.as_str(),
            client_id: None,
            customer_id: None,
            source: caller.source.clone(),
            request_id: caller.request_id.clone(),
            detail: None,
        }
    }

    pub fn client(mut self, id: &str) -> Self {
        self.client_id = Some(id.to_owned());
        self
    }

    pub fn customer(mut self, id: &str) -> Self {
        self.customer_id = Some(id.to_owned());
        self
    }

    pub fn detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }

    /// A signing key was rotated in, by hand or on schedule.
    pub fn key_rotated(caller: &Caller, at_ms: i64, kid: &str, activates_at: i64) -> Self {
        Self::new(AuditKind::KeyRotated, caller, at_ms)
            .detail(format!("kid={kid} activates_at={activates_at}"))
    }

    /// Writes this one event now, for the CLI: a short-lived process has no auditor queue, and an
    /// admin action must be on record before the command reports success.
    pub async fn write_now(self, store: &Store) -> Result<(), StoreError> {
        store.insert_audit_events(&[self]).await
    }
}

enum Msg {
    Event(AuditEvent),
    Flush(oneshot::Sender<()>),
}

pub struct Auditor {
    /// `token_issued`, the one high-volume event.
    tx: mpsc::Sender<Msg>,
    /// Everything else (failures, logins, revocations): rare, and what forensics needs, so a
    /// token flood filling the main queue never crowds it out. Drained first.
    important: mpsc::Sender<AuditEvent>,
    dropped: Arc<AtomicU64>,
}

impl Auditor {
    /// Starts the writer on the current runtime.
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (important, important_rx) = mpsc::channel(IMPORTANT_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_loop(store, rx, important_rx, Arc::clone(&dropped)));
        Self {
            tx,
            important,
            dropped,
        }
    }

    pub fn record(&self, event: AuditEvent) {
        let sent = if event.event == AuditKind::TokenIssued.as_str() {
            self.tx.try_send(Msg::Event(event)).is_ok()
        } else {
            self.important.try_send(event).is_ok()
        };
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until everything recorded so far is written (or given up on).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<Msg>,
    mut important: mpsc::Receiver<AuditEvent>,
    dropped: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut reported_drops = 0;
    loop {
        let first = tokio::select! {
            biased;
            Some(e) = important.recv() => Msg::Event(e),
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
        };
        let mut acks = Vec::new();
        let mut next = Some(first);
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        loop {
            match next.take() {
                Some(Msg::Event(e)) => batch.push(e),
                Some(Msg::Flush(ack)) => {
                    acks.push(ack);
                    break;
                }
                None => {}
            }
            while let Ok(e) = important.try_recv() {
                batch.push(e);
            }
            if batch.len() >= BATCH {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(msg)) => next = Some(msg),
                Ok(None) | Err(_) => break,
            }
        }
        // Everything recorded before a flush request is in one of the queues by now.
        while let Ok(e) = important.try_recv() {
            batch.push(e);
        }
        if !batch.is_empty() {
            // The important queue is drained first; keep each batch in time order.
            batch.sort_by_key(|e| e.at_ms);
            if let Err(e) = store.insert_audit_events(&batch).await {
                dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::warn!(error = %e, events = batch.len(), "audit events could not be written");
            }
            batch.clear();
        }
        for ack in acks {
            let _ = ack.send(());
        }
        let now_dropped = dropped.load(Ordering::Relaxed);
        if now_dropped != reported_drops {
            tracing::warn!(
                total = now_dropped,
                "audit events dropped so far (queue full or database away)"
            );
            reported_drops = now_dropped;
        }
    }
}
