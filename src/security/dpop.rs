//! A DPoP proof (RFC 9449 §4): a JWT the client signs with a key whose public half it carries
//! in its own header. Parsed here without trusting anything in it and its signature checked
//! with that key; what its claims must say about the request is the domain's (`domain::dpop`).
//! Also the two hashes the binding is made of (RFC 7638 thumbprint, `ath`) and the server
//! nonces of RFC 9449 §8.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::security::client_assertion::{MAX_JTI_BYTES, has_control};
use crate::security::client_keys::{
    ASSERTION_ALGS, ClientKey, PRIVATE_MEMBERS, accepted_alg, parse_public_jwk,
};
use crate::security::{CompactJws, jws_object, split_compact};

/// Why a proof was refused: a short fixed text, safe to show the client.
pub type Refusal = &'static str;

/// The JWS algorithms a proof may use (RFC 9449 §4.2: asymmetric only; `none` and MACs never).
pub const DPOP_ALGS: [(&str, jsonwebtoken::Algorithm); 5] = ASSERTION_ALGS;

/// Longer than any honest proof (an RS256 one with its 2048-bit `jwk` is about 1 KiB).
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// RFC 9449 §4.2 claims. Types are strict: an `iat` as a string is malformed, not coerced.
#[derive(Debug, Deserialize)]
pub struct ProofClaims {
    pub jti: String,
    pub htm: String,
    pub htu: String,
    pub iat: i64,
    pub ath: Option<String>,
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: Option<Value>,
    x5c: Option<Value>,
    crit: Option<Value>,
}

/// A proof whose signature verifies with the key in its header.
#[derive(Debug)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's key: what `cnf.jkt` binds a token to.
    pub jkt: String,
    pub claims: ProofClaims,
}

/// What a proof's header says once read: the key to verify with, and its thumbprint.
struct HeaderKey {
    alg: jsonwebtoken::Algorithm,
    key: ClientKey,
    jkt: String,
}

/// Proof headers already read, by their exact base64url text. A client signs every proof with
/// the same key, so every proof it sends has the same header; reading it (base64, JSON, the
/// JWK's point, the RFC 7638 thumbprint) cost about as much CPU as the rest of a bearer
/// request (README, Performance). Only what the header's bytes determine is kept, and only
/// after a signature by that key verified: the signature and the claims are checked on every
/// proof. Bounded: a full map is emptied, so headers sent to fill it cost only misses.
#[derive(Default)]
pub struct ProofKeys {
    read: Mutex<HashMap<Box<str>, Arc<HeaderKey>>>,
}

/// More proof keys than the partners of one deployment use at once.
const MAX_PROOF_KEYS: usize = 4096;

impl ProofKeys {
    fn get(&self, head: &str) -> Option<Arc<HeaderKey>> {
        self.read.lock().ok()?.get(head).cloned()
    }

    fn keep(&self, head: &str, key: Arc<HeaderKey>) {
        if let Ok(mut read) = self.read.lock() {
            if read.len() >= MAX_PROOF_KEYS {
                read.clear();
            }
            read.insert(head.into(), key);
        }
    }

