//! What a `tls_client_auth` client's certificate must name, and the five `clients` columns
//! that hold it (one set).

use std::net::IpAddr;

/// What a `tls_client_auth` client's certificate must name (RFC 8705 §2.1.2: one of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSubject {
    /// The subject DN, as an RFC 4514 string.
    Dn(String),
    /// A DNS name among its subject alternative names.
    SanDns(String),
    /// A URI among them.
    SanUri(String),
    /// An IP address among them, compared as an address.
    SanIp(IpAddr),
    /// An email address (rfc822Name) among them.
    SanEmail(String),
}

/// The columns of `TlsSubject`, in its variants' order; exactly one is set.
pub(super) const TLS_COLUMNS: [&str; 5] = [
    "tls_subject_dn",
    "tls_san_dns",
    "tls_san_uri",
    "tls_san_ip",
    "tls_san_email",
];

impl TlsSubject {
    /// The values of `TLS_COLUMNS`. An address is stored in its canonical form (RFC 5952 for
    /// IPv6), though it is compared parsed.
    pub fn columns(&self) -> [Option<String>; 5] {
        let mut out = [None, None, None, None, None];
        let (i, value) = match self {
            Self::Dn(v) => (0, v.clone()),
            Self::SanDns(v) => (1, v.clone()),
            Self::SanUri(v) => (2, v.clone()),
            Self::SanIp(ip) => (3, ip.to_string()),
            Self::SanEmail(v) => (4, v.clone()),
        };
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(value);
        }
        out
    }

    /// The subject the columns hold, if exactly one of them is set.
    pub fn from_columns(columns: [Option<String>; 5]) -> Option<Self> {
        match columns {
            [Some(dn), None, None, None, None] => Some(Self::Dn(dn)),
            [None, Some(dns), None, None, None] => Some(Self::SanDns(dns)),
            [None, None, Some(uri), None, None] => Some(Self::SanUri(uri)),
            [None, None, None, Some(ip), None] => ip.parse().ok().map(Self::SanIp),
            [None, None, None, None, Some(email)] => Some(Self::SanEmail(email)),
            _ => None,
        }
    }

    /// RFC 8705 §2.1.2's metadata name of what is registered, and its value.
    pub fn describe(&self) -> (&'static str, String) {
        let name = match self {
            Self::Dn(_) => "tls_client_auth_subject_dn",
            Self::SanDns(_) => "tls_client_auth_san_dns",
            Self::SanUri(_) => "tls_client_auth_san_uri",
            Self::SanIp(_) => "tls_client_auth_san_ip",
            Self::SanEmail(_) => "tls_client_auth_san_email",
        };
        let value = self
            .columns()
            .into_iter()
            .flatten()
            .next()
            .unwrap_or_default();
        (name, value)
    }
}
