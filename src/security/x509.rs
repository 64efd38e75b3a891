//! What `tls_client_auth` (RFC 8705 §2.1) compares in a client certificate: its subject
//! distinguished name as an RFC 4514 string, or one of its subject alternative names (DNS, URI
//! read by rustls-webpki, the parser rustls itself uses; IP address and email read here), and
//! what `self_signed_tls_client_auth` (§2.2) compares: its public key.
//!
//! The subject is written out by hand because webpki hands it over as raw DER and no crate in
//! the tree formats a DN: a Name is a SEQUENCE of SETs of (OID, string) pairs (RFC 5280
//! §4.1.2.4), which is all this reads. webpki does not hand out rfc822Name entries at all, and
//! IP entries only as a yes/no against one address, so the SAN extension is walked here too.

use std::net::IpAddr;

use rustls_pki_types::CertificateDer;

use super::public_key::PublicKey;

/// id-ce-subjectAltName (RFC 5280 §4.2.1.6).
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// GeneralName tags (RFC 5280 §4.2.1.6, IMPLICIT context-specific): rfc822Name, iPAddress.
const RFC822_NAME: u8 = 0x81;
const IP_ADDRESS: u8 = 0x87;

/// Attribute types with an RFC 4514 §3 short name (and DC, UID of RFC 4519).
const SHORT_NAMES: [(&[u8], &str); 9] = [
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x09], "STREET"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
];

/// The subject DN of `der`, as RFC 4514 §2 writes it (last RDN first). `None`: no certificate.
pub fn subject_dn(der: &[u8]) -> Option<String> {
    let cert = CertificateDer::from(der);
    let parsed = webpki::EndEntityCert::try_from(&cert).ok()?;
    // webpki gives the Name's contents: the RDNs, without the outer SEQUENCE.
    let mut rdns = Vec::new();
    let mut rest = parsed.subject();
    while !rest.is_empty() {
        let (tag, set, after) = tlv(rest)?;
        rest = after;
        if tag != 0x31 {
            return None;
        }
        let mut attributes = Vec::new();
        let mut inner = set;
        while !inner.is_empty() {
            let (tag, pair, after) = tlv(inner)?;
            inner = after;
            if tag != 0x30 {
                return None;
            }
            let (oid_tag, oid, value) = tlv(pair)?;
            if oid_tag != 0x06 {
                return None;
            }
            let (value_tag, text, _) = tlv(value)?;
            attributes.push(attribute(oid, value_tag, text, value)?);
        }
        rdns.push(attributes.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// The DNS names and URIs among the certificate's subject alternative names.
pub fn alt_names(der: &[u8]) -> (Vec<String>, Vec<String>) {
    let cert = CertificateDer::from(der);
    match webpki::EndEntityCert::try_from(&cert) {
        Ok(c) => (
            c.valid_dns_names().map(str::to_owned).collect(),
            c.valid_uri_names().map(str::to_owned).collect(),
        ),
        Err(_) => (Vec::new(), Vec::new()),
    }
}

/// The IP addresses among the certificate's subject alternative names (4 or 16 bytes each;
/// an entry of another length is an address constraint's form, not an address, and skipped).
pub fn san_ips(der: &[u8]) -> Vec<IpAddr> {
    san_entries(der, IP_ADDRESS)
        .filter_map(|raw| match raw.len() {
            4 => <[u8; 4]>::try_from(raw).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(raw).ok().map(IpAddr::from),
            _ => None,
        })
        .collect()
}

/// The email addresses (rfc822Name, IA5String) among its subject alternative names.
pub fn san_emails(der: &[u8]) -> Vec<String> {
    san_entries(der, RFC822_NAME)
        .filter_map(|raw| std::str::from_utf8(raw).ok())
        .filter(|s| s.is_ascii())
        .map(str::to_owned)
        .collect()
}

/// Whether two email addresses are the same mailbox: the local part as written, the domain
/// without ASCII case (RFC 5280 §7.5).
pub fn same_email(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => false,
    }
}

/// The certificate's public key; `None` for no certificate or a kind of key tollgate does not
/// take (see `ClientKeySet`).
pub fn public_key(der: &[u8]) -> Option<PublicKey> {
    let cert = CertificateDer::from(der);
    let parsed = webpki::EndEntityCert::try_from(&cert).ok()?;
    PublicKey::from_spki(parsed.subject_public_key_info().as_ref())
}

/// The contents of the subject alternative names with GeneralName tag `tag`. Only a
/// certificate webpki parses is walked (so its extensions are well-formed and not repeated).
fn san_entries(der: &[u8], tag: u8) -> impl Iterator<Item = &[u8]> {
    let cert = CertificateDer::from(der);
    let names = webpki::EndEntityCert::try_from(&cert)
        .ok()
        .and_then(|_| alt_name_extension(der))
        .unwrap_or_default();
    Tlvs(names).filter(move |(t, _)| *t == tag).map(|(_, v)| v)
}

/// The GeneralNames of the SAN extension: Certificate → TBSCertificate → [3] Extensions (RFC
/// 5280 §4.1).
fn alt_name_extension(der: &[u8]) -> Option<&[u8]> {
    let (0x30, certificate, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(certificate)? else {
        return None;
    };
    let (_, extensions) = Tlvs(tbs).find(|(t, _)| *t == 0xa3)?;
    let (0x30, extensions, _) = tlv(extensions)? else {
        return None;
    };
    Tlvs(extensions).find_map(|(_, extension)| {
        let (0x06, SUBJECT_ALT_NAME, rest) = tlv(extension)? else {
            return None;
        };
        // An optional `critical` BOOLEAN, then the OCTET STRING holding the GeneralNames.
        let value = Tlvs(rest).find(|(t, _)| *t == 0x04)?.1;
        match tlv(value)? {
            (0x30, names, _) => Some(names),
            _ => None,
        }
    })
}

/// The TLVs of a DER sequence's contents, in order; stops at the first malformed one.
struct Tlvs<'a>(&'a [u8]);

impl<'a> Iterator for Tlvs<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (tag, value, rest) = tlv(self.0)?;
        self.0 = rest;
        Some((tag, value))
    }
}

