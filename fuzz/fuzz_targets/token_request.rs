//! The token request parser (form body + Basic header + query string) on arbitrary input, and
//! the client assertion parser on what reaches it (a `client_assertion`, or the header text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::security::client_assertion::Assertion;
use tollgate::wire::token_request::{ClientCredentials, RawTokenRequest, parse, parse_token_operation};

fuzz_target!(|data: &[u8]| {
    // Split the input into an Authorization header, a query string and a body.
    let mut parts = data.splitn(3, |&b| b == 0);
    let header = parts.next().and_then(|h| std::str::from_utf8(h).ok());
    let query = parts.next().and_then(|q| std::str::from_utf8(q).ok()).unwrap_or("");
    let body = parts.next().unwrap_or(&[]);
    let raw = RawTokenRequest {
        content_type: Some("application/x-www-form-urlencoded"),
        authorization: header,
        query,
        body,
    };
    if let Ok(request) = parse(&raw)
        && let ClientCredentials::Assertion(assertion) = &request.credentials
    {
        let _ = Assertion::parse(&assertion.jwt);
    }
    let _ = parse_token_operation(&raw);
    if let Some(text) = header {
        let _ = Assertion::parse(text);
    }
});
