//! A private key parsed once into a ready-to-sign key pair (aws-lc-rs), with its JOSE headers
//! precomputed. Hand-written rather than `jsonwebtoken::encode` because that parses the PEM/DER
//! key on every call: signing here costs the signature alone.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256,
    RSA_PKCS1_SHA512, RSA_PSS_SHA256, RsaEncoding,
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
    Rsa(Box<rsa::KeyPair>, &'static dyn RsaEncoding),
    Hs256(hmac::Key),
}

/// A parsed private key with its JOSE headers precomputed, one per token type.
pub struct SigningKey {
    kid: String,
    alg: Alg,
    signer: Signer,
    rng: SystemRandom,
    /// base64url of `{"alg","typ","kid"}` for each `TokenType`, in its order.
    headers: [String; 4],
}

/// The kinds of token signed with tollgate's own keys. Each has its own JOSE `typ` (RFC 8725
/// §3.11, explicit typing), and every verifier insists on its own: one kind can never pass as
/// another, whatever its claims say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// RFC 9068 §2.1: `at+jwt`.
    Access = 0,
    /// A logged-in customer: `JWT`, the shape partner platforms already parse.
    Customer = 1,
    /// The anonymous widget visitor's cookie: `visitor+jwt`.
    Visitor = 2,
    /// A chat-widget token signed with the server's key (`alg = "server"`): `widget+jwt`.
    Widget = 3,
}

impl TokenType {
    const ALL: [TokenType; 4] = [Self::Access, Self::Customer, Self::Visitor, Self::Widget];

    pub fn typ(self) -> &'static str {
        match self {
            Self::Access => "at+jwt",
            Self::Customer => "JWT",
            Self::Visitor => "visitor+jwt",
            Self::Widget => "widget+jwt",
        }
    }

    /// Whether a header's `typ` names this type. RFC 7515 §4.1.9: compared without regard to
    /// case, and the `application/` prefix may be left out, so it is accepted either way.
    pub fn matches(self, typ: Option<&str>) -> bool {
        typ.is_some_and(|t| {
            let t = t.strip_prefix("application/").unwrap_or(t);
            t.eq_ignore_ascii_case(self.typ())
        })
    }
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
            Alg::Rs256 | Alg::Rs512 | Alg::Ps256 => {
                let encoding: &'static dyn RsaEncoding = match alg {
                    Alg::Rs512 => &RSA_PKCS1_SHA512,
                    Alg::Ps256 => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                Signer::Rsa(
                    Box::new(rsa::KeyPair::from_pkcs8(private).map_err(|_| bad("RSA key"))?),
                    encoding,
                )
            }
            Alg::Hs256 => Signer::Hs256(hmac::Key::new(hmac::HMAC_SHA256, private)),
        };
        let header = |typ: TokenType| {
            URL_SAFE_NO_PAD
                .encode(json!({"alg": alg.as_str(), "typ": typ.typ(), "kid": kid}).to_string())
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            signer,
            rng: SystemRandom::new(),
            headers: TokenType::ALL.map(header),
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
        let header = self
            .headers
            .get(typ as usize)
            .ok_or_else(|| KeyError::Internal("no header for the token type".into()))?;
        self.sign_with_header(header, claims)
    }

    /// `claims` under a header of the caller's (`alg` and `kid` are always this key's). Not for
    /// tollgate's own token types, which have their fixed headers.
    pub fn sign_jwt_with_header(
        &self,
        header: &serde_json::Map<String, serde_json::Value>,
        claims: &impl Serialize,
    ) -> Result<String, KeyError> {
        self.sign_jwt_with_fields(header, true, claims)
    }

    /// As `sign_jwt_with_header`, with the `kid` left out when `with_kid` is false (for vendors
    /// that verify with one pasted public key and document a header without it).
    pub fn sign_jwt_with_fields(
        &self,
        header: &serde_json::Map<String, serde_json::Value>,
        with_kid: bool,
        claims: &impl Serialize,
    ) -> Result<String, KeyError> {
        let mut header = header.clone();
        header.insert("alg".into(), json!(self.alg.as_str()));
        if with_kid {
            header.insert("kid".into(), json!(self.kid));
        }
        let encoded = URL_SAFE_NO_PAD.encode(serde_json::Value::Object(header).to_string());
        self.sign_with_header(&encoded, claims)
    }

    fn sign_with_header(&self, header: &str, claims: &impl Serialize) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims)
            .map_err(|e| KeyError::Internal(format!("claims do not serialize: {e}")))?;
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
            Signer::Rsa(k, encoding) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(*encoding, &self.rng, message, &mut sig)
                    .map_err(|_| failed())?;
                sig
            }
            Signer::Hs256(k) => hmac::sign(k, message).as_ref().to_vec(),
        })
    }
}
