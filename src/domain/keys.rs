//! Signing keys: generated on first start, stored in the database with the private part sealed
//! (AES-256-GCM) under the master key, shared by every instance on that database, and parsed
//! once into ready-to-sign key pairs, never per request.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
};
use aws_lc_rs::{digest, hmac, rsa};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
// (Serialize is also used by Rotation and KeyInfo.)
use serde_json::json;
use zeroize::Zeroizing;

use crate::domain::Error;
use crate::domain::types::random_bytes;
use crate::store::{Store, StoredKey};

/// Access-token signing algorithms (RFC 7518 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "HS256")]
    Hs256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Hs256 => "HS256",
        }
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
            Self::Hs256 => Algorithm::HS256,
        }
    }
}

impl FromStr for Alg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "RS256" => Ok(Self::Rs256),
            "HS256" => Ok(Self::Hs256),
            other => Err(format!(
                "expected ES256, EdDSA, RS256 or HS256, got {other:?}"
            )),
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key-encryption key. Its bytes never leave this struct.
pub struct MasterKey(LessSafeKey);

impl MasterKey {
    pub fn from_base64(encoded: &SecretString) -> Result<Self, Error> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.expose_secret().trim())
                .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.expose_secret().trim()))
                .map_err(|_| Error::Internal("TOLLGATE_MASTER_KEY is not base64".into()))?,
        );
        if bytes.len() != 32 {
            return Err(Error::Internal(
                "TOLLGATE_MASTER_KEY must be 32 bytes (base64: `openssl rand -base64 32`)".into(),
            ));
        }
        Self::from_raw(&bytes)
    }

    fn from_raw(bytes: &[u8]) -> Result<Self, Error> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::Internal("cannot use the master key".into()))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// A development key kept in a local file (mode 0600), created on first use.
    pub fn load_or_create_dev(path: &Path) -> Result<Self, Error> {
        let io =
            |e: std::io::Error| Error::Internal(format!("dev master key {}: {e}", path.display()));
        if !path.exists() {
            let encoded = STANDARD.encode(random_bytes::<32>()?);
            write_private_file(path, encoded.as_bytes()).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::from_base64(&SecretString::from(text))
    }

    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut in_out = plaintext.to_vec();
        // The kid is authenticated data: a sealed key moved to another row does not open.
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(kid.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| Error::Internal("sealing a signing key failed".into()))?;
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    fn open(&self, kid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let wrong = || {
            Error::Internal(format!(
                "cannot decrypt signing key {kid}: the master key differs from the one it was \
                 sealed with (set the same TOLLGATE_MASTER_KEY on every instance)"
            ))
        };
        if sealed.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| wrong())?;
        Ok(Zeroizing::new(plain.to_vec()))
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

// One per key, built once: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(Box<rsa::KeyPair>),
    Hs256(hmac::Key),
}

/// A parsed private key with its two precomputed JOSE headers.
pub struct SigningKey {
    kid: String,
    alg: Alg,
    signer: Signer,
    rng: SystemRandom,
    /// base64url of `{"alg","typ":"at+jwt","kid"}` (RFC 9068 §2.1).
    access_header: String,
    /// base64url of `{"alg","typ":"JWT","kid"}`.
    plain_header: String,
}

/// The JOSE `typ` a token is issued with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// RFC 9068 §2.1: access tokens carry `typ: at+jwt` so they cannot be confused with
    /// other JWTs (such as customer tokens) signed by the same key.
    Access,
    Plain,
}

