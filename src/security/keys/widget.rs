//! Per-profile keys of chat-widget profiles that a vendor verifies with a public key (Salesforce
//! fetches the profile's JWKS, LivePerson and Zoom take a pasted PEM). Generated and sealed like
//! the server's own keys, but stored apart (`widget_keys`) and never trusted by tollgate's own
//! verifiers: a widget key signs only its profile's tokens.
//!
//! A rotation signs with the new key at once and keeps the replaced one in the profile's JWKS
//! until every token it signed has expired.

use std::collections::HashMap;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde::Serialize;
use serde_json::json;

use super::{Alg, MasterKey, SigningKey, generate};
use crate::security::KeyError;
use crate::store::{Store, StoredWidgetKey};

/// Added to a retiring key's lifetime: clock skew between tollgate and the vendor.
const LEEWAY_SECS: i64 = 60;

/// Every profile's keys at one time, swapped as a whole when they change.
#[derive(Default)]
pub struct WidgetKeys {
    profiles: HashMap<String, ProfileKeys>,
}

struct ProfileKeys {
    /// The newest live key: it signs.
    signer: SigningKey,
    signer_pem: String,
    /// Public JWKs (with `x5c`) until they retire.
    public: Vec<(Option<i64>, serde_json::Value)>,
}

impl WidgetKeys {
    /// The key that signs `profile`'s tokens.
    pub fn signer(&self, profile: &str) -> Option<&SigningKey> {
        self.profiles.get(profile).map(|p| &p.signer)
    }

    /// The signing key's public half as a PEM SubjectPublicKeyInfo, for vendor consoles.
    pub fn public_pem(&self, profile: &str) -> Option<&str> {
        self.profiles.get(profile).map(|p| p.signer_pem.as_str())
    }

    /// The signing key's public JWK, with `kid`, `alg`, `use` and `x5c`: what an admin uploads
    /// to a vendor that takes a key rather than a JWKS URL (Salesforce's *Upload JWK*).
    pub fn signer_jwk(&self, profile: &str) -> Option<&serde_json::Value> {
        let p = self.profiles.get(profile)?;
        p.public
            .iter()
            .map(|(_, jwk)| jwk)
            .find(|jwk| jwk["kid"].as_str() == Some(p.signer.kid()))
    }

    /// The profile's RFC 7517 JWK Set at `now`: the signing key and those still retiring.
    pub fn jwks_json(&self, profile: &str, now: i64) -> Option<String> {
        let p = self.profiles.get(profile)?;
        let keys: Vec<&serde_json::Value> = p
            .public
            .iter()
            .filter(|(retires_at, _)| retires_at.is_none_or(|t| now < t))
            .map(|(_, jwk)| jwk)
            .collect();
        Some(json!({ "keys": keys }).to_string())
    }
}

/// A fresh key for `profile`, sealed under `master`, with a self-signed certificate.
fn new_widget_key(
    master: &MasterKey,
    profile: &str,
    alg: Alg,
    now: i64,
    rotated_from: Option<String>,
) -> Result<StoredWidgetKey, KeyError> {
    let (kid, private, jwk) = generate(alg)?;
    let jwk = jwk.ok_or_else(|| KeyError::Internal(format!("{alg} is not asymmetric")))?;
    let certificate = self_signed(profile, alg, &private, now)?;
    Ok(StoredWidgetKey {
        sealed_private: master.seal(&kid, &private)?,
        kid,
        profile: profile.to_owned(),
        alg: alg.as_str().to_owned(),
        public_jwk: jwk.to_string(),
        certificate: Some(certificate),
        created_at: now,
        retires_at: None,
        rotated_from,
    })
}

fn rcgen_key(alg: Alg, private: &[u8]) -> Result<rcgen::KeyPair, KeyError> {
    let sign_alg: &'static rcgen::SignatureAlgorithm = match alg {
        Alg::Es256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        Alg::EdDsa => &rcgen::PKCS_ED25519,
        // The certificate's own signature algorithm is independent of the JWS one.
        _ => &rcgen::PKCS_RSA_SHA256,
    };
    rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(private), sign_alg)
        .map_err(|e| KeyError::Internal(format!("cannot load a widget key: {e}")))
}

/// Some vendors (Salesforce) take an uploaded JWK only with an `x5c` chain (RFC 7517 §4.7): a
/// self-signed certificate of the key, valid ten years, says nothing more than the key does.
fn self_signed(profile: &str, alg: Alg, private: &[u8], now: i64) -> Result<Vec<u8>, KeyError> {
    let failed = |e: rcgen::Error| KeyError::Internal(format!("self-signed certificate: {e}"));
    let key = rcgen_key(alg, private)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("tollgate widget {profile}"),
    );
    let at = |secs: i64| {
        time::OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| KeyError::Internal(format!("certificate validity: {e}")))
    };
    params.not_before = at(now - 86_400)?;
    params.not_after = at(now + 10 * 365 * 86_400)?;
    Ok(params.self_signed(&key).map_err(failed)?.der().to_vec())
}

