//! Typed, layered configuration: built-in defaults, then an optional TOML file named by
//! `TOLLGATE_CONFIG`, then `TOLLGATE_*` / `DATABASE_URL` environment variables (environment wins).
//! Unknown keys, in the file or as `TOLLGATE_*` variables, are errors: a typo must not silently
//! fall back to a default. Secrets are `SecretString`s so they cannot be printed by accident.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::keys::Alg;

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

/// Whether `/customer_authenticate` also sets the session cookie when the request does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    None,
    Cookie,
}

impl FromStr for SessionMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "cookie" => Ok(Self::Cookie),
            other => Err(format!("expected none or cookie, got {other:?}")),
        }
    }
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

/// argon2id cost and the bounded pool that runs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Settings {
    /// Memory per hash in KiB (OWASP: 19456 with 2 iterations).
    pub memory_kib: u32,
    pub iterations: u32,
    /// Lanes inside one hash.
    pub parallelism: u32,
    /// Dedicated hashing threads; 0 means "cores - 1, at least 1".
    pub workers: usize,
    /// Hash jobs that may wait for a thread; beyond that requests are refused at once (503).
    pub queue: usize,
    /// A job that waited longer than this is answered "busy" instead of being hashed.
    pub max_wait_ms: u64,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            workers: 0,
            queue: 64,
            max_wait_ms: 2_000,
        }
    }
}

impl Argon2Settings {
    /// Rejects parameters weaker than OWASP's argon2id floor (m=7 MiB with t=5, or the
    /// equivalent m·t ≥ 35 MiB-passes; 19 MiB × 2 is the recommended default).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let work = u64::from(self.memory_kib) * u64::from(self.iterations);
        if self.memory_kib < 7_168 || self.iterations < 1 || work < 35_840 {
            return Err(ConfigError::Invalid(format!(
                "argon2 parameters m={} KiB, t={} are weaker than the OWASP minimum \
                 (m >= 7168 KiB and m*t >= 35840)",
                self.memory_kib, self.iterations
            )));
        }
        if self.parallelism < 1 || self.parallelism > 16 {
            return Err(ConfigError::Invalid(
                "argon2 parallelism must be between 1 and 16".into(),
            ));
        }
        if self.queue < 1 {
            return Err(ConfigError::Invalid(
                "argon2 queue must be at least 1".into(),
            ));
        }
        Ok(())
    }

    pub fn effective_workers(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        cores.saturating_sub(1).max(1)
    }
}

/// The kinds of chat-widget token tollgate can issue (issue 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WidgetKind {
    /// Google Contact Center AI Platform web and mobile SDKs.
    Ccai,
    /// DigitalGenius chat widget.
    Dg,
    /// Avaya Experience Platform Digital / Omni SDK.
    Axp,
    /// A claim template (Zendesk-messaging-style tokens and the like).
    Generic,
}

