//! Mutual TLS (RFC 8705): tollgate asks for client certificates on its own TLS listener
//! (`[tls] client_ca_path`), or believes a trusted proxy's header. Certificate-bound tokens and
//! `tls_client_auth` by DN and DNS name are in `binding.rs`; `self_signed_tls_client_auth` in
//! `self_signed.rs`; SAN IP and email in `san.rs`; `/introspect` of bound tokens in
//! `introspect.rs`. Real clients: reqwest with an identity, certificates made by rcgen at test
//! time.

mod binding;
mod introspect;
mod san;
mod self_signed;

use std::path::PathBuf;

use aws_lc_rs::digest::{SHA256, digest};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};
use reqwest::Response;
use serde_json::Value;
use tollgate::app::Application;
use tollgate::config::{Settings, TlsSettings};
use tollgate::domain::provisioning::NewClient;
use tollgate::store::Store;

use crate::support::*;

/// A CA, a `localhost` server certificate and client certificates it signs, in a temp dir.
struct Pki {
    dir: PathBuf,
    ca: Certificate,
    ca_key: KeyPair,
}

/// A client certificate and its key, as a PEM identity.
pub struct ClientCert {
    der: Vec<u8>,
    pem: String,
    identity_pem: String,
}

impl Pki {
    fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "partner CA");
        let ca = params.self_signed(&ca_key).unwrap();
        let dir =
            std::env::temp_dir().join(format!("tollgate-mtls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
        Self { dir, ca, ca_key }
    }

    fn tls(&self) -> TlsSettings {
        TlsSettings {
            cert_path: self.dir.join("server.pem"),
            key_path: self.dir.join("server.key"),
            key_passphrase_env: None,
            client_ca_path: Some(self.dir.join("ca.pem")),
        }
    }

    /// A client certificate for `cn`, signed by this CA (or self-signed with `signed: false`).
    fn client(&self, cn: &str, signed: bool) -> ClientCert {
        self.client_with(cn, None, signed)
    }

    /// As `client`, with an organisation in the subject too.
    fn client_with(&self, cn: &str, org: Option<&str>, signed: bool) -> ClientCert {
        let sans = vec![SanType::DnsName(
            format!("{cn}.partner.example").try_into().unwrap(),
        )];
        self.issue(cn, org, sans, KeyPair::generate().unwrap(), signed)
    }

    /// A certificate for `cn` with these alternative names and this key, signed by the CA or
    /// self-signed.
    fn issue(
        &self,
        cn: &str,
        org: Option<&str>,
        sans: Vec<SanType>,
        key: KeyPair,
        signed: bool,
    ) -> ClientCert {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(o) = org {
            params.distinguished_name.push(DnType::OrganizationName, o);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = if signed {
            params.signed_by(&key, &self.ca, &self.ca_key).unwrap()
        } else {
            params.self_signed(&key).unwrap()
        };
        ClientCert {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            identity_pem: format!("{}{}", cert.pem(), key.serialize_pem()),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A self-signed certificate (RFC 8705 §2.2) for `cn` carrying `key`, as a partner makes one
/// with `openssl req -x509`.
fn self_signed(cn: &str, key: KeyPair) -> ClientCert {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    ClientCert {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        identity_pem: format!("{}{}", cert.pem(), key.serialize_pem()),
    }
}

/// The URL-encoded PEM a proxy forwards.
fn forwarded(cert: &ClientCert) -> String {
    percent_encoding::utf8_percent_encode(&cert.pem, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// tollgate serving TLS itself, asking for client certificates of `pki`'s CA.
struct TlsApp {
    base: String,
    port: u16,
    store: Store,
    settings: Settings,
    db: TestDb,
    handle: actix_web::dev::ServerHandle,
}

impl TlsApp {
    async fn start(backend: Backend, pki: &Pki) -> Self {
        let db = TestDb::create(backend).await;
        let mut settings = test_settings(&db.url);
        settings.tls = Some(pki.tls());
        // Tests here wait for a client the CLI just created or changed by retrying, and each
        // refusal counts; the failure limits are tested with the proxy (binding.rs,
        // self_signed.rs).
        settings.failures_per_minute = 10_000;
        settings.address_failures_per_minute = 10_000;
        let app = Application::build(settings.clone()).await.expect("starts");
        let port = app.port();
        let store = app.authority().store.clone();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            base: format!("https://localhost:{port}"),
            port,
            store,
            settings,
            db,
            handle,
        }
    }

    /// Creates a client through the CLI's own code; its secret, if it has one.
    async fn create(&self, spec: NewClient) -> Option<String> {
        use secrecy::ExposeSecret;
        use tollgate::clock::Clock;
        let now = tollgate::clock::SystemClock.now_secs();
        let s = &self.settings;
        tollgate::domain::provisioning::create_client(
            &self.store,
            spec,
            &s.argon2,
            s.default_audience(),
            now,
        )
        .await
        .unwrap()
        .1
        .map(|secret| secret.expose_secret().to_owned())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// A client-credentials request authenticated by certificate alone (`client_id` in the body).
async fn cert_token(http: &reqwest::Client, url: &str, id: &str) -> Response {
    http.post(url)
        .form(&[("grant_type", "client_credentials"), ("client_id", id)])
        .send()
        .await
        .unwrap()
}

/// As `cert_token`, retried while the server does not know the client yet (created by the
/// CLI in another process, or with keys it has not read): the first success.
async fn eventually_token(http: &reqwest::Client, url: &str, id: &str) -> Value {
    let mut last = None;
    for _ in 0..50 {
        let res = cert_token(http, url, id).await;
        if res.status() == 200 {
            return res.json().await.unwrap();
        }
        last = Some(res.text().await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no token for {id}: {last:?}");
}

fn x5t(der: &[u8]) -> String {
    base64_url(digest(&SHA256, der).as_ref())
}

/// An HTTPS client of `port` trusting the test CA, presenting `cert` if given.
fn https_client(pki: &Pki, port: u16, cert: Option<&ClientCert>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca.pem().as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into());
    if let Some(c) = cert {
        b = b.identity(reqwest::Identity::from_pem(c.identity_pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// A token through the proxy, once the new client is known to the server.
async fn eventually_ok(
    proxy: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    header: &str,
) -> Value {
    let mut last = None;
    for _ in 0..50 {
        let res = proxy
            .post(url)
            .header("x-client-cert", header)
            .form(form)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            return res.json().await.unwrap();
        }
        last = Some(res.text().await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no token: {last:?}");
}

fn binding_client(id: &str) -> NewClient {
    NewClient {
        bind_certificate: true,
        ..new_client(id, "profile:read introspect", None)
    }
}

async fn token(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut req = http
        .post(format!("{base}/access_token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn profile(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    api_key: &str,
    customer: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut req = http
        .post(format!("{base}/getprofile"))
        .bearer_auth(token)
        .header("api-key", api_key)
        .header("X-Customer-Id", customer);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}
