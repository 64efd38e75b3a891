//! Per-profile CORS policy (Fetch standard, "CORS protocol"): which origins may read a widget
//! token from a browser, and whether they may send cookies doing so.

/// An origin list or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    /// No CORS headers at all: same-origin use only.
    None,
    /// `*`: any origin, never with credentials (the Fetch standard forbids the combination).
    Any,
    List {
        origins: Vec<String>,
        credentials: bool,
    },
}

/// The headers to answer an allowed origin with.
#[derive(Debug, PartialEq, Eq)]
pub struct CorsGrant {
    /// The `Access-Control-Allow-Origin` value: the request's origin, or `*`.
    pub allow_origin: String,
    pub allow_credentials: bool,
}

impl CorsPolicy {
    pub fn from_config(origins: &[String], credentials: Option<bool>) -> Result<Self, String> {
        if origins.is_empty() {
            if credentials == Some(true) {
                return Err("allow_credentials needs an allowed_origins list".into());
            }
            return Ok(Self::None);
        }
        if origins.iter().any(|o| o == "*") {
            if origins.len() > 1 {
                return Err("allowed_origins is either [\"*\"] or a list of origins".into());
            }
            if credentials == Some(true) {
                return Err(
                    "allowed_origins = [\"*\"] cannot allow credentials (cookies): \
                     list the origins explicitly"
                        .into(),
                );
            }
            return Ok(Self::Any);
        }
        for origin in origins {
            if !is_origin(origin) {
                return Err(format!(
                    "{origin:?} is not an origin (scheme://host[:port], no path or trailing slash)"
                ));
            }
        }
        Ok(Self::List {
            origins: origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
            credentials: credentials.unwrap_or(true),
        })
    }

    /// What to answer a request carrying `Origin: origin` with; `None` means no CORS headers.
    pub fn grant(&self, origin: Option<&str>) -> Option<CorsGrant> {
        let origin = origin?;
        match self {
            Self::None => None,
            Self::Any => Some(CorsGrant {
                allow_origin: "*".into(),
                allow_credentials: false,
            }),
            Self::List {
                origins,
                credentials,
            } => origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| CorsGrant {
                    allow_origin: origin.to_owned(),
                    allow_credentials: *credentials,
                }),
        }
    }

    /// Whether responses depend on the `Origin` header (then caches must key on it).
    pub fn varies_by_origin(&self) -> bool {
        matches!(self, Self::List { .. })
    }
}

fn is_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(origins: &[&str], credentials: Option<bool>) -> Result<CorsPolicy, String> {
        let o: Vec<String> = origins.iter().map(|s| (*s).to_owned()).collect();
        CorsPolicy::from_config(&o, credentials)
    }

    #[test]
    fn star_with_credentials_is_refused() {
        assert!(list(&["*"], Some(true)).is_err());
        assert_eq!(list(&["*"], None).unwrap(), CorsPolicy::Any);
        assert!(list(&["*", "https://a.example"], None).is_err());
    }

    #[test]
    fn only_listed_origins_are_granted_and_credentials_follow_the_list() {
        let p = list(&["https://www.example.com"], None).unwrap();
        let g = p.grant(Some("https://www.example.com")).unwrap();
        assert_eq!(g.allow_origin, "https://www.example.com");
        assert!(g.allow_credentials);
        assert_eq!(p.grant(Some("https://evil.example")), None);
        assert_eq!(p.grant(None), None);
        let star = list(&["*"], None)
            .unwrap()
            .grant(Some("https://x"))
            .unwrap();
        assert!(!star.allow_credentials);
    }

    #[test]
    fn paths_and_trailing_slashes_are_not_origins() {
        assert!(list(&["https://a.example/"], None).is_err());
        assert!(list(&["https://a.example/x"], None).is_err());
        assert!(list(&["a.example"], None).is_err());
        assert!(list(&["http://127.0.0.1:8080"], None).is_ok());
    }
}
