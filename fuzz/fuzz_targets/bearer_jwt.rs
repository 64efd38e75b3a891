//! The bearer header and JWT verification on arbitrary input: never a panic, never a pass.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate::security::keys::{Alg, KeySet};
use tollgate::wire::bearer::bearer_token;
use tollgate::security::tokens::TokenService;

fn tokens() -> &'static TokenService {
    static TOKENS: OnceLock<TokenService> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let keys = KeySet::ephemeral(Alg::Es256).expect("an in-memory key");
        TokenService::new(keys, "https://issuer".into(), "https://issuer".into(), 60, 60)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(token) = bearer_token(Some(text)) {
        assert!(tokens().verify_access_token(token, 0).is_err());
    }
    assert!(tokens().verify_access_token(text, 0).is_err());
    assert!(tokens().verify_customer_token(text, 0).is_err());
});
