//! The keys of `private_key_jwt` and `self_signed_tls_client_auth` clients, held per instance
//! so that an assertion costs a signature check, and a certificate a comparison, and no
//! database query.
//!
//! A client's record and its registered JWK Set are cached until the cache epoch moves (any
//! change to a client, `client set-jwks` included, reaches every instance within the same
//! 5-second bound as secrets). Keys published at a client's `jwks_uri` are fetched on first
//! use and kept; an assertion naming a `kid` they lack (the client rotated) triggers a refetch,
//! at most once a minute per URL, so a stream of made-up `kid`s cannot make tollgate hammer
//! the partner. A failed fetch keeps the keys already held and is logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use crate::domain::Error;
use crate::domain::cache::Freshness;
use crate::security::client_keys::ClientKeySet;
use crate::store::{ClientAuth, ClientJwks, ClientRecord, Store};

/// A URL's keys are fetched again at most this often, whatever `kid`s arrive.
pub const REFETCH_AFTER_SECS: i64 = 60;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWK Set of the 16 keys `ClientKeySet` allows, RSA included, fits well within this.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Beyond this many cached clients the cache starts over rather than grow without bound.
const MAX_ENTRIES: usize = 100_000;

/// A client as the assertion and certificate checks need it.
pub struct KeyedClient {
    pub record: ClientRecord,
    /// The keys its assertions may be signed with (`private_key_jwt` only).
    pub keys: KeySource,
    /// The keys its certificate may carry (`self_signed_tls_client_auth` only). Apart from
    /// `keys` so that a client of one method can never authenticate by the other.
    pub certificate_keys: KeySource,
}

pub enum KeySource {
    /// A client with a secret: no keys, so no assertion of it verifies.
    None,
    Registered(Arc<ClientKeySet>),
    Published(String),
}

struct Fetched {
    keys: Option<Arc<ClientKeySet>>,
    /// Unix seconds of the last attempt, successful or not.
    attempted_at: i64,
}

#[derive(Default)]
pub struct ClientKeys {
    /// Built on the first fetch: most servers never fetch, and building needs the TLS provider
    /// installed, which start-up does.
    http: OnceLock<reqwest::Client>,
    clients: RwLock<HashMap<String, Arc<KeyedClient>>>,
    fetched: RwLock<HashMap<String, Arc<Fetched>>>,
    /// One fetch at a time per instance: concurrent assertions of a rotating client wait for
    /// the first fetch rather than each starting one.
    fetching: tokio::sync::Mutex<()>,
    /// Assertion signature verifications performed, dummy ones included: the work refusals
    /// cost, which tests compare.
    verifications: AtomicU64,
}

impl ClientKeys {
    /// Counts `n` signature verifications.
    pub fn verified(&self, n: u64) {
        self.verifications.fetch_add(n, Ordering::Relaxed);
    }

