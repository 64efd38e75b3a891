//! Access tokens whose signature this instance has already verified.
//!
//! A partner uses one access token for every call it makes during the token's lifetime, and
//! the ES256 verification of that same token was the largest single cost of `/getprofile`
//! (about 40 % of its CPU, README Performance). So a token that passed verification is
//! remembered by the SHA-256 of its exact text, with what verification concluded.
//!
//! Nothing that can change with time or state is remembered: on every use the caller still
//! checks expiry (here, against the clock of the request), that the signing key is still a
//! verifying key (a retired key fails every token it signed at once, cached or not), and, in
//! the domain, revocation, the client being enabled, scope and any sender binding. What is
//! remembered is only what the token's bytes determine: its signature, `typ`, `crit`, issuer,
//! audience and claims. `iat` and `nbf` in the future only grow less so.
//!
//! Bounded: a fixed number of entries per shard; a full shard first drops its expired
//! entries, then everything. A client minting tokens to fill it costs only cache misses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};

use crate::security::keys::KeySet;
use crate::security::tokens::AccessGrant;

const SHARDS: usize = 16;
/// 8192 tokens in all: about 2.5 MiB at most.
const PER_SHARD: usize = 512;

struct Entry {
    kid: Box<str>,
    /// `exp` plus the leeway: the first second the token is refused.
    expires: i64,
    grant: Arc<AccessGrant>,
}

pub struct VerifiedTokens {
    shards: [Mutex<HashMap<[u8; 32], Entry>>; SHARDS],
}

/// A token's cache key.
pub struct Digest([u8; 32]);

impl Digest {
    pub fn of(token: &str) -> Self {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        Self(key)
    }

    fn shard(&self) -> usize {
        usize::from(self.0[0]) % SHARDS
    }
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }
}

impl VerifiedTokens {
    /// What the verification of this token concluded, if it is remembered and its key still
    /// verifies at `now`; `None` also when it has expired, so that the full check runs and
    /// says why.
    pub fn get(&self, key: &Digest, keys: &KeySet, now: i64) -> Option<Arc<AccessGrant>> {
        let shard = self.shards[key.shard()].lock().ok()?;
        let entry = shard.get(&key.0)?;
        (now < entry.expires && keys.verifying_key(&entry.kid, now).is_some())
            .then(|| Arc::clone(&entry.grant))
    }

    pub fn insert(&self, key: Digest, kid: &str, expires: i64, grant: Arc<AccessGrant>, now: i64) {
        let Ok(mut shard) = self.shards[key.shard()].lock() else {
            return;
        };
        if shard.len() >= PER_SHARD {
            shard.retain(|_, e| e.expires > now);
            if shard.len() >= PER_SHARD {
                shard.clear();
            }
        }
        let kid = kid.into();
        shard.insert(
            key.0,
            Entry {
                kid,
                expires,
                grant,
            },
        );
    }

    /// Tokens remembered right now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use crate::security::keys::{Alg, KeySet};
    use crate::security::tokens::TokenService;
    use crate::types::{ClientId, ScopeSet};

    const NOW: i64 = 1_800_000_000;

    fn service() -> TokenService {
        let keys = KeySet::ephemeral(Alg::Es256).unwrap();
        TokenService::new(
            keys,
            "https://issuer".into(),
            "https://api".into(),
            600,
            600,
        )
    }

    fn token(tokens: &TokenService) -> String {
        let id = ClientId::parse("partner").unwrap();
        let scope = ScopeSet::parse("profile:read").unwrap();
        let issued = tokens.issue_access_token(&id, None, &scope, None, None, NOW * 1000);
        issued.unwrap().token
    }

    #[test]
    fn a_remembered_token_is_still_refused_once_expired() {
        let tokens = service();
        let t = token(&tokens);
        let first = tokens.verify_access_token(&t, NOW).unwrap();
        let again = tokens.verify_access_token(&t, NOW + 1).unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again), "served from memory");
        assert_eq!(tokens.verified_tokens(), 1);
        // exp is NOW + 600, with 30 s of leeway.
        assert!(tokens.verify_access_token(&t, NOW + 629).is_ok());
        assert_eq!(
            tokens.verify_access_token(&t, NOW + 630).unwrap_err(),
            "the token has expired"
        );
    }

    #[test]
    fn a_remembered_token_dies_with_its_key() {
        let tokens = service();
        let t = token(&tokens);
        tokens.verify_access_token(&t, NOW).unwrap();
        tokens.replace_keys(KeySet::ephemeral(Alg::Es256).unwrap());
        assert_eq!(
            tokens.verify_access_token(&t, NOW).unwrap_err(),
            "the token is signed by an unknown key"
        );
    }

    #[test]
    fn only_the_exact_token_is_remembered() {
        let tokens = service();
        let t = token(&tokens);
        tokens.verify_access_token(&t, NOW).unwrap();
        // The same header and claims with another signature of the right length.
        let (signed, sig) = t.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        let forged = format!("{signed}.{flipped}{}", &sig[1..]);
        assert!(tokens.verify_access_token(&forged, NOW).is_err());
        // A customer token of the same key is not an access token, remembered or not.
        let c = crate::types::CustomerId::generate();
        let ct = tokens.issue_customer_token(&c, NOW * 1000).unwrap().token;
        assert!(tokens.verify_access_token(&ct, NOW).is_err());
        assert_eq!(tokens.verified_tokens(), 1);
    }
}
