//! The single place where domain errors become HTTP answers: status, RFC error code, and the
//! challenge headers RFC 6749 §5.2 and RFC 6750 §3 call for. Internal and database errors are
//! logged with their cause and answered with a generic body: a client never sees them.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{DpopAt, Error};
use crate::security::dpop::DPOP_ALGS;

pub const REALM: &str = "tollgate";

/// RFC 6749 §5.2 error body, used by every endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// An RFC 6749 / RFC 6750 error code, or a tollgate code of the same shape.
    pub error: &'static str,
    pub error_description: String,
}

/// The HTTP face of a domain error.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<crate::wire::Error> for ApiError {
    fn from(e: crate::wire::Error) -> Self {
        Self(e.into())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

struct Mapped {
    status: StatusCode,
    code: &'static str,
    description: String,
    challenge: Option<String>,
    retry_after: Option<u32>,
    /// RFC 9449 §8: a fresh server nonce for the client's next proof.
    dpop_nonce: Option<String>,
}

/// RFC 9449 §7.1: the `DPoP` challenge names the algorithms a proof may use.
fn dpop_challenge(error: &str, description: &str) -> String {
    let algs: Vec<&str> = DPOP_ALGS.iter().map(|(name, _)| *name).collect();
    format!(
        "DPoP realm=\"{REALM}\", algs=\"{}\", error=\"{error}\", error_description=\"{}\"",
        algs.join(" "),
        clean(description)
    )
}

fn map(e: &Error) -> Mapped {
    use Error as E;
    let m = |status, code, description: String| Mapped {
        status,
        code,
        description: clean(&description),
        challenge: None,
        retry_after: None,
        dpop_nonce: None,
    };
    let bearer = |error: &str, description: &str| {
        let description = clean(description);
        format!("Bearer realm=\"{REALM}\", error=\"{error}\", error_description=\"{description}\"")
    };
    match e {
        E::InvalidRequest(d) => m(StatusCode::BAD_REQUEST, "invalid_request", d.to_string()),
        // RFC 6749 §5.2: 401 with a challenge for the scheme the client may use.
        E::InvalidClient => Mapped {
            challenge: Some(format!("Basic realm=\"{REALM}\"")),
            ..m(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed".into(),
            )
        },
        E::UnauthorizedClient(d) => m(StatusCode::BAD_REQUEST, "unauthorized_client", (*d).into()),
        E::UnsupportedGrantType => m(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported".into(),
        ),
        E::InvalidScope(d) => m(StatusCode::BAD_REQUEST, "invalid_scope", d.to_string()),
        E::InvalidTarget(d) => m(StatusCode::BAD_REQUEST, "invalid_target", d.to_string()),
        E::InvalidCredentials => m(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the username or password is incorrect".into(),
        ),
        // RFC 6750 §3.1: "If the request lacks any authentication information ... the
        // resource server SHOULD NOT include an error code or other error information."
        E::MissingToken => Mapped {
            challenge: Some(format!("Bearer realm=\"{REALM}\"")),
            ..m(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "a bearer access token is required".into(),
            )
        },
        E::InvalidToken(d) => Mapped {
            challenge: Some(bearer("invalid_token", d)),
            ..m(StatusCode::UNAUTHORIZED, "invalid_token", (*d).into())
        },
        E::InsufficientScope(scope) => Mapped {
            challenge: Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            ..m(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the token lacks scope {scope}"),
            )
        },
        E::InvalidDpopProof(DpopAt::TokenEndpoint, d) => {
            m(StatusCode::BAD_REQUEST, "invalid_dpop_proof", (*d).into())
        }
        E::InvalidDpopProof(DpopAt::Resource, d) => Mapped {
            challenge: Some(dpop_challenge("invalid_dpop_proof", d)),
            ..m(StatusCode::UNAUTHORIZED, "invalid_dpop_proof", (*d).into())
        },
        E::UseDpopNonce(at, nonce) => {
            let d = "the DPoP proof must carry the server nonce in the DPoP-Nonce header";
            let (status, challenge) = match at {
                DpopAt::TokenEndpoint => (StatusCode::BAD_REQUEST, None),
                DpopAt::Resource => (
                    StatusCode::UNAUTHORIZED,
                    Some(dpop_challenge("use_dpop_nonce", d)),
                ),
            };
            Mapped {
                challenge,
                dpop_nonce: Some(nonce.clone()),
                ..m(status, "use_dpop_nonce", d.into())
            }
        }
        E::InvalidDpopToken(d) => Mapped {
            challenge: Some(dpop_challenge("invalid_token", d)),
            ..m(StatusCode::UNAUTHORIZED, "invalid_token", (*d).into())
        },
        E::MissingApiKey => Mapped {
            challenge: Some(format!("ApiKey realm=\"{REALM}\"")),
            ..m(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "an api-key header is required".into(),
            )
        },
        E::InvalidApiKey => Mapped {
            challenge: Some(format!("ApiKey realm=\"{REALM}\"")),
            ..m(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "the API key is not valid".into(),
            )
        },
        E::AccessDenied(d) => m(StatusCode::FORBIDDEN, "access_denied", (*d).into()),
        E::ApiKeyNotAllowed(api) => m(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("this API key may not call {api}"),
        ),
        E::InvalidCustomerToken(d) => Mapped {
            challenge: Some(format!(
                "JWT realm=\"{REALM}-customer\", error=\"invalid_token\", error_description=\"{}\"",
                clean(d)
            )),
            ..m(
                StatusCode::UNAUTHORIZED,
                "invalid_customer_token",
                (*d).into(),
            )
        },
        E::UnknownCustomer => m(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such customer".into(),
        ),
        E::TooManyRequests(secs) => Mapped {
            retry_after: Some(u32::try_from(*secs).unwrap_or(60)),
            // `slow_down` is the OAuth error registry's code for "too fast" (RFC 8628 §3.5).
            ..m(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many failed attempts; retry later".into(),
            )
        },
        // The partner's own limit is named: it is theirs to know, and tells them what to fix.
        E::QuotaExceeded(q) => Mapped {
            retry_after: Some(u32::try_from(q.retry_after).unwrap_or(u32::MAX).max(1)),
            ..m(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                format!(
                    "this client is over its limit of {} token requests; retry after the \
                     Retry-After seconds",
                    q.limit
                ),
            )
        },
        E::LoginRequired => Mapped {
            challenge: Some(format!("JWT realm=\"{REALM}-customer\"")),
            ..m(
                StatusCode::UNAUTHORIZED,
                "login_required",
                "this widget token is for logged-in customers only".into(),
            )
        },
        E::UnknownWidgetProfile => m(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such widget profile".into(),
        ),
        // The cause (which upstream call, which status) is logged; the body stays generic.
        E::Upstream(_) => m(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "the chat platform did not answer as expected; retry shortly".into(),
        ),
        E::Busy => Mapped {
            retry_after: Some(1),
            ..m(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the server is busy; retry shortly".into(),
            )
        },
        E::Unavailable(_) => Mapped {
            retry_after: Some(5),
            ..m(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the database is unavailable; retry shortly".into(),
            )
        },
        E::Internal(_) => m(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "an internal error occurred".into(),
        ),
    }
}

/// The longest `error_description` sent: a sentence, not a document.
const MAX_DESCRIPTION: usize = 200;

/// An `error_description` as RFC 6749 §5.2 and RFC 6750 §3 allow it: only %x20-21 / %x23-5B /
/// %x5D-7E (no quote, no backslash, nothing outside printable ASCII), so it is also a valid
/// quoted-string in `WWW-Authenticate`; anything else becomes `?`, and it stays short. The last
/// line of defence: messages are written to keep to this, and never reflect raw client input.
fn clean(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '?',
        })
        .take(MAX_DESCRIPTION)
        .collect()
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        map(&self.0).status
    }

    fn error_response(&self) -> HttpResponse {
        match &self.0 {
            Error::Internal(cause) => tracing::error!(%cause, "internal error"),
            Error::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            Error::Upstream(cause) => tracing::warn!(%cause, "upstream error"),
            _ => {}
        }
        let mapped = map(&self.0);
        let mut res = HttpResponse::build(mapped.status);
        // RFC 6749 §5.2 responses carry the same no-store headers as §5.1 successes.
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let Some(challenge) = mapped
            .challenge
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            res.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(nonce) = mapped
            .dpop_nonce
            .and_then(|n| HeaderValue::from_str(&n).ok())
        {
            res.insert_header(("DPoP-Nonce", nonce));
        }
        if let Some(secs) = mapped.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(ErrorBody {
            error: mapped.code,
            error_description: mapped.description,
        })
    }
}

/// A JSON error body for responses the framework produces itself (404, 405, 413, …).
pub fn generic(status: StatusCode) -> ErrorBody {
    let (error, description) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this endpoint does not take that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("invalid_request", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("invalid_request", "unsupported content type"),
        StatusCode::REQUEST_TIMEOUT => {
            ("invalid_request", "the request body did not arrive in time")
        }
        s if s.is_client_error() => ("invalid_request", "the request is malformed"),
        _ => ("server_error", "an internal error occurred"),
    };
    ErrorBody {
        error,
        error_description: description.into(),
    }
}

#[cfg(test)]
mod tests;
