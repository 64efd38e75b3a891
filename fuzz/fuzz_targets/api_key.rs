//! The API-key parser on arbitrary input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::types::ApiKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(key) = ApiKey::parse(text) {
            assert_eq!(key.prefix().len(), 16);
        }
    }
});
