//! The master key: seals signing keys (AES-256-GCM) so the database never holds them in the
//! clear. Every instance on one database needs the same one.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::security::KeyError;
use crate::types::random_bytes;

/// The key-encryption key. Its bytes never leave this struct.
pub struct MasterKey {
    aead: LessSafeKey,
    /// For keys derived for other purposes (HKDF, RFC 5869), so that no key serves two.
    derive: hkdf::Prk,
}

impl MasterKey {
    pub fn from_base64(encoded: &SecretString) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.expose_secret().trim())
                .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.expose_secret().trim()))
                .map_err(|_| KeyError::Internal("TOLLGATE_MASTER_KEY is not base64".into()))?,
        );
        if bytes.len() != 32 {
            return Err(KeyError::Internal(
                "TOLLGATE_MASTER_KEY must be 32 bytes (base64: `openssl rand -base64 32`)".into(),
            ));
        }
        Self::from_raw(&bytes)
    }

    pub(super) fn from_raw(bytes: &[u8]) -> Result<Self, KeyError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| KeyError::Internal("cannot use the master key".into()))?;
        Ok(Self {
            aead: LessSafeKey::new(key),
            derive: hkdf::Salt::new(hkdf::HKDF_SHA256, b"tollgate").extract(bytes),
        })
    }

    /// An HMAC-SHA256 key for `purpose`, the same on every instance holding this master key.
    pub fn derive_hmac_key(&self, purpose: &[u8]) -> Result<hmac::Key, KeyError> {
        let info = [purpose];
        let okm = self
            .derive
            .expand(&info, hmac::HMAC_SHA256)
            .map_err(|_| KeyError::Internal("cannot derive a key from the master key".into()))?;
        Ok(hmac::Key::from(okm))
    }

    /// A development key kept in a local file (mode 0600), created on first use.
    pub fn load_or_create_dev(path: &Path) -> Result<Self, KeyError> {
        let io = |e: std::io::Error| {
            KeyError::Internal(format!("dev master key {}: {e}", path.display()))
        };
        if !path.exists() {
            let encoded = STANDARD.encode(random_bytes::<32>()?);
            write_private_file(path, encoded.as_bytes()).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::from_base64(&SecretString::from(text))
    }

    pub(super) fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut in_out = plaintext.to_vec();
        // The kid is authenticated data: a sealed key moved to another row does not open.
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(kid.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| KeyError::Internal("sealing a signing key failed".into()))?;
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    pub(super) fn open(&self, kid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let wrong = || {
            KeyError::Internal(format!(
                "cannot decrypt signing key {kid}: the master key differs from the one it was \
                 sealed with (set the same TOLLGATE_MASTER_KEY on every instance)"
            ))
        };
        if sealed.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| wrong())?;
        Ok(Zeroizing::new(plain.to_vec()))
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn master() -> MasterKey {
        MasterKey::from_base64(&SecretString::from(STANDARD.encode([7u8; 32]))).unwrap()
    }

    #[test]
    fn a_sealed_key_opens_only_under_its_kid_and_master_key() {
        let m = master();
        let sealed = m.seal("kid-1", b"private").unwrap();
        assert_eq!(&*m.open("kid-1", &sealed).unwrap(), b"private");
        assert!(m.open("kid-2", &sealed).is_err());
        let other =
            MasterKey::from_base64(&SecretString::from(STANDARD.encode([8u8; 32]))).unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
    }
}
