//! The public keys a `private_key_jwt` client signs its assertions with: an RFC 7517 JWK Set,
//! checked and parsed once (when the admin registers it, and when the server loads or fetches
//! it), never per request: each key is held as aws-lc's parsed form, so a verification does no
//! key decoding or curve-point validation of its own. Only asymmetric signature keys of the algorithms tollgate accepts
//! pass; a set carrying a private or symmetric key is refused whole, with the reason, because
//! whoever wrote it has put a secret where a public document belongs.

use std::collections::HashSet;
use std::sync::LazyLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::es256::BusyKey;
use super::public_key::{Curve, PublicKey};

/// The algorithms a client assertion may use, as RFC 8414 `*_signing_alg_values_supported`
/// names them. Never `HS*` (a shared secret is what this method avoids) nor `none`.
pub const ASSERTION_ALGS: [(&str, Algorithm); 5] = [
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("RS256", Algorithm::RS256),
    ("PS256", Algorithm::PS256),
    ("EdDSA", Algorithm::EdDSA),
];

/// The accepted algorithm a JWS header's `alg` names, if any (RFC 8725 §3.1: only these).
pub fn accepted_alg(name: &str) -> Option<Algorithm> {
    ASSERTION_ALGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| *a)
}

/// More keys than any rotation needs; each one may cost a signature check per assertion
/// without a `kid`.
const MAX_KEYS: usize = 16;
/// RSA moduli below this are refused (NIST SP 800-131A: 2048 bits since 2014).
const MIN_RSA_BYTES: usize = 256;
/// Members that only a private (or symmetric) JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC
/// 8037 §2).
pub const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Public keys of no client, one per accepted algorithm (the RSA one serves RS256 and PS256),
/// their private halves discarded when they were made. An assertion naming an unknown client,
/// or a client without keys, is checked against the one of its algorithm and the answer thrown
/// away: it costs the signature verification a known client's bad signature costs, so the time
/// of a refusal does not tell which client ids exist.
const DUMMY_JWKS: &str = r#"{"keys": [
  {"kty": "EC", "crv": "P-256", "x": "jZ9Ktx0rSwdoLj-JwejOpAIcNxF1n62-vOn0CR0uLDw",
   "y": "PmJ7M1mOJUohj0pprH0Q3YttpxEUNZ7qwZ_B2rYnkww"},
  {"kty": "EC", "crv": "P-384",
   "x": "9MN6nzllbxWjMuxPCPkVxeW_55DEE-_udBmItacDdevwTtOJpZoGCvrHh2j53WRS",
   "y": "iXkdOorBkV1R1ji93YI1psxszIykHM6HWSdfO5Myyl6Meks2nIdW2LEAyeUlajVY"},
  {"kty": "RSA", "e": "AQAB", "n": "03csQQcNXquPWdFwjXCVy3mbS4vSVY1hAWxfyYPrMUJbYhk_c9XIVbphQa-9I8hkJcMKgs785KH3Ta4Do_RKt138C8f_5hBCIXTecwEh8lVEMIIhtOCdj2nNS7CUhAxAwABFUP3JuA3lgtWTHA2kT_h3iyV3rk0YoEEDL2Eut9Uwc3SO1Vn6kIV5ifjdUuaz0IwKNYmlZTOGnhd5Aham25nXrog-DLqnCw6E7bvXRsJFXyk329JhSGAuYQQm6kRdUhGTn9D_7iBTkv7j_hXxQj5Bsz3jbgsfztI7wmHshvafEn6-6qHey0t0AVMJ-KK-0DsPM2aE-lBYcfQXgcnYAw"},
  {"kty": "OKP", "crv": "Ed25519", "x": "pqOPvOzKs3dVilOKTV162Jib9lFikV0G-b5TARkIWcM"}
]}"#;

static DUMMY: LazyLock<Option<ClientKeySet>> =
    LazyLock::new(|| ClientKeySet::parse(DUMMY_JWKS).ok());

/// The keys an assertion of no known client is checked against (see `DUMMY_JWKS`).
pub fn dummy_keys() -> Option<&'static ClientKeySet> {
    DUMMY.as_ref()
}

