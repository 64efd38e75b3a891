//! Wire formats: pure parsers from header strings and body bytes to typed requests. No HTTP
//! framework and no database here, so fuzzers (`fuzz/`), benchmarks (`benches/`) and property
//! tests drive exactly the code the server runs. The request types carry their OpenAPI schema
//! (utoipa), so the document describes what the parser accepts.

pub mod basic;
pub mod bearer;
pub mod client_cert;
pub mod client_credentials;
pub mod dpop;
pub mod form;
pub mod login;
pub mod profile_request;
pub mod token_request;

use std::borrow::Cow;

/// What a parser refuses, in the protocol's own terms (`domain::Error` takes these over one to
/// one, and `http::error` maps them).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid_request: {0}")]
    InvalidRequest(Cow<'static, str>),
    /// No usable client authentication (RFC 6749 §5.2).
    #[error("invalid_client")]
    InvalidClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope: {0}")]
    InvalidScope(Cow<'static, str>),
    /// No bearer credentials at all (RFC 6750 §3.1: the challenge then has no error code).
    #[error("missing bearer token")]
    MissingToken,
    #[error("invalid_token: {0}")]
    InvalidToken(&'static str),
}

impl Error {
    pub fn invalid_request(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(msg.into())
    }
}
