//! The cryptography tollgate relies on: argon2id hashing of stored secrets, the signing keys
//! and their rotation, the JWTs signed with them, and the clients' own keys and assertions
//! (`private_key_jwt`). Knows nothing of HTTP or of the OAuth flows that use it; keys are kept
//! in the store.

pub mod client_assertion;
pub mod client_keys;
pub mod dpop;
pub mod es256;
pub mod hashing;
pub mod keys;
pub mod public_key;
pub mod tokens;
pub mod verified;
pub mod x509;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;

use crate::store::StoreError;
use crate::types::RngError;

/// The JSON object in one base64url part of a JWS (RFC 7515 §2: no padding), read straight into
/// `T` (through `serde_json::Value` first, it cost a tree of allocations per request). An array
/// is refused, though serde would fill a struct from one, and so is a member named twice (RFC
/// 7515 §4 lets a parser refuse it rather than keep the last).
pub(crate) fn jws_object<T: DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// The three base64url parts of a JWS in compact serialization (RFC 7515 §7.1), and the
/// signing input (`head.body`) the signature covers; `None` unless there are exactly three.
pub(crate) struct CompactJws<'a> {
    pub head: &'a str,
    pub body: &'a str,
    pub signature: &'a str,
    pub signing_input: &'a str,
}

pub(crate) fn split_compact(jwt: &str) -> Option<CompactJws<'_>> {
    let mut parts = jwt.split('.');
    let (Some(head), Some(body), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some(CompactJws {
        head,
        body,
        signature,
        signing_input: jwt.get(..head.len() + 1 + body.len())?,
    })
}

/// A failure to make, open, load or use a key: never the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RngError> for KeyError {
    fn from(e: RngError) -> Self {
        Self::Internal(e.to_string())
    }
}
