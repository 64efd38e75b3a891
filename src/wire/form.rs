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

/// Parameters of a form, each name at most once. Parameters with an empty value are dropped:
/// RFC 6749 §3.1 says they "MUST be treated as if they were omitted".
#[derive(Debug, Default)]
pub struct Form(HashMap<String, String>);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, Cow<'static, str>> {
        let mut map = HashMap::new();
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
            if map.contains_key(&name) {
                return Err(repeated(&name));
            }
            map.insert(name, value);
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// A repeated parameter, named only when its name is one a client of ours would send: a
/// description never reflects input that could leave RFC 6749 §5.2's character set or run long.
fn repeated(name: &str) -> Cow<'static, str> {
    let plain = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        Cow::Owned(format!("parameter {name} is repeated"))
    } else {
        Cow::Borrowed("a parameter is repeated")
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
    fn repeated_parameters_are_refused() {
        assert!(Form::parse(b"a=1&a=2").is_err());
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let f = Form::parse(b"a=&b=1&&c").unwrap();
        assert!(!f.contains("a") && !f.contains("c"));
        assert!(Form::parse(b"a=&a=1").is_ok());
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
