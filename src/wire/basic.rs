//! HTTP Basic client authentication, `client_secret_basic` (RFC 6749 §2.3.1, RFC 7617).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use secrecy::SecretString;

use crate::types::ClientId;
use crate::wire::Error;
use crate::wire::form::decode_component;

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`. Any other scheme is an
/// unsupported authentication method: invalid_client.
pub fn parse_basic(header: &str) -> Result<(ClientId, SecretString), Error> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::InvalidClient);
    }
    let encoded = rest.trim();
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| Error::invalid_request("the Basic credentials are not valid base64"))?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| Error::invalid_request("the Basic credentials have no ':' separator"))?;
    let (id, secret) = (&decoded[..colon], &decoded[colon + 1..]);
    let id = decode_component(id).map_err(Error::invalid_request)?;
    let secret = decode_component(secret).map_err(Error::invalid_request)?;
    if secret.is_empty() {
        return Err(Error::InvalidClient);
    }
    let id = ClientId::parse(&id).map_err(Error::invalid_request)?;
    Ok((id, SecretString::from(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    proptest::proptest! {
        #[test]
        fn basic_credentials_round_trip(
            id in "[\\x20-\\x7e]{1,40}",
            secret in "\\PC{1,60}",
        ) {
            let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
            let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
            let (got_id, got_secret) = parse_basic(&header).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(got_id.as_str(), id.as_str());
            proptest::prop_assert_eq!(got_secret.expose_secret(), secret.as_str());
        }
    }
}
