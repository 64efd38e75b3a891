//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9): the
//! client proves who it is with a short-lived JWT signed by one of its own keys, so it holds no
//! secret that tollgate also holds.
//!
//! Every refusal is the same `invalid_client` (the reason goes to the log and the audit trail,
//! never to the caller) and costs no argon2 run: the cheap checks come first, then one cached
//! key lookup and the signature (a dummy one for an unknown client), then the replay store.
//! Refusals count as failed client authentications in the abuse limiter, as wrong secrets do;
//! successes, like secrets already known good, do not touch it.

use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::client_keys::KeySource;
use crate::domain::limits::Keys;
use crate::domain::{Authority, Error};
use crate::metrics::AuthFailure;
use crate::security::client_assertion::{Assertion, Refusal};
use crate::security::client_keys::{ClientKeySet, dummy_keys};
use crate::store::ClientRecord;
use crate::types::ClientId;
use crate::wire::token_request::ClientAssertion;

/// Clock skew tolerated on `exp`, `iat` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// Where the assertion was presented. Its `aud` may name the issuer or the token endpoint at
/// any endpoint (RFC 7523 §3 item 3 and its update in draft-ietf-oauth-rfc7523bis, which
/// prefers the issuer), or the URL of the endpoint it was sent to, which is what client
/// libraries put there when they authenticate at `/revoke` or `/introspect`.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint {
    Token,
    Revocation,
    Introspection,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Self::Token => "/access_token",
            Self::Revocation => "/revoke",
            Self::Introspection => "/introspect",
        }
    }
}

/// Tunables of the assertion check.
#[derive(Debug, Clone, Copy)]
pub struct AssertionPolicy {
    /// The longest `exp` − `iat` accepted (FAPI 2.0 §5.3.2.1's ceiling of 60 minutes, and the
    /// default of common client libraries).
    pub max_lifetime_secs: i64,
}

impl Default for AssertionPolicy {
    fn default() -> Self {
        Self {
            max_lifetime_secs: 3600,
        }
    }
}

enum Failure {
    Refused(Refusal),
    /// Not the client's fault (the database is away): answered as such, not as invalid_client.
    Fault(Error),
}

impl From<Refusal> for Failure {
    fn from(why: Refusal) -> Self {
        Self::Refused(why)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Fault(e)
    }
}

/// The client an assertion proves, or `invalid_client`. Refusals are counted by the abuse
/// limiter exactly like wrong secrets (`client_auth`), against the (client, address) and
/// address counters, and a refusal over the limit is answered 429. A verified assertion is
/// served without looking at the counters, as a secret already known good is: a signature
/// cannot be guessed, and asking shared counters (Redis) about every success cost the token
/// endpoint more than the signature itself (README, Performance). The price: a refusal costs
/// one signature check even once its address is over the limit.
pub async fn authenticate(
    auth: &Authority,
    presented: &ClientAssertion,
    endpoint: Endpoint,
    caller: &Caller,
    now_millis: i64,
) -> Result<ClientRecord, Error> {
    let now = now_millis.div_euclid(1000);
    let parsed = Assertion::parse(&presented.jwt);
    // RFC 7523 §3 items 1-2: for client authentication, sub is the client id.
    let named: Option<ClientId> = parsed
        .as_ref()
        .ok()
        .and_then(|a| a.claims.sub.as_deref())
        .and_then(|sub| ClientId::parse(sub).ok());
    let outcome = match parsed {
        Ok(assertion) => check(auth, &assertion, presented, endpoint, now).await,
        Err(why) => Err(Failure::Refused(why)),
    };
    let why = match outcome {
        Ok(client) => return Ok(client),
        Err(Failure::Fault(e)) => return Err(e),
        Err(Failure::Refused(why)) => why,
    };
    // An assertion that names no client counts against the client_id sent beside it, or none.
    let counted = named.as_ref().or(presented.client_id.as_ref());
    let attempt = auth
        .limits
        .begin(
            Keys::client(
                counted.map_or("", ClientId::as_str),
                caller.source.as_deref(),
            ),
            now,
        )
        .await
        .map_err(|retry| {
            auth.metrics.auth_failure(AuthFailure::RateLimited);
            Error::TooManyRequests(retry)
        })?;
    attempt.failed();
    tracing::info!(
        reason = why,
        client_id = named.as_ref().map(ClientId::as_str),
        "client assertion refused"
    );
    let mut event = AuditEvent::new(AuditKind::ClientAuthFailed, caller, now_millis)
        .detail(format!("private_key_jwt: {why}"));
    if let Some(id) = &named {
        event = event.client(id.as_str());
    }
    auth.metrics.auth_failure(AuthFailure::BadAssertion);
    auth.audit.record(event).await?;
    Err(Error::InvalidClient)
}

