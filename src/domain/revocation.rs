//! Token revocation (RFC 7009) and introspection (RFC 7662).
//!
//! Revocation is by `jti`, kept until the token's own `exp`. Every instance keeps the revoked
//! set in memory and reads new rows each second (by an increasing `seq`), so `/getprofile` never
//! asks the database whether a token is revoked, and a revocation reaches every instance within
//! the same five seconds as any other credential change. When the poll has failed for longer
//! than the cache bound, the database is asked directly instead.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::client_assertion::Endpoint;
use crate::domain::client_auth::{authenticate, client_is_active};
use crate::domain::{Authority, Error, mtls};
use crate::security::tokens::AccessClaims;
use crate::store::RevokedRow;
use crate::wire::client_cert::ClientCertificate;
use crate::wire::token_request::TokenOperation;

/// The scope a client needs in its allowed scopes to call the introspection endpoint.
pub const INTROSPECT_SCOPE: &str = "introspect";

#[derive(Default)]
pub struct Revocations {
    /// jti → the token's exp.
    revoked: RwLock<HashMap<String, i64>>,
    /// The highest `seq` read so far.
    cursor: AtomicI64,
}

impl Revocations {
    pub fn cursor(&self) -> i64 {
        self.cursor.load(Ordering::Acquire)
    }

    /// Takes in rows read from the database and forgets tokens that have expired anyway.
    pub fn apply(&self, rows: Vec<RevokedRow>, now_secs: i64) {
        let Ok(mut revoked) = self.revoked.write() else {
            return;
        };
        for row in rows {
            self.cursor.fetch_max(row.seq, Ordering::AcqRel);
            revoked.insert(row.jti, row.expires_at);
        }
        revoked.retain(|_, exp| *exp >= now_secs - 60);
    }

    fn insert(&self, jti: &str, exp: i64) {
        if let Ok(mut revoked) = self.revoked.write() {
            revoked.insert(jti.to_owned(), exp);
        }
    }

    fn contains(&self, jti: &str) -> bool {
        self.revoked.read().is_ok_and(|r| r.contains_key(jti))
    }
}

/// Whether the token with `jti` was revoked: from memory while the sync is fresh, else from the
/// database.
pub async fn is_revoked(auth: &Authority, jti: &str) -> Result<bool, Error> {
    if auth.freshness.is_fresh() {
        Ok(auth.revocations.contains(jti))
    } else {
        Ok(auth.store.is_revoked(jti).await?)
    }
}

/// RFC 7009 §2.1. An invalid, expired or foreign token is not an error (§2.2: "invalid tokens
/// do not cause an error response"): there is nothing left to revoke. A valid token issued to
/// another client is refused.
pub async fn revoke(
    auth: &Authority,
    req: TokenOperation,
    cert: &ClientCertificate,
    caller: &Caller,
    now_secs: i64,
) -> Result<(), Error> {
    let creds = &req.credentials;
    let endpoint = Endpoint::Revocation;
    let client = authenticate(auth, creds, cert, endpoint, caller, now_secs * 1000).await?;
    let Ok(claims) = auth.tokens.inspect_access_token(&req.token, now_secs) else {
        return Ok(());
    };
    if claims.client_id != client.client_id.as_str() {
        return Err(Error::invalid_request(
            "the token was not issued to this client",
        ));
    }
    auth.store
        .revoke_token(&claims.jti, &claims.client_id, claims.exp, now_secs)
        .await?;
    auth.revocations.insert(&claims.jti, claims.exp);
    auth.audit
        .record(
            AuditEvent::new(AuditKind::TokenRevoked, caller, now_secs * 1000)
                .client(&claims.client_id)
                .detail(format!("jti={}", claims.jti)),
        )
        .await?;
    Ok(())
}

/// RFC 7662 §2. Only clients allowed the `introspect` scope may ask. `None` is
/// `{"active": false}`: revoked, expired, malformed, or not ours, without saying which.
pub async fn introspect(
    auth: &Authority,
    req: TokenOperation,
    cert: &ClientCertificate,
    caller: &Caller,
    now_secs: i64,
) -> Result<Option<AccessClaims>, Error> {
    let creds = &req.credentials;
    let client = authenticate(
        auth,
        creds,
        cert,
        Endpoint::Introspection,
        caller,
        now_secs * 1000,
    )
    .await?;
    if !client.allowed_scopes.contains(INTROSPECT_SCOPE) {
        return Err(Error::AccessDenied("this client may not introspect tokens"));
    }
    let Ok(claims) = auth.tokens.inspect_access_token(&req.token, now_secs) else {
        return Ok(None);
    };
    if is_revoked(auth, &claims.jti).await? || !client_is_active(auth, &claims.client_id).await? {
        return Ok(None);
    }
    // RFC 8705 §3.2 leaves it to the resource server to check a certificate-bound token's
    // binding, so the answer carries `cnf` (RFC 7662 §2.2 allows any claim) for whoever asks.
    // But when the holder itself asks about its own bound token, tollgate is the one that can
    // check: this request must present the certificate the token is bound to, as at any
    // resource, or it is refused with 401 invalid_token (RFC 6750 §3.1). A resource server
    // introspecting with its own credentials is not the holder and gets the plain answer.
    if claims.client_id == client.client_id.as_str() {
        mtls::check_binding(claims.cnf.as_ref(), cert)?;
    }
    Ok(Some(claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_rows_move_the_cursor_and_expired_ones_are_forgotten() {
        let r = Revocations::default();
        r.apply(
            vec![
                RevokedRow {
                    seq: 3,
                    jti: "a".into(),
                    expires_at: 1_000,
                },
                RevokedRow {
                    seq: 5,
                    jti: "b".into(),
                    expires_at: 10,
                },
            ],
            900,
        );
        assert_eq!(r.cursor(), 5);
        assert!(r.contains("a"));
        assert!(!r.contains("b"), "b expired long ago");
    }
}