    /// Headers held right now.
    pub fn len(&self) -> usize {
        self.read.lock().map_or(0, |r| r.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Held keys that verify on their own ES256 table (`es256`).
    pub fn tables(&self) -> usize {
        self.read
            .lock()
            .map_or(0, |r| r.values().filter(|k| k.key.has_table()).count())
    }
}

impl Proof {
    /// RFC 9449 §4.3 checks 2-7: one well-formed JWT, `typ` `dpop+jwt`, an accepted asymmetric
    /// `alg`, a public `jwk`, and a signature by that key. `keys` holds headers already read.
    pub fn verify(jwt: &str, keys: &ProofKeys) -> Result<Self, Refusal> {
        if jwt.len() > MAX_PROOF_BYTES {
            return Err("the DPoP proof is too long");
        }
        let CompactJws {
            head,
            body,
            signature,
            signing_input,
        } = split_compact(jwt).ok_or("the DPoP proof is not a JWS in three parts")?;
        let (key, known) = match keys.get(head) {
            Some(key) => (key, true),
            None => (Arc::new(read_header(head)?), false),
        };
        if signature.is_empty()
            || !key
                .key
                .verifies(key.alg, signing_input.as_bytes(), signature)
        {
            return Err("the DPoP proof's signature does not verify with its jwk");
        }
        if !known {
            keys.keep(head, Arc::clone(&key));
        }
        let claims: ProofClaims =
            jws_object(body).ok_or("the DPoP proof lacks jti, htm, htu or iat, or is malformed")?;
        if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_BYTES || has_control(&claims.jti) {
            return Err("the DPoP proof's jti is empty, too long or has control characters");
        }
        Ok(Self {
            jkt: key.jkt.clone(),
            claims,
        })
    }
}

/// The header checks of RFC 9449 §4.3 (items 4-6) and the key they leave.
fn read_header(head: &str) -> Result<HeaderKey, Refusal> {
    let header: Header = jws_object(head).ok_or("the DPoP proof's header is malformed")?;
    // RFC 9449 §4.2: typ is exactly the media type dpop+jwt (RFC 7515 §4.1.9 lets the case
    // vary).
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err("the DPoP proof's typ is not dpop+jwt");
    }
    // DPOP_ALGS is ASSERTION_ALGS: one table, one lookup.
    let alg = accepted_alg(&header.alg)
        .ok_or("the DPoP proof's alg is not one of dpop_signing_alg_values_supported")?;
    if header.crit.is_some() {
        return Err("the DPoP proof names critical header extensions");
    }
    let jwk = match (header.jwk, header.x5c) {
        (Some(Value::Object(jwk)), _) => jwk,
        (Some(_), _) => return Err("the DPoP proof's jwk is not a JSON object"),
        // RFC 9449 §4.2: the key is in `jwk`; a certificate chain is not a substitute.
        (None, Some(_)) => return Err("the DPoP proof carries x5c instead of jwk"),
        (None, None) => return Err("the DPoP proof has no jwk header"),
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err("the DPoP proof's jwk contains a private key");
    }
    let key = parse_public_jwk(&jwk)
        .map_err(|_| "the DPoP proof's jwk is not a public key tollgate accepts")?;
    if !key.fits(alg) {
        return Err("the DPoP proof's alg does not fit its jwk");
    }
    let jkt = thumbprint(&jwk).ok_or("the DPoP proof's jwk is malformed")?;
    Ok(HeaderKey { alg, key, jkt })
}

/// RFC 7638 §3: SHA-256 over the key's required members only, in lexicographic order, with no
/// whitespace; base64url. Other members (`kid`, `alg`, `use`) do not change it.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = Map::new();
    for m in members {
        canonical.insert(
            (*m).to_owned(),
            Value::String(jwk.get(*m)?.as_str()?.to_owned()),
        );
    }
    // serde_json's map is ordered by key and `to_string` writes no whitespace: the RFC's form.
    let text = serde_json::to_string(&Value::Object(canonical)).ok()?;
    Some(URL_SAFE_NO_PAD.encode(digest(&SHA256, text.as_bytes())))
}

/// RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII text.
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, token.as_bytes()))
}

/// How long one nonce period lasts; a nonce is accepted in its period and the next.
pub const NONCE_PERIOD_SECS: i64 = 60;

/// Server nonces (RFC 9449 §8) that every instance issues and accepts without sharing state:
/// a nonce is its period's number and an HMAC of it under a key derived from the master key,
/// which every instance on one database holds. It rotates each period and is accepted for two.
pub struct NonceKey(hmac::Key);

impl NonceKey {
    pub fn new(key: hmac::Key) -> Self {
        Self(key)
    }

