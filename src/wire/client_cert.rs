//! The client certificate a TLS-terminating proxy forwards in a header (RFC 8705 behind a
//! proxy): URL-encoded PEM, as nginx's `$ssl_client_escaped_cert`, HAProxy and Envoy's common
//! set-ups send it. Whether the header is believed at all is the HTTP layer's (the peer must be
//! a trusted proxy); here it is only parsed.

use percent_encoding::percent_decode_str;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The client certificate of a request (RFC 8705): from its TLS connection, or from a trusted
/// proxy's header. `Err`: a header that holds no certificate.
pub struct ClientCertificate(pub Result<Option<Presented>, &'static str>);

/// A certificate the client presented.
#[derive(Debug, Clone)]
pub struct Presented {
    /// Its DER.
    pub der: Vec<u8>,
    /// Whether it chains to a CA tollgate is configured with (`tls_client_auth` needs that;
    /// `self_signed_tls_client_auth` and certificate-bound tokens do not, RFC 8705 §2.2, §3).
    pub chains_to_ca: bool,
}

/// Longer than any client certificate a proxy forwards (a 4096-bit RSA one is under 2 KiB of
/// DER; its URL-encoded PEM about 3.5 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The DER of the certificate in `value`, URL-encoded PEM.
pub fn parse(value: &str) -> Result<Vec<u8>, &'static str> {
    let malformed = || "the client certificate header is not a URL-encoded PEM certificate";
    if value.len() > MAX_HEADER_BYTES {
        return Err(malformed());
    }
    let pem = percent_decode_str(value.trim())
        .decode_utf8()
        .map_err(|_| malformed())?;
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| malformed())?;
    // PEM armour holds any bytes: the certificate itself must parse.
    webpki::EndEntityCert::try_from(&der).map_err(|_| malformed())?;
    Ok(der.as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_and_never_panics() {
        for bad in [
            "",
            "garbage",
            "%ZZ",
            "-----BEGIN CERTIFICATE-----%0A!!!%0A-----END CERTIFICATE-----%0A",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&"A".repeat(MAX_HEADER_BYTES + 1)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(value in "\\PC{0,400}") {
            let _ = parse(&value);
        }
    }
}
