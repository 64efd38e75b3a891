//! Signing keys: generated on first start, stored in the database with the private part sealed
//! (AES-256-GCM) under the master key, shared by every instance on that database, and parsed
//! once into ready-to-sign key pairs, never per request.

mod alg;
mod key_set;
mod master;
mod rotation;
mod signer;
mod widget;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use zeroize::Zeroizing;

pub use alg::Alg;
pub use key_set::{KeySet, VerifyingKey};
pub use master::MasterKey;
pub use rotation::{KeyInfo, Rotation, describe, load_or_create, rotate};
pub use signer::{SigningKey, TokenType};
pub use widget::{
    WidgetKeyInfo, WidgetKeyRotation, WidgetKeys, load_or_create_widget_keys, profile_keys,
    rotate_widget_key, widget_key_info,
};

use crate::security::KeyError;
use crate::store::StoredKey;
use crate::types::random_bytes;

/// A freshly generated key: kid, private material (PKCS#8 or HMAC secret), public JWK.
type Generated = (String, Zeroizing<Vec<u8>>, Option<serde_json::Value>);

pub(super) fn generate(alg: Alg) -> Result<Generated, KeyError> {
    let rng = SystemRandom::new();
    let failed = || KeyError::Internal(format!("generating a {alg} key failed"));
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
        Alg::Rs256 | Alg::Rs512 | Alg::Ps256 => {
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

/// A freshly generated key of `alg`, sealed under `master`, as it is stored.
pub(crate) fn new_key(
    master: &MasterKey,
    alg: Alg,
    created_at: i64,
    activates_at: i64,
    rotated_from: Option<String>,
) -> Result<StoredKey, KeyError> {
    let (kid, private, jwk) = generate(alg)?;
    Ok(StoredKey {
        sealed_private: master.seal(&kid, &private)?,
        kid,
        alg: alg.as_str().to_owned(),
        public_jwk: jwk.map(|j| j.to_string()),
        created_at,
        activates_at,
        retires_at: None,
        rotated_from,
    })
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order.
pub(super) fn thumbprint(jwk: &serde_json::Value) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
