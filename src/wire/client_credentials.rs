//! Client authentication as a request carries it (RFC 6749 §2.3.1, RFC 7523 §2.2, RFC 8705
//! §2): HTTP Basic, the body's `client_secret`, a client assertion, or a bare `client_id` for a
//! certificate; exactly one of them. Shared by the token, revocation and introspection parsers.

use secrecy::SecretString;

use crate::types::ClientId;
use crate::wire::Error;
use crate::wire::basic::parse_basic;

/// RFC 7523 §2.2: the only `client_assertion_type` tollgate accepts.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post,
}

/// How the caller authenticates: one method per request (RFC 6749 §2.3.1).
pub enum ClientCredentials {
    Secret(SecretCredentials),
    /// `private_key_jwt` (RFC 7523 §2.2).
    Assertion(ClientAssertion),
    /// `client_id` alone: `tls_client_auth` (RFC 8705 §2), the proof being the connection's
    /// client certificate; for any other client, no authentication at all.
    Certificate(ClientId),
}

pub struct SecretCredentials {
    pub client_id: ClientId,
    pub secret: SecretString,
    pub method: AuthMethod,
}

/// A client assertion as received; nothing in it is checked yet.
pub struct ClientAssertion {
    /// RFC 7521 §4.2: `client_id` is optional beside an assertion; when sent, it must name
    /// the assertion's subject.
    pub client_id: Option<ClientId>,
    pub jwt: String,
}

impl ClientCredentials {
    /// The client the caller claims to be, when the request names it outside an assertion.
    pub fn claimed_id(&self) -> Option<&ClientId> {
        match self {
            Self::Secret(s) => Some(&s.client_id),
            Self::Assertion(a) => a.client_id.as_ref(),
            Self::Certificate(id) => Some(id),
        }
    }
}

/// The client-authentication fields of a form body.
pub(super) struct BodyCredentials {
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) assertion_type: Option<String>,
    pub(super) assertion: Option<String>,
}

pub(super) fn client_credentials(
    authorization: Option<&str>,
    body: &mut BodyCredentials,
) -> Result<ClientCredentials, Error> {
    if body.assertion.is_some() || body.assertion_type.is_some() {
        return assertion_credentials(authorization, body);
    }
    match authorization {
        Some(header) => {
            let (id, secret) = parse_basic(header)?;
            // §2.3.1: "The client MUST NOT use more than one authentication method".
            if body.client_secret.is_some() {
                return Err(Error::invalid_request(
                    "use either HTTP Basic or client_secret in the body, not both",
                ));
            }
            if body.client_id.take().is_some_and(|b| b != id.as_str()) {
                return Err(Error::invalid_request(
                    "client_id in the body differs from the one in the Authorization header",
                ));
            }
            Ok(ClientCredentials::Secret(SecretCredentials {
                client_id: id,
                secret,
                method: AuthMethod::Basic,
            }))
        }
        None => match (body.client_id.take(), body.client_secret.take()) {
            (Some(id), Some(secret)) => Ok(ClientCredentials::Secret(SecretCredentials {
                client_id: ClientId::parse(&id).map_err(Error::invalid_request)?,
                secret: SecretString::from(secret),
                method: AuthMethod::Post,
            })),
            // RFC 8705 §2: the client_id names the client, its certificate proves it.
            (Some(id), None) => Ok(ClientCredentials::Certificate(
                ClientId::parse(&id).map_err(Error::invalid_request)?,
            )),
            // No (complete) client authentication: §5.2 invalid_client.
            _ => Err(Error::InvalidClient),
        },
    }
}

/// RFC 7523 §2.2 / RFC 7521 §4.2: `client_assertion_type` and `client_assertion`, and no other
/// method beside them.
fn assertion_credentials(
    authorization: Option<&str>,
    body: &mut BodyCredentials,
) -> Result<ClientCredentials, Error> {
    if authorization.is_some() || body.client_secret.is_some() {
        return Err(Error::invalid_request(
            "use one client authentication method: a client assertion, HTTP Basic or \
             client_secret, not several",
        ));
    }
    let client_id = match body.client_id.take() {
        Some(id) => Some(ClientId::parse(&id).map_err(Error::invalid_request)?),
        None => None,
    };
    // An unknown assertion type, or half of the pair, is no usable authentication (§5.2).
    match (body.assertion_type.take(), body.assertion.take()) {
        (Some(t), Some(jwt)) if t == JWT_BEARER => {
            Ok(ClientCredentials::Assertion(ClientAssertion {
                client_id,
                jwt,
            }))
        }
        _ => Err(Error::InvalidClient),
    }
}
