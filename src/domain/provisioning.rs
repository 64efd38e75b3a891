//! Creating clients, API keys and customers: what the CLI does, written once so the tests use
//! exactly the same path. Secrets are generated here (256 bits) and returned once.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::domain::Error;
use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::client_keys::check_jwks_uri;
use crate::security::client_keys::ClientKeySet;
use crate::security::hashing::{Argon2Settings, bind, hash_now};
use crate::store::{
    ApiKeyRecord, ClientAuth, ClientJwks, ClientPolicy, ClientRecord, CustomerRecord, Store,
    TlsSubject,
};
use crate::types::{
    ApiKey, ClientId, CustomerId, ScopeSet, Username, generate_secret, is_absolute_uri,
};

pub struct NewClient {
    pub client_id: String,
    pub scopes: String,
    /// `None`: the same as `scopes`.
    pub default_scopes: Option<String>,
    /// The audiences its tokens may be for; empty: the server's own.
    pub audiences: Vec<String>,
    pub auth: NewClientAuth,
    /// Token lifetime, rate limit and quota (see `lifecycle::parse_policy`).
    pub policy: ClientPolicy,
    /// Its token requests must carry a DPoP proof (RFC 9449 §5).
    pub require_dpop: bool,
    /// Its tokens are bound to its client certificate (RFC 8705 §3).
    pub bind_certificate: bool,
}

/// How a new client will authenticate.
pub enum NewClientAuth {
    /// `client_secret_basic` / `client_secret_post`: this secret, or a generated one.
    Secret(Option<SecretString>),
    /// `private_key_jwt`: its public keys, or where they are published.
    PrivateKeyJwt(ClientJwks),
    /// `tls_client_auth` (RFC 8705 §2.1): what its certificate must name.
    TlsClientAuth(TlsSubject),
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): the public keys its certificate may
    /// carry, or where they are published.
    SelfSignedTlsClientAuth(ClientJwks),
}

/// What `prepare_client` made: the record, and the secret to hand over once (none for a
/// key-based client).
pub type PreparedClient = (ClientRecord, Option<SecretString>);

/// Validates the request and hashes the secret, without touching the database.
/// `server_audience` is `TOLLGATE_AUDIENCE`, the one audience that need not be a URI.
pub fn prepare_client(
    spec: NewClient,
    argon2: &Argon2Settings,
    server_audience: &str,
) -> Result<PreparedClient, Error> {
    let id = ClientId::parse(&spec.client_id).map_err(Error::invalid_request)?;
    let allowed = ScopeSet::parse(&spec.scopes).map_err(|m| Error::InvalidScope(m.into()))?;
    let defaults = match &spec.default_scopes {
        Some(d) => ScopeSet::parse(d).map_err(|m| Error::InvalidScope(m.into()))?,
        None => allowed.clone(),
    };
    if !defaults.is_subset(&allowed) {
        return Err(Error::InvalidScope(
            "default scopes must be among the allowed scopes".into(),
        ));
    }
    let audiences = check_audiences(spec.audiences, server_audience)?;
    let (auth, secret) = match spec.auth {
        NewClientAuth::Secret(given) => {
            let (secret, hash) = client_secret(&id, given, argon2)?;
            (ClientAuth::Secret { hash }, Some(secret))
        }
        NewClientAuth::PrivateKeyJwt(jwks) => (ClientAuth::PrivateKeyJwt(check_jwks(jwks)?), None),
        NewClientAuth::TlsClientAuth(subject) => {
            (ClientAuth::TlsClientAuth(check_tls_subject(subject)?), None)
        }
        NewClientAuth::SelfSignedTlsClientAuth(jwks) => {
            (ClientAuth::SelfSignedTlsClientAuth(check_jwks(jwks)?), None)
        }
    };
    Ok((
        ClientRecord {
            client_id: id,
            auth,
            allowed_scopes: allowed,
            default_scopes: defaults,
            audiences,
            enabled: true,
            policy: (spec.policy != ClientPolicy::default()).then(|| Arc::new(spec.policy)),
            require_dpop: spec.require_dpop,
            bind_certificate: spec.bind_certificate,
        },
        secret,
    ))
}

/// RFC 8707 §2 resources are absolute URIs; the server's own audience is allowed whatever its
/// form. Repeats are dropped.
pub fn check_audiences(given: Vec<String>, server_audience: &str) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::with_capacity(given.len());
    for aud in given {
        let aud = aud.trim().to_owned();
        if aud != server_audience && !is_absolute_uri(&aud) {
            return Err(Error::invalid_request(format!(
                "audience {aud:?} is neither an absolute URI (RFC 8707 section 2) nor the \
                 server's audience {server_audience:?}"
            )));
        }
        if aud.contains(char::is_whitespace) {
            return Err(Error::invalid_request("an audience may not contain spaces"));
        }
        if !out.contains(&aud) {
            out.push(aud);
        }
    }
    Ok(out)
}

