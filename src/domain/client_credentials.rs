//! The client-credentials grant (RFC 6749 §4.4): authenticate the client, settle the scope,
//! issue an RFC 9068 access token.

use secrecy::ExposeSecret;

use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::hashing::bind;
use crate::domain::limits::Keys;
use crate::domain::token_request::{ClientCredentials, TokenRequest};
use crate::domain::types::{ClientId, ScopeSet};
use crate::domain::{Authority, Error};
use crate::store::ClientRecord;

/// What the token endpoint answers with (RFC 6749 §5.1, plus `client_id` and `issued_at`).
#[derive(Debug)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub client_id: String,
    pub issued_at_millis: i64,
}

pub async fn exchange(
    auth: &Authority,
    req: TokenRequest,
    caller: &Caller,
    now_millis: i64,
) -> Result<TokenGrant, Error> {
    let client = authenticate(auth, &req.credentials, caller, now_millis).await?;
    if !client.enabled {
        return Err(Error::UnauthorizedClient("the client is disabled"));
    }
    let scope = settle_scope(&client, req.scope)?;
    let client_id = req.credentials.client_id;
    let issued = auth.tokens.issue_access_token(
        &client_id,
        client.audience.as_deref(),
        &scope,
        now_millis,
    )?;
    auth.audit.record(
        AuditEvent::new(AuditKind::TokenIssued, caller, now_millis)
            .client(client_id.as_str())
            .detail(format!("jti={} scope={scope}", issued.jti)),
    );
    Ok(TokenGrant {
        access_token: issued.token,
        expires_in: issued.expires_in,
        scope: scope.to_string(),
        client_id: client_id.to_string(),
        issued_at_millis: issued.issued_at_millis,
    })
}

/// Verifies the secret: from the credential cache when this very secret verified recently,
/// else against the stored argon2id hash. An unknown client is verified against a dummy hash
/// of the same cost, so it is answered like a wrong secret, in the same time.
pub async fn authenticate(
    auth: &Authority,
    creds: &ClientCredentials,
    caller: &Caller,
    now_millis: i64,
) -> Result<ClientRecord, Error> {
    let id = creds.client_id.as_str();
    let secret = creds.secret.expose_secret();
    let now_secs = now_millis.div_euclid(1000);
    if let Some(client) = auth
        .clients
        .check(&auth.freshness, id, secret.as_bytes(), now_secs)
    {
        return Ok(client);
    }
    let keys = Keys::client(id, caller.source.as_deref());
    if let Some(retry_after) = auth.limits.blocked(&keys, now_secs).await {
        return Err(Error::TooManyRequests(retry_after));
    }
    let _flight = auth
        .clients
        .single_flight(id, auth.hasher.max_wait())
        .await?;
    if let Some(client) = auth
        .clients
        .check(&auth.freshness, id, secret.as_bytes(), now_secs)
    {
        return Ok(client);
    }
    let epoch = auth.freshness.epoch();
    let client = auth.store.client(id).await?;
    let phc = client.as_ref().map(|c| c.secret_hash.clone());
    let mut ok = auth.hasher.verify(phc, bind(id, secret)).await?;
    let mut valid_until = None;
    if !ok && client.is_some() {
        // During a rotation the previous secret works until it expires. (A wrong secret for
        // a client mid-rotation costs one hash per previous secret more than an unknown one.)
        for (old, expires_at) in auth.store.previous_secrets(id, now_secs).await? {
            if auth.hasher.verify(Some(old), bind(id, secret)).await? {
                ok = true;
                valid_until = Some(expires_at);
                break;
            }
        }
    }
    match client {
        Some(c) if ok => {
            let (f, s) = (&auth.freshness, secret.as_bytes());
            auth.clients
                .remember(f, epoch, id, s, c.clone(), valid_until);
            Ok(c)
        }
        _ => {
            auth.limits.failed(&keys, now_secs).await;
            auth.audit.record(
                AuditEvent::new(AuditKind::ClientAuthFailed, caller, now_millis).client(id),
            );
            Err(Error::InvalidClient)
        }
    }
}

/// RFC 6749 §3.3: a requested scope must be within what the client may have; no scope means
/// the client's defaults, and a client without defaults must ask.
fn settle_scope(client: &ClientRecord, requested: Option<ScopeSet>) -> Result<ScopeSet, Error> {
    let allowed = ScopeSet::parse(&client.allowed_scopes).map_err(|_| {
        Error::Internal(format!("client {} has malformed scopes", client.client_id))
    })?;
    match requested {
        Some(req) if req.is_empty() => {
            Err(Error::InvalidScope("the scope parameter is empty".into()))
        }
        Some(req) => {
            if req.is_subset(&allowed) {
                Ok(req)
            } else {
                let denied = req.difference(&allowed).join(" ");
                Err(Error::InvalidScope(
                    format!("scope not allowed for this client: {denied}").into(),
                ))
            }
        }
        None => {
            let defaults = ScopeSet::parse(&client.default_scopes).map_err(|_| {
                Error::Internal(format!(
                    "client {} has malformed default scopes",
                    client.client_id
                ))
            })?;
            if defaults.is_empty() {
                Err(Error::InvalidScope(
                    "no scope requested and the client has no default scope".into(),
                ))
            } else {
                Ok(defaults)
            }
        }
    }
}

/// Used by provisioning: a client id must parse before it is stored.
pub fn parse_client_id(raw: &str) -> Result<ClientId, Error> {
    ClientId::parse(raw).map_err(Error::invalid_request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(allowed: &str, defaults: &str) -> ClientRecord {
        ClientRecord {
            client_id: "c".into(),
            secret_hash: String::new(),
            allowed_scopes: allowed.into(),
            default_scopes: defaults.into(),
            audience: None,
            enabled: true,
        }
    }

    #[test]
    fn scope_must_be_a_subset_of_the_allowed_scopes() {
        let c = client("a b", "a");
        assert_eq!(
            settle_scope(&c, Some(ScopeSet::parse("b").unwrap()))
                .unwrap()
                .to_string(),
            "b"
        );
        assert!(matches!(
            settle_scope(&c, Some(ScopeSet::parse("a z").unwrap())),
            Err(Error::InvalidScope(m)) if m.contains('z')
        ));
    }

    #[test]
    fn absent_scope_means_the_defaults() {
        assert_eq!(
            settle_scope(&client("a b", "a"), None).unwrap().to_string(),
            "a"
        );
        assert!(matches!(
            settle_scope(&client("a b", ""), None),
            Err(Error::InvalidScope(_))
        ));
    }
}
