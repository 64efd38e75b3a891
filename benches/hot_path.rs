//! Micro-benchmarks of the token endpoint's hot path: request parsing, signing, verification.
//! `cargo bench --bench hot_path`
#![allow(clippy::unwrap_used)] // a benchmark: failing loudly is right

use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;

use tollgate::security::keys::{self, Alg, MasterKey};
use tollgate::security::tokens::TokenService;
use tollgate::store::Store;
use tollgate::types::{ClientId, ScopeSet};
use tollgate::wire::token_request::{self, RawTokenRequest};

fn token_service(alg: Alg) -> TokenService {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tollgate-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    let master = MasterKey::from_base64(&SecretString::from(STANDARD.encode([9u8; 32]))).unwrap();
    let set = rt.block_on(async {
        let store = Store::connect(&url, 1, Duration::from_secs(5))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        keys::load_or_create(&store, &master, alg, 0).await.unwrap()
    });
    let _ = std::fs::remove_dir_all(dir);
    TokenService::new(
        set,
        "https://issuer.example".into(),
        "https://issuer.example".into(),
        3600,
        3600,
    )
}

fn benches(c: &mut Criterion) {
    let basic = format!(
        "Basic {}",
        STANDARD.encode("agent-desk:Q2xpZW50U2VjcmV0MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u")
    );
    c.bench_function("parse token request (Basic + form)", |b| {
        b.iter(|| {
            let raw = RawTokenRequest {
                content_type: Some("application/x-www-form-urlencoded"),
                authorization: Some(black_box(&basic)),
                query: "",
                body: black_box(b"grant_type=client_credentials&scope=profile%3Aread+chat%3Awrite"),
            };
            token_request::parse(&raw).map(|r| r.scope.is_some())
        })
    });

    let client = ClientId::parse("agent-desk").unwrap();
    let scope = ScopeSet::parse("profile:read").unwrap();
    let now_ms = 1_800_000_000_000;
    for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256, Alg::Hs256] {
        let tokens = token_service(alg);
        c.bench_function(&format!("sign access token {alg}"), |b| {
            b.iter(|| {
                tokens
                    .issue_access_token(black_box(&client), None, &scope, None, None, now_ms)
                    .unwrap()
            })
        });
        let token = tokens
            .issue_access_token(&client, None, &scope, None, None, now_ms)
            .unwrap()
            .token;
        c.bench_function(&format!("verify access token {alg}"), |b| {
            b.iter(|| {
                tokens
                    .verify_access_token(black_box(&token), now_ms / 1000)
                    .unwrap()
            })
        });
    }
}

criterion_group! {
    name = hot_path;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(hot_path);
