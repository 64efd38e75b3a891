//! The DPoP benchmark's load (`bench/run.py --only dpop`). oha sends one request over and over,
//! and every DPoP proof may be used once, so this sends ES256 proofs signed ahead, each with its
//! own `jti`, so that signing is never the bottleneck; and, for the rows beside them, the same
//! requests without DPoP (a bearer token), so all rates come from one load generator.
//!
//!     dpop_load token  dpop|bearer BASE SECONDS CONNECTIONS CLIENT_ID SECRET
//!     dpop_load profile dpop|bearer BASE SECONDS CONNECTIONS CLIENT_ID SECRET API_KEY CUSTOMER_ID
//!
//! BASE is the server's issuer (proofs name `BASE/access_token` and `BASE/getprofile`). Prints
//! one JSON object: requests, seconds, rps, statuses, p50_ms, p99_ms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a load generator

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use tollgate::clock::{Clock, SystemClock};

#[path = "common/drive.rs"]
mod drive;

/// Proofs signed ahead, per second of the run: above any rate this machine reaches.
const PER_SECOND: usize = 40_000;

/// `count` proofs for `POST url` (with `ath` for `token`), signed on every core.
fn proofs(pair: &EcdsaKeyPair, url: &str, token: Option<&str>, count: usize) -> Vec<String> {
    let point = pair.public_key().as_ref();
    let jwk = serde_json::json!({"kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
    let header = URL_SAFE_NO_PAD
        .encode(serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).to_string());
    let ath = token.map(|t| URL_SAFE_NO_PAD.encode(digest(&SHA256, t.as_bytes())));
    let now = SystemClock.now_secs();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per = count.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (header, run, ath) = (&header, &run, &ath);
                s.spawn(move || {
                    let rng = SystemRandom::new();
                    (t * per..((t + 1) * per).min(count))
                        .map(|i| {
                            let mut claims = serde_json::json!({"htm": "POST", "htu": url,
                                "iat": now, "jti": format!("{run}-{i}")});
                            if let Some(ath) = ath {
                                claims["ath"] = serde_json::json!(ath);
                            }
                            let input =
                                format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
                            let sig = pair.sign(&rng, input.as_bytes()).unwrap();
                            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
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

/// One request as the load sends it.
#[derive(Clone)]
struct Shape {
    url: String,
    authorization: String,
    body: String,
    content_type: &'static str,
    extra: Vec<(&'static str, String)>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    tollgate::widgets::axp::install_crypto_provider();
    let args: Vec<String> = std::env::args().collect();
    let a: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let (endpoint, kind, base, seconds, connections, id, secret, rest) = match a.as_slice() {
        [
            e @ ("token" | "profile"),
            k @ ("dpop" | "bearer"),
            base,
            s,
            c,
            id,
            secret,
            rest @ ..,
        ] => (
            *e,
            *k,
            *base,
            s.parse::<u64>().unwrap(),
            c.parse::<usize>().unwrap(),
            *id,
            *secret,
            rest,
        ),
        _ => {
            eprintln!("usage: see the top of examples/dpop_load.rs");
            std::process::exit(2);
        }
    };
    let dpop = kind == "dpop";
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections + 1)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let token_url = format!("{base}/access_token");
    let count = PER_SECOND * usize::try_from(seconds).unwrap() + 1000;
    let (shape, proofs) = if endpoint == "token" {
        let shape = Shape {
            url: token_url.clone(),
            authorization: basic,
            body: "grant_type=client_credentials".into(),
            content_type: "application/x-www-form-urlencoded",
            extra: Vec::new(),
        };
        (shape, dpop.then(|| proofs(&pair, &token_url, None, count)))
    } else {
        let [api_key, customer] = rest else {
            panic!("profile needs API_KEY CUSTOMER_ID")
        };
        // One token for the whole run, bound to the load's key when `dpop`.
        let mut req = http
            .post(&token_url)
            .header("authorization", &basic)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials");
        if dpop {
            req = req.header("DPoP", proofs(&pair, &token_url, None, 1).remove(0));
        }
        let token: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let url = format!("{base}/getprofile");
        let shape = Shape {
            url: url.clone(),
            authorization: format!("{} {token}", if dpop { "DPoP" } else { "Bearer" }),
            body: String::new(),
            content_type: "application/json",
            extra: vec![
                ("api-key", (*api_key).into()),
                ("x-customer-id", (*customer).into()),
            ],
        };
        (
            shape,
            dpop.then(|| proofs(&pair, &url, Some(&token), count)),
        )
    };
    let proofs = Arc::new(proofs);
    let send = {
        let (http, shape, proofs) = (http.clone(), shape.clone(), proofs.clone());
        move |i: usize| {
            let mut req = http
                .post(&shape.url)
                .header("authorization", &shape.authorization)
                .header("content-type", shape.content_type)
                .body(shape.body.clone());
            for (k, v) in &shape.extra {
                req = req.header(*k, v);
            }
            if let Some(p) = proofs.as_ref() {
                req = req.header("DPoP", &p[i]);
            }
            req.send()
        }
    };
    let limit = proofs.as_ref().as_ref().map_or(usize::MAX, Vec::len);
    let mut out = drive::drive(send, connections, seconds, limit).await;
    out.insert("endpoint".into(), serde_json::json!(endpoint));
    out.insert("kind".into(), serde_json::json!(kind));
    println!("{}", serde_json::Value::Object(out));
}
