//! The mapping's unit tests: every variant's status and code, and descriptions that keep to
//! RFC 6749 §5.2 whatever text a variant carries.

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
