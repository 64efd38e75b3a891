//! Everything the server holds about its keys at one time: who signs now, who verifies which
//! `kid`, what the JWKS publishes. Built from the stored keys and swapped as a whole.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::json;

use super::master::MasterKey;
use super::signer::SigningKey;
use super::{Alg, new_key};
use crate::security::KeyError;
use crate::store::StoredKey;
use crate::types::random_bytes;

/// A key that verifies tokens, by `kid`.
pub struct VerifyingKey {
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// Everything the server holds about its keys, swapped as a whole when they change.
pub struct KeySet {
    /// Keys of the configured algorithm that may sign, by activation time (oldest first).
    signers: Vec<Schedule<SigningKey>>,
    verifying: HashMap<String, Schedule<VerifyingKey>>,
    /// Public JWKs, published from creation (so before they sign) until they retire.
    public: Vec<Schedule<serde_json::Value>>,
}

/// A key with its rotation times.
struct Schedule<T> {
    activates_at: i64,
    retires_at: Option<i64>,
    created_at: i64,
    key: T,
}

impl<T> Schedule<T> {
    fn retired(&self, now: i64) -> bool {
        self.retires_at.is_some_and(|t| now >= t)
    }
}

impl KeySet {
    /// A key set that lives only in memory, never stored: for benchmarks, fuzzing and tests
    /// that exercise signing and verification without a database.
    pub fn ephemeral(alg: Alg) -> Result<Self, KeyError> {
        let master = MasterKey::from_raw(&random_bytes::<32>()?)?;
        let record = new_key(&master, alg, 0, 0, None)?;
        build_key_set(&[record], &master, alg)
    }

    /// The key that signs at `now`: the most recently activated one. A key published ahead of
    /// its activation does not sign yet.
    pub fn active(&self, now: i64) -> Result<&SigningKey, KeyError> {
        self.active_schedule(now)
            .map(|s| &s.key)
            .ok_or_else(|| KeyError::Internal("no signing key is active".into()))
    }

    /// When the key that signs at `now` was created (for the metrics).
    pub fn active_created_at(&self, now: i64) -> Option<i64> {
        self.active_schedule(now).map(|s| s.created_at)
    }

    fn active_schedule(&self, now: i64) -> Option<&Schedule<SigningKey>> {
        let live = |s: &&Schedule<SigningKey>| !s.retired(now);
        self.signers
            .iter()
            .rev()
            .filter(live)
            .find(|s| s.activates_at <= now)
            .or_else(|| self.signers.iter().find(live))
    }

    /// When the newest key of the configured algorithm was created (for scheduled rotation).
    pub fn newest_created_at(&self) -> i64 {
        self.signers.iter().map(|s| s.created_at).max().unwrap_or(0)
    }

    pub fn verifying_key(&self, kid: &str, now: i64) -> Option<&VerifyingKey> {
        self.verifying
            .get(kid)
            .filter(|s| !s.retired(now))
            .map(|s| &s.key)
    }