impl SigningKey {
    fn parse(kid: &str, alg: Alg, private: &[u8]) -> Result<Self, Error> {
        let bad = |what: &str| Error::Internal(format!("signing key {kid} is not a valid {what}"));
        let signer = match alg {
            Alg::Es256 => Signer::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, private)
                    .map_err(|_| bad("P-256 key"))?,
            ),
            Alg::EdDsa => {
                Signer::EdDsa(Ed25519KeyPair::from_pkcs8(private).map_err(|_| bad("Ed25519 key"))?)
            }
            Alg::Rs256 => Signer::Rs256(Box::new(
                rsa::KeyPair::from_pkcs8(private).map_err(|_| bad("RSA key"))?,
            )),
            Alg::Hs256 => Signer::Hs256(hmac::Key::new(hmac::HMAC_SHA256, private)),
        };
        let header = |typ: &str| {
            URL_SAFE_NO_PAD.encode(json!({"alg": alg.as_str(), "typ": typ, "kid": kid}).to_string())
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            signer,
            rng: SystemRandom::new(),
            access_header: header("at+jwt"),
            plain_header: header("JWT"),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Compact JWS serialization (RFC 7515 §7.1) of `claims`.
    pub fn sign_jwt(&self, typ: TokenType, claims: &impl Serialize) -> Result<String, Error> {
        let payload = serde_json::to_vec(claims)
            .map_err(|e| Error::Internal(format!("claims do not serialize: {e}")))?;
        let header = match typ {
            TokenType::Access => &self.access_header,
            TokenType::Plain => &self.plain_header,
        };
        let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = || Error::Internal("signing failed".into());
        Ok(match &self.signer {
            Signer::Es256(k) => k
                .sign(&self.rng, message)
                .map_err(|_| failed())?
                .as_ref()
                .to_vec(),
            Signer::EdDsa(k) => k.sign(message).as_ref().to_vec(),
            Signer::Rs256(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| failed())?;
                sig
            }
            Signer::Hs256(k) => hmac::sign(k, message).as_ref().to_vec(),
        })
    }
}

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
    pub fn ephemeral(alg: Alg) -> Result<Self, Error> {
        let (kid, private, jwk) = generate(alg)?;
        let master = MasterKey::from_raw(&random_bytes::<32>()?)?;
        let record = StoredKey {
            sealed_private: master.seal(&kid, &private)?,
            kid,
            alg: alg.as_str().to_owned(),
            public_jwk: jwk.map(|j| j.to_string()),
            created_at: 0,
            activates_at: 0,
            retires_at: None,
            rotated_from: None,
        };
        build_key_set(&[record], &master, alg)
    }

    /// The key that signs at `now`: the most recently activated one. A key published ahead of
    /// its activation does not sign yet.
    pub fn active(&self, now: i64) -> Result<&SigningKey, Error> {
        let live = |s: &&Schedule<SigningKey>| !s.retired(now);
        self.signers
            .iter()
            .rev()
            .filter(live)
            .find(|s| s.activates_at <= now)
            .or_else(|| self.signers.iter().find(live))
            .map(|s| &s.key)
            .ok_or_else(|| Error::Internal("no signing key is active".into()))
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

/// A freshly generated key: kid, private material (PKCS#8 or HMAC secret), public JWK.
type Generated = (String, Zeroizing<Vec<u8>>, Option<serde_json::Value>);

fn generate(alg: Alg) -> Result<Generated, Error> {
    let rng = SystemRandom::new();
    let failed = || Error::Internal(format!("generating a {alg} key failed"));
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let (private, jwk): (Zeroizing<Vec<u8>>, Option<serde_json::Value>) = match alg {
        Alg::Es256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| failed())?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|_| failed())?;
            // Uncompressed SEC1 point: 0x04 || x || y.
            let point = pair.public_key().as_ref();
            let (x, y) = point.get(1..33).zip(point.get(33..65)).ok_or_else(failed)?;
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)});
            (Zeroizing::new(doc.as_ref().to_vec()), Some(jwk))
        }
        Alg::EdDsa => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| failed())?;
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| failed())?;
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
            (Zeroizing::new(doc.as_ref().to_vec()), Some(jwk))
        }
        Alg::Rs256 => {
            let pair = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).map_err(|_| failed())?;
            let der = pair.as_der().map_err(|_| failed())?;
            let public = pair.public_key();
            let n = public.modulus().big_endian_without_leading_zero().to_vec();
            let e = public.exponent().big_endian_without_leading_zero().to_vec();
            let jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)});
            (Zeroizing::new(der.as_ref().to_vec()), Some(jwk))
        }
        Alg::Hs256 => (Zeroizing::new(random_bytes::<32>()?.to_vec()), None),
    };
    let kid = match &jwk {
        Some(jwk) => thumbprint(jwk),
        None => b64(&random_bytes::<16>()?),
    };
    Ok((kid, private, jwk))
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order.
fn thumbprint(jwk: &serde_json::Value) -> String {
    let members: &[&str] = match jwk["kty"].as_str() {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => &["e", "kty", "n"],
    };
    let canonical: Vec<String> = members
        .iter()
        .map(|m| format!("\"{m}\":{}", jwk[*m]))
        .collect();
    let digest = digest::digest(
        &digest::SHA256,
        format!("{{{}}}", canonical.join(",")).as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn verifying_key(
    alg: Alg,
    jwk: Option<&serde_json::Value>,
    private: &[u8],
) -> Result<VerifyingKey, Error> {
    let field = |name: &str| -> Result<String, Error> {
        jwk.and_then(|j| j[name].as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::Internal(format!("stored JWK lacks {name}")))
    };
    let bad =
        |e: jsonwebtoken::errors::Error| Error::Internal(format!("stored JWK is invalid: {e}"));
    let key = match alg {
        Alg::Es256 => DecodingKey::from_ec_components(&field("x")?, &field("y")?).map_err(bad)?,
        Alg::EdDsa => DecodingKey::from_ed_components(&field("x")?).map_err(bad)?,
        Alg::Rs256 => DecodingKey::from_rsa_components(&field("n")?, &field("e")?).map_err(bad)?,
        Alg::Hs256 => DecodingKey::from_secret(private),
    };
    Ok(VerifyingKey {
        alg: alg.jwt(),
        key,
    })
}

/// Loads every stored key, creating one for `alg` if none exists yet, and returns the set whose
/// active key is the newest key of `alg`.
pub async fn load_or_create(
    store: &Store,
    master: &MasterKey,
    alg: Alg,
    now: i64,
) -> Result<KeySet, Error> {
    let mut stored = store.signing_keys().await?;
    let usable = |k: &StoredKey| k.alg == alg.as_str() && k.retires_at.is_none_or(|t| t > now);
    if !stored.iter().any(usable) {
        let (kid, private, jwk) = generate(alg)?;
        let record = StoredKey {
            sealed_private: master.seal(&kid, &private)?,
            kid,
            alg: alg.as_str().to_owned(),
            public_jwk: jwk.map(|j| j.to_string()),
            created_at: now,
            activates_at: now,
            retires_at: None,
            rotated_from: None,
        };
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
) -> Result<Option<Rotation>, Error> {
    let stored = store.signing_keys().await?;
    let current: Vec<&StoredKey> = stored
        .iter()
        .filter(|k| k.alg == alg.as_str() && k.retires_at.is_none())
        .collect();
    let newest = current
        .iter()
        .max_by_key(|k| (k.activates_at, k.created_at));
    let (kid, private, jwk) = generate(alg)?;
    let activates_at = now + publish_ahead.max(0);
    // The leeway covers clock skew between instances and verifiers.
    let retires_at = activates_at + max_token_ttl + 60;
    let record = StoredKey {
        sealed_private: master.seal(&kid, &private)?,
        kid,
        alg: alg.as_str().to_owned(),
        public_jwk: jwk.map(|j| j.to_string()),
        created_at: now,
        activates_at,
        retires_at: None,
        rotated_from: newest.map(|k| k.kid.clone()),
    };
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

fn build_key_set(stored: &[StoredKey], master: &MasterKey, alg: Alg) -> Result<KeySet, Error> {
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
                    .map_err(|e| Error::Internal(format!("stored JWK is not JSON: {e}")))?,
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
        return Err(Error::Internal(format!("no {alg} signing key stored")));
    }
    signers.sort_by_key(|s| (s.activates_at, s.created_at));
    Ok(KeySet {
        signers,
        verifying,
        public,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::from_base64(&SecretString::from(STANDARD.encode([7u8; 32]))).unwrap()
    }

    #[test]
    fn every_algorithm_signs_what_jsonwebtoken_verifies() {
        for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256, Alg::Hs256] {
            let (kid, private, jwk) = generate(alg).unwrap();
            let m = master();
            let record = StoredKey {
                sealed_private: m.seal(&kid, &private).unwrap(),
                kid: kid.clone(),
                alg: alg.as_str().into(),
                public_jwk: jwk.map(|j| j.to_string()),
                created_at: 0,
                activates_at: 0,
                retires_at: None,
                rotated_from: None,
            };
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
    fn a_sealed_key_opens_only_under_its_kid_and_master_key() {
        let m = master();
        let sealed = m.seal("kid-1", b"private").unwrap();
        assert_eq!(&*m.open("kid-1", &sealed).unwrap(), b"private");
        assert!(m.open("kid-2", &sealed).is_err());
        let other =
            MasterKey::from_base64(&SecretString::from(STANDARD.encode([8u8; 32]))).unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1 example key and its thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB"
        });
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
