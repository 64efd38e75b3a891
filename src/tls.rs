//! Serving HTTPS directly (issue 4: "as the vendor's sample offers"): a PEM certificate chain
//! and a PKCS#8 private key, which may be encrypted (PBES2, RFC 8018) under a passphrase taken
//! from the environment. rustls with the aws-lc-rs provider; plain HTTP stays the default.

use std::collections::HashMap;
use std::sync::Arc;

use pkcs8::der::{Decode, SecretDocument};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use secrecy::{ExposeSecret, SecretString};

use crate::config::TlsSettings;

/// The PEM label of an encrypted PKCS#8 key (RFC 7468 §11).
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// What serving TLS needs: the rustls configuration, and the configured client CA (if any),
/// which the listener asks, per connection, whether the client's certificate chains to it.
pub struct TlsServer {
    pub config: ServerConfig,
    pub client_ca: Option<Arc<ClientCa>>,
}

/// The rustls server configuration; errors name files, never key material or passphrases.
pub fn server_config(
    tls: &TlsSettings,
    secrets: &HashMap<String, SecretString>,
) -> Result<TlsServer, String> {
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
    let client_ca = match &tls.client_ca_path {
        None => None,
        Some(path) => Some(Arc::new(ClientCa::load(
            "tls.client_ca_path",
            path,
            provider,
        )?)),
    };
    let builder = match &client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(Arc::new(AnyClientCertificate(ca.clone()))),
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls: the certificate and key do not make a usable pair: {e}"))?;
    Ok(TlsServer { config, client_ca })
}

/// The CAs of `client_ca_path`: whether a client certificate chains to one of them (RFC 8705
/// §2.1 `tls_client_auth`), by rustls's own WebPKI verifier (validity, clientAuth usage,
/// signatures up the chain).
#[derive(Debug)]
pub struct ClientCa(Arc<dyn ClientCertVerifier>);

impl ClientCa {
    /// `setting` names where the path came from, for messages.
    pub fn load(
        setting: &str,
        path: &std::path::Path,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{setting} {}: {e}", path.display()))?
        {
            let cert = cert.map_err(|e| format!("{setting} {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{setting} {}: {e}", path.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{setting} {} holds no certificate", path.display()));
        }
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map(Self)
            .map_err(|e| format!("{setting} {}: {e}", path.display()))
    }

    /// Whether `leaf`, with the `intermediates` the client sent, chains to one of the CAs now.
    pub fn chains(&self, leaf: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> bool {
        self.0
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .is_ok()
    }
}

/// RFC 8705 §3: client certificates are requested, not required (a partner without one still
/// gets bearer tokens). Any well-formed certificate completes the handshake, self-signed
/// included (§2.2 `self_signed_tls_client_auth`, and §3 binding, need no CA); the handshake
/// signature is still checked, so the client holds the certificate's key. Whether it chains to
/// the CA is asked apart (`ClientCa::chains`, once per connection) and travels with it to the
/// request, where `tls_client_auth` refuses one that does not.
///
/// No CA names are sent in the CertificateRequest: a client that filters its certificates by
/// them (RFC 8446 §4.2.4) would otherwise withhold a self-signed one.
#[derive(Debug)]
struct AnyClientCertificate(Arc<ClientCa>);

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        webpki::EndEntityCert::try_from(end_entity)
            .map(|_| ClientCertVerified::assertion())
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.0.supported_verify_schemes()
    }
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
