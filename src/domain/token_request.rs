//! Parsing a token request (RFC 6749 §4.4.2) with its client authentication (§2.3.1) into a
//! typed value. Pure functions over header strings and body bytes: no HTTP framework here, so
//! the parser can be fuzzed and property-tested on its own.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use secrecy::SecretString;

use crate::domain::Error;
use crate::domain::form::{Form, decode_component, media_type_is};
use crate::domain::revocation::TokenOperation;
use crate::domain::types::{ClientId, ScopeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post,
}

pub struct ClientCredentials {
    pub client_id: ClientId,
    pub secret: SecretString,
    pub method: AuthMethod,
}

/// A well-formed client-credentials request. The only grant tollgate serves, so the type is
/// not an enum: any other `grant_type` fails to parse.
pub struct TokenRequest {
    pub credentials: ClientCredentials,
    /// `None`: the client's default scopes (RFC 6749 §3.3).
    pub scope: Option<ScopeSet>,
}

/// The raw parts of the HTTP request the parser needs.
pub struct RawTokenRequest<'a> {
    pub content_type: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub query: &'a str,
    pub body: &'a [u8],
}

pub fn parse(raw: &RawTokenRequest<'_>) -> Result<TokenRequest, Error> {
    if !media_type_is(raw.content_type, "application/x-www-form-urlencoded") {
        return Err(Error::invalid_request(
            "the body must be application/x-www-form-urlencoded (RFC 6749 §4.4.2)",
        ));
    }
    let mut body = Form::parse(raw.body).map_err(Error::InvalidRequest)?;
    let query = Form::parse(raw.query.as_bytes()).map_err(Error::InvalidRequest)?;
    // RFC 6749 §2.3.1: credentials "MUST NOT be included in the request URI".
    if query.contains("client_secret") || query.contains("client_id") {
        return Err(Error::invalid_request(
            "client credentials must not be sent in the URL (RFC 6749 §2.3.1)",
        ));
    }
    // Some partner platforms put grant_type in the query string; accept it there, once.
    let grant_type = match (body.take("grant_type"), query.get("grant_type")) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_request("parameter grant_type is repeated"));
        }
        (Some(g), None) => g,
        (None, Some(g)) => g.to_owned(),
        (None, None) => return Err(Error::invalid_request("grant_type is required")),
    };
    if grant_type != "client_credentials" {
        return Err(Error::UnsupportedGrantType);
    }
    let scope = match body.take("scope") {
        Some(s) => Some(ScopeSet::parse(&s).map_err(|m| Error::InvalidScope(m.into()))?),
        None => None,
    };
    let credentials = client_credentials(raw.authorization, &mut body)?;
    Ok(TokenRequest { credentials, scope })
}