/// What a `tls_client_auth` certificate must name: a non-empty DN of `type=value` parts, a DNS
/// name, an absolute URI, an IP address (parsed already) or an email address (RFC 8705
/// §2.1.2).
pub fn check_tls_subject(subject: TlsSubject) -> Result<TlsSubject, Error> {
    let ok = match &subject {
        TlsSubject::Dn(dn) => !dn.trim().is_empty() && dn.contains('='),
        TlsSubject::SanDns(name) => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.*".contains(&b))
        }
        TlsSubject::SanUri(uri) => is_absolute_uri(uri),
        TlsSubject::SanIp(_) => true,
        // An rfc822Name is an RFC 5321 Mailbox (RFC 5280 §4.2.1.6): local part, @, domain.
        TlsSubject::SanEmail(email) => email.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && email.bytes().all(|b| b.is_ascii_graphic())
        }),
    };
    if ok {
        Ok(subject)
    } else {
        Err(Error::invalid_request(
            "the certificate subject must be an RFC 4514 DN (CN=...), a DNS name, an absolute \
             URI or an email address",
        ))
    }
}

/// A JWK Set checked key by key (the error names the key and the problem), or a `jwks_uri`
/// tollgate will fetch. The stored set is the admin's text, once it parsed.
pub fn check_jwks(jwks: ClientJwks) -> Result<ClientJwks, Error> {
    match &jwks {
        ClientJwks::Inline(json) => {
            ClientKeySet::parse(json)
                .map_err(|why| Error::invalid_request(format!("JWK Set refused: {why}")))?;
        }
        ClientJwks::Uri(uri) => check_jwks_uri(uri).map_err(Error::invalid_request)?,
    }
    Ok(jwks)
}

/// The admin's secret (at least 16 characters) or a generated one, and its hash bound to `id`.
fn client_secret(
    id: &ClientId,
    given: Option<SecretString>,
    argon2: &Argon2Settings,
) -> Result<(SecretString, String), Error> {
    let secret = match given {
        Some(s) if s.expose_secret().len() < 16 => {
            return Err(Error::invalid_request(
                "a client secret must be at least 16 characters",
            ));
        }
        Some(s) => s,
        None => generate_secret()?,
    };
    let hash = hash_now(argon2, &bind(id.as_str(), secret.expose_secret()))?;
    Ok((secret, hash))
}

pub async fn create_client(
    store: &Store,
    spec: NewClient,
    argon2: &Argon2Settings,
    server_audience: &str,
    now: i64,
) -> Result<(String, Option<SecretString>), Error> {
    let (record, secret) = prepare_client(spec, argon2, server_audience)?;
    let id = record.client_id.as_str();
    // Tokens name their client by id alone: a new client must not inherit a deleted one's.
    if let Some(until) = store.client_id_reusable_at(id).await?
        && until > now
    {
        return Err(Error::invalid_request(format!(
            "client {id} was deleted and tokens issued to it may still be unexpired; its id \
             can be used again after {until} (Unix seconds), or choose another id"
        )));
    }
    store.insert_client(&record, now).await?;
    let method = match record.auth {
        ClientAuth::Secret { .. } => "client_secret",
        ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
        ClientAuth::TlsClientAuth(_) => "tls_client_auth",
        ClientAuth::SelfSignedTlsClientAuth(_) => "self_signed_tls_client_auth",
    };
    AuditEvent::new(AuditKind::ClientCreated, &Caller::cli(), now * 1000)
        .client(record.client_id.as_str())
        .detail(format!(
            "scopes={} auth={method}{}",
            record.allowed_scopes,
            record
                .policy
                .as_deref()
                .map(super::lifecycle::describe_policy)
                .unwrap_or_default()
        ))
        .write_now(store)
        .await?;
    Ok((record.client_id.to_string(), secret))
}

/// Replaces a key-based client's keys (`tollgate client set-jwks`); every instance uses the
/// new set within the cache bound, so a partner adds its next key, switches, then drops the old
/// one without downtime.
pub async fn set_client_jwks(
    store: &Store,
    client_id: &str,
    jwks: ClientJwks,
    now: i64,
) -> Result<(), Error> {
    let jwks = check_jwks(jwks)?;
    if !store.set_client_jwks(client_id, &jwks, now).await? {
        return Err(Error::invalid_request(format!(
            "no client {client_id} that authenticates with private_key_jwt or \
             self_signed_tls_client_auth"
        )));
    }
    let what = match &jwks {
        ClientJwks::Inline(_) => "jwks replaced",
        ClientJwks::Uri(_) => "jwks_uri replaced",
    };
    AuditEvent::new(AuditKind::ClientUpdated, &Caller::cli(), now * 1000)
        .client(client_id)
        .detail(what.into())
        .write_now(store)
        .await?;
    Ok(())
}

