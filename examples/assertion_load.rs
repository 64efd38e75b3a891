//! The `private_key_jwt` benchmark's load (`bench/run.py --only assertion`). oha sends one body
//! over and over, and every assertion may be used once, so this sends pre-generated ES256
//! assertions, each with its own `jti`, signed before the clock starts so that signing is never
//! the bottleneck; and, for the row beside it, the same load with a client secret (HTTP Basic),
//! so both rates come from one load generator.
//!
//!     assertion_load keygen DIR                                 # DIR/jwks.json, DIR/key.pk8
//!     assertion_load assertion BASE SECONDS CONNECTIONS CLIENT_ID DIR
//!     assertion_load basic BASE SECONDS CONNECTIONS CLIENT_ID SECRET
//!     assertion_load crypto-cost                                # ES256 on one core, as the server does it
//!
//! Prints one JSON object: requests, seconds, rps, statuses, p50_ms, p99_ms (crypto-cost:
//! es256_verify_us, es256_sign_us, es256_table_verify_us: a busy key's, on its own table).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a load generator

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    ParsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use tollgate::clock::{Clock, SystemClock};

#[path = "common/drive.rs"]
mod drive;

/// Assertions signed ahead, per second of the run: above any rate this machine reaches.
const PER_SECOND: usize = 40_000;

fn keygen(dir: &str) {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "bench",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
    std::fs::write(
        format!("{dir}/jwks.json"),
        serde_json::json!({"keys": [jwk]}).to_string(),
    )
    .unwrap();
    std::fs::write(format!("{dir}/key.pk8"), doc.as_ref()).unwrap();
}

/// What one ES256 signature and one verification cost on one core here, with the key parsed
/// once as the server holds it: the verification is what an assertion or a DPoP proof adds to
/// a request, which bounds how close to the secret-based rate it can come on this machine.
fn crypto_cost() {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref()).unwrap();
    let message = [b'a'; 300]; // about an assertion's signing input
    let signature = pair.sign(&rng, &message).unwrap();
    let time = |n: u32, f: &dyn Fn()| {
        let start = tollgate::clock::instant();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    };
    let verify = || key.verify_sig(&message, signature.as_ref()).unwrap();
    let sign = || {
        pair.sign(&rng, &message).unwrap();
    };
    // The same key once busy: verified on its own table, as the server does then.
    let point = pair.public_key().as_ref();
    let busy = tollgate::security::es256::BusyKey::new(&point[1..33], &point[33..65]).unwrap();
    for _ in 0..tollgate::security::es256::BUSY_AFTER {
        busy.verified();
    }
    let on_table = || assert_eq!(busy.verify(&message, signature.as_ref()), Some(true));
    time(500, &verify); // warm-up
    time(500, &on_table);
    // The best of three, as a machine's noise only ever adds.
    let best = |f: &dyn Fn()| (0..3).map(|_| time(4000, f)).fold(f64::MAX, f64::min);
    let out = serde_json::json!({"es256_verify_us": best(&verify), "es256_sign_us": best(&sign),
        "es256_table_verify_us": best(&on_table)});
    println!("{out}");
}

/// `count` form bodies, each with a fresh ES256 assertion for `client_id` at `base`, signed on
/// every core.
fn assertions(base: &str, client_id: &str, dir: &str, count: usize) -> Vec<String> {
    let pkcs8 = std::fs::read(format!("{dir}/key.pk8")).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"JWT","kid":"bench"}"#);
    let now = SystemClock.now_secs();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per = count.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (pair, header, run) = (&pair, &header, &run);
                s.spawn(move || {
                    let rng = SystemRandom::new();
                    (t * per..((t + 1) * per).min(count))
                        .map(|i| {
                            let claims = serde_json::json!({"iss": client_id, "sub": client_id,
                                "aud": format!("{base}/access_token"), "iat": now,
                                "exp": now + 300, "jti": format!("{run}-{i}")});
                            let input =
                                format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
                            let sig = pair.sign(&rng, input.as_bytes()).unwrap();
                            format!(
                                "grant_type=client_credentials&client_assertion_type=\
                                 urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
                                 &client_assertion={input}.{}",
                                URL_SAFE_NO_PAD.encode(sig.as_ref())
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    tollgate::widgets::axp::install_crypto_provider();
    let args: Vec<String> = std::env::args().collect();
    let (mode, rest) = (
        args.get(1).map(String::as_str),
        args.get(2..).unwrap_or_default(),
    );
    let (base, seconds, connections, client_id, last) = match (mode, rest) {
        (Some("keygen"), [dir]) => return keygen(dir),
        (Some("crypto-cost"), []) => return crypto_cost(),
        (Some("assertion" | "basic"), [base, seconds, connections, id, last]) => (
            base,
            seconds.parse::<u64>().unwrap(),
            connections.parse::<usize>().unwrap(),
            id,
            last,
        ),
        _ => {
            eprintln!("usage: see the top of examples/assertion_load.rs");
            std::process::exit(2);
        }
    };
    let basic = mode == Some("basic");
    let bodies: Arc<Vec<String>> = Arc::new(if basic {
        vec!["grant_type=client_credentials".to_owned()]
    } else {
        assertions(
            base,
            client_id,
            last,
            PER_SECOND * usize::try_from(seconds).unwrap() + 1000,
        )
    });
    let authorization =
        basic.then(|| format!("Basic {}", STANDARD.encode(format!("{client_id}:{last}"))));
    let url = format!("{base}/access_token");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections + 1)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let send = {
        let bodies = bodies.clone();
        move |i: usize| {
            let mut req = http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(bodies[if basic { 0 } else { i }].clone());
            if let Some(a) = &authorization {
                req = req.header("authorization", a);
            }
            req.send()
        }
    };
    let limit = if basic { usize::MAX } else { bodies.len() };
    let mut out = drive::drive(send, connections, seconds, limit).await;
    out.insert("mode".into(), serde_json::json!(mode));
    out.insert("signed_ahead".into(), serde_json::json!(bodies.len()));
    println!("{}", serde_json::Value::Object(out));
}
