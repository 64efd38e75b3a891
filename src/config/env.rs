//! The environment variables tollgate reads: one table of (name, setter). The same table applies
//! the values and tells which `TOLLGATE_*` names are unknown, so a name is spelled once.

use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;

use super::Settings;

type Setter = fn(&mut Settings, &str) -> Result<(), String>;

/// In application order: where two names set one value, the later wins (`DATABASE_URL` over
/// `TOLLGATE_DATABASE_URL`).
pub(super) const VARIABLES: &[(&str, Setter)] = &[
    ("TOLLGATE_ARGON2_MEMORY_KIB", |s, v| {
        parse(&mut s.argon2.memory_kib, v)
    }),
    ("TOLLGATE_ARGON2_ITERATIONS", |s, v| {
        parse(&mut s.argon2.iterations, v)
    }),
    ("TOLLGATE_ARGON2_PARALLELISM", |s, v| {
        parse(&mut s.argon2.parallelism, v)
    }),
    ("TOLLGATE_HASH_WORKERS", |s, v| {
        parse(&mut s.argon2.workers, v)
    }),
    ("TOLLGATE_HASH_QUEUE", |s, v| parse(&mut s.argon2.queue, v)),
    ("TOLLGATE_HASH_MAX_WAIT_MS", |s, v| {
        parse(&mut s.argon2.max_wait_ms, v)
    }),
    ("TOLLGATE_LISTEN", |s, v| parse(&mut s.listen, v)),
    ("TOLLGATE_DATABASE_URL", |s, v| {
        secret(&mut s.database_url, v)
    }),
    ("DATABASE_URL", |s, v| secret(&mut s.database_url, v)),
    ("TOLLGATE_ISSUER", |s, v| parse(&mut s.issuer, v)),
    ("TOLLGATE_AUDIENCE", |s, v| some(&mut s.audience, v)),
    ("TOLLGATE_ACCESS_TOKEN_TTL", |s, v| {
        parse(&mut s.access_token_ttl, v)
    }),
    ("TOLLGATE_CUSTOMER_TOKEN_TTL", |s, v| {
        parse(&mut s.customer_token_ttl, v)
    }),
    ("TOLLGATE_SIGNING_ALG", |s, v| parse(&mut s.signing_alg, v)),
    ("TOLLGATE_MASTER_KEY", |s, v| {
        s.master_key = Some(SecretString::from(v));
        Ok(())
    }),
    ("TOLLGATE_MASTER_KEY_FILE", |s, v| {
        parse(&mut s.master_key_file, v)
    }),
    ("TOLLGATE_WORKERS", |s, v| parse(&mut s.workers, v)),
    ("TOLLGATE_MAX_BODY_BYTES", |s, v| {
        parse(&mut s.max_body_bytes, v)
    }),
    ("TOLLGATE_CUSTOMER_SESSION", |s, v| {
        parse(&mut s.customer_session, v)
    }),
    ("TOLLGATE_SESSION_COOKIE_NAME", |s, v| {
        parse(&mut s.session_cookie_name, v)
    }),
    ("TOLLGATE_PROVISIONING_DIR", |s, v| {
        s.provisioning_dir = Some(PathBuf::from(v));
        Ok(())
    }),
    ("TOLLGATE_DB_MAX_CONNECTIONS", |s, v| {
        parse(&mut s.db_max_connections, v)
    }),
    ("TOLLGATE_DB_ACQUIRE_TIMEOUT_MS", |s, v| {
        parse(&mut s.db_acquire_timeout_ms, v)
    }),
    ("TOLLGATE_LOG_FORMAT", |s, v| parse(&mut s.log_format, v)),
    ("TOLLGATE_AUDIT_RETENTION_DAYS", |s, v| {
        parse(&mut s.audit_retention_days, v)
    }),
    ("TOLLGATE_SPOOL_DIR", |s, v| {
        s.spool_dir = PathBuf::from(v);
        Ok(())
    }),
    ("TOLLGATE_SPOOL_MAX_BYTES", |s, v| {
        parse(&mut s.spool_max_bytes, v)
    }),
    ("TOLLGATE_AUDIT_EVERY_TOKEN", |s, v| {
        parse(&mut s.audit_every_token, v)
    }),
    ("TOLLGATE_METRICS_LISTEN", |s, v| {
        s.metrics_listen = Some(v.parse().map_err(|_| format!("not a host:port: {v}"))?);
        Ok(())
    }),
    ("TOLLGATE_FAILURES_PER_MINUTE", |s, v| {
        parse(&mut s.failures_per_minute, v)
    }),
    ("TOLLGATE_ADDRESS_FAILURES_PER_MINUTE", |s, v| {
        parse(&mut s.address_failures_per_minute, v)
    }),
    ("TOLLGATE_LIMITER_MAX_KEYS", |s, v| {
        parse(&mut s.limiter_max_keys, v)
    }),
    ("TOLLGATE_REDIS_URL", |s, v| {
        s.redis_url = Some(SecretString::from(v));
        Ok(())
    }),
    ("TOLLGATE_REDIS_PREFIX", |s, v| {
        parse(&mut s.redis_prefix, v)
    }),
    ("TOLLGATE_TRUSTED_PROXY_HOPS", |s, v| {
        parse(&mut s.trusted_proxy_hops, v)
    }),
    ("TOLLGATE_TRUSTED_PROXIES", |s, v| {
        s.trusted_proxies = list(v)
            .iter()
            .map(|a| a.parse().map_err(|_| format!("not an IP address: {a}")))
            .collect::<Result<_, _>>()?;
        Ok(())
    }),
    ("TOLLGATE_CLIENT_CERT_HEADER", |s, v| {
        s.client_cert_header = Some(v.trim().to_ascii_lowercase());
        Ok(())
    }),
    ("TOLLGATE_CLIENT_CERT_CA_PATH", |s, v| {
        s.client_cert_ca_path = Some(v.trim().into());
        Ok(())
    }),
    ("TOLLGATE_KEY_ROTATION_DAYS", |s, v| {
        parse(&mut s.key_rotation_days, v)
    }),
    ("TOLLGATE_CLIENT_ASSERTION_MAX_LIFETIME", |s, v| {
        parse(&mut s.client_assertion_max_lifetime, v)
    }),
    ("TOLLGATE_DPOP_PROOF_MAX_AGE", |s, v| {
        parse(&mut s.dpop_proof_max_age, v)
    }),
    ("TOLLGATE_DPOP_NONCE", |s, v| parse(&mut s.dpop_nonce, v)),
    ("TOLLGATE_LOGIN_ALLOWED_ORIGINS", |s, v| {
        s.login_allowed_origins = Some(list(v));
        Ok(())
    }),
];

/// Read by `Settings::from_env` itself, before the table applies.
pub(super) const CONFIG_FILE: &str = "TOLLGATE_CONFIG";

pub(super) fn is_known(name: &str) -> bool {
    name == CONFIG_FILE || VARIABLES.iter().any(|(n, _)| *n == name)
}

fn parse<T: FromStr>(slot: &mut T, raw: &str) -> Result<(), String>
where
    T::Err: std::fmt::Display,
{
    *slot = raw.parse().map_err(|e: T::Err| e.to_string())?;
    Ok(())
}

fn some(slot: &mut Option<String>, raw: &str) -> Result<(), String> {
    *slot = Some(raw.to_owned());
    Ok(())
}

/// A comma-separated list; blanks around items and empty items are dropped, so an empty value
/// is an empty list.
fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn secret(slot: &mut SecretString, raw: &str) -> Result<(), String> {
    *slot = SecretString::from(raw);
    Ok(())
}