pub async fn create_api_key(
    store: &Store,
    name: &str,
    apis: &[String],
    argon2: &Argon2Settings,
    now: i64,
) -> Result<SecretString, Error> {
    if name.trim().is_empty() {
        return Err(Error::invalid_request("an API key needs a name"));
    }
    let (key, full) = ApiKey::generate()?;
    let record = ApiKeyRecord {
        prefix: key.prefix().to_owned(),
        name: name.trim().to_owned(),
        key_hash: hash_now(argon2, &bind(key.prefix(), key.secret()))?,
        apis: apis.to_vec(),
        revoked: false,
    };
    store.insert_api_key(&record, now).await?;
    AuditEvent::new(AuditKind::ApiKeyCreated, &Caller::cli(), now * 1000)
        .detail(format!("prefix={} name={}", record.prefix, record.name))
        .write_now(store)
        .await?;
    Ok(full)
}

/// Gives a client a new secret; the current one keeps working for `old_valid_for` seconds.
/// Returns the new secret (shown once) and when the old one stops.
pub async fn rotate_client_secret(
    store: &Store,
    client_id: &str,
    new_secret: Option<SecretString>,
    old_valid_for: i64,
    argon2: &Argon2Settings,
    now: i64,
) -> Result<(SecretString, i64), Error> {
    let id = ClientId::parse(client_id).map_err(Error::invalid_request)?;
    let (secret, hash) = client_secret(&id, new_secret, argon2)?;
    let until = now + old_valid_for.max(0);
    if !store
        .rotate_client_secret(id.as_str(), &hash, until, now)
        .await?
    {
        return Err(Error::invalid_request(format!(
            "no client {id} that authenticates with a secret"
        )));
    }
    AuditEvent::new(AuditKind::SecretRotated, &Caller::cli(), now * 1000)
        .client(id.as_str())
        .detail(format!("old secret valid until {until}"))
        .write_now(store)
        .await?;
    Ok((secret, until))
}

/// Ends a client's previous secrets now (after a rotation, once the partner has switched, or
/// because the old secret leaked).
pub async fn revoke_previous_secrets(
    store: &Store,
    client_id: &str,
    now: i64,
) -> Result<u64, Error> {
    if store.client(client_id).await?.is_none() {
        return Err(Error::invalid_request(format!("no client {client_id}")));
    }
    let revoked = store.revoke_previous_secrets(client_id).await?;
    AuditEvent::new(AuditKind::SecretRevoked, &Caller::cli(), now * 1000)
        .client(client_id)
        .detail(format!("previous secrets ended: {revoked}"))
        .write_now(store)
        .await?;
    Ok(revoked)
}

/// Revokes an API key named by its public prefix (or the whole key, whose prefix is used).
pub async fn revoke_api_key(store: &Store, key_or_prefix: &str, now: i64) -> Result<String, Error> {
    let prefix = match ApiKey::parse(key_or_prefix) {
        Ok(key) => key.prefix().to_owned(),
        Err(_) => key_or_prefix.trim().to_owned(),
    };
    if !store.revoke_api_key(&prefix, now).await? {
        return Err(Error::invalid_request(format!(
            "no unrevoked API key with prefix {prefix}"
        )));
    }
    AuditEvent::new(AuditKind::ApiKeyRevoked, &Caller::cli(), now * 1000)
        .detail(format!("prefix={prefix}"))
        .write_now(store)
        .await?;
    Ok(prefix)
}

pub struct NewCustomer {
    pub username: String,
    pub password: SecretString,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// A JSON object of further attributes.
    pub attributes: Option<serde_json::Value>,
}

pub async fn create_customer(
    store: &Store,
    spec: NewCustomer,
    argon2: &Argon2Settings,
    now: i64,
) -> Result<CustomerId, Error> {
    let username = Username::parse(&spec.username).map_err(Error::invalid_request)?;
    if spec.password.expose_secret().len() < 8 {
        return Err(Error::invalid_request(
            "a password must be at least 8 characters",
        ));
    }
    let attributes = match spec.attributes {
        None => serde_json::Map::new(),
        Some(serde_json::Value::Object(map)) => map,
        Some(_) => return Err(Error::invalid_request("attributes must be a JSON object")),
    };
    let id = CustomerId::generate();
    let record = CustomerRecord {
        customer_id: id.clone(),
        username,
        password_hash: hash_now(argon2, &bind(id.as_str(), spec.password.expose_secret()))?,
        name: spec.name,
        email: spec.email,
        phone: spec.phone,
        attributes,
    };
    store.insert_customer(&record, now).await?;
    AuditEvent::new(AuditKind::CustomerCreated, &Caller::cli(), now * 1000)
        .customer(id.as_str())
        .write_now(store)
        .await?;
    Ok(id)
}
