//! A partner that authenticates with its own keys (`private_key_jwt`): key pairs of every
//! algorithm tollgate accepts, their public JWKs, client assertions signed with them, and a
//! tiny HTTP server publishing a JWK Set the test can change (a partner's `jwks_uri`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::app::TestApp;
use super::http::form;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(rsa::KeyPair),
    Ed(Ed25519KeyPair),
}

/// A partner's key pair. `alg` is the JWS algorithm it signs with.
pub struct PartnerKey {
    pub alg: &'static str,
    pub kid: Option<String>,
    pair: Pair,
    /// PKCS#8 DER of the private key (for PEM files handed to other clients).
    pkcs8: Vec<u8>,
}

impl PartnerKey {
    /// A new key for `alg` (ES256, ES384, RS256, PS256 or EdDSA), with `kid` when given.
    pub fn generate(alg: &'static str, kid: Option<&str>) -> Self {
        let rng = SystemRandom::new();
        let (pair, pkcs8) = match alg {
            "ES256" | "ES384" => {
                let signing = if alg == "ES256" {
                    &ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let doc = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
                let pair = EcdsaKeyPair::from_pkcs8(signing, doc.as_ref()).unwrap();
                (Pair::Ec(pair), doc.as_ref().to_vec())
            }
            "RS256" | "PS256" => {
                let pair = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap();
                let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
                let der = der.as_ref().to_vec();
                (Pair::Rsa(pair), der)
            }
            "EdDSA" => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
                (Pair::Ed(pair), doc.as_ref().to_vec())
            }
            other => panic!("no test key for {other}"),
        };
        Self {
            alg,
            kid: kid.map(str::to_owned),
            pair,
            pkcs8,
        }
    }

    /// The public JWK (with `kid` when the key has one).
    pub fn public_jwk(&self) -> Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match &self.pair {
            Pair::Ec(p) => {
                let point = p.public_key().as_ref();
                let n = (point.len() - 1) / 2;
                let crv = if n == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..=n]), "y": b64(&point[n + 1..])})
            }
            Pair::Rsa(p) => {
                let public = p.public_key();
                json!({"kty": "RSA",
                       "n": b64(public.modulus().big_endian_without_leading_zero()),
                       "e": b64(public.exponent().big_endian_without_leading_zero())})
            }
            Pair::Ed(p) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(p.public_key().as_ref())})
            }
        };
        if let Some(kid) = &self.kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    /// The private key as a PKCS#8 PEM file's text.
    pub fn private_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.pkcs8);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A JWS over `claims` with this key, header `alg` (and `kid`) plus `extra_header`.
    pub fn sign(&self, claims: &Value, extra_header: &Value) -> String {
        let mut header = json!({"alg": self.alg, "typ": "JWT"});
        if let Some(kid) = &self.kid {
            header["kid"] = json!(kid);
        }
        if let Some(extra) = extra_header.as_object() {
            for (k, v) in extra {
                header[k] = v.clone();
            }
        }
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// A JWS over exactly these header and payload texts.
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let rng = SystemRandom::new();
        let signature = match (&self.pair, self.alg) {
            (Pair::Ec(p), _) => p.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            (Pair::Ed(p), _) => p.sign(input.as_bytes()).as_ref().to_vec(),
            (Pair::Rsa(p), alg) => {
                let padding = if alg == "PS256" {
                    &RSA_PSS_SHA256
                } else {
                    &RSA_PKCS1_SHA256
                };
                let mut sig = vec![0; p.public_modulus_len()];
                p.sign(padding, &rng, input.as_bytes(), &mut sig).unwrap();
                sig
            }
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A JWK Set of these keys' public halves, as JSON text.
pub fn jwks_of(keys: &[&PartnerKey]) -> String {
    let keys: Vec<Value> = keys.iter().map(|k| k.public_jwk()).collect();
    json!({ "keys": keys }).to_string()
}

/// The claims a well-behaved client puts in an assertion for `app`'s token endpoint: valid for
/// 60 s from the app's clock, a fresh `jti`.
pub fn assertion_claims(app: &TestApp, client_id: &str) -> Value {
    let now = app.now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": format!("{}/access_token", app.settings.issuer),
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// The form body of a client-credentials request authenticated by `assertion`, plus `extra`.
pub fn assertion_body(assertion: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    pairs.extend_from_slice(extra);
    form(&pairs)
}

/// A partner's `jwks_uri` on loopback: serves whatever JWK Set the test last set, and counts the
/// requests it answered.
pub struct JwksServer {
    pub url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
    status: Arc<Mutex<u16>>,
}

impl JwksServer {
    pub async fn start(initial: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new(initial));
        let hits = Arc::new(AtomicUsize::new(0));
        let status = Arc::new(Mutex::new(200));
        let (b, h, s) = (body.clone(), hits.clone(), status.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let (b, h, s) = (b.clone(), h.clone(), s.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let status = *s.lock().unwrap();
                    let text = b.lock().unwrap().clone();
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Self {
            url,
            body,
            hits,
            status,
        }
    }

    pub fn publish(&self, jwks: String) {
        *self.body.lock().unwrap() = jwks;
    }

    /// Answer every request with this status from now on (500: the partner's site is down).
    pub fn answer_with(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