/// Whether two RFC 4514 strings name the same DN: the same attributes in the same order,
/// spaces around separators ignored, compared without ASCII case (RFC 4517 §4.2.15: the usual
/// attributes use caseIgnoreMatch).
pub fn same_dn(a: &str, b: &str) -> bool {
    let canonical = |dn: &str| {
        let mut out = String::new();
        for (text, sep) in split_unescaped(dn) {
            let (name, value) = text.split_once('=').unwrap_or((&text, ""));
            out.push_str(&name.trim().to_ascii_uppercase());
            out.push('=');
            out.push_str(&value.trim().to_ascii_lowercase());
            out.extend(sep);
        }
        out
    };
    canonical(a) == canonical(b)
}

/// The components of a DN string and the separator (`,` or `+`) after each, honouring `\`.
fn split_unescaped(dn: &str) -> Vec<(String, Option<char>)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ',' | '+' => parts.push((std::mem::take(&mut current), Some(c))),
            _ => current.push(c),
        }
    }
    parts.push((current, None));
    parts
}

/// `TYPE=value` for one attribute (RFC 4514 §2.3-2.4).
fn attribute(oid: &[u8], tag: u8, text: &[u8], whole: &[u8]) -> Option<String> {
    let value = match tag {
        // UTF8String, PrintableString, IA5String, TeletexString (read as Latin-1, as is usual).
        0x0c | 0x13 | 0x16 => Some(std::str::from_utf8(text).ok()?.to_owned()),
        0x14 => Some(text.iter().map(|b| char::from(*b)).collect()),
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = text
                .chunks(2)
                .map(|c| Some(u16::from_be_bytes([*c.first()?, *c.get(1)?])))
                .collect::<Option<_>>()?;
            String::from_utf16(&units).ok()
        }
        _ => None,
    };
    let name = SHORT_NAMES
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, n)| (*n).to_owned());
    Some(match (name, value) {
        (Some(name), Some(v)) => format!("{name}={}", escape(&v)),
        // §2.4: an attribute without a short name, or a value of another type, as the
        // dotted OID and the hex of the value's DER.
        (name, _) => format!(
            "{}=#{}",
            name.unwrap_or_else(|| dotted(oid)),
            whole.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    })
}