/// One verification key of a client.
pub struct ClientKey {
    pub kid: Option<String>,
    /// The algorithms this key verifies (from its `kty` and curve, narrowed by its `alg`), each
    /// with the key parsed for it.
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
    /// The key material, to compare with a certificate's (`self_signed_tls_client_auth`).
    material: PublicKey,
    /// A P-256 key's table for ES256, once it is busy (`es256`): a partner signs every
    /// assertion, and a DPoP client every proof, with one key.
    busy: Option<BusyKey>,
}

impl ClientKey {
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.verifiers.iter().any(|(a, _)| *a == alg)
    }

    /// Whether `signature` (base64url, RFC 7515 §2) over `message` verifies with this key
    /// under `alg`.
    pub fn verifies(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        let Some((_, key)) = self.verifiers.iter().find(|(a, _)| *a == alg) else {
            return false;
        };
        let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let busy = self.busy.as_ref().filter(|_| alg == Algorithm::ES256);
        if let Some(verdict) = busy.and_then(|b| b.verify(message, &sig)) {
            return verdict;
        }
        let verified = key.verify_sig(message, &sig).is_ok();
        if let Some(busy) = busy.filter(|_| verified) {
            busy.verified();
        }
        verified
    }

    /// Whether ES256 signatures by this key are verified on its own table (`es256`).
    pub fn has_table(&self) -> bool {
        self.busy.as_ref().is_some_and(BusyKey::has_table)
    }
}

/// A client's keys, as checked.
pub struct ClientKeySet {
    keys: Vec<ClientKey>,
}

impl ClientKeySet {
    /// Parses and checks a JWK Set. The error names the key (by position and `kid`) and the
    /// problem, for the admin who registered it or the log of a fetch.
    pub fn parse(json: &str) -> Result<Self, String> {
        let doc: Value =
            serde_json::from_str(json).map_err(|e| format!("the JWK Set is not JSON: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the JWK Set has no \"keys\" array (RFC 7517 section 5)")?;
        if keys.is_empty() {
            return Err("the JWK Set has no keys".into());
        }
        if keys.len() > MAX_KEYS {
            return Err(format!("the JWK Set has more than {MAX_KEYS} keys"));
        }
        let mut seen = HashSet::new();
        let mut parsed = Vec::with_capacity(keys.len());
        for (i, jwk) in keys.iter().enumerate() {
            let name = key_name(i, jwk);
            let obj = jwk
                .as_object()
                .ok_or_else(|| format!("{name} is not a JSON object"))?;
            let key = parse_key(obj).map_err(|why| format!("{name}: {why}"))?;
            if let Some(kid) = &key.kid
                && !seen.insert(kid.clone())
            {
                return Err(format!(
                    "{name}: duplicate kid {kid:?}; each key needs its own kid"
                ));
            }
            parsed.push(key);
        }
        Ok(Self { keys: parsed })
    }

    /// The keys to try for an assertion signed with `alg`: by `kid` when the assertion names
    /// one (and, should none carry it, the keys without a `kid`); without a `kid`, as common
    /// client libraries send it, every key that fits the algorithm.
    pub fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a ClientKey> + 'a {
        let named = kid.is_some_and(|k| self.keys.iter().any(|c| c.kid.as_deref() == Some(k)));
        self.keys.iter().filter(move |c| {
            c.fits(alg)
                && match kid {
                    Some(k) if named => c.kid.as_deref() == Some(k),
                    Some(_) => c.kid.is_none(),
                    None => true,
                }
        })
    }

    /// Whether one of the keys is `key` (RFC 8705 §2.2: the client's certificate carries one of
    /// its registered keys).
    pub fn has_public_key(&self, key: &PublicKey) -> bool {
        self.keys.iter().any(|c| c.material == *key)
    }

    /// Whether the set has a key with this `kid` (an unknown one may mean the client rotated).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|c| c.kid.as_deref() == Some(kid))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// "key 2 (kid \"abc\")", for messages. The kid is shown only when it is short printable text.
fn key_name(i: usize, jwk: &Value) -> String {
    match jwk.get("kid").and_then(Value::as_str) {
        Some(kid) if kid.len() <= 64 && kid.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
            format!("key {} (kid {kid:?})", i + 1)
        }
        _ => format!("key {}", i + 1),
    }
}

