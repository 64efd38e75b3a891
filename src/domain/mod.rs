//! The authorization server's logic, free of any HTTP framework: handlers parse (`wire`), call
//! a function here with the current time, and map its `Error` (`http::error`).

pub mod audit;
pub mod cache;
pub mod client_auth;
pub mod customer_login;
mod error;
pub mod grant;
pub mod lifecycle;
pub mod limits;
pub mod profile;
pub mod provisioning;
pub mod revocation;

pub use error::Error;

use crate::security::hashing::Hasher;
use crate::security::tokens::TokenService;
use crate::store::{ApiKeyRecord, ClientRecord, Store};
use cache::{CredentialCache, Freshness};

/// The services every operation needs, built once at start-up.
pub struct Authority {
    pub store: Store,
    pub hasher: Hasher,
    pub tokens: TokenService,
    pub freshness: Freshness,
    pub clients: CredentialCache<ClientRecord>,
    pub api_keys: CredentialCache<ApiKeyRecord>,
    pub revocations: revocation::Revocations,
    pub active_clients: client_auth::ActiveClients,
    pub audit: audit::Auditor,
    pub limits: limits::Limiter,
}

impl Authority {
    /// Needs a running Tokio runtime: it starts the audit writer.
    pub fn new(
        store: Store,
        hasher: Hasher,
        tokens: TokenService,
        limits: limits::Limiter,
    ) -> Result<Self, Error> {
        Ok(Self {
            limits,
            audit: audit::Auditor::start(store.clone()),
            store,
            hasher,
            tokens,
            freshness: Freshness::default(),
            clients: CredentialCache::new()?,
            api_keys: CredentialCache::new()?,
            revocations: revocation::Revocations::default(),
            active_clients: client_auth::ActiveClients::default(),
        })
    }

    /// One poll of the database: new revocations, and the cache epoch, which empties the
    /// credential caches when a client or API key changed. A failed poll leaves the caches to go
    /// stale (and be bypassed) rather than trusted.
    pub async fn sync(&self, now_secs: i64) {
        let polled = async {
            let rows = self
                .store
                .revocations_since(self.revocations.cursor())
                .await?;
            let epoch = self.store.cache_epoch().await?;
            Ok::<_, crate::store::StoreError>((rows, epoch))
        };
        match polled.await {
            Ok((rows, epoch)) => {
                self.revocations.apply(rows, now_secs);
                let moved = self.freshness.synced(epoch);
                if (moved || !self.active_clients.is_loaded())
                    && let Err(e) = self.active_clients.reload(&self.store).await
                {
                    tracing::warn!(error = %e, "cannot load the enabled clients");
                }
                if moved {
                    self.clients.clear();
                    self.api_keys.clear();
                    tracing::debug!(epoch, "credentials changed: caches emptied");
                    // Signing keys changing (a rotation) moves the epoch too.
                    if let Err(e) = self.tokens.reload(&self.store, now_secs).await {
                        tracing::warn!(error = %e, "cannot reload signing keys");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot poll for credential changes"),
        }
    }
}
