//! Access tokens in the `Authorization` header: bearer (RFC 6750 §2.1) or DPoP-bound (RFC
//! 9449 §7.1, the same token syntax under the `DPoP` scheme).

use crate::wire::Error;

/// The scheme an access token was presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScheme {
    Bearer,
    /// RFC 9449 §7.1: with a DPoP proof of the key the token is bound to.
    Dpop,
}

/// An access token and the scheme it came with.
pub struct PresentedToken {
    pub token: String,
    pub scheme: TokenScheme,
}

/// `Authorization: Bearer <token>` or `Authorization: DPoP <token>` (schemes case-insensitive,
/// RFC 9110 §11.1).
pub fn access_token(authorization: Option<&str>) -> Result<PresentedToken, Error> {
    if let Some(h) = authorization {
        let (scheme, token) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
        if scheme.eq_ignore_ascii_case("dpop") {
            return Ok(PresentedToken {
                token: token68(token.trim(), "the DPoP access token is malformed")?.to_owned(),
                scheme: TokenScheme::Dpop,
            });
        }
    }
    Ok(PresentedToken {
        token: bearer_token(authorization)?.to_owned(),
        scheme: TokenScheme::Bearer,
    })
}

/// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
fn token68<'a>(token: &'a str, malformed: &'static str) -> Result<&'a str, Error> {
    let body = token.trim_end_matches('=');
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if ok {
        Ok(token)
    } else {
        Err(Error::InvalidToken(malformed))
    }
}

/// `Authorization: Bearer <b64token>`; the scheme is case-insensitive.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, Error> {
    let header = authorization.ok_or(Error::MissingToken)?;
    let (scheme, token) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // §3.1: a request without bearer credentials gets a challenge without an error code.
        return Err(Error::MissingToken);
    }
    token68(token.trim(), "the bearer token is malformed")
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn bearer_parsing_never_panics(header in proptest::option::of("\\PC{0,300}")) {
            let _ = bearer_token(header.as_deref());
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_syntax_checked() {
        assert_eq!(bearer_token(Some("bearer abc.def")).unwrap(), "abc.def");
        assert!(matches!(
            bearer_token(Some("Bearer a b")),
            Err(Error::InvalidToken(_))
        ));
        assert!(matches!(
            bearer_token(Some("Basic abc")),
            Err(Error::MissingToken)
        ));
        assert!(matches!(bearer_token(None), Err(Error::MissingToken)));
    }

    #[test]
    fn access_tokens_come_as_bearer_or_dpop() {
        let t = access_token(Some("DPoP abc.def")).unwrap();
        assert_eq!((t.token.as_str(), t.scheme), ("abc.def", TokenScheme::Dpop));
        let t = access_token(Some("bearer abc")).unwrap();
        assert_eq!(t.scheme, TokenScheme::Bearer);
        assert!(matches!(
            access_token(Some("dpop a b")),
            Err(Error::InvalidToken(_))
        ));
        assert!(matches!(access_token(None), Err(Error::MissingToken)));
    }
}
