//! Newtypes that parse rather than validate: a value of these types is well-formed by
//! construction, so no layer above re-checks it. The bottom of the dependency graph: this
//! module imports nothing else of tollgate's.

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

mod audience;
mod random;
mod rate;

pub use audience::{Audience, is_absolute_uri};
pub use random::{RngError, generate_secret, random_bytes, random_uuid};
pub use rate::{Per, QuotaMode, Rate};

/// A client identifier: RFC 6749 Appendix A.1 `client-id = *VSCHAR`, non-empty, at most 128.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() || raw.len() > 128 {
            return Err("client_id must be 1 to 128 characters");
        }
        if !raw.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err("client_id must be printable ASCII (RFC 6749 Appendix A.1)");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of scope tokens (RFC 6749 §3.3): space-delimited, order-free, each token
/// `1*( %x21 / %x23-5B / %x5D-7E )`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut set = BTreeSet::new();
        // §3.3 uses exactly one SP as the delimiter; tolerate runs of spaces but nothing else.
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if token.len() > 128 {
                return Err("a scope token is longer than 128 characters");
            }
            let valid = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !valid {
                return Err("a scope token has a character RFC 6749 section 3.3 does not allow");
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn difference<'a>(&'a self, other: &'a ScopeSet) -> Vec<&'a str> {
        self.0.difference(&other.0).map(String::as_str).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn union_with(&mut self, other: &ScopeSet) {
        self.0.extend(other.0.iter().cloned());
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
            first = false;
        }
        Ok(())
    }
}

/// The opaque customer identifier: a random UUID assigned at creation. It carries no personal
/// data and never changes, so it is safe to hand to chat vendors and partners.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let id = uuid::Uuid::try_parse(raw).map_err(|_| "customer_id is not a valid identifier")?;
        Ok(Self(id.hyphenated().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API key as presented: `tg_<prefix>_<secret>`. The prefix is public and indexed, so a
/// lookup never scans; only the secret part is hashed.
pub struct ApiKey {
    prefix: String,
    secret: SecretString,
}

pub const API_KEY_PREFIX_LEN: usize = 16;

impl ApiKey {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let rest = raw.strip_prefix("tg_").ok_or("malformed API key")?;
        let (prefix, secret) = rest.split_once('_').ok_or("malformed API key")?;
        let prefix_ok = prefix.len() == API_KEY_PREFIX_LEN
            && prefix
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let secret_ok = (32..=128).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !prefix_ok || !secret_ok {
            return Err("malformed API key");
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            secret: SecretString::from(secret),
        })
    }

    /// A new key with 64 bits of public prefix and 256 bits of secret.
    pub fn generate() -> Result<(Self, SecretString), RngError> {
        let prefix: String = random_bytes::<8>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        let full = SecretString::from(format!("tg_{prefix}_{secret}"));
        Ok((
            Self {
                prefix,
                secret: SecretString::from(secret),
            },
            full,
        ))
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn secret(&self) -> &str {
        self.secret.expose_secret()
    }
}

/// A username as stored and looked up. The policy: printable ASCII without spaces (%x21-7E),
/// 1 to 256 characters, compared with ASCII case folded; leading and trailing spaces trimmed.
/// Anything else is refused, at creation and at login alike. ASCII only because Unicode case
/// folding is lossy: `to_lowercase` maps U+212A KELVIN SIGN to `k`, so "\u{212A}ate" would
/// log in as "kate". (RFC 8265's UsernameCaseMapped profile would be the Unicode-aware choice;
/// no maintained Rust implementation of it was at hand.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

pub const MAX_USERNAME: usize = 256;

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if name.is_empty() {
            return Err("username is required");
        }
        if name.len() > MAX_USERNAME {
            return Err("the username is too long");
        }
        if !name.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err("a username is printable ASCII without spaces");
        }
        Ok(Self(name.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_uuids_are_version_4_and_differ() {
        let (a, b) = (random_uuid().unwrap(), random_uuid().unwrap());
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }

    #[test]
    fn rates_parse_as_admins_write_them() {
        assert_eq!(Rate::parse("50/s").unwrap().to_string(), "50/s");
        let daily = Rate::parse("100000/d").unwrap();
        assert_eq!((daily.count(), daily.window_secs()), (100_000, 86_400));
        assert_eq!(Rate::parse("7/m").unwrap().window_secs(), 60);
        assert_eq!(Rate::parse("7/h").unwrap().window_secs(), 3_600);
        for (bad, why) in [
            ("0/s", "refuse every request"),
            ("-1/d", "whole number"),
            ("10/fortnight", "unit must be"),
            ("1e9/s", "whole number"),
            ("+5/s", "whole number"),
            ("5", "whole number"),
            ("/s", "whole number"),
            ("5/", "unit must be"),
            ("1000000001/s", "at most"),
            ("99999999999999999999/s", "at most"),
        ] {
            let err = Rate::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!(Rate::from_parts(5, 60), Some(Rate::parse("5/m").unwrap()));
        assert_eq!(Rate::from_parts(5, 61), None);
        assert_eq!(Rate::from_parts(0, 60), None);
    }

    proptest::proptest! {
        #[test]
        fn api_key_parsing_never_panics(raw in "\\PC{0,120}") {
            let _ = ApiKey::parse(&raw);
        }

        #[test]
        fn api_keys_of_the_right_shape_parse(prefix in "[0-9a-f]{16}", secret in "[A-Za-z0-9_-]{32,64}") {
            let key = ApiKey::parse(&format!("tg_{prefix}_{secret}"));
            proptest::prop_assert!(key.is_ok());
        }

        #[test]
        fn scopes_print_back_to_what_they_parse(tokens in proptest::collection::btree_set("[a-z:]{1,10}", 0..6)) {
            let joined = tokens.iter().cloned().collect::<Vec<_>>().join(" ");
            let parsed = ScopeSet::parse(&joined).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(parsed.to_string(), joined);
        }
    }

    #[test]
    fn scope_parsing_follows_rfc_6749_section_3_3() {
        let s = ScopeSet::parse("b a  a").unwrap();
        assert_eq!(s.to_string(), "a b");
        assert!(ScopeSet::parse("a\"b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse("a\tb").is_err());
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn client_ids_are_printable_ascii() {
        assert!(ClientId::parse("partner-1").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("é").is_err());
        assert!(ClientId::parse("a\nb").is_err());
    }

    #[test]
    fn generated_api_keys_parse_back() {
        let (key, full) = ApiKey::generate().unwrap();
        let parsed = ApiKey::parse(full.expose_secret()).unwrap();
        assert_eq!(parsed.prefix(), key.prefix());
        assert_eq!(parsed.secret(), key.secret());
        assert!(ApiKey::parse("tg_short_x").is_err());
        assert!(ApiKey::parse("nope").is_err());
    }

    #[test]
    fn usernames_fold_ascii_case_and_refuse_everything_else() {
        assert_eq!(Username::parse("  Kate ").unwrap().as_str(), "kate");
        assert_eq!(
            Username::parse("Ada@Example.COM").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "\u{212A}ate",
            "k\u{0301}ate",
            "ka te",
            "kate\u{0}",
            "",
            "   ",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse(&"a".repeat(257)).is_err());
    }

    #[test]
    fn customer_ids_are_canonical_uuids() {
        let id = CustomerId::generate();
        assert_eq!(CustomerId::parse(&id.as_str().to_uppercase()).unwrap(), id);
        assert!(CustomerId::parse("alice@example.com").is_err());
    }
}
