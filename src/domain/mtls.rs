//! Mutual TLS (RFC 8705): client authentication by certificate, `tls_client_auth` (§2.1: a
//! certificate that chains to the configured CA and names the client) and
//! `self_signed_tls_client_auth` (§2.2: a certificate, self-signed or not, carrying one of the
//! client's registered public keys), and certificate-bound access tokens (§3): a client
//! registered with `--bind-certificate`, or one that authenticated with its certificate, gets
//! tokens whose `cnf."x5t#S256"` is the thumbprint of the certificate it presented at the token
//! endpoint, and a resource accepts such a token only from a connection presenting the same
//! certificate. The certificate comes from tollgate's own TLS handshake or from a trusted
//! proxy's header, with whether it chains to the CA (see `http::extract`).

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::Authority;
use crate::domain::Error;
use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::client_keys::KeySource;
use crate::domain::limits::Keys;
use crate::metrics::AuthFailure;
use crate::security::tokens::Confirmation;
use crate::security::x509;
use crate::store::{ClientAuth, ClientRecord, TlsSubject};
use crate::types::ClientId;
use crate::wire::client_cert::{ClientCertificate, Presented};

/// RFC 8705 §3.1: `x5t#S256` is the base64url SHA-256 of the certificate's DER.
pub fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, der))
}

/// Whether tokens of `client` are bound to its certificate: registered so, or it
/// authenticates with one (RFC 8705 §3).
fn binds(client: &ClientRecord) -> bool {
    client.bind_certificate
        || matches!(
            client.auth,
            ClientAuth::TlsClientAuth(_) | ClientAuth::SelfSignedTlsClientAuth(_)
        )
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
    match (binds(client), presented) {
        (false, _) => Ok(None),
        (true, Some(p)) => Ok(Some(thumbprint(&p.der))),
        (true, None) => Err(Error::invalid_request(
            "this client's tokens are bound to its certificate: present one over mutual TLS \
             (RFC 8705 section 3)",
        )),
    }
}

/// `tls_client_auth` or `self_signed_tls_client_auth` (RFC 8705 §2): the client named by
/// `client_id`, if it is registered for one of them and the request's certificate passes that
/// method's check. Every refusal is the same `invalid_client`; the reason goes to the log and
/// the audit trail.
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
        (Some(c), Some(p)) => match &c.record.auth {
            // §2.1: the chain is what makes the subject mean anything.
            ClientAuth::TlsClientAuth(_) if !p.chains_to_ca => {
                "the client certificate does not chain to the configured CA"
            }
            // A success gives the attempt's slot back (dropping it).
            ClientAuth::TlsClientAuth(subject) if names(subject, &p.der) => {
                return Ok(c.record.clone());
            }
            ClientAuth::TlsClientAuth(_) => "the client certificate does not name the client",
            ClientAuth::SelfSignedTlsClientAuth(_) => {
                if carries_a_key_of(auth, &c.certificate_keys, p, now_secs).await {
                    return Ok(c.record.clone());
                }
                "the client certificate's public key is not one of the client's keys"
            }
            _ => "no client authentication (the client does not authenticate with a certificate)",
        },
        (Some(_), None) => "no client authentication (no client certificate presented)",
    };
    attempt.failed();
    let method = match client.as_ref().map(|c| &c.record.auth) {
        Some(ClientAuth::SelfSignedTlsClientAuth(_)) => "self_signed_tls_client_auth",
        _ => "tls_client_auth",
    };
    tracing::info!(
        reason = why,
        method,
        client_id = id.as_str(),
        "client certificate refused"
    );
    auth.metrics.auth_failure(AuthFailure::BadCertificate);
    auth.audit
        .record(
            AuditEvent::new(AuditKind::ClientAuthFailed, caller, now_millis)
                .client(id.as_str())
                .detail(format!("{method}: {why}")),
        )
        .await?;
    Err(Error::InvalidClient)
}

/// RFC 8705 §2.2: the certificate's public key is one of the client's keys (the key material
/// compared, not its encoding). Published keys are fetched again, at most once a minute, when
/// none matches: the client may have rotated.
async fn carries_a_key_of(
    auth: &Authority,
    keys: &KeySource,
    presented: &Presented,
    now_secs: i64,
) -> bool {
    let Some(key) = x509::public_key(&presented.der) else {
        return false;
    };
    match keys {
        KeySource::None => false,
        KeySource::Registered(set) => set.has_public_key(&key),
        KeySource::Published(uri) => {
            let held = auth.client_keys.published(uri, false, now_secs).await;
            if held.as_deref().is_some_and(|set| set.has_public_key(&key)) {
                return true;
            }
            let again = auth.client_keys.published(uri, true, now_secs).await;
            again.as_deref().is_some_and(|set| set.has_public_key(&key))
        }
    }
}

/// RFC 8705 §2.1.2: the registered subject DN equals the certificate's, or the registered DNS
/// name, URI, IP address or email address is among its subject alternative names.
fn names(subject: &TlsSubject, der: &[u8]) -> bool {
    match subject {
        TlsSubject::Dn(dn) => x509::subject_dn(der).is_some_and(|s| x509::same_dn(dn, &s)),
        TlsSubject::SanDns(name) => x509::alt_names(der)
            .0
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name)),
        TlsSubject::SanUri(uri) => x509::alt_names(der).1.iter().any(|u| u == uri),
        TlsSubject::SanIp(ip) => x509::san_ips(der).contains(ip),
        TlsSubject::SanEmail(email) => x509::san_emails(der)
            .iter()
            .any(|e| x509::same_email(email, e)),
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
        Some(p) if thumbprint(&p.der) == bound => Ok(()),
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
        ClientCertificate(Ok(der.map(|d| Presented {
            der: d.to_vec(),
            chains_to_ca: true,
        })))
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