    /// Assertion signature verifications since start.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn http(&self) -> Result<&reqwest::Client, String> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            // A redirect could lead from the registered https URL to anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(self.http.get_or_init(|| client))
    }

    /// Forgets the cached clients (the epoch moved). Fetched keys stay: they depend on the URL
    /// only, and a changed URL is a new entry.
    pub fn clear(&self) {
        if let Ok(mut clients) = self.clients.write() {
            clients.clear();
        }
    }

    /// The client and its keys: from memory while the sync is fresh, else from the database.
    /// `None` for an unknown client (never cached: a flood of made-up ids adds nothing).
    pub async fn client(
        &self,
        store: &Store,
        freshness: &Freshness,
        id: &str,
    ) -> Result<Option<Arc<KeyedClient>>, Error> {
        if freshness.is_fresh()
            && let Some(hit) = self.clients.read().ok().and_then(|c| c.get(id).cloned())
        {
            return Ok(Some(hit));
        }
        let epoch = freshness.epoch();
        let Some(record) = store.client(id).await? else {
            return Ok(None);
        };
        let source = |jwks: &ClientJwks| match jwks {
            ClientJwks::Inline(json) => match ClientKeySet::parse(json) {
                Ok(set) => KeySource::Registered(Arc::new(set)),
                Err(why) => {
                    // Written by something other than the CLI (an admin's SQL).
                    tracing::warn!(client_id = id, %why, "a client's stored JWK Set is unusable");
                    KeySource::None
                }
            },
            ClientJwks::Uri(uri) => KeySource::Published(uri.clone()),
        };
        let (keys, certificate_keys) = match &record.auth {
            ClientAuth::Secret { .. } | ClientAuth::TlsClientAuth(_) => {
                (KeySource::None, KeySource::None)
            }
            ClientAuth::PrivateKeyJwt(jwks) => (source(jwks), KeySource::None),
            ClientAuth::SelfSignedTlsClientAuth(jwks) => (KeySource::None, source(jwks)),
        };
        let entry = Arc::new(KeyedClient {
            record,
            keys,
            certificate_keys,
        });
        if let Ok(mut clients) = self.clients.write()
            && freshness.epoch() == epoch
        {
            if clients.len() >= MAX_ENTRIES && !clients.contains_key(id) {
                clients.clear();
            }
            clients.insert(id.to_owned(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// The keys published at `uri`: fetched on first use; with `refresh` (an assertion named a
    /// `kid` they lack, or none of them verified), fetched again unless the last attempt was
    /// under a minute ago.
    pub async fn published(&self, uri: &str, refresh: bool, now: i64) -> Option<Arc<ClientKeySet>> {
        let held = self.held(uri);
        if !due(held.as_deref(), refresh, now) {
            return held.and_then(|f| f.keys.clone());
        }
        let _one = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let held = self.held(uri);
        if !due(held.as_deref(), refresh, now) {
            return held.and_then(|f| f.keys.clone());
        }
        let previous = held.and_then(|f| f.keys.clone());
        let keys = match self.fetch(uri).await {
            Ok(set) => {
                tracing::info!(%uri, keys = set.len(), "fetched a client's JWK Set");
                Some(Arc::new(set))
            }
            Err(why) => {
                tracing::warn!(%uri, %why, kept = previous.is_some(), "cannot fetch a client's JWK Set; keeping the keys held");
                previous
            }
        };
        if let Ok(mut fetched) = self.fetched.write() {
            if fetched.len() >= MAX_ENTRIES && !fetched.contains_key(uri) {
                fetched.clear();
            }
            let entry = Fetched {
                keys: keys.clone(),
                attempted_at: now,
            };
            fetched.insert(uri.to_owned(), Arc::new(entry));
        }
        keys
    }

    fn held(&self, uri: &str) -> Option<Arc<Fetched>> {
        self.fetched.read().ok().and_then(|f| f.get(uri).cloned())
    }

    async fn fetch(&self, uri: &str) -> Result<ClientKeySet, String> {
        check_jwks_uri(uri)?;
        let mut res = self
            .http()?
            .get(uri)
            .header("accept", "application/json, application/jwk-set+json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("answered {}", res.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| format!("read failed: {e}"))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("the answer is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_owned())?;
        ClientKeySet::parse(&text)
    }
}

fn due(held: Option<&Fetched>, refresh: bool, now: i64) -> bool {
    match held {
        None => true,
        Some(f) => refresh && now - f.attempted_at >= REFETCH_AFTER_SECS,
    }
}

/// A `jwks_uri` tollgate will fetch: `https://`, or `http://` only for a loopback address
/// (a partner's keys must not be swapped by whoever sits on the network path; loopback is for
/// tests and a sidecar on the same host).
pub fn check_jwks_uri(uri: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(uri).map_err(|e| format!("the jwks_uri is not a URL: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err("the jwks_uri has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err("the jwks_uri may not carry credentials or a fragment".into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = bare.eq_ignore_ascii_case("localhost")
                || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err("the jwks_uri must be https:// (http:// only for a loopback address)".into())
            }
        }
        _ => Err("the jwks_uri must be https://".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_uris_are_https_or_loopback_http() {
        for ok in [
            "https://partner.example/jwks.json",
            "http://127.0.0.1:8081/jwks",
            "http://[::1]/jwks",
            "http://localhost:9/k",
        ] {
            assert!(check_jwks_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://partner.example/jwks.json",
            "http://10.0.0.1/jwks",
            "ftp://partner.example/jwks",
            "https://user:pw@partner.example/jwks",
            "jwks.json",
        ] {
            assert!(check_jwks_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_refetch_waits_a_minute() {
        let held = Fetched {
            keys: None,
            attempted_at: 1_000,
        };
        assert!(due(None, false, 0));
        assert!(!due(Some(&held), false, 5_000));
        assert!(!due(Some(&held), true, 1_059));
        assert!(due(Some(&held), true, 1_060));
    }
}