/// A revocation (RFC 7009 §2.1) or introspection (RFC 7662 §2.1) request: a form with `token`
/// (and an optional `token_type_hint`, which §2.1 of both lets the server ignore), authenticated
/// like the token endpoint.
pub fn parse_token_operation(raw: &RawTokenRequest<'_>) -> Result<TokenOperation, Error> {
    if !media_type_is(raw.content_type, "application/x-www-form-urlencoded") {
        return Err(Error::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut body = Form::parse(raw.body).map_err(Error::InvalidRequest)?;
    let query = Form::parse(raw.query.as_bytes()).map_err(Error::InvalidRequest)?;
    if query.contains("client_secret") || query.contains("token") {
        return Err(Error::invalid_request(
            "credentials and tokens must not be sent in the URL",
        ));
    }
    let token = body
        .take("token")
        .ok_or_else(|| Error::invalid_request("token is required"))?;
    let credentials = client_credentials(raw.authorization, &mut body)?;
    Ok(TokenOperation { credentials, token })
}

fn client_credentials(
    authorization: Option<&str>,
    body: &mut Form,
) -> Result<ClientCredentials, Error> {
    let body_id = body.take("client_id");
    let body_secret = body.take("client_secret");
    match authorization {
        Some(header) => {
            let (id, secret) = parse_basic(header)?;
            // §2.3.1: "The client MUST NOT use more than one authentication method".
            if body_secret.is_some() {
                return Err(Error::invalid_request(
                    "use either HTTP Basic or client_secret in the body, not both",
                ));
            }
            if body_id.is_some_and(|b| b != id.as_str()) {
                return Err(Error::invalid_request(
                    "client_id in the body differs from the one in the Authorization header",
                ));
            }
            Ok(ClientCredentials {
                client_id: id,
                secret,
                method: AuthMethod::Basic,
            })
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(ClientCredentials {
                client_id: ClientId::parse(&id).map_err(Error::invalid_request)?,
                secret: SecretString::from(secret),
                method: AuthMethod::Post,
            }),
            // No (complete) client authentication: §5.2 invalid_client.
            _ => Err(Error::InvalidClient),
        },
    }
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1,
/// RFC 7617). Any other scheme is an unsupported authentication method: invalid_client.
pub fn parse_basic(header: &str) -> Result<(ClientId, SecretString), Error> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::InvalidClient);
    }
    let encoded = rest.trim();
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| Error::invalid_request("the Basic credentials are not valid base64"))?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| Error::invalid_request("the Basic credentials have no ':' separator"))?;
    let (id, secret) = (&decoded[..colon], &decoded[colon + 1..]);
    let id = decode_component(id).map_err(Error::invalid_request)?;
    let secret = decode_component(secret).map_err(Error::invalid_request)?;
    if secret.is_empty() {
        return Err(Error::InvalidClient);
    }
    let id = ClientId::parse(&id).map_err(Error::invalid_request)?;
    Ok((id, SecretString::from(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn req<'a>(auth: Option<&'a str>, query: &'a str, body: &'a [u8]) -> RawTokenRequest<'a> {
        RawTokenRequest {
            content_type: Some("application/x-www-form-urlencoded"),
            authorization: auth,
            query,
            body,
        }
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(
            auth in proptest::option::of(".{0,80}"),
            query in ".{0,40}",
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let _ = parse(&req(auth.as_deref(), &query, &body));
            let _ = parse_token_operation(&req(auth.as_deref(), &query, &body));
        }

        #[test]
        fn basic_credentials_round_trip(
            id in "[\\x20-\\x7e]{1,40}",
            secret in "\\PC{1,60}",
        ) {
            let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
            let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
            let (got_id, got_secret) = parse_basic(&header).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(got_id.as_str(), id.as_str());
            proptest::prop_assert_eq!(got_secret.expose_secret(), secret.as_str());
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = basic("my%3Aclient", "s%2Bp+q");
        let r = parse(&req(Some(&h), "", b"grant_type=client_credentials")).unwrap();
        assert_eq!(r.credentials.client_id.as_str(), "my:client");
        assert_eq!(r.credentials.secret.expose_secret(), "s+p q");
        assert_eq!(r.credentials.method, AuthMethod::Basic);
    }

    #[test]
    fn grant_type_may_come_from_the_query_once() {
        let body = b"client_id=a&client_secret=b";
        assert!(parse(&req(None, "grant_type=client_credentials", body)).is_ok());
        let both = b"grant_type=client_credentials&client_id=a&client_secret=b";
        assert!(matches!(
            parse(&req(None, "grant_type=client_credentials", both)),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn two_authentication_methods_are_refused() {
        let h = basic("a", "b");
        let body = b"grant_type=client_credentials&client_secret=b";
        assert!(matches!(
            parse(&req(Some(&h), "", body)),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn other_grants_are_unsupported_and_missing_ones_invalid() {
        let body = b"grant_type=password&client_id=a&client_secret=b";
        assert!(matches!(
            parse(&req(None, "", body)),
            Err(Error::UnsupportedGrantType)
        ));
        assert!(matches!(
            parse(&req(None, "", b"client_id=a&client_secret=b")),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn missing_credentials_are_invalid_client() {
        let body = b"grant_type=client_credentials&client_id=a";
        assert!(matches!(
            parse(&req(None, "", body)),
            Err(Error::InvalidClient)
        ));
    }

    #[test]
    fn secrets_in_the_url_are_refused() {
        let body = b"grant_type=client_credentials&client_id=a";
        assert!(matches!(
            parse(&req(None, "client_secret=x", body)),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn malformed_basic_headers_are_invalid_requests() {
        for h in ["Basic !!!", "Basic YWJj", "Basic"] {
            let r = parse(&req(Some(h), "", b"grant_type=client_credentials"));
            assert!(matches!(r, Err(Error::InvalidRequest(_))), "{h}");
        }
        let r = parse(&req(
            Some("Bearer abc"),
            "",
            b"grant_type=client_credentials",
        ));
        assert!(matches!(r, Err(Error::InvalidClient)));
    }
}