/// RFC 4514 §2.4 escaping.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An OID's DER contents in dotted form (X.690 §8.19).
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut n: u64 = 0;
    for b in oid {
        n = (n << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(n);
            n = 0;
        }
    }
    let mut out = match arcs.first() {
        Some(&first) if first < 80 => format!("{}.{}", first / 40, first % 40),
        Some(&first) => format!("2.{}", first - 80),
        None => return String::new(),
    };
    for arc in arcs.iter().skip(1) {
        out.push_str(&format!(".{arc}"));
    }
    out
}

/// One DER TLV: tag, contents, and what follows. Short and long definite lengths only.
pub(super) fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        (
            bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)),
            rest,
        )
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn cert(cn: &str, org: Option<&str>, sans: Vec<SanType>) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(o) = org {
            params.distinguished_name.push(DnType::OrganizationName, o);
        }
        params.subject_alt_names = sans;
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_subject_is_written_as_rfc_4514_says() {
        let der = cert("partner, inc", Some("Acme"), vec![]);
        assert_eq!(subject_dn(&der).unwrap(), "O=Acme,CN=partner\\, inc");
        assert!(same_dn(
            "o=acme, cn=Partner\\, Inc",
            &subject_dn(&der).unwrap()
        ));
        assert!(!same_dn("O=Acme,CN=partner", &subject_dn(&der).unwrap()));
        assert!(!same_dn(
            "CN=partner\\, inc,O=Acme",
            &subject_dn(&der).unwrap()
        ));
        assert!(subject_dn(b"garbage").is_none());
    }

    #[test]
    fn dns_names_and_uris_are_read() {
        let der = cert(
            "p",
            None,
            vec![
                SanType::DnsName("api.partner.example".try_into().unwrap()),
                SanType::URI("spiffe://partner.example/agent".try_into().unwrap()),
            ],
        );
        let (dns, uris) = alt_names(&der);
        assert_eq!(dns, vec!["api.partner.example"]);
        assert_eq!(uris, vec!["spiffe://partner.example/agent"]);
    }

    #[test]
    fn ip_addresses_and_emails_are_read() {
        let der = cert(
            "p",
            None,
            vec![
                SanType::IpAddress("192.0.2.1".parse().unwrap()),
                SanType::IpAddress("2001:db8::1".parse().unwrap()),
                SanType::Rfc822Name("Partner@Example.com".try_into().unwrap()),
                SanType::DnsName("p.example".try_into().unwrap()),
            ],
        );
        assert_eq!(
            san_ips(&der),
            vec![
                "192.0.2.1".parse::<IpAddr>().unwrap(),
                "2001:0db8:0:0:0:0:0:1".parse::<IpAddr>().unwrap()
            ]
        );
        assert_eq!(san_emails(&der), vec!["Partner@Example.com"]);
        assert!(same_email("Partner@example.COM", "Partner@Example.com"));
        assert!(!same_email("partner@example.com", "Partner@Example.com"));
        assert!(san_ips(b"garbage").is_empty() && san_emails(&cert("q", None, vec![])).is_empty());
    }

    #[test]
    fn oids_and_lengths_decode() {
        assert_eq!(dotted(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
            "1.2.840.113549"
        );
        assert_eq!(
            tlv(&[0x04, 0x81, 0x01, 0xff]),
            Some((0x04, &[0xff][..], &[][..]))
        );
        assert!(tlv(&[0x04, 0x05, 0x00]).is_none());
    }
}