async fn check(
    auth: &Authority,
    assertion: &Assertion<'_>,
    presented: &ClientAssertion,
    endpoint: Endpoint,
    now: i64,
) -> Result<ClientRecord, Failure> {
    let claims = &assertion.claims;
    // RFC 7523 §3 items 1-2: for client authentication, iss and sub are both the client id.
    let sub = claims.sub.as_deref().ok_or("the assertion has no sub")?;
    let id = ClientId::parse(sub).map_err(|_| "the assertion's sub is not a client id")?;
    if claims.iss.as_deref() != Some(sub) {
        return Err("the assertion's iss is not its sub".into());
    }
    if presented.client_id.as_ref().is_some_and(|c| *c != id) {
        return Err("client_id differs from the assertion's sub".into());
    }
    check_audience(auth, claims.aud.as_ref(), endpoint)?;
    let exp = check_times(auth, claims.exp, claims.iat, claims.nbf, now)?;
    let jti = claims
        .jti
        .as_deref()
        .filter(|j| !j.is_empty())
        .ok_or("the assertion has no jti")?;

    // Every signature check is counted: the work of a refusal is the same whether the client
    // exists or not.
    let signed_by = |keys: &ClientKeySet| {
        let (ok, tried) = assertion.signed_by(keys);
        auth.client_keys.verified(tried);
        ok
    };
    // An unknown client, or one without keys, costs the verification a bad signature costs
    // (the house rule for secrets, where a dummy argon2 hash plays this part).
    let dummy = || {
        if let Some(keys) = dummy_keys() {
            signed_by(keys);
        }
    };
    let Some(client) = auth
        .client_keys
        .client(&auth.store, &auth.freshness, id.as_str())
        .await?
    else {
        dummy();
        return Err("unknown client".into());
    };
    let verified = match &client.keys {
        KeySource::None => {
            dummy();
            return Err("the client does not authenticate with private_key_jwt".into());
        }
        KeySource::Registered(keys) => signed_by(keys),
        KeySource::Published(uri) => {
            let keys = &auth.client_keys;
            let unknown_kid =
                |k: &ClientKeySet| assertion.kid.as_deref().is_some_and(|kid| !k.has_kid(kid));
            let held = keys.published(uri, false, now).await;
            if held
                .as_deref()
                .is_some_and(|k| !unknown_kid(k) && signed_by(k))
            {
                true
            } else {
                // The client may have rotated: fetch again (at most once a minute).
                let again = keys.published(uri, true, now).await;
                again.as_deref().is_some_and(signed_by)
            }
        }
    };
    if !verified {
        return Err("the assertion's signature does not verify with the client's keys".into());
    }
    // RFC 7523 §3 item 7: the jti is kept until the assertion could no longer pass anyway.
    let first = auth
        .replay
        .first_use(id.as_str(), jti, exp + LEEWAY_SECS, now)
        .await?;
    if !first {
        return Err("the assertion's jti was used before".into());
    }
    Ok(client.record.clone())
}

/// RFC 7523 §3 item 3: the audience must identify this server: the issuer, the token endpoint
/// (either of its paths) or the endpoint the assertion was sent to; one value or an array.
fn check_audience(
    auth: &Authority,
    aud: Option<&crate::types::Audience>,
    endpoint: Endpoint,
) -> Result<(), Refusal> {
    let issuer = auth.tokens.issuer();
    let names_us = |a: &str| {
        a == issuer
            || a.strip_prefix(issuer).is_some_and(|path| {
                path == Endpoint::Token.path()
                    || path == "/oauth/access_token"
                    || path == endpoint.path()
            })
    };
    match aud {
        Some(aud) if aud.iter().any(names_us) => Ok(()),
        Some(_) => Err("the assertion's aud does not name this server"),
        None => Err("the assertion has no aud"),
    }
}

/// RFC 7523 §3 items 4-6: `exp` present and not passed, `iat` and `nbf` not in the future, and
/// a total lifetime within the policy. Returns `exp`.
fn check_times(
    auth: &Authority,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    now: i64,
) -> Result<i64, Refusal> {
    let exp = exp.ok_or("the assertion has no exp")?;
    if exp + LEEWAY_SECS <= now {
        return Err("the assertion has expired");
    }
    if iat.is_some_and(|t| t > now + LEEWAY_SECS) {
        return Err("the assertion is issued in the future");
    }
    if nbf.is_some_and(|t| t > now + LEEWAY_SECS) {
        return Err("the assertion is not valid yet");
    }
    // Without iat, the lifetime left counts: an assertion valid for a day is refused either way.
    let start = iat.or(nbf).unwrap_or(now).min(now);
    if exp.saturating_sub(start) > auth.assertion_policy.max_lifetime_secs {
        return Err("the assertion's lifetime is longer than allowed");
    }
    Ok(exp)
}
