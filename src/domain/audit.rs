//! The audit trail, which loses nothing. Every event is on record (a database row, or a line
//! in the fsynced on-disk spool while the database is away) before the request that caused it
//! is answered: `record` waits for that. Events are written by one background task in batches
//! of whatever is queued (group commit), so a burst costs one INSERT, not one per event. When
//! neither the database nor the spool can take an event (an outage long enough to fill the
//! spool), `record` fails and the request is answered 503 instead of going unrecorded. The spool
//! is written to the database as soon as it is reachable again, also after a restart.
//!
//! Token issuance, tens of thousands a second, is accounted for by `usage` (per client and
//! minute) instead; one row per token is an option (`audit_every_token`) under the same rule.
//! Old rows are pruned by the maintenance task on the injected clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

pub use crate::store::AuditEvent;
use crate::store::spool::{Spool, SpoolFile};
use crate::store::{Store, StoreError};

/// Events waiting for the writer; a full queue makes `record` wait (backpressure, not drops).
const QUEUE: usize = 16_384;
/// Rows per COPY (PostgreSQL) or per transaction (SQLite).
const BATCH: usize = 2_000;
/// How often the writer retries the spool while the database is away.
const RETRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    TokenIssued,
    ClientAuthFailed,
    LoginSucceeded,
    LoginFailed,
    ClientCreated,
    ClientUpdated,
    ApiKeyCreated,
    TokenRevoked,
    SecretRotated,
    SecretRevoked,
    ApiKeyRevoked,
    KeyRotated,
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
            Self::ClientUpdated => "client_updated",
            Self::ApiKeyCreated => "api_key_created",
            Self::TokenRevoked => "token_revoked",
            Self::SecretRotated => "secret_rotated",
            Self::SecretRevoked => "secret_revoked",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::KeyRotated => "key_rotated",
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
            event: std::borrow::Cow::Borrowed(kind.as_str()),
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

/// The event could not be put on record: the request that caused it must not succeed.
#[derive(Debug, thiserror::Error)]
#[error("the audit trail cannot take events: {0}")]
pub struct AuditUnavailable(String);

type Ack = oneshot::Sender<Result<(), AuditUnavailable>>;

enum Msg {
    Event(AuditEvent, Ack),
    Flush(oneshot::Sender<()>),
}

pub struct Auditor {
    tx: mpsc::Sender<Msg>,
    written: Arc<AtomicU64>,
    spool: Spool,
    every_token: bool,
}

impl Auditor {
    /// Starts the writer on the current runtime. `every_token`: one row per issued token too.
    pub fn start(store: Store, spool: Spool, every_token: bool) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let written = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_loop(store, spool.clone(), rx, Arc::clone(&written)));
        Self {
            tx,
            written,
            spool,
            every_token,
        }
    }

    /// Puts `event` on record, durably, before returning.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditUnavailable> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Event(event, ack))
            .await
            .map_err(|_| AuditUnavailable("the writer has stopped".into()))?;
        done.await
            .map_err(|_| AuditUnavailable("the writer has stopped".into()))?
    }

    /// Whether each issued token gets its own row (else it is counted by `usage`).
    pub fn every_token(&self) -> bool {
        self.every_token
    }

    /// Waits until everything recorded so far is written or spooled.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Events queued for the writer right now.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Events written to the database since start (spooled ones count once replayed).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }
}

async fn write_loop(
    store: Store,
    spool: Spool,
    mut rx: mpsc::Receiver<Msg>,
    written: Arc<AtomicU64>,
) {
    let mut retry = tokio::time::interval(RETRY_EVERY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A previous run may have left events in the spool.
    let mut spooled = spool.has(SpoolFile::Audit);
    loop {
        let first = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
            _ = retry.tick(), if spooled => {
                spooled = !replay(&store, &spool, &written).await;
                continue;
            }
        };
        // Group commit: everything queued by now goes in this batch.
        let mut batch = Vec::new();
        let mut acks = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Event(e, ack) => {
                    batch.push(e);
                    acks.push(ack);
                }
                Msg::Flush(ack) => flushes.push(ack),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        let outcome = if batch.is_empty() {
            Ok(())
        } else if !spooled && store.insert_audit_events(&batch).await.is_ok() {
            written.fetch_add(batch.len() as u64, Ordering::Relaxed);
            Ok(())
        } else {
            // The database is away (or older events wait in the spool: keep their order).
            match spool.append(SpoolFile::Audit, &batch).await {
                Ok(()) => {
                    if !spooled {
                        tracing::warn!(
                            events = batch.len(),
                            "database away: audit events spooled to disk"
                        );
                    }
                    spooled = true;
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(error = %e, events = batch.len(), "audit events can be neither written nor spooled: refusing the requests");
                    Err(e.to_string())
                }
            }
        };
        for ack in acks {
            let _ = ack.send(outcome.clone().map_err(AuditUnavailable));
        }
        // While spooling, the database is tried again on the retry tick only: each attempt may
        // wait for the pool's acquire timeout.
        for ack in flushes {
            let _ = ack.send(());
        }
    }
}

/// Writes the spooled events to the database and empties the spool; true when it is empty.
/// (A crash between the INSERT and the emptying would write them twice: a duplicate row, never
/// a lost one.)
async fn replay(store: &Store, spool: &Spool, written: &AtomicU64) -> bool {
    let events: Vec<AuditEvent> = match spool.read(SpoolFile::Audit).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the audit spool");
            return false;
        }
    };
    if let Err(e) = store.insert_audit_events(&events).await {
        tracing::debug!(error = %e, "audit spool not written yet");
        return false;
    }
    if let Err(e) = spool.clear(SpoolFile::Audit).await {
        tracing::error!(error = %e, "cannot empty the audit spool after writing it");
        return false;
    }
    written.fetch_add(events.len() as u64, Ordering::Relaxed);
    tracing::info!(events = events.len(), "audit spool written to the database");
    true
}