/// One public JWK, checked as a member of a registered set is (a DPoP proof's `jwk` header,
/// RFC 9449 §4.2, is the other use).
pub fn parse_public_jwk(jwk: &Map<String, Value>) -> Result<ClientKey, String> {
    parse_key(jwk)
}

fn parse_key(jwk: &Map<String, Value>) -> Result<ClientKey, String> {
    let text = |name: &str| -> Result<Option<&str>, String> {
        match jwk.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("\"{name}\" is not a string")),
        }
    };
    let kty = text("kty")?.ok_or("it has no kty")?;
    match kty {
        "EC" | "RSA" | "OKP" => {}
        "oct" => {
            return Err(
                "it is a symmetric key (kty \"oct\"): private_key_jwt takes public keys only; \
                 a shared secret is what it replaces"
                    .into(),
            );
        }
        other => {
            return Err(format!(
                "unknown kty {:?}: expected EC, RSA or OKP",
                truncate(other)
            ));
        }
    }
    if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(format!(
            "it contains the private member \"{private}\": register the public key only, and \
             keep the private key with the client"
        ));
    }
    if let Some(u) = text("use")?
        && u != "sig"
    {
        return Err(format!("its \"use\" is {:?}, not \"sig\"", truncate(u)));
    }
    let kid = text("kid")?.map(str::to_owned);
    let b64 = |name: &str| -> Result<Vec<u8>, String> {
        let value = text(name)?.ok_or_else(|| format!("it has no \"{name}\""))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| format!("\"{name}\" is not base64url"))
    };
    let parsed = |alg: &'static dyn VerificationAlgorithm, bytes: &[u8]| {
        ParsedPublicKey::new(alg, bytes).map_err(|e| format!("unusable key: {e}"))
    };
    let mut busy = None;
    let (verifiers, material): (Vec<(Algorithm, ParsedPublicKey)>, PublicKey) = match kty {
        "EC" => {
            let (alg, len, verify, curve): (_, _, &'static dyn VerificationAlgorithm, _) =
                match text("crv")? {
                    Some("P-256") => (Algorithm::ES256, 32, &ECDSA_P256_SHA256_FIXED, Curve::P256),
                    Some("P-384") => (Algorithm::ES384, 48, &ECDSA_P384_SHA384_FIXED, Curve::P384),
                    Some(other) => {
                        return Err(format!(
                            "unsupported curve {:?}: expected P-256 or P-384",
                            truncate(other)
                        ));
                    }
                    None => return Err("an EC key needs crv".into()),
                };
            let (x, y) = (b64("x")?, b64("y")?);
            if x.len() != len || y.len() != len {
                return Err(format!("x and y of a {alg:?} key must be {len} bytes each"));
            }
            // SEC 1 §2.3.3 uncompressed point; aws-lc checks that it lies on the curve.
            let point = [&[4u8][..], &x, &y].concat();
            let verifiers = vec![(alg, parsed(verify, &point)?)];
            busy = (curve == Curve::P256)
                .then(|| BusyKey::new(&x, &y))
                .flatten();
            (verifiers, PublicKey::ec(curve, x, y))
        }
        "RSA" => {
            let n = b64("n")?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_BYTES {
                return Err("RSA keys must have a modulus of at least 2048 bits".into());
            }
            let e = b64("e")?;
            let material = PublicKey::rsa(&n, &e);
            let der = PublicKeyComponents { n, e }
                .as_der()
                .map_err(|_| "unusable key: not an RSA public key".to_owned())?;
            let verifiers = vec![
                (
                    Algorithm::RS256,
                    parsed(&RSA_PKCS1_2048_8192_SHA256, der.as_ref())?,
                ),
                (
                    Algorithm::PS256,
                    parsed(&RSA_PSS_2048_8192_SHA256, der.as_ref())?,
                ),
            ];
            (verifiers, material)
        }
        _ => {
            if text("crv")? != Some("Ed25519") {
                return Err("an OKP key must be on curve Ed25519".into());
            }
            let x = b64("x")?;
            if x.len() != 32 {
                return Err("x of an Ed25519 key must be 32 bytes".into());
            }
            let verifiers = vec![(Algorithm::EdDSA, parsed(&ED25519, &x)?)];
            (verifiers, PublicKey::Ed25519(x))
        }
    };
    let verifiers = match text("alg")? {
        None => verifiers,
        Some(name) => {
            let alg = ASSERTION_ALGS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| *a)
                .ok_or_else(|| {
                    format!(
                        "alg {:?} is not accepted: expected one of ES256, ES384, RS256, PS256, \
                         EdDSA",
                        truncate(name)
                    )
                })?;
            if !verifiers.iter().any(|(a, _)| *a == alg) {
                return Err(format!("alg {name} does not fit a {kty} key of this kind"));
            }
            verifiers.into_iter().filter(|(a, _)| *a == alg).collect()
        }
    };
    Ok(ClientKey {
        kid,
        verifiers,
        material,
        busy,
    })
}

