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
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn header(res: &HttpResponse, name: header::HeaderName) -> Option<String> {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    #[test]
    fn oauth_errors_map_to_rfc_6749_status_codes() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (
                Error::InvalidRequest(Cow::Borrowed("x")),
                400,
                "invalid_request",
            ),
            (Error::InvalidClient, 401, "invalid_client"),
            (Error::UnauthorizedClient("x"), 400, "unauthorized_client"),
            (Error::UnsupportedGrantType, 400, "unsupported_grant_type"),
            (
                Error::InvalidScope(Cow::Borrowed("x")),
                400,
                "invalid_scope",
            ),
            (
                Error::InvalidTarget(Cow::Borrowed("x")),
                400,
                "invalid_target",
            ),
            (Error::InvalidToken("x"), 401, "invalid_token"),
            (
                Error::InsufficientScope("profile:read"),
                403,
                "insufficient_scope",
            ),
            (Error::InvalidApiKey, 401, "invalid_api_key"),
            (Error::ApiKeyNotAllowed("getprofile"), 403, "access_denied"),
            (Error::AccessDenied("x"), 403, "access_denied"),
            (Error::UnknownCustomer, 404, "not_found"),
            (Error::Busy, 503, "temporarily_unavailable"),
            (Error::TooManyRequests(30), 429, "slow_down"),
            (quota_exceeded(), 429, "slow_down"),
            (
                Error::Unavailable("db".into()),
                503,
                "temporarily_unavailable",
            ),
            (Error::Internal("boom".into()), 500, "server_error"),
            (Error::LoginRequired, 401, "login_required"),
            (Error::UnknownWidgetProfile, 404, "not_found"),
            (Error::Upstream("AXP 500".into()), 502, "upstream_error"),
            (
                Error::InvalidDpopProof(DpopAt::TokenEndpoint, "x"),
                400,
                "invalid_dpop_proof",
            ),
            (
                Error::InvalidDpopProof(DpopAt::Resource, "x"),
                401,
                "invalid_dpop_proof",
            ),
            (
                Error::UseDpopNonce(DpopAt::TokenEndpoint, "n".into()),
                400,
                "use_dpop_nonce",
            ),
            (
                Error::UseDpopNonce(DpopAt::Resource, "n".into()),
                401,
                "use_dpop_nonce",
            ),
            (Error::InvalidDpopToken("x"), 401, "invalid_token"),
        ];
        for (err, status, code) in cases {
            let m = map(&err);
            assert_eq!(m.status.as_u16(), status, "{err:?}");
            assert_eq!(m.code, code, "{err:?}");
        }
    }

    /// Every variant, with the most hostile text each can carry.
    fn every_error() -> Vec<Error> {
        let hostile = "quote \" backslash \\ crlf \r\n nul \0 \u{e9}t\u{e9} \u{a7}2.3 ".repeat(40);
        let leaked: &'static str = Box::leak(hostile.clone().into_boxed_str());
        vec![
            Error::InvalidRequest(Cow::Owned(hostile.clone())),
            Error::InvalidClient,
            Error::UnauthorizedClient(leaked),
            Error::UnsupportedGrantType,
            Error::InvalidScope(Cow::Owned(hostile.clone())),
            Error::InvalidTarget(Cow::Owned(hostile.clone())),
            Error::InvalidCredentials,
            Error::MissingToken,
            Error::InvalidToken(leaked),
            Error::InsufficientScope(leaked),
            Error::MissingApiKey,
            Error::InvalidApiKey,
            Error::AccessDenied(leaked),
            Error::ApiKeyNotAllowed(leaked),
            Error::InvalidCustomerToken(leaked),
            Error::UnknownCustomer,
            Error::TooManyRequests(30),
            quota_exceeded(),
            Error::LoginRequired,
            Error::UnknownWidgetProfile,
            Error::Upstream(hostile.clone()),
            Error::InvalidDpopProof(DpopAt::TokenEndpoint, leaked),
            Error::InvalidDpopProof(DpopAt::Resource, leaked),
            Error::UseDpopNonce(DpopAt::Resource, hostile.clone()),
            Error::InvalidDpopToken(leaked),
            Error::Busy,
            Error::Unavailable(hostile.clone()),
            Error::Internal(hostile),
        ]
    }

    fn rfc_clean(text: &str) -> bool {
        text.len() <= MAX_DESCRIPTION
            && text
                .bytes()
                .all(|b| matches!(b, 0x20 | 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
    }

    #[test]
    fn every_description_keeps_to_rfc_6749_section_5_2() {
        for err in every_error() {
            let res = ApiError(err).error_response();
            if let Some(challenge) = header(&res, header::WWW_AUTHENTICATE)
                && let Some(d) = challenge.split("error_description=\"").nth(1)
            {
                assert!(rfc_clean(d.trim_end_matches('"')), "{challenge}");
            }
            let bytes = futures_lite_block_on(actix_web::body::to_bytes(res.into_body())).unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let d = body["error_description"].as_str().unwrap();
            assert!(rfc_clean(d), "{d:?}");
        }
        assert_eq!(
            generic(StatusCode::REQUEST_TIMEOUT).error_description,
            "the request body did not arrive in time"
        );
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let res = ApiError(Error::InvalidToken("the token has expired")).error_response();
        assert_eq!(
            header(&res, header::WWW_AUTHENTICATE).unwrap(),
            "Bearer realm=\"tollgate\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        let res = ApiError(Error::MissingToken).error_response();
        assert_eq!(
            header(&res, header::WWW_AUTHENTICATE).unwrap(),
            "Bearer realm=\"tollgate\""
        );
        let res = ApiError(Error::InvalidClient).error_response();
        assert_eq!(
            header(&res, header::WWW_AUTHENTICATE).unwrap(),
            "Basic realm=\"tollgate\""
        );
        assert_eq!(header(&res, header::CACHE_CONTROL).unwrap(), "no-store");
    }

    #[test]
    fn internal_causes_are_never_shown() {
        let res = ApiError(Error::Internal("password=hunter2 at db".into())).error_response();
        let body = actix_web::body::to_bytes(res.into_body());
        let bytes = futures_lite_block_on(body).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("hunter2"));
        let res = ApiError(Error::Upstream("AXP answered 500 for sk_live".into())).error_response();
        let bytes = futures_lite_block_on(actix_web::body::to_bytes(res.into_body())).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("sk_live"));
    }

    #[test]
    fn dpop_errors_at_a_resource_challenge_with_dpop_and_give_a_nonce() {
        let res = ApiError(Error::UseDpopNonce(DpopAt::Resource, "n0nce".into())).error_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let challenge = header(&res, header::WWW_AUTHENTICATE).unwrap();
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        assert!(
            challenge.contains("error=\"use_dpop_nonce\""),
            "{challenge}"
        );
        assert!(challenge.contains("algs=\"ES256 ES384 RS256 PS256 EdDSA\""));
        assert_eq!(
            header(&res, header::HeaderName::from_static("dpop-nonce")).unwrap(),
            "n0nce"
        );
        let res = ApiError(Error::UseDpopNonce(DpopAt::TokenEndpoint, "n".into())).error_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(header(&res, header::WWW_AUTHENTICATE).is_none());
        assert_eq!(
            header(&res, header::HeaderName::from_static("dpop-nonce")).unwrap(),
            "n"
        );
        let res = ApiError(Error::InvalidDpopToken("x")).error_response();
        let challenge = header(&res, header::WWW_AUTHENTICATE).unwrap();
        assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"invalid_token\""));
    }

    fn quota_exceeded() -> Error {
        Error::QuotaExceeded(crate::domain::limits::QuotaExceeded {
            limit: crate::types::Rate::parse("50/s").unwrap(),
            retry_after: 1,
        })
    }

    #[test]
    fn a_quota_refusal_says_which_limit_and_when_to_retry() {
        let res = ApiError(quota_exceeded()).error_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&res, header::RETRY_AFTER).unwrap(), "1");
        let bytes = futures_lite_block_on(actix_web::body::to_bytes(res.into_body())).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(body["error_description"].as_str().unwrap().contains("50/s"));
    }

    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}
