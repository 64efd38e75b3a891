//! Bearer credentials in the `Authorization` header (RFC 6750 §2.1).

use crate::wire::Error;

/// `Authorization: Bearer <b64token>`; the scheme is case-insensitive.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, Error> {
    let header = authorization.ok_or(Error::MissingToken)?;
    let (scheme, token) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // §3.1: a request without bearer credentials gets a challenge without an error code.
        return Err(Error::MissingToken);
    }
    let token = token.trim();
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !ok {
        return Err(Error::InvalidToken("the bearer token is malformed"));
    }
    Ok(token)
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
}
