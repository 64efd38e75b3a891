//! A token's audience and the URIs that may be one.

/// A JWT's `aud` (RFC 7519 §4.1.3): one value is a string, several an array. Tokens keep the
/// shape they were issued with, so introspection can return `aud` as issued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// A string for one audience, an array for several. `None` for none.
    pub fn from_list(mut list: Vec<String>) -> Option<Self> {
        match list.len() {
            0 => None,
            1 => list.pop().map(Self::One),
            _ => Some(Self::Many(list)),
        }
    }

    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(list) => list.iter().any(|a| a == audience),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let list: &[String] = match self {
            Self::One(a) => std::slice::from_ref(a),
            Self::Many(list) => list,
        };
        list.iter().map(String::as_str)
    }
}

/// RFC 3986 §4.3 absolute-URI, as RFC 8707 §2 asks of a `resource`: a scheme, `:`, the rest,
/// no fragment; visible ASCII only (a URI carries anything else percent-encoded).
pub fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.contains('#')
        && s.bytes().all(|b| (0x21..0x7f).contains(&b))
        && s.len() <= 2048
}
