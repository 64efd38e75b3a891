//! Looking into JWTs: their header and claims without verification, verification against a
//! published JWK Set, and tokens forged on purpose.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The claims of a JWT, without verification (for inspecting what a token carries).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

pub fn header(jwt: &str) -> Value {
    let head = jwt.split('.').next().expect("a JWT has a header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).expect("base64url")).expect("JSON")
}

/// Verifies `jwt` with the key the JWK Set publishes for its `kid`.
pub fn verify_with_jwks(jwt: &str, jwks: &Value, audience: &str) -> Value {
    verify_with_jwks_for(jwt, jwks, audience, "http://tollgate.test")
}

/// `verify_with_jwks` for a server whose issuer is `issuer`.
pub fn verify_with_jwks_for(jwt: &str, jwks: &Value, audience: &str, issuer: &str) -> Value {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).expect("a JWK set");
    let kid = header(jwt)["kid"].as_str().expect("kid").to_owned();
    let jwk = set.find(&kid).expect("the kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("a usable JWK");
    let alg = jsonwebtoken::decode_header(jwt).unwrap().alg;
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v)
        .expect("the token verifies")
        .claims
}

/// The `kid`s a JWK Set publishes, in its order.
pub fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// `bytes` as unpadded base64url, the encoding of a JWT's parts.
pub fn base64_url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with `claims` signed by a key tollgate does not have, under tollgate's own kid.
pub fn forged(kid: &str, claims: &Value) -> String {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_der(doc.as_ref());
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, &key).unwrap()
}
