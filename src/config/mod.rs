//! Typed, layered configuration: built-in defaults, then an optional TOML file named by
//! `TOLLGATE_CONFIG`, then `TOLLGATE_*` / `DATABASE_URL` environment variables (environment wins).
//! Unknown keys, in the file or as `TOLLGATE_*` variables, are errors: a typo must not silently
//! fall back to a default. Secrets are `SecretString`s so they cannot be printed by accident.

mod env;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::limits::LimitSettings;
pub use crate::security::hashing::Argon2Settings;
use crate::security::keys::Alg;
use crate::widgets::config::WidgetProfileConfig;
pub use crate::wire::login::SessionMode;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {name}: {message}")]
    Env { name: String, message: String },
    #[error("unknown environment variable {0} (see the README's configuration table)")]
    UnknownEnv(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected text or json, got {other:?}")),
        }
    }
}

/// Serving HTTPS directly (rustls); without this table tollgate speaks plain HTTP, as behind a
/// TLS-terminating proxy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_path: PathBuf,
    /// PEM private key: PKCS#8, optionally encrypted (`ENCRYPTED PRIVATE KEY`).
    pub key_path: PathBuf,
    /// The variable holding the passphrase of an encrypted key.
    pub key_passphrase_env: Option<String>,
    /// PEM CA certificates: client certificates chaining to one are requested, not required
    /// (RFC 8705 certificate-bound tokens).
    #[serde(default)]
    pub client_ca_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: SocketAddr,
    /// `sqlite://path?mode=rwc` (default) or `postgres://…`.
    pub database_url: SecretString,
    /// RFC 8414 §2 `issuer`; also the `iss` of every token. Empty: `http(s)://<listen>`.
    pub issuer: String,
    /// `aud` of access tokens for clients without an audience of their own, and the audience
    /// `/getprofile` requires (RFC 9068 §4).
    pub audience: Option<String>,
    pub access_token_ttl: u64,
    pub customer_token_ttl: u64,
    pub signing_alg: Alg,
    /// 32 bytes, base64: encrypts signing keys at rest.
    pub master_key: Option<SecretString>,
    /// Where a development master key is created when `master_key` is not set.
    pub master_key_file: PathBuf,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive, in milliseconds; then 408.
    pub body_timeout_ms: u64,
    pub customer_session: SessionMode,
    pub session_cookie_name: String,
    pub provisioning_dir: Option<PathBuf>,
    pub db_max_connections: u32,
    pub db_acquire_timeout_ms: u64,
    pub log_format: LogFormat,
    /// Audit events older than this many days are deleted.
    pub audit_retention_days: u32,
    /// Where audit events and usage counts wait while the database is away (JSON lines).
    pub spool_dir: PathBuf,
    /// The spool's limit in bytes; past it, requests whose audit event cannot be put on
    /// record are refused with 503.
    pub spool_max_bytes: u64,
    /// One audit row per issued token, besides the per-minute usage counts.
    pub audit_every_token: bool,
    /// `host:port` of the Prometheus `/metrics` listener (off when unset).
    pub metrics_listen: Option<SocketAddr>,
    /// Failed authentications one (client or username, address) pair may have per minute.
    pub failures_per_minute: u32,
    /// Failed authentications one address may have per minute, over all principals.
    pub address_failures_per_minute: u32,
    /// Failure counters kept in memory at most; at the cap a new key is refused (429).
    pub limiter_max_keys: usize,
    /// `redis://…`: abuse-limit counters shared by every instance (else in memory).
    pub redis_url: Option<SecretString>,
    /// Prefix of tollgate's Redis keys.
    pub redis_prefix: String,
    /// Proxies in front of tollgate whose `X-Forwarded-For` entries are believed (0: none).
    pub trusted_proxy_hops: usize,
    /// Addresses of the TLS-terminating proxies whose client-certificate header is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The header such a proxy puts the client certificate in (URL-encoded PEM), if any.
    pub client_cert_header: Option<String>,
    /// PEM CAs a certificate from that header must chain to for `tls_client_auth`, checked by
    /// tollgate itself (default: `[tls] client_ca_path`; neither: the proxy's check is trusted).
    pub client_cert_ca_path: Option<PathBuf>,
    /// Rotate the signing key when the newest is this many days old (0: only by hand).
    pub key_rotation_days: u32,
    /// The longest lifetime (`exp` − `iat`) of a client assertion accepted, in seconds.
    pub client_assertion_max_lifetime: u64,
    /// How old a DPoP proof's `iat` may be, in seconds (RFC 9449 §4.3 item 10).
    pub dpop_proof_max_age: u64,
    /// `required`: DPoP proofs must carry a server nonce (RFC 9449 §8, §9).
    pub dpop_nonce: crate::domain::dpop::NonceMode,
    pub argon2: Argon2Settings,
    pub widget_profiles: Vec<WidgetProfileConfig>,
    /// Origins whose pages may log a customer in from the browser (`/customer_authenticate`,
    /// with credentials: it sets the session cookie). `None`: the widget profiles' origins.
    pub login_allowed_origins: Option<Vec<String>>,
    pub tls: Option<TlsSettings>,
    /// Values of the environment variables the file names (`secret_env`, `key_passphrase_env`,
    /// …), read by `from_env`; tests fill it directly.
    #[serde(skip)]
    pub named_secrets: HashMap<String, SecretString>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: SecretString::from("sqlite://tollgate.db?mode=rwc"),
            issuer: String::new(),
            audience: None,
            access_token_ttl: 3600,
            customer_token_ttl: 3600,
            signing_alg: Alg::Es256,
            master_key: None,
            master_key_file: PathBuf::from("tollgate.master.key"),
            workers: 0,
            max_body_bytes: 16 * 1024,
            body_timeout_ms: 10_000,
            customer_session: SessionMode::None,
            session_cookie_name: "tollgate_session".into(),
            provisioning_dir: None,
            db_max_connections: 16,
            db_acquire_timeout_ms: 2_000,
            log_format: LogFormat::Text,
            audit_retention_days: 90,
            spool_dir: PathBuf::from("tollgate-spool"),
            spool_max_bytes: 256 * 1024 * 1024,
            audit_every_token: false,
            metrics_listen: None,
            failures_per_minute: 10,
            address_failures_per_minute: 100,
            limiter_max_keys: 100_000,
            redis_url: None,
            redis_prefix: "tollgate".into(),
            trusted_proxy_hops: 0,
            trusted_proxies: Vec::new(),
            client_cert_header: None,
            client_cert_ca_path: None,
            key_rotation_days: 0,
            client_assertion_max_lifetime: 3600,
            dpop_proof_max_age: 60,
            dpop_nonce: crate::domain::dpop::NonceMode::Off,
            argon2: Argon2Settings::default(),
            widget_profiles: Vec::new(),
            login_allowed_origins: None,
            tls: None,
            named_secrets: HashMap::new(),
        }
    }
}

