//! A private key parsed once into a ready-to-sign key pair (aws-lc-rs), with its JOSE headers
//! precomputed. Hand-written rather than `jsonwebtoken::encode` because that parses the PEM/DER
//! key on every call: signing here costs the signature alone.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256,
};
use aws_lc_rs::{hmac, rsa};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::json;

use super::Alg;
use crate::security::KeyError;

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
    pub(super) fn parse(kid: &str, alg: Alg, private: &[u8]) -> Result<Self, KeyError> {
        let bad =
            |what: &str| KeyError::Internal(format!("signing key {kid} is not a valid {what}"));
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
    pub fn sign_jwt(&self, typ: TokenType, claims: &impl Serialize) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims)
            .map_err(|e| KeyError::Internal(format!("claims do not serialize: {e}")))?;
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

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = || KeyError::Internal("signing failed".into());
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
