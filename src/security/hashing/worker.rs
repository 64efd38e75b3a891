//! One argon2id context with its reusable work area: a pool thread allocates its 19 MiB once,
//! not once per hash (the argon2 crate's `hash_password_into_with_memory`).

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::HashError;
use crate::types::random_bytes;

/// One argon2 context with its reusable work area.
pub(super) struct Worker {
    blocks: Vec<Block>,
}

impl Worker {
    pub(super) fn new() -> Self {
        Self { blocks: Vec::new() }
    }

    fn compute(&mut self, params: Params, input: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
        let needed = params.block_count();
        if self.blocks.len() < needed {
            self.blocks.resize(needed, Block::default());
        }
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(input, salt, out, &mut self.blocks[..needed])
            .is_ok()
    }

    pub(super) fn hash(&mut self, params: &Params, input: &[u8]) -> Result<String, HashError> {
        let salt = random_bytes::<16>().map_err(|e| HashError::Params(e.to_string()))?;
        let mut out = [0u8; 32];
        if !self.compute(params.clone(), input, &salt, &mut out) {
            return Err(HashError::Params("argon2 refused the parameters".into()));
        }
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(out)
        ))
    }

    /// Constant-time check of `input` against a PHC string; a malformed hash never matches.
    pub(super) fn verify(&mut self, phc: &str, input: &[u8]) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        if parsed.algorithm != argon2::ARGON2ID_IDENT {
            return false;
        }
        let (Ok(params), Some(salt), Some(expected)) =
            (Params::try_from(&parsed), parsed.salt, parsed.hash)
        else {
            return false;
        };
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let expected = expected.as_bytes();
        let mut out = vec![0u8; expected.len()];
        self.compute(params, input, salt, &mut out)
            && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected).is_ok()
    }
}
