//! Serving HTTPS directly (issue 4: "as the vendor's sample offers"): a PEM certificate chain
//! and a PKCS#8 private key, which may be encrypted (PBES2, RFC 8018) under a passphrase taken
//! from the environment. rustls with the aws-lc-rs provider; plain HTTP stays the default.

use std::collections::HashMap;
use std::sync::Arc;

use pkcs8::der::{Decode, SecretDocument};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::{ExposeSecret, SecretString};

use crate::config::TlsSettings;

/// The PEM label of an encrypted PKCS#8 key (RFC 7468 §11).
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// The rustls server configuration; errors name files, never key material or passphrases.
pub fn server_config(
    tls: &TlsSettings,
    secrets: &HashMap<String, SecretString>,
) -> Result<ServerConfig, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_path)
        .and_then(Iterator::collect)
        .map_err(|e| format!("tls.cert_path {}: {e}", tls.cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls.cert_path {} holds no certificate",
            tls.cert_path.display()
        ));
    }
    let key = private_key(tls, secrets)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let builder = match &tls.client_ca_path {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls: the certificate and key do not make a usable pair: {e}"))
}

/// RFC 8705 §3: client certificates are requested, not required (a partner without one still
/// gets bearer tokens); one that is presented must chain to a CA of `path`, or the handshake
/// fails.
fn client_verifier(
    path: &std::path::Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("tls.client_ca_path {}: {e}", path.display()))?
    {
        let cert = cert.map_err(|e| format!("tls.client_ca_path {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("tls.client_ca_path {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "tls.client_ca_path {} holds no certificate",
            path.display()
        ));
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("tls.client_ca_path {}: {e}", path.display()))
}

fn private_key(
    tls: &TlsSettings,
    secrets: &HashMap<String, SecretString>,
) -> Result<PrivateKeyDer<'static>, String> {
    let path = tls.key_path.display();
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&tls.key_path).map_err(|e| format!("tls.key_path {path}: {e}"))?,
    );
    if !text.contains(&format!("-----BEGIN {ENCRYPTED_LABEL}-----")) {
        return PrivateKeyDer::from_pem_slice(text.as_bytes())
            .map_err(|e| format!("tls.key_path {path}: no usable private key ({e})"));
    }
    let passphrase = tls
        .key_passphrase_env
        .as_ref()
        .and_then(|name| secrets.get(name))
        .ok_or_else(|| format!("tls.key_path {path} is encrypted: set tls.key_passphrase_env"))?;
    let (label, doc) = SecretDocument::from_pem(&text)
        .map_err(|_| format!("tls.key_path {path}: malformed PEM"))?;
    if label != ENCRYPTED_LABEL {
        return Err(format!("tls.key_path {path}: unexpected PEM label {label}"));
    }
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::from_der(doc.as_bytes())
        .map_err(|_| format!("tls.key_path {path}: malformed encrypted PKCS#8"))?;
    let plain = encrypted
        .decrypt(passphrase.expose_secret().as_bytes())
        .map_err(|_| format!("tls.key_path {path}: wrong passphrase or unsupported encryption"))?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}
