//! Per-profile CORS policy (Fetch standard, "CORS protocol"): which origins may read a widget
//! token from a browser, and whether they may send cookies doing so. Only the policy and its
//! start-up checks live here; `http::cors` hands it to actix-cors, which speaks the protocol.

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
    fn listed_origins_default_to_credentials_and_compare_lower_case() {
        let p = list(&["https://WWW.example.com"], None).unwrap();
        assert_eq!(
            p,
            CorsPolicy::List {
                origins: vec!["https://www.example.com".into()],
                credentials: true,
            }
        );
        let p = list(&["https://www.example.com"], Some(false)).unwrap();
        assert!(matches!(
            p,
            CorsPolicy::List {
                credentials: false,
                ..
            }
        ));
        assert_eq!(list(&[], None).unwrap(), CorsPolicy::None);
    }

    #[test]
    fn paths_and_trailing_slashes_are_not_origins() {
        assert!(list(&["https://a.example/"], None).is_err());
        assert!(list(&["https://a.example/x"], None).is_err());
        assert!(list(&["a.example"], None).is_err());
        assert!(list(&["http://127.0.0.1:8080"], None).is_ok());
    }
}