impl Settings {
    /// Loads from the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(&std::env::vars().collect())
    }

    /// Defaults, then the file named by `TOLLGATE_CONFIG` (if any), then the variables in `env`.
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut settings = match env.get(env::CONFIG_FILE) {
            Some(path) => Self::from_file(PathBuf::from(path))?,
            None => Self::default(),
        };
        settings.apply_env(env)?;
        settings.resolve_issuer()?;
        settings.validate()?;
        Ok(settings)
    }

    fn from_file(path: PathBuf) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path,
            message: e.message().to_owned(),
        })
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        for (name, set) in env::VARIABLES {
            if let Some(value) = env.get(*name) {
                set(self, value).map_err(|message| ConfigError::Env {
                    name: (*name).to_owned(),
                    message,
                })?;
            }
        }
        // Variables the file names as holding secrets may carry any name, `TOLLGATE_` included.
        let mut named: Vec<String> = self
            .widget_profiles
            .iter()
            .flat_map(WidgetProfileConfig::secret_env_names)
            .map(str::to_owned)
            .collect();
        named.extend(self.tls.iter().filter_map(|t| t.key_passphrase_env.clone()));
        for name in &named {
            if let Some(value) = env.get(name) {
                self.named_secrets
                    .insert(name.clone(), SecretString::from(value.clone()));
            }
        }
        if let Some(unknown) = env
            .keys()
            .filter(|k| k.starts_with("TOLLGATE_") && !env::is_known(k) && !named.contains(k))
            .min()
        {
            return Err(ConfigError::UnknownEnv(unknown.clone()));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.argon2.validate().map_err(ConfigError::Invalid)?;
        if self.access_token_ttl == 0 || self.customer_token_ttl == 0 {
            return Err(ConfigError::Invalid(
                "token lifetimes must be at least 1 second".into(),
            ));
        }
        self.limit_settings()
            .validate()
            .map_err(ConfigError::Invalid)?;
        // Empty: derived from the bound address (`resolve_issuer_for`).
        if self.issuer.ends_with('/') {
            // RFC 8414 §2: the issuer is a URL without query or fragment; a trailing slash
            // would make every derived endpoint URL ambiguous.
            return Err(ConfigError::Invalid(
                "issuer must be a URL without a trailing slash".into(),
            ));
        }
        if self.spool_max_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "spool_max_bytes must be at least 1024".into(),
            ));
        }
        if !(10..=86_400).contains(&self.client_assertion_max_lifetime) {
            return Err(ConfigError::Invalid(
                "client_assertion_max_lifetime must be between 10 and 86400 seconds".into(),
            ));
        }
        // Believed from nobody, the header would silently bind nothing: say so at start-up.
        if self.client_cert_header.is_some() && self.trusted_proxies.is_empty() {
            return Err(ConfigError::Invalid(
                "TOLLGATE_CLIENT_CERT_HEADER needs TOLLGATE_TRUSTED_PROXIES: the header is \
                 believed only on connections from those addresses"
                    .into(),
            ));
        }
        if self.client_cert_ca_path.is_some() && self.client_cert_header.is_none() {
            return Err(ConfigError::Invalid(
                "TOLLGATE_CLIENT_CERT_CA_PATH checks certificates from \
                 TOLLGATE_CLIENT_CERT_HEADER: set that too"
                    .into(),
            ));
        }
        if !(5..=3_600).contains(&self.dpop_proof_max_age) {
            return Err(ConfigError::Invalid(
                "dpop_proof_max_age must be between 5 and 3600 seconds".into(),
            ));
        }
        if !(100..=600_000).contains(&self.body_timeout_ms) {
            return Err(ConfigError::Invalid(
                "body_timeout_ms must be between 100 and 600000".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        for profile in &self.widget_profiles {
            let unset = profile.secret_env_names().into_iter().find(|name| {
                self.named_secrets
                    .get(*name)
                    .is_none_or(|v| v.expose_secret().is_empty())
            });
            if let Some(name) = unset {
                return Err(ConfigError::Invalid(format!(
                    "widget profile {:?}: {}: the environment variable {name} is not set (or \
                     empty)",
                    profile.name,
                    profile.secret_field_of(name)
                )));
            }
        }
        let passphrase_env = self
            .tls
            .as_ref()
            .and_then(|t| t.key_passphrase_env.as_ref());
        if let Some(name) = passphrase_env.filter(|n| !self.named_secrets.contains_key(*n)) {
            return Err(ConfigError::Invalid(format!(
                "tls.key_passphrase_env names {name}, which is not set"
            )));
        }
        Ok(())
    }

    /// Without `TOLLGATE_ISSUER`, the issuer is the address tollgate listens on, so that
    /// discovery-based clients call the port that answers. An unspecified address (0.0.0.0,
    /// [::]) names no host a client could call: the issuer must then be set.
    pub fn resolve_issuer(&mut self) -> Result<(), ConfigError> {
        self.resolve_issuer_for(self.listen)
    }

    /// As `resolve_issuer`, for the address actually bound (port 0 binds a free port; its
    /// issuer is known only then, so it is left empty until then).
    pub fn resolve_issuer_for(&mut self, bound: SocketAddr) -> Result<(), ConfigError> {
        if !self.issuer.is_empty() || bound.port() == 0 {
            return Ok(());
        }
        if bound.ip().is_unspecified() {
            return Err(ConfigError::Invalid(format!(
                "TOLLGATE_LISTEN is {}, which names no host a client could call: set \
                 TOLLGATE_ISSUER to the URL partners use (e.g. https://auth.example.com)",
                bound
            )));
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        self.issuer = format!("{scheme}://{bound}");
        Ok(())
    }

    pub fn limit_settings(&self) -> LimitSettings {
        LimitSettings {
            per_pair: self.failures_per_minute,
            per_address: self.address_failures_per_minute,
            max_keys: self.limiter_max_keys,
        }
    }

    pub fn assertion_policy(&self) -> crate::domain::client_assertion::AssertionPolicy {
        crate::domain::client_assertion::AssertionPolicy {
            max_lifetime_secs: i64::try_from(self.client_assertion_max_lifetime)
                .unwrap_or(i64::MAX),
        }
    }

    /// The audience access tokens get by default and `/getprofile` requires.
    pub fn default_audience(&self) -> &str {
        self.audience.as_deref().unwrap_or(&self.issuer)
    }

    /// The origins allowed to log in from a page: the setting, else every origin the widget
    /// profiles list, so that a widget configuration alone makes the README's flow (log in,
    /// then fetch a widget token) work from those pages. A profile's `*` is left out: login
    /// carries credentials, which `*` never may.
    pub fn login_origins(&self) -> Vec<String> {
        if let Some(origins) = &self.login_allowed_origins {
            return origins.clone();
        }
        let mut origins: Vec<String> = Vec::new();
        let listed = self
            .widget_profiles
            .iter()
            .flat_map(|p| &p.allowed_origins)
            .filter(|o| *o != "*");
        for origin in listed {
            if !origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
                origins.push(origin.clone());
            }
        }
        origins
    }

    pub fn http_workers(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

#[cfg(test)]
mod tests;
