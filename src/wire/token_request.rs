//! Parsing a token request (RFC 6749 §4.4.2, with RFC 8707 `resource`s) with its client
//! authentication (RFC 6749 §2.3.1 secrets, RFC 7523 §2.2 assertions) into a typed value, and
//! the revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1) requests authenticated the
//! same way.

use utoipa::ToSchema;

use crate::types::ScopeSet;
use crate::wire::Error;
use crate::wire::client_credentials::{BodyCredentials, client_credentials};
use crate::wire::form::{Form, media_type_is};

pub use crate::wire::client_credentials::{
    AuthMethod, ClientAssertion, ClientCredentials, JWT_BEARER, SecretCredentials,
};

/// A well-formed client-credentials request. The only grant tollgate serves, so the type is
/// not an enum: any other `grant_type` fails to parse.
pub struct TokenRequest {
    pub credentials: ClientCredentials,
    /// `None`: the client's default scopes (RFC 6749 §3.3).
    pub scope: Option<ScopeSet>,
    /// RFC 8707 §2 resource indicators, each an absolute URI, without repeats; empty: every
    /// audience of the client.
    pub resources: Vec<String>,
}

/// A revocation or introspection request: the caller's credentials and the token in question.
pub struct TokenOperation {
    pub credentials: ClientCredentials,
    pub token: String,
}

/// The raw parts of the HTTP request the parser needs.
pub struct RawTokenRequest<'a> {
    pub content_type: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub query: &'a str,
    pub body: &'a [u8],
}

/// The form fields of a token request, as the strict form parser delivers them. Other
/// parameters are allowed and ignored, as RFC 6749 §3.2 requires ("The authorization server
/// MUST ignore unrecognized request parameters"), so the schema allows them too.
#[derive(ToSchema, Default)]
pub struct TokenForm {
    /// Must be `client_credentials` (may also be sent in the query string).
    #[schema(pattern = "^client_credentials$", required = true, nullable = false)]
    pub grant_type: Option<String>,
    /// Space-delimited; absent means the client's default scopes. An empty value counts as
    /// absent, as for every parameter here (RFC 6749 §3.1).
    #[schema(
        pattern = "^([\\x21\\x23-\\x5B\\x5D-\\x7E]+( [\\x21\\x23-\\x5B\\x5D-\\x7E]+)*)?$",
        nullable = false
    )]
    pub scope: Option<String>,
    /// For `client_secret_post` (empty counts as absent).
    #[schema(pattern = "^[\\x20-\\x7E]{0,128}$", nullable = false)]
    pub client_id: Option<String>,
    /// For `client_secret_post` (empty counts as absent).
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
    /// For `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    #[schema(nullable = false)]
    pub client_assertion_type: Option<String>,
    /// For `private_key_jwt`: a JWT signed with one of the client's keys (RFC 7523 §2.2).
    #[schema(nullable = false)]
    pub client_assertion: Option<String>,
    /// RFC 8707 resource indicators: absolute URIs among the client's audiences; may repeat.
    #[schema(nullable = false)]
    pub resource: Option<Vec<String>>,
}

/// The form fields of a revocation or introspection request (other parameters are ignored).
#[derive(ToSchema, Default)]
pub struct TokenOperationForm {
    /// The access token in question.
    #[schema(min_length = 1, required = true, nullable = false)]
    pub token: Option<String>,
    /// `access_token`; optional and ignored (only access tokens exist here; §2.1 of both RFCs
    /// lets the server ignore it).
    #[schema(nullable = false)]
    pub token_type_hint: Option<String>,
    /// For `client_secret_post` (empty counts as absent, RFC 6749 §3.1).
    #[schema(pattern = "^[\\x20-\\x7E]{0,128}$", nullable = false)]
    pub client_id: Option<String>,
    /// For `client_secret_post` (empty counts as absent).
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
    /// For `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    #[schema(nullable = false)]
    pub client_assertion_type: Option<String>,
    /// For `private_key_jwt`: a JWT signed with one of the client's keys (RFC 7523 §2.2).
    #[schema(nullable = false)]
    pub client_assertion: Option<String>,
}

/// The body of a form request, after the media-type check.
fn form_body(raw: &RawTokenRequest<'_>, expected: &'static str) -> Result<(Form, Form), Error> {
    if !media_type_is(raw.content_type, "application/x-www-form-urlencoded") {
        return Err(Error::invalid_request(expected));
    }
    let body = Form::parse(raw.body).map_err(Error::InvalidRequest)?;
    let query = Form::parse(raw.query.as_bytes()).map_err(Error::InvalidRequest)?;
    Ok((body, query))
}

