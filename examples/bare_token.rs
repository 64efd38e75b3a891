//! The calibration point of `bench/run.py`: the least a token endpoint can do on this machine.
//!
//! One actix-web handler that reads a Basic header and a form body, compares the secret with one
//! held in memory (constant time), and signs an ES256 RFC 9068 token with a key parsed once,
//! using tollgate's own signer. No database, no cache, no limits, no audit, no logging. The
//! benchmark drives it exactly as it drives tollgate, so "tollgate ÷ bare" says what tollgate's
//! correctness and bookkeeping cost, whatever the machine's speed.
//!
//!     cargo run --release --example bare_token -- 127.0.0.1:8090 partner s3cret

use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tollgate::clock::{Clock, SystemClock};
use tollgate::security::keys::{Alg, KeySet, TokenType};

struct Bare {
    keys: KeySet,
    client_id: String,
    secret: String,
}

async fn token(req: HttpRequest, body: web::Bytes, bare: web::Data<Arc<Bare>>) -> HttpResponse {
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|d| String::from_utf8(d).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let ok = id == bare.client_id
                && verify_slices_are_equal(secret.as_bytes(), bare.secret.as_bytes()).is_ok();
            ok.then_some(())
        })
        .is_some();
    let grant = body
        .split(|b| *b == b'&')
        .any(|p| p == b"grant_type=client_credentials");
    if !authorized || !grant {
        return HttpResponse::Unauthorized().json(serde_json::json!({"error": "invalid_client"}));
    }
    let now = SystemClock.now_secs();
    let claims = serde_json::json!({
        "iss": "http://bare", "sub": bare.client_id, "client_id": bare.client_id,
        "aud": "http://bare/api", "iat": now, "exp": now + 3600,
        "jti": uuid::Uuid::new_v4().to_string(), "scope": "profile:read",
    });
    let Ok(key) = bare.keys.active(now) else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    match key.sign_jwt(TokenType::Access, &claims) {
        Ok(jwt) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(serde_json::json!({
                "access_token": jwt, "token_type": "Bearer", "expires_in": 3600,
                "scope": "profile:read",
            })),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(client_id), Some(secret)) = (args.next(), args.next(), args.next())
    else {
        eprintln!("usage: bare_token LISTEN CLIENT_ID SECRET");
        std::process::exit(2);
    };
    let keys = KeySet::ephemeral(Alg::Es256).map_err(std::io::Error::other)?;
    let bare = Arc::new(Bare {
        keys,
        client_id,
        secret,
    });
    actix_web::rt::System::new().block_on(
        HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(bare.clone()))
                .route("/access_token", web::post().to(token))
        })
        .bind(listen)?
        .run(),
    )
}