/// The PEM SubjectPublicKeyInfo of a PKCS#8 private key.
fn public_pem(alg: Alg, private: &[u8]) -> Result<String, KeyError> {
    use aws_lc_rs::signature::KeyPair;
    let bad = || KeyError::Internal("a widget key does not parse".into());
    let der = match alg {
        Alg::Es256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, private)
            .map_err(|_| bad())?
            .public_key()
            .as_der()
            .map_err(|_| bad())?
            .as_ref()
            .to_vec(),
        Alg::EdDsa => Ed25519KeyPair::from_pkcs8(private)
            .map_err(|_| bad())?
            .public_key()
            .as_der()
            .map_err(|_| bad())?
            .as_ref()
            .to_vec(),
        _ => aws_lc_rs::rsa::KeyPair::from_pkcs8(private)
            .map_err(|_| bad())?
            .public_key()
            .as_der()
            .map_err(|_| bad())?
            .as_ref()
            .to_vec(),
    };
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    Ok(format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    ))
}

fn usable(k: &StoredWidgetKey, profile: &str, alg: Alg, now: i64) -> bool {
    k.profile == profile && k.alg == alg.as_str() && k.retires_at.is_none_or(|t| t > now)
}

/// Loads every profile's keys, creating a first key for each profile in `wanted` (name,
/// algorithm, longest token lifetime) that has no live key of its algorithm yet. A profile whose
/// algorithm changed gets a new key; its old ones stay published for `ttl`.
pub async fn load_or_create_widget_keys(
    store: &Store,
    master: &MasterKey,
    wanted: &[(String, Alg, i64)],
    now: i64,
) -> Result<WidgetKeys, KeyError> {
    let mut stored = store.widget_keys().await?;
    let mut changed = false;
    for (profile, alg, ttl) in wanted {
        if stored.iter().any(|k| usable(k, profile, *alg, now)) {
            continue;
        }
        if stored.iter().any(|k| &k.profile == profile) {
            rotate_widget_key(store, master, profile, *alg, *ttl, now).await?;
        } else {
            let record = new_widget_key(master, profile, *alg, now, None)?;
            store.insert_first_widget_key(&record).await?;
            tracing::info!(profile = %profile, kid = %record.kid, alg = %alg, "generated a widget key");
        }
        changed = true;
    }
    if changed {
        stored = store.widget_keys().await?;
    }
    build(&stored, master, wanted, now)
}

fn build(
    stored: &[StoredWidgetKey],
    master: &MasterKey,
    wanted: &[(String, Alg, i64)],
    now: i64,
) -> Result<WidgetKeys, KeyError> {
    let mut profiles = HashMap::new();
    for (profile, alg, _) in wanted {
        let mut public = Vec::new();
        for k in stored.iter().filter(|k| &k.profile == profile) {
            let Some(key_alg) = Alg::widget(&k.alg) else {
                continue;
            };
            let mut jwk: serde_json::Value = serde_json::from_str(&k.public_jwk)
                .map_err(|e| KeyError::Internal(format!("stored JWK is not JSON: {e}")))?;
            // RFC 7517 §4: use, alg and kid let the vendor pick the key; x5c (§4.7) is
            // standard base64 of the DER certificate, not base64url.
            jwk["kid"] = json!(k.kid);
            jwk["use"] = json!("sig");
            jwk["alg"] = json!(key_alg.as_str());
            if let Some(cert) = &k.certificate {
                jwk["x5c"] = json!([STANDARD.encode(cert)]);
            }
            public.push((k.retires_at, jwk));
        }
        // A key being retired only stays published; it never signs while its replacement
        // lives. `created_at` alone cannot tell them apart: a rotation within the second the
        // key was made has the same one, and the tie would go to the larger (random) kid.
        let newest = stored
            .iter()
            .filter(|k| usable(k, profile, *alg, now))
            .max_by_key(|k| (k.retires_at.is_none(), k.created_at, k.kid.clone()))
            .ok_or_else(|| {
                KeyError::Internal(format!("no {alg} key stored for widget profile {profile}"))
            })?;
        let private = master.open(&newest.kid, &newest.sealed_private)?;
        profiles.insert(
            profile.clone(),
            ProfileKeys {
                signer: SigningKey::parse(&newest.kid, *alg, &private)?,
                signer_pem: public_pem(*alg, &private)?,
                public,
            },
        );
    }
    Ok(WidgetKeys { profiles })
}

/// What a rotation did.
#[derive(Debug, Serialize)]
pub struct WidgetKeyRotation {
    pub profile: String,
    pub kid: String,
    pub alg: String,
    /// The keys it replaces: they leave the profile's JWKS at `retires_at`.
    pub retiring: Vec<String>,
    pub retires_at: i64,
}