/// One `[[widget_profiles]]` table. Secrets are never inline: only the names of the environment
/// variables that hold them (`*_env`), resolved into `Settings::named_secrets`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetProfileConfig {
    /// Served at `/widget_tokens/<name>`.
    pub name: String,
    pub kind: Option<WidgetKind>,
    /// ccai: the company name (`iss`); generic: the `iss` claim, if any.
    pub issuer: Option<String>,
    /// Token lifetime (ccai, dg, generic); default 3600.
    pub ttl_seconds: Option<u64>,
    /// Origins allowed by CORS, or `["*"]`. Empty: no CORS headers at all (same-origin use).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Whether browsers may send cookies cross-origin; default true for an explicit origin
    /// list. Refused together with `*` (Fetch standard: credentials need an exact origin).
    pub allow_credentials: Option<bool>,
    /// ccai, dg, generic: the variable holding the HMAC secret.
    pub secret_env: Option<String>,
    /// ccai: HS256 (default) or HS384; generic: HS256, HS384, HS512 or `server` (the server's
    /// own signing key, published in the JWKS).
    pub alg: Option<String>,
    /// dg: the variable holding the DG API key (the JWT header's `kid`).
    pub api_key_env: Option<String>,
    /// generic: the JWT header's `kid`.
    pub kid: Option<String>,
    /// generic: claims copied as they are into every token.
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// generic: claim name -> customer field (`id`, `name`, `email`, `phone`).
    #[serde(default)]
    pub customer_claims: std::collections::BTreeMap<String, String>,
    /// generic: whether anonymous visitors get a token (their id under the `id` claims).
    pub allow_anonymous: Option<bool>,
    // --- axp ---
    /// `https://{hostName}`; configurable so regional hosts and tests work.
    pub base_url: Option<String>,
    pub account_id: Option<String>,
    pub integration_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub app_key_env: Option<String>,
    /// Lifetime of the AXP JWT, 15 to 60 minutes (the API's bounds).
    pub jwt_validity_minutes: Option<u32>,
    pub region: Option<String>,
    /// Whether the app key is also handed to the browser (the vendor's sample does so).
    #[serde(default)]
    pub expose_app_key: bool,
    pub calling_remote_address: Option<String>,
    pub fcm_connector_base_url: Option<String>,
    pub config_id: Option<String>,
    /// Upstream timeout in milliseconds; default 5000.
    pub upstream_timeout_ms: Option<u64>,
}

