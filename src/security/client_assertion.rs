//! A client assertion (RFC 7523 §2.2): a JWT the client signed with its own key to prove who it
//! is. Parsed here without trusting anything in it, then its signature checked against the
//! client's keys; what its claims must say is the domain's (`domain::client_assertion`).
//!
//! Parsed by hand rather than by `jsonwebtoken::decode` because the client is found from the
//! unverified claims (`sub`), and because each refusal needs its reason for the log while the
//! client sees one answer for all.

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::security::client_keys::{ClientKeySet, accepted_alg};
use crate::security::{CompactJws, jws_object, split_compact};
use crate::types::Audience;

/// Why an assertion was refused: for the log only, never shown (every refusal is the same
/// `invalid_client`).
pub type Refusal = &'static str;

/// Longer than any honest assertion (an RS256 one with a few claims is under 1 KiB).
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// The longest `jti` kept in the replay store.
pub const MAX_JTI_BYTES: usize = 256;

/// RFC 7523 §3 claims. Types are strict: `exp` as a string is malformed, not coerced.
#[derive(Debug, Deserialize)]
pub struct AssertionClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<Audience>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

/// A well-formed assertion whose signature is not checked yet.
pub struct Assertion<'a> {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub claims: AssertionClaims,
    signing_input: &'a str,
    signature: &'a str,
}

impl<'a> Assertion<'a> {
    pub fn parse(jwt: &'a str) -> Result<Self, Refusal> {
        if jwt.len() > MAX_ASSERTION_BYTES {
            return Err("the assertion is too long");
        }
        let CompactJws {
            head,
            body,
            signature,
            signing_input,
        } = split_compact(jwt).ok_or("the assertion is not a JWS in three parts")?;
        let header: Header = jws_object(head).ok_or("the assertion's header is malformed")?;
        // RFC 8725 §3.1: only the algorithms we list, never `none` or a MAC.
        let alg = accepted_alg(&header.alg).ok_or("the assertion's algorithm is not accepted")?;
        // RFC 7515 §4.1.11: tollgate understands no extension, so any `crit` is refused.
        if header.crit.is_some() {
            return Err("the assertion names critical header extensions");
        }
        let claims: AssertionClaims =
            jws_object(body).ok_or("the assertion's claims are malformed")?;
        if claims.jti.as_ref().is_some_and(|j| j.len() > MAX_JTI_BYTES) {
            return Err("the assertion's jti is too long");
        }
        if claims.jti.as_deref().is_some_and(has_control) {
            return Err("the assertion's jti contains control characters");
        }
        if signature.is_empty() {
            return Err("the assertion is not signed");
        }
        Ok(Self {
            alg,
            kid: header.kid,
            claims,
            signing_input,
            signature,
        })
    }

    /// Whether one of `keys` that fits this assertion's algorithm (and `kid`) signed it, and
    /// how many signature verifications that took (the work an answer cost).
    pub fn signed_by(&self, keys: &ClientKeySet) -> (bool, u64) {
        let mut tried = 0;
        let ok = keys.candidates(self.alg, self.kid.as_deref()).any(|key| {
            tried += 1;
            key.verifies(self.alg, self.signing_input.as_bytes(), self.signature)
        });
        (ok, tried)
    }
}

/// Whether a `jti` holds control characters. No honest identifier does, and PostgreSQL cannot
/// store a NUL in text: written, it would fail the whole batch of `jti`s it joined.
pub fn has_control(jti: &str) -> bool {
    jti.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn malformed_assertions_are_refused_without_panic() {
        let head = b64(r#"{"alg":"ES256"}"#);
        let claims = b64(r#"{"iss":"a","sub":"a","exp":1}"#);
        let cases = [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{head}.{claims}"),
            format!("!!.{claims}.c2ln"),
            format!("{head}.{}.c2ln", b64("[1,2]")),
            format!("{head}.{}.c2ln", b64(r#"{"exp":"soon"}"#)),
            format!("{}.{claims}.c2ln", b64(r#"{"alg":"HS256"}"#)),
            format!("{}.{claims}.c2ln", b64(r#"{"alg":"none"}"#)),
            format!("{}.{claims}.c2ln", b64(r#"{"alg":"ES256","crit":["x"]}"#)),
            format!(
                "{head}.{}.c2ln",
                b64(&format!(r#"{{"jti":"{}"}}"#, "j".repeat(300)))
            ),
            format!("{head}.{}.c2ln", b64(r#"{"jti":"a\u0000b"}"#)),
            format!("{head}.{claims}."),
            "x".repeat(MAX_ASSERTION_BYTES + 1),
        ];
        for case in cases {
            assert!(Assertion::parse(&case).is_err(), "{case}");
        }
        assert!(Assertion::parse(&format!("{head}.{claims}.c2ln")).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(jwt in "[A-Za-z0-9._-]{0,200}") {
            let _ = Assertion::parse(&jwt);
        }
    }
}
