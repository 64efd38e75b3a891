//! Helpers the token kinds share: HMAC keys from named secrets, the HMAC algorithms a kind
//! allows, E.164 phones, HS signing.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, EncodingKey};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Error;

/// The HMAC key named by `secret_env`, parsed once.
pub(super) fn hmac_key(
    env_name: &str,
    what: &str,
    secrets: &HashMap<String, SecretString>,
) -> Result<EncodingKey, String> {
    let value = named_secret(env_name, what, secrets)?;
    if value.expose_secret().len() < 16 {
        return Err(format!("{what} is shorter than 16 bytes"));
    }
    Ok(EncodingKey::from_secret(value.expose_secret().as_bytes()))
}

/// The secret an `*_env` key names. The message names the variable, never its value.
pub(super) fn named_secret<'s>(
    name: &str,
    what: &str,
    secrets: &'s HashMap<String, SecretString>,
) -> Result<&'s SecretString, String> {
    secrets
        .get(name)
        .filter(|s| !s.expose_secret().is_empty())
        .ok_or_else(|| format!("the environment variable {name} ({what}) is not set"))
}

pub(super) fn hmac_alg(raw: Option<&str>, allowed: &[Algorithm]) -> Result<Algorithm, String> {
    let alg = match raw.unwrap_or("HS256") {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        other => return Err(format!("unsupported alg {other:?}")),
    };
    if allowed.contains(&alg) {
        Ok(alg)
    } else {
        Err(format!("alg {alg:?} is not available for this kind"))
    }
}

/// E.164: `+` then 2 to 15 digits, the first not 0. Anything else is left out of tokens.
pub(super) fn e164(phone: Option<&str>) -> Option<&str> {
    phone.filter(|p| {
        p.strip_prefix('+').is_some_and(|d| {
            (2..=15).contains(&d.len())
                && d.bytes().all(|b| b.is_ascii_digit())
                && !d.starts_with('0')
        })
    })
}

pub(super) fn sign_hs(
    header: &jsonwebtoken::Header,
    claims: &impl serde::Serialize,
    key: &EncodingKey,
) -> Result<String, Error> {
    jsonwebtoken::encode(header, claims, key)
        .map_err(|e| Error::Internal(format!("signing a widget token failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_e164_phones_pass() {
        assert_eq!(e164(Some("+14155550100")), Some("+14155550100"));
        for bad in ["14155550100", "+0123", "+1 415", "+", "+1234567890123456"] {
            assert_eq!(e164(Some(bad)), None, "{bad}");
        }
    }
}
