//! The client-credentials grant (RFC 6749 §4.4): authenticate the client, settle the scope and
//! the audience (RFC 8707), issue an RFC 9068 access token.

use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::client_assertion::Endpoint;
use crate::domain::client_auth::authenticate;
use crate::domain::{Authority, DpopAt, Error, dpop, mtls};
use crate::security::tokens::Confirmation;
use crate::store::ClientRecord;
use crate::types::{Audience, ScopeSet};
use crate::wire::client_cert::ClientCertificate;
use crate::wire::dpop::DpopRequest;
use crate::wire::token_request::TokenRequest;

/// What the token endpoint answers with (RFC 6749 §5.1, plus `client_id` and `issued_at`).
#[derive(Debug)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub client_id: String,
    pub issued_at_millis: i64,
    /// `DPoP` for a token bound to a DPoP key (RFC 9449 §5), else `Bearer`.
    pub token_type: &'static str,
    /// RFC 9449 §8.2: a fresh server nonce for the client's next proof, when nonces are used.
    pub dpop_nonce: Option<String>,
}

pub async fn exchange(
    auth: &Authority,
    req: TokenRequest,
    dpop_req: &DpopRequest,
    cert: &ClientCertificate,
    caller: &Caller,
    now_millis: i64,
) -> Result<TokenGrant, Error> {
    let now_secs = now_millis.div_euclid(1000);
    // RFC 9449 §5: the proof's own checks cost no lookup: before client authentication.
    let proof = dpop::check(auth, dpop_req, DpopAt::TokenEndpoint, None, now_secs)?;
    let client = authenticate(
        auth,
        &req.credentials,
        cert,
        Endpoint::Token,
        caller,
        now_millis,
    )
    .await?;
    let scope = settle_scope(&client, req.scope)?;
    let audience = settle_audience(&client, req.resources, auth.tokens.default_audience())?;
    // Before the quota: a request refused for want of a proof does not count against it.
    let x5t_s256 = mtls::confirmation(&client, cert)?;
    let jkt = dpop::confirmation(auth, proof, &client, now_secs).await?;
    let token_type = if jkt.is_some() { "DPoP" } else { "Bearer" };
    let cnf = (jkt.is_some() || x5t_s256.is_some()).then_some(Confirmation { jkt, x5t_s256 });
    let client_id = client.client_id;
    let policy = client.policy.as_deref();
    // The hot path of a client without limits: one branch on the record already in hand.
    if let Some(p) = policy.filter(|p| p.has_limits()) {
        let admitted = auth
            .limits
            .quotas
            .admit(client_id.as_str(), p, now_secs)
            .await;
        if !matches!(admitted, Ok(false)) {
            auth.metrics.quota_exceeded(client_id.as_str());
        }
        admitted.map_err(Error::QuotaExceeded)?;
    }
    let issued = auth.tokens.issue_access_token(
        &client_id,
        audience,
        &scope,
        policy.and_then(|p| p.token_ttl),
        cnf,
        now_millis,
    )?;
    if auth.audit.every_token() {
        auth.audit
            .record(
                AuditEvent::new(AuditKind::TokenIssued, caller, now_millis)
                    .client(client_id.as_str())
                    .detail(format!("jti={} scope={scope}", issued.jti)),
            )
            .await?;
    }
    auth.usage
        .token_issued(client_id.as_str(), &issued.kid, now_millis);
    auth.metrics.token_issued(client_id.as_str());
    Ok(TokenGrant {
        access_token: issued.token,
        expires_in: issued.expires_in,
        scope: scope.to_string(),
        client_id: client_id.to_string(),
        issued_at_millis: issued.issued_at_millis,
        token_type,
        dpop_nonce: auth.dpop.next_nonce(now_secs),
    })
}

/// RFC 6749 §3.3: a requested scope must be within what the client may have; no scope means
/// the client's defaults, and a client without defaults must ask.
fn settle_scope(client: &ClientRecord, requested: Option<ScopeSet>) -> Result<ScopeSet, Error> {
    match requested {
        Some(req) if req.is_empty() => {
            Err(Error::InvalidScope("the scope parameter is empty".into()))
        }
        Some(req) => {
            if req.is_subset(&client.allowed_scopes) {
                Ok(req)
            } else {
                // Named (they are the client's own words, already in the §3.3 character set),
                // but not at any length.
                let mut denied = req.difference(&client.allowed_scopes).join(" ");
                if denied.len() > 80 {
                    denied.truncate(77);
                    denied.push_str("...");
                }
                Err(Error::InvalidScope(
                    format!("scope not allowed for this client: {denied}").into(),
                ))
            }
        }
        None if client.default_scopes.is_empty() => Err(Error::InvalidScope(
            "no scope requested and the client has no default scope".into(),
        )),
        None => Ok(client.default_scopes.clone()),
    }
}

/// RFC 8707 §2: each requested resource must be one the client may have a token for, and the
/// token is for exactly those; without `resource`, for all of the client's audiences. A client
/// without audiences of its own has the server's (`None`: the default). The audiences were
/// checked to be absolute URIs (or the server's own) when granted, so a malformed resource,
/// one with a fragment included, is never among them.
fn settle_audience(
    client: &ClientRecord,
    requested: Vec<String>,
    default_audience: &str,
) -> Result<Option<Audience>, Error> {
    let allowed = |r: &String| {
        if client.audiences.is_empty() {
            r == default_audience
        } else {
            client.audiences.contains(r)
        }
    };
    if requested.is_empty() {
        return Ok(Audience::from_list(client.audiences.clone()));
    }
    if requested.iter().all(allowed) {
        Ok(Audience::from_list(requested))
    } else {
        // Not named: a resource is the client's own text, and may be any URI.
        Err(Error::InvalidTarget(
            "a requested resource is not among this client's audiences".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ClientId;

    fn client(allowed: &str, defaults: &str) -> ClientRecord {
        ClientRecord {
            client_id: ClientId::parse("c").unwrap(),
            auth: crate::store::ClientAuth::Secret {
                hash: String::new(),
            },
            allowed_scopes: ScopeSet::parse(allowed).unwrap(),
            default_scopes: ScopeSet::parse(defaults).unwrap(),
            audiences: Vec::new(),
            enabled: true,
            policy: None,
            require_dpop: false,
            bind_certificate: false,
        }
    }

    #[test]
    fn audiences_are_the_requested_resources_or_all_of_the_clients() {
        let mut c = client("a", "a");
        let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(settle_audience(&c, vec![], "api").unwrap(), None);
        assert_eq!(
            settle_audience(&c, own(&["api"]), "api").unwrap(),
            Some(Audience::One("api".into()))
        );
        assert!(settle_audience(&c, own(&["https://x"]), "api").is_err());
        c.audiences = own(&["https://a", "https://b"]);
        assert_eq!(
            settle_audience(&c, vec![], "api").unwrap(),
            Some(Audience::Many(own(&["https://a", "https://b"])))
        );
        assert_eq!(
            settle_audience(&c, own(&["https://b"]), "api").unwrap(),
            Some(Audience::One("https://b".into()))
        );
        assert!(matches!(
            settle_audience(&c, own(&["https://b", "api"]), "api"),
            Err(Error::InvalidTarget(_))
        ));
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