/// A new key for `profile` that signs from now on; the keys it replaces stay published until
/// `max_token_ttl` (plus a minute of leeway) has passed, when every token they signed has
/// expired. `None` when a concurrent rotation of the same key won.
pub async fn rotate_widget_key(
    store: &Store,
    master: &MasterKey,
    profile: &str,
    alg: Alg,
    max_token_ttl: i64,
    now: i64,
) -> Result<Option<WidgetKeyRotation>, KeyError> {
    let stored = store.widget_keys().await?;
    let current: Vec<&StoredWidgetKey> = stored
        .iter()
        .filter(|k| k.profile == profile && k.retires_at.is_none())
        .collect();
    let newest = current.iter().max_by_key(|k| (k.created_at, k.kid.clone()));
    let record = new_widget_key(master, profile, alg, now, newest.map(|k| k.kid.clone()))?;
    let retiring: Vec<String> = current.iter().map(|k| k.kid.clone()).collect();
    let retires_at = now + max_token_ttl + LEEWAY_SECS;
    if !store
        .rotate_widget_key(&record, &retiring, retires_at)
        .await?
    {
        return Ok(None);
    }
    tracing::info!(profile = %profile, kid = %record.kid, "rotated a widget key");
    Ok(Some(WidgetKeyRotation {
        profile: profile.to_owned(),
        kid: record.kid,
        alg: record.alg,
        retiring,
        retires_at,
    }))
}

/// A profile's signing key as `tollgate widget public-key` prints it.
#[derive(Debug, Serialize)]
pub struct WidgetKeyInfo {
    pub profile: String,
    pub kid: String,
    pub alg: String,
    pub public_key_pem: String,
}

/// The keys of `profile` (creating its key if the server never ran with the profile yet).
pub async fn profile_keys(
    store: &Store,
    master: &MasterKey,
    profile: &str,
    alg: Alg,
    ttl: i64,
    now: i64,
) -> Result<WidgetKeys, KeyError> {
    load_or_create_widget_keys(store, master, &[(profile.to_owned(), alg, ttl)], now).await
}

/// The signing key of `profile`, as `widget public-key` prints it by default.
pub fn widget_key_info(keys: &WidgetKeys, profile: &str) -> Result<WidgetKeyInfo, KeyError> {
    let signer = keys
        .signer(profile)
        .ok_or_else(|| KeyError::Internal(format!("no key for widget profile {profile}")))?;
    Ok(WidgetKeyInfo {
        profile: profile.to_owned(),
        kid: signer.kid().to_owned(),
        alg: signer.alg().as_str().to_owned(),
        public_key_pem: keys.public_pem(profile).unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_widget_algorithm_gets_a_certificate_and_a_pem() {
        use base64::engine::general_purpose::STANDARD as B64;
        let master =
            MasterKey::from_base64(&secrecy::SecretString::from(B64.encode([7u8; 32]))).unwrap();
        for alg in [Alg::Rs256, Alg::Rs512, Alg::Ps256, Alg::Es256, Alg::EdDsa] {
            let k = new_widget_key(&master, "p", alg, 1_700_000_000, None).unwrap();
            let private = master.open(&k.kid, &k.sealed_private).unwrap();
            let pem = public_pem(alg, &private).unwrap();
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{alg}");
            assert!(!k.certificate.as_ref().unwrap().is_empty(), "{alg}");
            let keys = build(
                std::slice::from_ref(&k),
                &master,
                &[("p".into(), alg, 60)],
                1_700_000_000,
            )
            .unwrap();
            let jwks: serde_json::Value =
                serde_json::from_str(&keys.jwks_json("p", 1_700_000_000).unwrap()).unwrap();
            assert_eq!(jwks["keys"][0]["kid"], k.kid.as_str());
            assert_eq!(jwks["keys"][0]["x5c"].as_array().unwrap().len(), 1);
        }
    }

    #[test]
    fn a_key_rotated_within_its_first_second_signs_whatever_the_kids() {
        use base64::engine::general_purpose::STANDARD as B64;
        let master =
            MasterKey::from_base64(&secrecy::SecretString::from(B64.encode([7u8; 32]))).unwrap();
        let now = 1_700_000_000;
        let a = new_widget_key(&master, "p", Alg::Rs256, now, None).unwrap();
        let b = new_widget_key(&master, "p", Alg::Rs256, now, None).unwrap();
        // The retiring key gets the larger kid: a tie on `created_at` would go to it.
        let (mut old, mut new) = if a.kid > b.kid { (a, b) } else { (b, a) };
        new.rotated_from = Some(old.kid.clone());
        old.retires_at = Some(now + 660);
        let keys = build(
            &[old.clone(), new.clone()],
            &master,
            &[("p".into(), Alg::Rs256, 600)],
            now,
        )
        .unwrap();
        assert_eq!(keys.signer("p").unwrap().kid(), new.kid);
        // Both stay published until the old one retires.
        let jwks = keys.jwks_json("p", now).unwrap();
        assert!(jwks.contains(&old.kid) && jwks.contains(&new.kid), "{jwks}");
    }
}
