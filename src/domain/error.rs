//! The one error type of the domain boundary. Each variant says what went wrong in the
//! protocol's own terms; `http::error` maps it to a status, body and headers in one place.

use std::borrow::Cow;

use crate::security::KeyError;
use crate::security::hashing::HashError;
use crate::store::StoreError;
use crate::types::RngError;
use crate::wire;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // RFC 6749 §5.2 token-endpoint errors.
    #[error("invalid_request: {0}")]
    InvalidRequest(Cow<'static, str>),
    /// Unknown client, wrong secret or no client authentication: one answer for all three.
    #[error("invalid_client")]
    InvalidClient,
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope: {0}")]
    InvalidScope(Cow<'static, str>),
    /// RFC 8707 §2: a `resource` that is malformed or not among the client's audiences.
    #[error("invalid_target: {0}")]
    InvalidTarget(Cow<'static, str>),

    /// Customer login: unknown user and wrong password alike.
    #[error("invalid_credentials")]
    InvalidCredentials,

    // RFC 6750 §3.1 resource-server errors.
    /// No bearer token at all (§3.1: the challenge then carries no error code).
    #[error("missing bearer token")]
    MissingToken,
    #[error("invalid_token: {0}")]
    InvalidToken(&'static str),
    #[error("insufficient_scope: {0} required")]
    InsufficientScope(&'static str),

    // RFC 9449 DPoP errors.
    /// A proof is missing where one is required (§5), or fails a check of §4.3.
    #[error("invalid_dpop_proof: {1}")]
    InvalidDpopProof(DpopAt, &'static str),
    /// §8 (token endpoint) and §9 (resource): the proof must carry this server nonce.
    #[error("use_dpop_nonce")]
    UseDpopNonce(DpopAt, String),
    /// §7.1: a DPoP-bound token without its binding (as `Bearer`, or with another key's proof),
    /// or an unbound token under the `DPoP` scheme. Answered with a `DPoP` challenge.
    #[error("invalid_token: {0}")]
    InvalidDpopToken(&'static str),

    #[error("missing API key")]
    MissingApiKey,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("access denied: {0}")]
    AccessDenied(&'static str),
    #[error("API key not allowed to call {0}")]
    ApiKeyNotAllowed(&'static str),

    #[error("invalid customer token: {0}")]
    InvalidCustomerToken(&'static str),
    #[error("unknown customer")]
    UnknownCustomer,

    /// Too many failed authentications from here: retry after this many seconds.
    #[error("too many failed attempts")]
    TooManyRequests(u64),
    /// The client is over its rate limit or quota (issue 13), in enforce mode.
    #[error("over the client's limit of {}", .0.limit)]
    QuotaExceeded(crate::domain::limits::QuotaExceeded),
    /// Chat-widget tokens (issue 4): this profile serves logged-in customers only.
    #[error("login required")]
    LoginRequired,
    #[error("unknown widget profile")]
    UnknownWidgetProfile,
    /// An upstream platform (AXP) failed or timed out. The text is for the log only and never
    /// holds a secret or an upstream body.
    #[error("upstream error: {0}")]
    Upstream(String),

    /// The hashing pool is saturated: refuse fast rather than queue without bound.
    #[error("busy")]
    Busy,
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A fault that is ours, not the client's. Logged with its cause, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Where a DPoP error arose: the token endpoint answers 400 (RFC 9449 §5), a resource 401
/// with a `DPoP` challenge (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopAt {
    TokenEndpoint,
    Resource,
}

impl Error {
    pub fn invalid_request(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(msg.into())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => Self::Unavailable(msg),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::domain::audit::AuditUnavailable> for Error {
    fn from(e: crate::domain::audit::AuditUnavailable) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<wire::Error> for Error {
    fn from(e: wire::Error) -> Self {
        match e {
            wire::Error::InvalidRequest(m) => Self::InvalidRequest(m),
            wire::Error::InvalidClient => Self::InvalidClient,
            wire::Error::UnsupportedGrantType => Self::UnsupportedGrantType,
            wire::Error::InvalidScope(m) => Self::InvalidScope(m),
            wire::Error::MissingToken => Self::MissingToken,
            wire::Error::InvalidToken(m) => Self::InvalidToken(m),
        }
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(e) => e.into(),
            KeyError::Internal(msg) => Self::Internal(msg),
        }
    }
}

impl From<RngError> for Error {
    fn from(e: RngError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<HashError> for Error {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            HashError::Stopped => Self::Internal("the hashing pool has stopped".into()),
            HashError::Params(msg) => Self::Internal(msg),
        }
    }
}
