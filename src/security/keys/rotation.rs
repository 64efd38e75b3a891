//! Keys over time: the first key of an algorithm, rotation with publish-ahead and retirement,
//! and the states `tollgate keys list` shows.

use serde::Serialize;

use super::key_set::build_key_set;
use super::{Alg, KeySet, MasterKey, new_key};
use crate::security::KeyError;
use crate::store::{Store, StoredKey};

/// Loads every stored key, creating one for `alg` if none exists yet, and returns the set whose
/// active key is the newest key of `alg`.
pub async fn load_or_create(
    store: &Store,
    master: &MasterKey,
    alg: Alg,
    now: i64,
) -> Result<KeySet, KeyError> {
    let mut stored = store.signing_keys().await?;
    let usable = |k: &StoredKey| k.alg == alg.as_str() && k.retires_at.is_none_or(|t| t > now);
    if !stored.iter().any(usable) {
        let record = new_key(master, alg, now, now, None)?;
        store.insert_signing_key(&record).await?;
        tracing::info!(kid = %record.kid, alg = %alg, "generated a new signing key");
        stored = store.signing_keys().await?;
    }
    build_key_set(&stored, master, alg)
}

/// What a rotation did.
#[derive(Debug, Serialize)]
pub struct Rotation {
    pub kid: String,
    pub alg: String,
    pub activates_at: i64,
    /// The keys it replaces, and when they leave the JWKS.
    pub retiring: Vec<String>,
    pub retires_at: i64,
}

/// Adds the next key of `alg`: published at once, signing from `now + publish_ahead` (so
/// resource servers that cache the JWKS know it before they meet it), while the keys it
/// replaces stay published until `max_token_ttl` after that, when every token they signed has
/// expired. `None` when another instance rotated the same key first.
pub async fn rotate(
    store: &Store,
    master: &MasterKey,
    alg: Alg,
    publish_ahead: i64,
    max_token_ttl: i64,
    now: i64,
) -> Result<Option<Rotation>, KeyError> {
    let stored = store.signing_keys().await?;
    let current: Vec<&StoredKey> = stored
        .iter()
        .filter(|k| k.alg == alg.as_str() && k.retires_at.is_none())
        .collect();
    let newest = current
        .iter()
        .max_by_key(|k| (k.activates_at, k.created_at));
    let activates_at = now + publish_ahead.max(0);
    // The leeway covers clock skew between instances and verifiers.
    let retires_at = activates_at + max_token_ttl + 60;
    let record = new_key(
        master,
        alg,
        now,
        activates_at,
        newest.map(|k| k.kid.clone()),
    )?;
    let retiring: Vec<String> = current.iter().map(|k| k.kid.clone()).collect();
    if !store
        .rotate_signing_key(&record, &retiring, retires_at)
        .await?
    {
        return Ok(None);
    }
    Ok(Some(Rotation {
        kid: record.kid,
        alg: record.alg,
        activates_at,
        retiring,
        retires_at,
    }))
}

/// A key as `tollgate keys list` shows it.
#[derive(Debug, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// `next` (published, not signing yet), `active`, `previous` (published, no longer
    /// signing) or `retired`.
    pub state: &'static str,
    pub created_at: i64,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
}

pub fn describe(stored: &[StoredKey], now: i64) -> Vec<KeyInfo> {
    stored
        .iter()
        .map(|k| {
            let newer_active = stored.iter().any(|o| {
                o.alg == k.alg
                    && o.activates_at <= now
                    && (o.activates_at, o.created_at) > (k.activates_at, k.created_at)
                    && o.retires_at.is_none_or(|t| t > now)
            });
            let state = if k.retires_at.is_some_and(|t| now >= t) {
                "retired"
            } else if k.activates_at > now {
                "next"
            } else if newer_active {
                "previous"
            } else {
                "active"
            };
            KeyInfo {
                kid: k.kid.clone(),
                alg: k.alg.clone(),
                state,
                created_at: k.created_at,
                activates_at: k.activates_at,
                retires_at: k.retires_at,
            }
        })
        .collect()
}
