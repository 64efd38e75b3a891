//! Mutual TLS (RFC 8705): `tls_client_auth` client authentication (§2.1: a certificate that
//! chains to the configured CA and names the client) and certificate-bound access tokens (§3):
//! a client registered with `--bind-certificate`, or one that authenticated with its
//! certificate, gets tokens whose `cnf."x5t#S256"` is the thumbprint of the certificate it
//! presented at the token endpoint, and a resource accepts such a token only from a connection
//! presenting the same certificate. The certificate comes from tollgate's own TLS handshake
//! (which checked the chain) or from a trusted proxy's header (the proxy checked it; see
//! `http::extract`).

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::Authority;
use crate::domain::Error;
use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::limits::Keys;
use crate::metrics::AuthFailure;
use crate::security::tokens::Confirmation;
use crate::security::x509;
use crate::store::{ClientAuth, ClientRecord, TlsSubject};
use crate::types::ClientId;
use crate::wire::client_cert::ClientCertificate;

/// RFC 8705 §3.1: `x5t#S256` is the base64url SHA-256 of the certificate's DER.
pub fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, der))
}

/// The thumbprint a new token of `client` is bound to: the presented certificate's, for a
/// client registered with `--bind-certificate` (which must then present one).
pub fn confirmation(
    client: &ClientRecord,
    cert: &ClientCertificate,
) -> Result<Option<String>, Error> {
    let presented = match &cert.0 {
        Ok(presented) => presented,
        Err(why) => return Err(Error::invalid_request(*why)),
    };
    let bind = client.bind_certificate || matches!(client.auth, ClientAuth::TlsClientAuth(_));
    match (bind, presented) {
        (false, _) => Ok(None),
        (true, Some(der)) => Ok(Some(thumbprint(der))),
        (true, None) => Err(Error::invalid_request(
            "this client's tokens are bound to its certificate: present one over mutual TLS \
             (RFC 8705 section 3)",
        )),
    }
}

/// `tls_client_auth` (RFC 8705 §2.1): the client named by `client_id`, if it is registered for
/// this method and the request's certificate names it as registered. Every refusal is the same
/// `invalid_client`; the reason goes to the log and the audit trail.
pub async fn authenticate(
    auth: &Authority,
    id: &ClientId,
    cert: &ClientCertificate,
    caller: &Caller,
    now_millis: i64,
) -> Result<ClientRecord, Error> {
    let presented = match &cert.0 {
        Ok(presented) => presented,
        Err(why) => return Err(Error::invalid_request(*why)),
    };
    // The failure limits of secrets apply: a stream of `client_id`s without a certificate
    // naming them costs lookups and audit rows, and is cut off the same way.
    let now_secs = now_millis.div_euclid(1000);
    let attempt = auth
        .limits
        .begin(
            Keys::client(id.as_str(), caller.source.as_deref()),
            now_secs,
        )
        .await
        .map_err(|retry| {
            auth.metrics.auth_failure(AuthFailure::RateLimited);
            Error::TooManyRequests(retry)
        })?;
    let client = auth
        .client_keys
        .client(&auth.store, &auth.freshness, id.as_str())
        .await?;
    let why = match (&client, presented) {
        (None, _) => "unknown client",
        (Some(c), Some(der)) => match &c.record.auth {
            // A success gives the attempt's slot back (dropping it).
            ClientAuth::TlsClientAuth(subject) if names(subject, der) => {
                return Ok(c.record.clone());
            }
            ClientAuth::TlsClientAuth(_) => "the client certificate does not name the client",
            _ => "no client authentication (the client does not use tls_client_auth)",
        },
        (Some(_), None) => "no client authentication (no client certificate presented)",
    };
    attempt.failed();
    tracing::info!(
        reason = why,
        client_id = id.as_str(),
        "client certificate refused"
    );
    auth.metrics.auth_failure(AuthFailure::BadCertificate);
    auth.audit
        .record(
            AuditEvent::new(AuditKind::ClientAuthFailed, caller, now_millis)
                .client(id.as_str())
                .detail(format!("tls_client_auth: {why}")),
        )
        .await?;
    Err(Error::InvalidClient)
}

/// RFC 8705 §2.1.2: the registered subject DN equals the certificate's, or the registered DNS
/// name or URI is among its subject alternative names.
fn names(subject: &TlsSubject, der: &[u8]) -> bool {
    match subject {
        TlsSubject::Dn(dn) => x509::subject_dn(der).is_some_and(|s| x509::same_dn(dn, &s)),
        TlsSubject::SanDns(name) => x509::alt_names(der)
            .0
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name)),
        TlsSubject::SanUri(uri) => x509::alt_names(der).1.iter().any(|u| u == uri),
    }
}

/// RFC 8705 §3: a certificate-bound token is good only from a connection presenting the
/// certificate it is bound to.
pub fn check_binding(cnf: Option<&Confirmation>, cert: &ClientCertificate) -> Result<(), Error> {
    // A proxy forwarding garbage is refused whatever the token: it is misconfigured.
    let presented = match &cert.0 {
        Ok(presented) => presented,
        Err(why) => return Err(Error::invalid_request(*why)),
    };
    let Some(bound) = cnf.and_then(|c| c.x5t_s256.as_deref()) else {
        return Ok(());
    };
    match presented {
        Some(der) if thumbprint(der) == bound => Ok(()),
        Some(_) => Err(Error::InvalidToken(
            "the token is bound to another client certificate",
        )),
        None => Err(Error::InvalidToken(
            "the token is bound to a client certificate this request did not present",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ClientId, ScopeSet};

    fn client(bind: bool) -> ClientRecord {
        ClientRecord {
            client_id: ClientId::parse("c").unwrap(),
            auth: crate::store::ClientAuth::Secret {
                hash: String::new(),
            },
            allowed_scopes: ScopeSet::parse("a").unwrap(),
            default_scopes: ScopeSet::parse("a").unwrap(),
            audiences: Vec::new(),
            enabled: true,
            policy: None,
            require_dpop: false,
            bind_certificate: bind,
        }
    }

    fn cert(der: Option<&[u8]>) -> ClientCertificate {
        ClientCertificate(Ok(der.map(<[u8]>::to_vec)))
    }

    #[test]
    fn only_a_binding_client_is_bound_and_it_must_present_a_certificate() {
        assert_eq!(
            confirmation(&client(false), &cert(Some(b"c"))).unwrap(),
            None
        );
        assert_eq!(
            confirmation(&client(true), &cert(Some(b"c"))).unwrap(),
            Some(thumbprint(b"c"))
        );
        assert!(matches!(
            confirmation(&client(true), &cert(None)),
            Err(Error::InvalidRequest(_))
        ));
        let garbage = ClientCertificate(Err("x"));
        assert!(matches!(
            confirmation(&client(true), &garbage),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn a_bound_token_needs_the_same_certificate() {
        let cnf = Confirmation {
            jkt: None,
            x5t_s256: Some(thumbprint(b"mine")),
        };
        assert!(check_binding(Some(&cnf), &cert(Some(b"mine"))).is_ok());
        assert!(matches!(
            check_binding(Some(&cnf), &cert(Some(b"theirs"))),
            Err(Error::InvalidToken(_))
        ));
        assert!(matches!(
            check_binding(Some(&cnf), &cert(None)),
            Err(Error::InvalidToken(_))
        ));
        assert!(check_binding(None, &cert(None)).is_ok());
        assert!(check_binding(Some(&Confirmation::default()), &cert(None)).is_ok());
    }

    #[test]
    fn the_thumbprint_is_base64url_sha256_of_the_der() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            thumbprint(b"abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }
}
