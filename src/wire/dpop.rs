//! The `DPoP` request header (RFC 9449 §4.1) and what its proof must match: the request's
//! method and path. Nothing in the proof is checked here.

/// A request's DPoP proof, as received.
pub struct DpopRequest {
    /// `Ok(None)`: no `DPoP` header. `Err`: a header that can be no proof (two of them, RFC
    /// 9449 §4.3 item 1, or one that is not text).
    pub proof: Result<Option<String>, &'static str>,
    /// The HTTP method, as sent (`htm` must equal it).
    pub method: String,
    /// The request path without its query (`htu` must name it, below the issuer).
    pub path: String,
}

impl DpopRequest {
    /// `headers`: every `DPoP` header value of the request.
    pub fn parse<'a>(
        mut headers: impl Iterator<Item = Option<&'a str>>,
        method: &str,
        path: &str,
    ) -> Self {
        let proof = match (headers.next(), headers.next()) {
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err("the request carries more than one DPoP header"),
            (Some(None), None) => Err("the DPoP header is not ASCII"),
            (Some(Some(value)), None) => Ok(Some(value.trim().to_owned())),
        };
        Self {
            proof,
            method: method.to_owned(),
            path: path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_one_or_several_headers() {
        let parse = |h: Vec<Option<&str>>| DpopRequest::parse(h.into_iter(), "POST", "/x").proof;
        assert_eq!(parse(vec![]), Ok(None));
        assert_eq!(parse(vec![Some(" a.b.c ")]), Ok(Some("a.b.c".into())));
        assert!(parse(vec![Some("a"), Some("b")]).is_err());
        assert!(parse(vec![None]).is_err());
    }
}
