//! A public key as key material, so that a certificate's key and a JWK can be compared
//! (`self_signed_tls_client_auth`, RFC 8705 §2.2: "the certificate's public key matches one of
//! the client's registered JWKs"). Comparing encodings would not do: a JWK and a
//! SubjectPublicKeyInfo spell the same key differently (RSA integers carry a sign byte in DER,
//! none in a JWK). Only the kinds `ClientKeySet` accepts are read; any other key is `None`, so
//! it matches nothing.

use super::x509::tlv;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

impl Curve {
    /// The length of one coordinate.
    fn len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RFC 7518 §6.2.1: the curve and its point's coordinates, big-endian, full length.
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    /// RFC 7518 §6.3.1: modulus and exponent, without leading zero bytes.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// RFC 8037 §2: the 32 bytes of an Ed25519 key.
    Ed25519(Vec<u8>),
}

/// id-ecPublicKey (RFC 5480 §2.1.1) and its named curves (§2.1.1.1).
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const SECP256R1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const SECP384R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// rsaEncryption (RFC 8017 appendix A.1).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-Ed25519 (RFC 8410 §3).
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

impl PublicKey {
    /// An EC key from JWK coordinates (already checked to have the curve's length).
    pub fn ec(curve: Curve, x: Vec<u8>, y: Vec<u8>) -> Self {
        Self::Ec { curve, x, y }
    }

    /// An RSA key from its JWK members: big-endian, leading zeros ignored.
    pub fn rsa(n: &[u8], e: &[u8]) -> Self {
        Self::Rsa {
            n: unsigned(n),
            e: unsigned(e),
        }
    }

    /// The key of a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). EC points must be
    /// uncompressed (RFC 5480 §2.2: compressed points are optional and rare).
    pub fn from_spki(spki: &[u8]) -> Option<Self> {
        let (0x30, body, _) = tlv(spki)? else {
            return None;
        };
        let (0x30, algorithm, rest) = tlv(body)? else {
            return None;
        };
        let (0x06, oid, params) = tlv(algorithm)? else {
            return None;
        };
        let (0x03, bits, _) = tlv(rest)? else {
            return None;
        };
        // A BIT STRING's first byte counts unused bits: a key has none.
        let (0, key) = bits.split_first().map(|(u, k)| (*u, k))? else {
            return None;
        };
        match oid {
            EC_PUBLIC_KEY => {
                let curve = match tlv(params)? {
                    (0x06, SECP256R1, _) => Curve::P256,
                    (0x06, SECP384R1, _) => Curve::P384,
                    _ => return None,
                };
                let (0x04, point) = key.split_first().map(|(t, p)| (*t, p))? else {
                    return None;
                };
                if point.len() != 2 * curve.len() {
                    return None;
                }
                let (x, y) = point.split_at(curve.len());
                Some(Self::ec(curve, x.to_vec(), y.to_vec()))
            }
            RSA_ENCRYPTION => {
                let (0x30, pair, _) = tlv(key)? else {
                    return None;
                };
                let (0x02, n, rest) = tlv(pair)? else {
                    return None;
                };
                let (0x02, e, _) = tlv(rest)? else {
                    return None;
                };
                Some(Self::rsa(n, e))
            }
            ED25519 if key.len() == 32 => Some(Self::Ed25519(key.to_vec())),
            _ => None,
        }
    }
}

fn unsigned(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().copied().skip_while(|b| *b == 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519};

    fn spki_of(alg: &'static rcgen::SignatureAlgorithm) -> (Vec<u8>, Vec<u8>) {
        let key = KeyPair::generate_for(alg).unwrap();
        (key.public_key_der(), key.public_key_raw().to_vec())
    }

    #[test]
    fn ec_and_ed25519_keys_are_read_from_their_spki() {
        for (alg, curve) in [
            (&PKCS_ECDSA_P256_SHA256, Curve::P256),
            (&PKCS_ECDSA_P384_SHA384, Curve::P384),
        ] {
            let (spki, raw) = spki_of(alg);
            let n = curve.len();
            let expected = PublicKey::ec(curve, raw[1..=n].to_vec(), raw[n + 1..].to_vec());
            assert_eq!(PublicKey::from_spki(&spki), Some(expected));
        }
        let (spki, raw) = spki_of(&PKCS_ED25519);
        assert_eq!(PublicKey::from_spki(&spki), Some(PublicKey::Ed25519(raw)));
    }

    #[test]
    fn an_rsa_key_ignores_the_der_sign_byte() {
        // SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { SEQUENCE { n, e } } } with
        // n = 0x00 0x80 0x01 (DER's sign byte) and e = 65537.
        let spki = [
            0x30, 0x1e, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
            0x01, 0x05, 0x00, 0x03, 0x0d, 0x00, 0x30, 0x0a, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02,
            0x03, 0x01, 0x00, 0x01,
        ];
        assert_eq!(
            PublicKey::from_spki(&spki),
            Some(PublicKey::rsa(&[0x80, 0x01], &[0x01, 0x00, 0x01]))
        );
    }

    #[test]
    fn garbage_is_no_key() {
        for bad in [&b""[..], b"\x30\x00", b"\x30\x03\x30\x01\x06", &[0x30; 40]] {
            assert_eq!(PublicKey::from_spki(bad), None);
        }
    }
}