pub fn parse(raw: &RawTokenRequest<'_>) -> Result<TokenRequest, Error> {
    let (mut body, query) = form_body(
        raw,
        "the body must be application/x-www-form-urlencoded (RFC 6749 section 4.4.2)",
    )?;
    // RFC 6749 §2.3.1: credentials "MUST NOT be included in the request URI".
    if ["client_secret", "client_id", "client_assertion"]
        .iter()
        .any(|p| query.contains(p))
    {
        return Err(Error::invalid_request(
            "client credentials must not be sent in the URL (RFC 6749 section 2.3.1)",
        ));
    }
    let form = TokenForm {
        grant_type: body.take("grant_type"),
        scope: body.take("scope"),
        client_id: body.take("client_id"),
        client_secret: body.take("client_secret"),
        client_assertion_type: body.take("client_assertion_type"),
        client_assertion: body.take("client_assertion"),
        resource: Some(body.take_all("resource")),
    };
    // Some partner platforms put grant_type in the query string; accept it there, once.
    let grant_type = match (form.grant_type, query.get("grant_type")) {
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
    let scope = match form.scope {
        Some(s) => Some(ScopeSet::parse(&s).map_err(|m| Error::InvalidScope(m.into()))?),
        None => None,
    };
    let resources = resources(form.resource.unwrap_or_default());
    let mut fields = BodyCredentials {
        client_id: form.client_id,
        client_secret: form.client_secret,
        assertion_type: form.client_assertion_type,
        assertion: form.client_assertion,
    };
    let credentials = client_credentials(raw.authorization, &mut fields)?;
    Ok(TokenRequest {
        credentials,
        scope,
        resources,
    })
}

/// RFC 8707 §2 resources, in request order, a repeat dropped (it adds nothing). Whether each
/// is acceptable (an absolute URI among the client's audiences, or the server's own audience,
/// which need not be a URI) is the domain's to say: `invalid_target` either way.
fn resources(raw: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for r in raw {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

pub fn parse_token_operation(raw: &RawTokenRequest<'_>) -> Result<TokenOperation, Error> {
    let (mut body, query) = form_body(raw, "the body must be application/x-www-form-urlencoded")?;
    if ["client_secret", "client_assertion", "token"]
        .iter()
        .any(|p| query.contains(p))
    {
        return Err(Error::invalid_request(
            "credentials and tokens must not be sent in the URL",
        ));
    }
    let form = TokenOperationForm {
        token: body.take("token"),
        token_type_hint: body.take("token_type_hint"),
        client_id: body.take("client_id"),
        client_secret: body.take("client_secret"),
        client_assertion_type: body.take("client_assertion_type"),
        client_assertion: body.take("client_assertion"),
    };
    let token = form
        .token
        .ok_or_else(|| Error::invalid_request("token is required"))?;
    let mut fields = BodyCredentials {
        client_id: form.client_id,
        client_secret: form.client_secret,
        assertion_type: form.client_assertion_type,
        assertion: form.client_assertion,
    };
    let credentials = client_credentials(raw.authorization, &mut fields)?;
    Ok(TokenOperation { credentials, token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
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
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = basic("my%3Aclient", "s%2Bp+q");
        let r = parse(&req(Some(&h), "", b"grant_type=client_credentials")).unwrap();
        let ClientCredentials::Secret(c) = r.credentials else {
            panic!("secret credentials expected")
        };
        assert_eq!(c.client_id.as_str(), "my:client");
        assert_eq!(c.secret.expose_secret(), "s+p q");
        assert_eq!(c.method, AuthMethod::Basic);
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
        let body = b"grant_type=client_credentials";
        assert!(matches!(
            parse(&req(None, "", body)),
            Err(Error::InvalidClient)
        ));
        // A client_id alone is tls_client_auth's request (RFC 8705 §2); the domain decides.
        let body = b"grant_type=client_credentials&client_id=a";
        assert!(matches!(
            parse(&req(None, "", body)).map(|r| r.credentials),
            Ok(ClientCredentials::Certificate(_))
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
    fn an_assertion_is_one_method_and_needs_its_type() {
        let t = "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
        let body = format!("grant_type=client_credentials&{t}&client_assertion=a.b.c&client_id=p");
        let r = parse(&req(None, "", body.as_bytes())).unwrap();
        let ClientCredentials::Assertion(a) = r.credentials else {
            panic!("an assertion expected")
        };
        assert_eq!(
            (a.jwt.as_str(), a.client_id.unwrap().as_str()),
            ("a.b.c", "p")
        );
        let h = basic("p", "s");
        assert!(matches!(
            parse(&req(Some(&h), "", body.as_bytes())),
            Err(Error::InvalidRequest(_))
        ));
        let with_secret = format!("{body}&client_secret=s");
        assert!(matches!(
            parse(&req(None, "", with_secret.as_bytes())),
            Err(Error::InvalidRequest(_))
        ));
        for half in [
            "grant_type=client_credentials&client_assertion=a.b.c".to_owned(),
            format!("grant_type=client_credentials&{t}"),
            "grant_type=client_credentials&client_assertion_type=saml&client_assertion=a.b.c"
                .into(),
        ] {
            assert!(
                matches!(
                    parse(&req(None, "", half.as_bytes())),
                    Err(Error::InvalidClient)
                ),
                "{half}"
            );
        }
        assert!(matches!(
            parse(&req(None, "client_assertion=a.b.c", body.as_bytes())),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn resources_may_repeat() {
        let body = b"grant_type=client_credentials&client_id=a&client_secret=b&resource=https%3A%2F%2Fa.example&resource=urn%3Ax%3Ay&resource=https%3A%2F%2Fa.example";
        let r = parse(&req(None, "", body)).unwrap();
        assert_eq!(r.resources, ["https://a.example", "urn:x:y"]);
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