    pub fn issue(&self, now: i64) -> String {
        let period = now.div_euclid(NONCE_PERIOD_SECS).to_be_bytes();
        let tag = hmac::sign(&self.0, &period);
        let mut raw = period.to_vec();
        raw.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `nonce` was issued by an instance holding this key in this period or the last.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some((period, tag)) = raw.split_first_chunk::<8>() else {
            return false;
        };
        let current = now.div_euclid(NONCE_PERIOD_SECS);
        let issued = i64::from_be_bytes(*period);
        // hmac::verify compares in constant time.
        (issued == current || issued == current - 1) && hmac::verify(&self.0, period, tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    struct Key(EcdsaKeyPair);

    impl Key {
        fn new() -> Self {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            Self(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap())
        }

        fn jwk(&self) -> Value {
            let p = self.0.public_key().as_ref();
            json!({"kty": "EC", "crv": "P-256",
                   "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..])})
        }

        fn sign(&self, header: &Value, claims: &Value) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = self.0.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }
    }

    fn claims() -> Value {
        json!({"jti": "j1", "htm": "POST", "htu": "https://as.example/access_token", "iat": 1})
    }

    #[test]
    fn a_well_formed_proof_verifies_and_names_its_key() {
        let key = Key::new();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk()});
        let proof = Proof::verify(&key.sign(&header, &claims()), &ProofKeys::default()).unwrap();
        assert_eq!(
            proof.jkt,
            thumbprint(key.jwk().as_object().unwrap()).unwrap()
        );
        assert_eq!(proof.claims.htm, "POST");
    }

    #[test]
    fn a_read_header_is_kept_only_once_its_signature_verified() {
        let (key, other) = (Key::new(), Key::new());
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk()});
        let keys = ProofKeys::default();
        // Signed by another key than its header names: refused, and the header is not kept.
        assert!(Proof::verify(&other.sign(&header, &claims()), &keys).is_err());
        assert!(keys.is_empty());
        let first = Proof::verify(&key.sign(&header, &claims()), &keys).unwrap();
        assert_eq!(keys.len(), 1);
        // The kept header verifies the next proof, and still checks every signature.
        let again = Proof::verify(&key.sign(&header, &claims()), &keys).unwrap();
        assert_eq!((keys.len(), &again.jkt), (1, &first.jkt));
        assert!(Proof::verify(&other.sign(&header, &claims()), &keys).is_err());
        let jwt = key.sign(&header, &claims());
        let (signed, _) = jwt.rsplit_once('.').unwrap();
        let (_, foreign) = other
            .sign(&header, &claims())
            .rsplit_once('.')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        assert!(Proof::verify(&format!("{signed}.{foreign}"), &keys).is_err());
        // The claims are read from each proof, not kept with the header.
        let bad = json!({"jti": "", "htm": "POST", "htu": "https://as.example/x", "iat": 1});
        assert!(Proof::verify(&key.sign(&header, &bad), &keys).is_err());
    }

    #[test]
    fn each_header_fault_is_refused_with_its_reason() {
        let key = Key::new();
        let other = Key::new();
        let mut private = key.jwk();
        private["d"] = json!("AAAA");
        let cases = [
            (
                json!({"typ": "JWT", "alg": "ES256", "jwk": key.jwk()}),
                "typ",
            ),
            (json!({"alg": "ES256", "jwk": key.jwk()}), "typ"),
            (
                json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk()}),
                "alg",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk()}),
                "alg",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "ES384", "jwk": key.jwk()}),
                "fit",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "ES256", "x5c": ["MIIB"]}),
                "x5c",
            ),
            (json!({"typ": "dpop+jwt", "alg": "ES256"}), "no jwk"),
            (
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}),
                "private",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "oct", "k": "c2Vj"}}),
                "private",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": other.jwk()}),
                "signature",
            ),
            (
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk(), "crit": ["x"]}),
                "critical",
            ),
        ];
        for (header, reason) in cases {
            let refused =
                Proof::verify(&key.sign(&header, &claims()), &ProofKeys::default()).unwrap_err();
            assert!(refused.contains(reason), "{header}: {refused}");
        }
    }

    #[test]
    fn malformed_claims_and_sizes_are_refused() {
        let key = Key::new();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk()});
        for bad in [
            json!({"htm": "POST", "htu": "https://a/", "iat": 1}),
            json!({"jti": "j", "htm": "POST", "htu": "https://a/", "iat": "1"}),
            json!({"jti": "", "htm": "POST", "htu": "https://a/", "iat": 1}),
            json!({"jti": "j".repeat(300), "htm": "POST", "htu": "https://a/", "iat": 1}),
        ] {
            assert!(
                Proof::verify(&key.sign(&header, &bad), &ProofKeys::default()).is_err(),
                "{bad}"
            );
        }
        let mut huge = key.jwk();
        huge["pad"] = json!("x".repeat(64 * 1024));
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": huge});
        let refused =
            Proof::verify(&key.sign(&header, &claims()), &ProofKeys::default()).unwrap_err();
        assert!(refused.contains("too long"));
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(Proof::verify(junk, &ProofKeys::default()).is_err());
        }
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s_example() {
        // RFC 7638 §3.1.
        let jwk = json!({"kty": "RSA", "alg": "RS256", "kid": "2011-04-29", "e": "AQAB",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn nonces_rotate_and_expire_after_two_periods() {
        let key = NonceKey::new(hmac::Key::new(hmac::HMAC_SHA256, b"k"));
        let other = NonceKey::new(hmac::Key::new(hmac::HMAC_SHA256, b"other"));
        let n = key.issue(600);
        assert!(key.accepts(&n, 600));
        assert!(key.accepts(&n, 600 + NONCE_PERIOD_SECS));
        assert!(!key.accepts(&n, 600 + 2 * NONCE_PERIOD_SECS));
        assert!(!key.accepts(&n, 540));
        assert!(!other.accepts(&n, 600));
        assert_ne!(key.issue(600), key.issue(660));
        assert!(!key.accepts("garbage", 600));
        assert!(!key.accepts("", 600));
    }

    #[test]
    fn ath_is_the_base64url_sha256_of_the_token() {
        // RFC 9449 §7.1's example token and ath.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
