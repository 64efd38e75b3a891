//! The authorization server's logic, free of any HTTP framework: handlers parse (`wire`), call
//! a function here with the current time, and map its `Error` (`http::error`).

pub mod audit;
pub mod cache;
pub mod client_assertion;
pub mod client_auth;
pub mod client_keys;
pub mod customer_login;
pub mod dpop;
mod error;
pub mod grant;
pub mod lifecycle;
pub mod limits;
pub mod mtls;
pub mod profile;
pub mod provisioning;
pub mod replay;
pub mod revocation;
pub mod usage;

pub use error::{DpopAt, Error};

use crate::security::hashing::Hasher;
use crate::security::tokens::TokenService;
use crate::store::{ApiKeyRecord, ClientRecord, Store};
use cache::{CredentialCache, Freshness};

/// Where the audit trail and the usage counts go.
pub struct Records {
    pub spool: crate::store::spool::Spool,
    /// One audit row per issued token, besides the usage counts.
    pub audit_every_token: bool,
}

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
    pub usage: usage::Usage,
    pub metrics: crate::metrics::Metrics,
    pub limits: limits::Limiter,
    /// `private_key_jwt` clients' keys, and the `jti`s their assertions used.
    pub client_keys: client_keys::ClientKeys,
    pub replay: replay::ReplayGuard,
    pub assertion_policy: client_assertion::AssertionPolicy,
    /// DPoP proof checks (RFC 9449); their `jti`s go to `replay` too.
    pub dpop: dpop::DpopPolicy,
    /// DPoP proof headers already read (`security::dpop::ProofKeys`).
    pub proof_keys: crate::security::dpop::ProofKeys,
}

impl Authority {
    /// Needs a running Tokio runtime: it starts the audit writer and the `jti` writer.
    pub fn new(
        store: Store,
        hasher: Hasher,
        tokens: TokenService,
        limits: limits::Limiter,
        records: Records,
    ) -> Result<Self, Error> {
        Ok(Self {
            limits,
            audit: audit::Auditor::start(store.clone(), records.spool, records.audit_every_token),
            usage: usage::Usage::new(uuid::Uuid::new_v4().simple().to_string()),
            metrics: crate::metrics::Metrics::new(),
            replay: replay::ReplayGuard::new(store.clone(), None, String::new()),
            store,
            hasher,
            tokens,
            freshness: Freshness::default(),
            clients: CredentialCache::new()?,
            api_keys: CredentialCache::new()?,
            revocations: revocation::Revocations::default(),
            active_clients: client_auth::ActiveClients::default(),
            client_keys: client_keys::ClientKeys::default(),
            assertion_policy: client_assertion::AssertionPolicy::default(),
            dpop: dpop::DpopPolicy::default(),
            proof_keys: crate::security::dpop::ProofKeys::default(),
        })
    }

    pub fn with_dpop(mut self, policy: dpop::DpopPolicy) -> Self {
        self.dpop = policy;
        self
    }

    /// Client assertions checked under `policy`, their `jti`s kept in Redis at `redis_url`
    /// (under `redis_prefix`) when given, else in the database.
    pub fn with_assertions(
        mut self,
        policy: client_assertion::AssertionPolicy,
        redis_url: Option<String>,
        redis_prefix: String,
    ) -> Self {
        self.assertion_policy = policy;
        self.replay = replay::ReplayGuard::new(self.store.clone(), redis_url, redis_prefix);
        self
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
                    self.client_keys.clear();
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
