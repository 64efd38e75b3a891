//! Strict `application/x-www-form-urlencoded` parsing for the OAuth endpoints. Hand-written
//! rather than serde_urlencoded for protocol reasons: invalid UTF-8 is an error rather than
//! being replaced, a repeated parameter is an error (RFC 6749 §3.2: parameters "MUST NOT be
//! included more than once"), and an empty value counts as omitted (§3.1).

use std::borrow::Cow;
use std::collections::HashMap;

use percent_encoding::percent_decode;

/// Decodes one form component: `+` is a space, then percent-decoding, then strict UTF-8.
pub fn decode_component(raw: &[u8]) -> Result<String, &'static str> {
    let plus_as_space: Cow<[u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let decoded: Vec<u8> = percent_decode(&plus_as_space).collect();
    String::from_utf8(decoded).map_err(|_| "the request is not valid UTF-8")
}

/// Every parameter tollgate reads from a form or a query string, on any endpoint.
const KNOWN: [&str; 11] = [
    "grant_type",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion_type",
    "client_assertion",
    "token",
    "token_type_hint",
    "username",
    "password",
    "session",
];

/// Parameters an extension lets a request repeat: RFC 8707 §2, "multiple resource parameters
/// MAY be used to indicate that the requested token is intended to be used at multiple
/// resources".
const REPEATABLE: [&str; 1] = ["resource"];

/// Parameters of a form. Parameters with an empty value are dropped: RFC 6749 §3.1 says they
/// "MUST be treated as if they were omitted". A parameter tollgate reads may come at most once
/// (§3.2: "MUST NOT be included more than once") unless an extension says otherwise
/// (`REPEATABLE`); any other is ignored, repeated or not (§3.2: "MUST ignore unrecognized
/// request parameters").
#[derive(Debug, Default)]
pub struct Form(HashMap<String, String>, HashMap<String, Vec<String>>);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, Cow<'static, str>> {
        let mut map = HashMap::new();
        let mut repeatable: HashMap<String, Vec<String>> = HashMap::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode_component(name)?;
            let value = decode_component(value)?;
            if value.is_empty() {
                continue;
            }
            if REPEATABLE.contains(&name.as_str()) {
                repeatable.entry(name).or_default().push(value);
                continue;
            }
            if map.contains_key(&name) {
                if KNOWN.contains(&name.as_str()) {
                    // A name of ours: safe to say in an error_description (RFC 6749 §5.2).
                    return Err(Cow::Owned(format!("parameter {name} is repeated")));
                }
                continue;
            }
            map.insert(name, value);
        }
        Ok(Self(map, repeatable))
    }

    /// Every value of a repeatable parameter, in request order.
    pub fn take_all(&mut self, name: &str) -> Vec<String> {
        self.1.remove(name).unwrap_or_default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name) || self.1.contains_key(name)
    }
}

/// True when a Content-Type header names `expected` (parameters such as charset ignored).
pub fn media_type_is(content_type: Option<&str>, expected: &str) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mt| mt.trim().eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn encoded_forms_parse_back(
            pairs in proptest::collection::btree_map("\\PC{1,12}", "\\PC{1,20}", 0..8),
        ) {
            let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
            let mut form = Form::parse(body.join("&").as_bytes()).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            for (k, v) in &pairs {
                let got = form.take(k);
                proptest::prop_assert_eq!(got.as_deref(), Some(v.as_str()));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = Form::parse(&body);
        }
    }

    #[test]
    fn decodes_plus_and_percent() {
        let f = Form::parse(b"a=x+y%2Bz&b=%E2%82%AC").unwrap();
        assert_eq!(f.get("a"), Some("x y+z"));
        assert_eq!(f.get("b"), Some("€"));
    }

    #[test]
    fn repeated_parameters_are_refused_unless_unrecognised() {
        assert!(Form::parse(b"scope=1&scope=2").is_err());
        assert!(Form::parse(b"client_id=a&x=1&client_id=a").is_err());
        let f = Form::parse(b"x=1&x=2&scope=s").unwrap();
        assert_eq!(
            f.get("scope"),
            Some("s"),
            "an unrecognised parameter is ignored"
        );
    }

    #[test]
    fn resource_may_repeat() {
        let mut f =
            Form::parse(b"resource=https%3A%2F%2Fa&scope=s&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(f.take_all("resource"), ["https://a", "https://b"]);
        assert!(f.take_all("resource").is_empty());
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let f = Form::parse(b"a=&b=1&&c").unwrap();
        assert!(!f.contains("a") && !f.contains("c"));
        assert!(Form::parse(b"scope=&scope=1").is_ok());
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(Form::parse(b"a=%FF").is_err());
        assert!(Form::parse(&[b'a', b'=', 0xff]).is_err());
    }

    #[test]
    fn media_types_match_case_insensitively_without_parameters() {
        assert!(media_type_is(
            Some("Application/JSON; charset=utf-8"),
            "application/json"
        ));
        assert!(!media_type_is(Some("text/plain"), "application/json"));
        assert!(!media_type_is(None, "application/json"));
    }
}