/// Client-supplied text in a message, at a bounded length.
fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A real P-256 public key (the dummy set's): keys are checked to lie on their curve.
    fn ec_key(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid,
               "x": "jZ9Ktx0rSwdoLj-JwejOpAIcNxF1n62-vOn0CR0uLDw",
               "y": "PmJ7M1mOJUohj0pprH0Q3YttpxEUNZ7qwZ_B2rYnkww"})
    }

    fn set(keys: Vec<Value>) -> String {
        json!({ "keys": keys }).to_string()
    }

    fn refusal(keys: Vec<Value>) -> String {
        ClientKeySet::parse(&set(keys)).err().unwrap_or_default()
    }

    #[test]
    fn public_keys_parse() {
        let ok = ClientKeySet::parse(&set(vec![ec_key("a"), ec_key("b")])).unwrap();
        assert_eq!(ok.len(), 2);
        assert!(ok.has_kid("b"));
        assert_eq!(ok.candidates(Algorithm::ES256, Some("b")).count(), 1);
        assert_eq!(ok.candidates(Algorithm::ES256, None).count(), 2);
        assert_eq!(ok.candidates(Algorithm::RS256, None).count(), 0);
    }

    #[test]
    fn a_key_is_found_by_its_material() {
        let ok = ClientKeySet::parse(&set(vec![ec_key("a")])).unwrap();
        let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(ec_key("a")[name].as_str().unwrap());
        let (x, y) = (coordinate("x").unwrap(), coordinate("y").unwrap());
        assert!(ok.has_public_key(&PublicKey::ec(Curve::P256, x.clone(), y.clone())));
        assert!(!ok.has_public_key(&PublicKey::ec(Curve::P384, x.clone(), y.clone())));
        assert!(!ok.has_public_key(&PublicKey::ec(Curve::P256, y, x)));
    }

    #[test]
    fn the_dummy_keys_offer_one_key_per_accepted_algorithm() {
        let dummy = dummy_keys().unwrap();
        for (name, alg) in ASSERTION_ALGS {
            assert_eq!(dummy.candidates(alg, None).count(), 1, "{name}");
            assert_eq!(dummy.candidates(alg, Some("any-kid")).count(), 1, "{name}");
        }
    }

    #[test]
    fn private_symmetric_unknown_and_duplicate_keys_are_refused_by_name() {
        let mut private = ec_key("a");
        private["d"] = json!("AAAA");
        assert!(refusal(vec![private]).contains("private member \"d\""));
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(refusal(vec![oct]).contains("symmetric"));
        assert!(refusal(vec![json!({"kty": "XYZ"})]).contains("unknown kty \"XYZ\""));
        assert!(refusal(vec![ec_key("a"), ec_key("a")]).contains("duplicate kid \"a\""));
        let mut hs = ec_key("a");
        hs["alg"] = json!("HS256");
        assert!(refusal(vec![hs]).contains("not accepted"));
        let mut off_curve = ec_key("a");
        off_curve["y"] = json!(URL_SAFE_NO_PAD.encode([2u8; 32]));
        assert!(refusal(vec![off_curve]).contains("unusable key"));
        assert!(ClientKeySet::parse("{\"keys\": []}").is_err());
        assert!(ClientKeySet::parse("[]").is_err());
    }
}
