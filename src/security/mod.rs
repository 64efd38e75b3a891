//! The cryptography tollgate relies on: argon2id hashing of stored secrets, the signing keys
//! and their rotation, the JWTs signed with them, and the clients' own keys and assertions
//! (`private_key_jwt`). Knows nothing of HTTP or of the OAuth flows that use it; keys are kept
//! in the store.

pub mod client_assertion;
pub mod client_keys;
pub mod dpop;
pub mod hashing;
pub mod keys;
pub mod public_key;
pub mod tokens;
pub mod verified;
pub mod x509;

use crate::store::StoreError;
use crate::types::RngError;

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