    /// The RFC 7517 JWK Set at `now`.
    pub fn jwks_json(&self, now: i64) -> String {
        let keys: Vec<&serde_json::Value> = self
            .public
            .iter()
            .filter(|s| !s.retired(now))
            .map(|s| &s.key)
            .collect();
        json!({ "keys": keys }).to_string()
    }
}

fn verifying_key(
    alg: Alg,
    jwk: Option<&serde_json::Value>,
    private: &[u8],
) -> Result<VerifyingKey, KeyError> {
    let field = |name: &str| -> Result<String, KeyError> {
        jwk.and_then(|j| j[name].as_str())
            .map(str::to_owned)
            .ok_or_else(|| KeyError::Internal(format!("stored JWK lacks {name}")))
    };
    let bad =
        |e: jsonwebtoken::errors::Error| KeyError::Internal(format!("stored JWK is invalid: {e}"));
    let key = match alg {
        Alg::Es256 => DecodingKey::from_ec_components(&field("x")?, &field("y")?).map_err(bad)?,
        Alg::EdDsa => DecodingKey::from_ed_components(&field("x")?).map_err(bad)?,
        Alg::Rs256 | Alg::Rs512 | Alg::Ps256 => {
            DecodingKey::from_rsa_components(&field("n")?, &field("e")?).map_err(bad)?
        }
        Alg::Hs256 => DecodingKey::from_secret(private),
    };
    Ok(VerifyingKey {
        alg: alg.jwt(),
        key,
    })
}

pub(super) fn build_key_set(
    stored: &[StoredKey],
    master: &MasterKey,
    alg: Alg,
) -> Result<KeySet, KeyError> {
    let mut verifying = HashMap::new();
    let mut public = Vec::new();
    let mut signers = Vec::new();
    for record in stored {
        let Ok(key_alg) = record.alg.parse::<Alg>() else {
            tracing::warn!(kid = %record.kid, alg = %record.alg, "skipping a key of unknown algorithm");
            continue;
        };
        let private = master.open(&record.kid, &record.sealed_private)?;
        let jwk: Option<serde_json::Value> = match &record.public_jwk {
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| KeyError::Internal(format!("stored JWK is not JSON: {e}")))?,
            ),
            None => None,
        };
        let schedule = |key| Schedule {
            activates_at: record.activates_at,
            retires_at: record.retires_at,
            created_at: record.created_at,
            key,
        };
        verifying.insert(
            record.kid.clone(),
            schedule(verifying_key(key_alg, jwk.as_ref(), &private)?),
        );
        if let Some(mut jwk) = jwk {
            // RFC 7517 §4: use, alg and kid help resource servers pick the right key.
            jwk["kid"] = json!(record.kid);
            jwk["use"] = json!("sig");
            jwk["alg"] = json!(key_alg.as_str());
            public.push(Schedule {
                activates_at: record.activates_at,
                retires_at: record.retires_at,
                created_at: record.created_at,
                key: jwk,
            });
        }
        if key_alg == alg {
            signers.push(Schedule {
                activates_at: record.activates_at,
                retires_at: record.retires_at,
                created_at: record.created_at,
                key: SigningKey::parse(&record.kid, key_alg, &private)?,
            });
        }
    }
    if signers.is_empty() {
        return Err(KeyError::Internal(format!("no {alg} signing key stored")));
    }
    // Of keys activating in the same second, the one being retired never wins over its
    // replacement (a rotation within the second of the key it replaces ties on both times).
    signers.sort_by_key(|s| (s.activates_at, s.retires_at.is_none(), s.created_at));
    Ok(KeySet {
        signers,
        verifying,
        public,
    })
}

#[cfg(test)]
mod tests {
    use super::super::TokenType;
    use super::*;

    fn master() -> MasterKey {
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        MasterKey::from_base64(&secrecy::SecretString::from(key)).unwrap()
    }

    #[test]
    fn every_algorithm_signs_what_jsonwebtoken_verifies() {
        for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256, Alg::Hs256] {
            let m = master();
            let record = new_key(&m, alg, 0, 0, None).unwrap();
            let kid = record.kid.clone();
            let set = build_key_set(&[record], &m, alg).unwrap();
            let token = set
                .active(0)
                .unwrap()
                .sign_jwt(TokenType::Access, &json!({"sub": "x"}))
                .unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
            let vk = set.verifying_key(&kid, 0).unwrap();
            let mut v = jsonwebtoken::Validation::new(vk.alg);
            v.required_spec_claims.clear();
            v.validate_exp = false;
            v.validate_aud = false;
            jsonwebtoken::decode::<serde_json::Value>(&token, &vk.key, &v).unwrap();
            let published = set.jwks_json(0).contains(&kid);
            assert_eq!(
                published,
                alg != Alg::Hs256,
                "{alg}: only public keys are published"
            );
        }
    }

    #[test]
    fn a_key_rotated_within_the_second_it_was_made_signs() {
        let m = master();
        let a = new_key(&m, Alg::Es256, 5, 5, None).unwrap();
        let b = new_key(&m, Alg::Es256, 5, 5, None).unwrap();
        for (mut old, new) in [(a.clone(), b.clone()), (b, a)] {
            old.retires_at = Some(1000);
            // Either order in the database: the replacement signs, the old key only verifies.
            for records in [[old.clone(), new.clone()], [new.clone(), old.clone()]] {
                let set = build_key_set(&records, &m, Alg::Es256).unwrap();
                assert_eq!(set.active(5).unwrap().kid(), new.kid);
                assert!(set.verifying_key(&old.kid, 5).is_some());
            }
        }
    }
}
