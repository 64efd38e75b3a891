//! Randomness for secrets and identifiers, from AWS-LC's generator.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;

/// The operating system's random generator failed: nothing secret can be made.
#[derive(Debug, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RngError;

/// A new client secret: 256 bits of randomness, base64url.
pub fn generate_secret() -> Result<SecretString, RngError> {
    Ok(SecretString::from(
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?),
    ))
}

/// A version 4 UUID from AWS-LC's generator, which draws from a seeded per-thread DRBG; the
/// `uuid` crate's own `new_v4` makes a `getrandom` system call for each one (issue 15: one per
/// token issued).
pub fn random_uuid() -> Result<uuid::Uuid, RngError> {
    Ok(uuid::Builder::from_random_bytes(random_bytes::<16>()?).into_uuid())
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], RngError> {
    use aws_lc_rs::rand::SecureRandom;
    let mut buf = [0u8; N];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| RngError)?;
    Ok(buf)
}
