//! A test PKI for the HTTPS tests: a CA, a `localhost` certificate it signs, and that
//! certificate's key encrypted as the chat vendors' sample servers keep it.

use std::path::PathBuf;

pub struct TestPki {
    dir: PathBuf,
    pub ca_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestPki {
    /// The passphrase the key is encrypted with.
    pub const PASSPHRASE: &str = "key passphrase";

    /// A CA, a `localhost` certificate it signs, and that certificate's key as an encrypted
    /// PKCS#8 PEM (PBES2: PBKDF2-SHA256 + AES-256-CBC, what `openssl pkcs8 -topk8` writes).
    pub fn new() -> Self {
        use pkcs8::pkcs5::pbes2;
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tollgate test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();

        let der = leaf_key.serialize_der();
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut iv);
        let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).unwrap();
        let encrypted = info.encrypt_with_params(params, Self::PASSPHRASE).unwrap();
        let key_pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .unwrap();

        let dir =
            std::env::temp_dir().join(format!("tollgate-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, leaf.pem()).unwrap();
        std::fs::write(&key_path, key_pem.as_bytes()).unwrap();
        Self {
            dir,
            ca_pem: ca.pem(),
            cert_path,
            key_path,
        }
    }
}
