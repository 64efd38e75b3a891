//! Client authentication at every endpoint that takes it (token, revocation, introspection):
//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1), through the credential
//! cache when the same secret verified recently, else against the stored argon2id hash;
//! `private_key_jwt` (`client_assertion`); or a client certificate, `tls_client_auth` and
//! `self_signed_tls_client_auth` (`mtls`).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use secrecy::ExposeSecret;

use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::client_assertion::{self, Endpoint};
use crate::domain::limits::Keys;
use crate::domain::usage::Credential;
use crate::domain::{Authority, Error, mtls};
use crate::metrics::AuthFailure;
use crate::security::hashing::bind;
use crate::store::{ClientAuth, ClientRecord};
use crate::wire::client_cert::ClientCertificate;
use crate::wire::token_request::{ClientCredentials, SecretCredentials};

/// The enabled clients, as of the last epoch the instance saw. A disabled (or deleted) client
/// loses everything within the cache bound: it cannot authenticate, and its unexpired tokens
/// stop working at every endpoint, without a database query per request.
#[derive(Default)]
pub struct ActiveClients(RwLock<Option<Arc<HashSet<String>>>>);

impl ActiveClients {
    pub async fn reload(&self, store: &crate::store::Store) -> Result<(), Error> {
        let ids: HashSet<String> = store.enabled_client_ids().await?.into_iter().collect();
        if let Ok(mut set) = self.0.write() {
            *set = Some(Arc::new(ids));
        }
        Ok(())
    }

    pub fn is_loaded(&self) -> bool {
        self.0.read().is_ok_and(|s| s.is_some())
    }

    fn contains(&self, id: &str) -> bool {
        self.0
            .read()
            .is_ok_and(|s| s.as_ref().is_some_and(|ids| ids.contains(id)))
    }
}

/// Whether tokens of `client_id` still work. From memory while the sync is fresh; a client the
/// set does not know (created since the last poll, disabled, deleted) is looked up.
pub async fn client_is_active(auth: &Authority, client_id: &str) -> Result<bool, Error> {
    if auth.freshness.is_fresh() && auth.active_clients.contains(client_id) {
        return Ok(true);
    }
    Ok(auth
        .store
        .client(client_id)
        .await?
        .is_some_and(|c| c.enabled))
}

/// The client the request authenticates as, by the one method it used; a disabled client is
/// refused once it proved who it is.
pub async fn authenticate(
    auth: &Authority,
    creds: &ClientCredentials,
    cert: &ClientCertificate,
    endpoint: Endpoint,
    caller: &Caller,
    now_millis: i64,
) -> Result<ClientRecord, Error> {
    match creds {
        ClientCredentials::Certificate(id) => {
            let client = mtls::authenticate(auth, id, cert, caller, now_millis).await?;
            enabled(auth, client)
        }
        ClientCredentials::Secret(secret) => {
            authenticate_secret(auth, secret, caller, now_millis).await
        }
        ClientCredentials::Assertion(assertion) => {
            let client =
                client_assertion::authenticate(auth, assertion, endpoint, caller, now_millis)
                    .await?;
            enabled(auth, client)
        }
    }
}

/// Verifies the secret: from the credential cache when this very secret verified recently,
/// else against the stored argon2id hash. An unknown client, and a client without a secret
/// (`private_key_jwt`), are verified against a dummy hash of the same cost, so they are
/// answered like a wrong secret, in the same time.
async fn authenticate_secret(
    auth: &Authority,
    creds: &SecretCredentials,
    caller: &Caller,
    now_millis: i64,
) -> Result<ClientRecord, Error> {
    let id = creds.client_id.as_str();
    let secret = creds.secret.expose_secret();
    let now_secs = now_millis.div_euclid(1000);
    // A hit in the credential cache: checked before the single flight, and again once in it
    // (the first request of a burst may have just verified this very secret).
    let cached = || {
        let (client, previous) =
            auth.clients
                .check_hit(&auth.freshness, id, secret.as_bytes(), now_secs)?;
        auth.metrics.credential_cache(true);
        auth.usage
            .used(Credential::client_secret(previous), id, now_millis);
        Some(enabled(auth, client))
    };
    if let Some(answer) = cached() {
        return answer;
    }
    let flight = auth
        .clients
        .single_flight(id, auth.hasher.max_wait())
        .await?;
    if let Some(answer) = cached() {
        return answer;
    }
    // The slot is taken before the verification, so racing requests cannot pass the limit; a
    // right secret gives it back when `attempt` is dropped. Taken after the single flight, so
    // a partner's concurrent requests on a cold cache wait for one verification instead of
    // each holding a slot.
    auth.metrics.credential_cache(false);
    let attempt = auth
        .limits
        .begin(Keys::client(id, caller.source.as_deref()), now_secs)
        .await
        .map_err(|retry| {
            auth.metrics.auth_failure(AuthFailure::RateLimited);
            Error::TooManyRequests(retry)
        })?;
    let epoch = auth.freshness.epoch();
    let client = auth.store.client(id).await?;
    let phc = client.as_ref().and_then(|c| match &c.auth {
        ClientAuth::Secret { hash } => Some(hash.clone()),
        ClientAuth::PrivateKeyJwt(_)
        | ClientAuth::TlsClientAuth(_)
        | ClientAuth::SelfSignedTlsClientAuth(_) => None,
    });
    let has_secret = phc.is_some();
    let mut ok = auth.hasher.verify(phc, bind(id, secret)).await? && has_secret;
    let mut valid_until = None;
    if !ok && has_secret {
        // During a rotation the previous secret works until it expires. (A wrong secret for
        // a client mid-rotation costs one hash per previous secret more than an unknown one.)
        for (old, expires_at) in auth.store.previous_secrets(id, now_secs).await? {
            if auth.hasher.verify(Some(old), bind(id, secret)).await? {
                ok = true;
                valid_until = Some(expires_at);
                break;
            }
        }
    }
    match client {
        Some(c) if ok && has_secret => {
            let (f, s) = (&auth.freshness, secret.as_bytes());
            auth.clients
                .remember(f, epoch, id, s, c.clone(), valid_until);
            let previous = valid_until.is_some();
            auth.usage
                .used(Credential::client_secret(previous), id, now_millis);
            enabled(auth, c)
        }
        found => {
            attempt.failed();
            // The next request for this id need not wait for the audit write.
            drop(flight);
            auth.metrics.auth_failure(if found.is_some() {
                AuthFailure::BadSecret
            } else {
                AuthFailure::UnknownClient
            });
            auth.audit
                .record(AuditEvent::new(AuditKind::ClientAuthFailed, caller, now_millis).client(id))
                .await?;
            Err(Error::InvalidClient)
        }
    }
}

/// A disabled client authenticates nowhere: not for tokens, not to revoke or introspect. (Its
/// right secret still costs the verification: a disabled client is told so only once it proved
/// who it is.)
fn enabled(auth: &Authority, client: ClientRecord) -> Result<ClientRecord, Error> {
    if client.enabled {
        Ok(client)
    } else {
        auth.metrics.auth_failure(AuthFailure::DisabledClient);
        Err(Error::UnauthorizedClient("the client is disabled"))
    }
}