impl WidgetProfileConfig {
    /// The names of every environment variable this profile reads.
    pub fn secret_env_names(&self) -> impl Iterator<Item = &str> {
        [
            &self.secret_env,
            &self.api_key_env,
            &self.client_secret_env,
            &self.app_key_env,
        ]
        .into_iter()
        .filter_map(|n| n.as_deref())
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: SocketAddr,
    /// `sqlite://path?mode=rwc` (default) or `postgres://…`.
    pub database_url: SecretString,
    /// RFC 8414 §2 `issuer`; also the `iss` of every token.
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
    pub customer_session: SessionMode,
    pub session_cookie_name: String,
    pub provisioning_dir: Option<PathBuf>,
    pub db_max_connections: u32,
    pub db_acquire_timeout_ms: u64,
    pub log_format: LogFormat,
    /// Audit events older than this many days are deleted.
    pub audit_retention_days: u32,
    /// Failed authentications one (client or username, address) pair may have per minute.
    pub failures_per_minute: u32,
    /// Failed authentications one address may have per minute, over all principals.
    pub address_failures_per_minute: u32,
    /// `redis://…`: abuse-limit counters shared by every instance (else in memory).
    pub redis_url: Option<SecretString>,
    /// Prefix of tollgate's Redis keys.
    pub redis_prefix: String,
    /// Proxies in front of tollgate whose `X-Forwarded-For` entries are believed (0: none).
    pub trusted_proxy_hops: usize,
    /// Rotate the signing key when the newest is this many days old (0: only by hand).
    pub key_rotation_days: u32,
    pub argon2: Argon2Settings,
    pub widget_profiles: Vec<WidgetProfileConfig>,
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
            issuer: "http://127.0.0.1:8080".into(),
            audience: None,
            access_token_ttl: 3600,
            customer_token_ttl: 3600,
            signing_alg: Alg::Es256,
            master_key: None,
            master_key_file: PathBuf::from("tollgate.master.key"),
            workers: 0,
            max_body_bytes: 16 * 1024,
            customer_session: SessionMode::None,
            session_cookie_name: "tollgate_session".into(),
            provisioning_dir: None,
            db_max_connections: 16,
            db_acquire_timeout_ms: 2_000,
            log_format: LogFormat::Text,
            audit_retention_days: 90,
            failures_per_minute: 10,
            address_failures_per_minute: 100,
            redis_url: None,
            redis_prefix: "tollgate".into(),
            trusted_proxy_hops: 0,
            key_rotation_days: 0,
            argon2: Argon2Settings::default(),
            widget_profiles: Vec::new(),
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
        let mut settings = match env.get("TOLLGATE_CONFIG") {
            Some(path) => Self::from_file(PathBuf::from(path))?,
            None => Self::default(),
        };
        settings.apply_env(env)?;
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
        let mut known: Vec<&str> = vec!["TOLLGATE_CONFIG"];
        let mut take = |name: &'static str| {
            known.push(name);
            env.get(name).map(String::as_str)
        };
        let a = &mut self.argon2;
        set(
            &mut a.memory_kib,
            "TOLLGATE_ARGON2_MEMORY_KIB",
            take("TOLLGATE_ARGON2_MEMORY_KIB"),
        )?;
        set(
            &mut a.iterations,
            "TOLLGATE_ARGON2_ITERATIONS",
            take("TOLLGATE_ARGON2_ITERATIONS"),
        )?;
        set(
            &mut a.parallelism,
            "TOLLGATE_ARGON2_PARALLELISM",
            take("TOLLGATE_ARGON2_PARALLELISM"),
        )?;
        set(
            &mut a.workers,
            "TOLLGATE_HASH_WORKERS",
            take("TOLLGATE_HASH_WORKERS"),
        )?;
        set(
            &mut a.queue,
            "TOLLGATE_HASH_QUEUE",
            take("TOLLGATE_HASH_QUEUE"),
        )?;
        set(
            &mut a.max_wait_ms,
            "TOLLGATE_HASH_MAX_WAIT_MS",
            take("TOLLGATE_HASH_MAX_WAIT_MS"),
        )?;
        set(&mut self.listen, "TOLLGATE_LISTEN", take("TOLLGATE_LISTEN"))?;
        if let Some(url) = take("DATABASE_URL").or(take("TOLLGATE_DATABASE_URL")) {
            self.database_url = SecretString::from(url);
        }
        set(&mut self.issuer, "TOLLGATE_ISSUER", take("TOLLGATE_ISSUER"))?;
        if let Some(aud) = take("TOLLGATE_AUDIENCE") {
            self.audience = Some(aud.to_owned());
        }
        set(
            &mut self.access_token_ttl,
            "TOLLGATE_ACCESS_TOKEN_TTL",
            take("TOLLGATE_ACCESS_TOKEN_TTL"),
        )?;
        set(
            &mut self.customer_token_ttl,
            "TOLLGATE_CUSTOMER_TOKEN_TTL",
            take("TOLLGATE_CUSTOMER_TOKEN_TTL"),
        )?;
        set(
            &mut self.signing_alg,
            "TOLLGATE_SIGNING_ALG",
            take("TOLLGATE_SIGNING_ALG"),
        )?;
        if let Some(key) = take("TOLLGATE_MASTER_KEY") {
            self.master_key = Some(SecretString::from(key));
        }
        set(
            &mut self.master_key_file,
            "TOLLGATE_MASTER_KEY_FILE",
            take("TOLLGATE_MASTER_KEY_FILE"),
        )?;
        set(
            &mut self.workers,
            "TOLLGATE_WORKERS",
            take("TOLLGATE_WORKERS"),
        )?;
        set(
            &mut self.max_body_bytes,
            "TOLLGATE_MAX_BODY_BYTES",
            take("TOLLGATE_MAX_BODY_BYTES"),
        )?;
        set(
            &mut self.customer_session,
            "TOLLGATE_CUSTOMER_SESSION",
            take("TOLLGATE_CUSTOMER_SESSION"),
        )?;
        set(
            &mut self.session_cookie_name,
            "TOLLGATE_SESSION_COOKIE_NAME",
            take("TOLLGATE_SESSION_COOKIE_NAME"),
        )?;
        if let Some(dir) = take("TOLLGATE_PROVISIONING_DIR") {
            self.provisioning_dir = Some(PathBuf::from(dir));
        }
        set(
            &mut self.db_max_connections,
            "TOLLGATE_DB_MAX_CONNECTIONS",
            take("TOLLGATE_DB_MAX_CONNECTIONS"),
        )?;
        set(
            &mut self.db_acquire_timeout_ms,
            "TOLLGATE_DB_ACQUIRE_TIMEOUT_MS",
            take("TOLLGATE_DB_ACQUIRE_TIMEOUT_MS"),
        )?;
        set(
            &mut self.log_format,
            "TOLLGATE_LOG_FORMAT",
            take("TOLLGATE_LOG_FORMAT"),
        )?;
        set(
            &mut self.audit_retention_days,
            "TOLLGATE_AUDIT_RETENTION_DAYS",
            take("TOLLGATE_AUDIT_RETENTION_DAYS"),
        )?;
        set(
            &mut self.failures_per_minute,
            "TOLLGATE_FAILURES_PER_MINUTE",
            take("TOLLGATE_FAILURES_PER_MINUTE"),
        )?;
        set(
            &mut self.address_failures_per_minute,
            "TOLLGATE_ADDRESS_FAILURES_PER_MINUTE",
            take("TOLLGATE_ADDRESS_FAILURES_PER_MINUTE"),
        )?;
        if let Some(url) = take("TOLLGATE_REDIS_URL") {
            self.redis_url = Some(SecretString::from(url));
        }
        set(
            &mut self.redis_prefix,
            "TOLLGATE_REDIS_PREFIX",
            take("TOLLGATE_REDIS_PREFIX"),
        )?;
        set(
            &mut self.trusted_proxy_hops,
            "TOLLGATE_TRUSTED_PROXY_HOPS",
            take("TOLLGATE_TRUSTED_PROXY_HOPS"),
        )?;
        set(
            &mut self.key_rotation_days,
            "TOLLGATE_KEY_ROTATION_DAYS",
            take("TOLLGATE_KEY_ROTATION_DAYS"),
        )?;

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
            .filter(|k| {
                k.starts_with("TOLLGATE_") && !known.contains(&k.as_str()) && !named.contains(k)
            })
            .min()
        {
            return Err(ConfigError::UnknownEnv(unknown.clone()));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.argon2.validate()?;
        if self.access_token_ttl == 0 || self.customer_token_ttl == 0 {
            return Err(ConfigError::Invalid(
                "token lifetimes must be at least 1 second".into(),
            ));
        }
        if self.issuer.is_empty() || self.issuer.ends_with('/') {
            // RFC 8414 §2: the issuer is a URL without query or fragment; a trailing slash
            // would make every derived endpoint URL ambiguous.
            return Err(ConfigError::Invalid(
                "issuer must be a non-empty URL without a trailing slash".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        crate::domain::widgets::Widgets::from_config(&self.widget_profiles, &self.named_secrets)
            .and_then(|w| w.check_server_key(self.signing_alg))
            .map_err(ConfigError::Invalid)?;
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

    /// The audience access tokens get by default and `/getprofile` requires.
    pub fn default_audience(&self) -> &str {
        self.audience.as_deref().unwrap_or(&self.issuer)
    }

    pub fn http_workers(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

fn set<T: FromStr>(slot: &mut T, name: &str, value: Option<&str>) -> Result<(), ConfigError>
where
    T::Err: std::fmt::Display,
{
    if let Some(raw) = value {
        *slot = raw.parse().map_err(|e: T::Err| ConfigError::Env {
            name: name.to_owned(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = Settings::from_env(&env(&[
            ("TOLLGATE_ACCESS_TOKEN_TTL", "60"),
            ("TOLLGATE_SIGNING_ALG", "EdDSA"),
        ]))
        .unwrap();
        assert_eq!(s.access_token_ttl, 60);
        assert_eq!(s.signing_alg, Alg::EdDsa);
    }

    #[test]
    fn a_misspelt_variable_is_an_error() {
        let err = Settings::from_env(&env(&[("TOLLGATE_ACCES_TOKEN_TTL", "60")])).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownEnv(name) if name == "TOLLGATE_ACCES_TOKEN_TTL"));
    }

    #[test]
    fn weak_argon2_parameters_are_rejected() {
        let err = Settings::from_env(&env(&[("TOLLGATE_ARGON2_MEMORY_KIB", "1024")])).unwrap_err();
        assert!(err.to_string().contains("weaker than the OWASP minimum"));
    }

    #[test]
    fn unknown_file_keys_are_an_error_and_env_wins_over_the_file() {
        let dir = std::env::temp_dir().join(format!("tollgate-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.toml");
        std::fs::write(
            &path,
            "issuer = \"https://a.example\"\naccess_token_ttl = 10\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let s = Settings::from_env(&env(&[
            ("TOLLGATE_CONFIG", p),
            ("TOLLGATE_ACCESS_TOKEN_TTL", "20"),
        ]))
        .unwrap();
        assert_eq!(s.issuer, "https://a.example");
        assert_eq!(s.access_token_ttl, 20);

        std::fs::write(&path, "isuer = \"https://a.example\"\n").unwrap();
        let err = Settings::from_env(&env(&[("TOLLGATE_CONFIG", p)])).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    fn with_file(toml: &str) -> (PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("tollgate-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.toml");
        std::fs::write(&path, toml).unwrap();
        let p = path.to_str().unwrap().to_owned();
        (dir, p)
    }

    const WIDGET: &str = "[[widget_profiles]]\nname = \"web\"\nkind = \"ccai\"\n\
                          issuer = \"ACME\"\nallowed_origins = [\"https://www.example.com\"]\n\
                          secret_env = \"TOLLGATE_CCAI_SECRET\"\n";

    #[test]
    fn widget_secrets_come_from_the_variables_the_file_names_even_tollgate_prefixed_ones() {
        let (dir, p) = with_file(WIDGET);
        let s = Settings::from_env(&env(&[
            ("TOLLGATE_CONFIG", &p),
            ("TOLLGATE_CCAI_SECRET", "a-company-secret-of-some-length"),
        ]))
        .unwrap();
        assert_eq!(s.widget_profiles.len(), 1);
        assert_eq!(s.widget_profiles[0].kind, Some(WidgetKind::Ccai));
        assert!(s.named_secrets.contains_key("TOLLGATE_CCAI_SECRET"));
        assert!(!format!("{s:?}").contains("a-company-secret"));
        // The variable named is required; another TOLLGATE_ variable is still unknown.
        let err = Settings::from_env(&env(&[("TOLLGATE_CONFIG", &p)])).unwrap_err();
        assert!(err.to_string().contains("TOLLGATE_CCAI_SECRET"), "{err}");
        let err = Settings::from_env(&env(&[
            ("TOLLGATE_CONFIG", &p),
            ("TOLLGATE_CCAI_SECRET", "a-company-secret-of-some-length"),
            ("TOLLGATE_CCAI_SECRT", "typo"),
        ]))
        .unwrap_err();
        assert!(matches!(err, ConfigError::UnknownEnv(n) if n == "TOLLGATE_CCAI_SECRT"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_widget_profiles_are_start_up_errors() {
        let cases = [
            ("ttl_seconds = 0\n", "ttl_seconds"),
            (
                "allowed_origins = [\"*\"]\nallow_credentials = true\n",
                "credentials",
            ),
            ("colour = \"red\"\n", "unknown field"),
        ];
        for (extra, expected) in cases {
            let text = WIDGET.replace("allowed_origins = [\"https://www.example.com\"]\n", "");
            let (dir, p) = with_file(&format!("{text}{extra}"));
            let err = Settings::from_env(&env(&[
                ("TOLLGATE_CONFIG", &p),
                ("TOLLGATE_CCAI_SECRET", "a-company-secret-of-some-length"),
            ]))
            .unwrap_err();
            assert!(err.to_string().contains(expected), "{extra}: {err}");
            std::fs::remove_dir_all(dir).unwrap();
        }
        let (dir, p) = with_file(&format!("{WIDGET}{}", WIDGET));
        let err = Settings::from_env(&env(&[
            ("TOLLGATE_CONFIG", &p),
            ("TOLLGATE_CCAI_SECRET", "a-company-secret-of-some-length"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("declared twice"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Settings::from_env(&env(&[(
            "TOLLGATE_MASTER_KEY",
            "c2VjcmV0LWtleS1tYXRlcmlhbA",
        )]))
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("c2VjcmV0LWtleS1tYXRlcmlhbA"));
    }
}
