//! CCAI widget tokens: HS256/HS384 with the company secret, for a customer (by bearer token or
//! session cookie, also at the vendor sample path `/auth/token`) and for anonymous visitors.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use super::*;
use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn ccai_token_for_a_customer_carries_the_opaque_id_and_the_profile(backend) {
        let app = spawn(backend, vec![ccai("web")]).await;
        let (id, jwt) = with_customer(&app).await;
        let res = get(&app, "/widget_tokens/web", Some(&jwt), None).await;
        assert!(header_of(&res, "set-cookie").is_none(), "customers get no anonymous cookie");
        assert!(header_of(&res, "strict-transport-security").is_none(), "no HSTS over HTTP");
        let token = token_of(res).await;
        assert_eq!(header(&token), json!({"alg": "HS256", "typ": "JWT"}));
        let claims = verify_hs(&token, CCAI_SECRET, Algorithm::HS256);
        assert_eq!(keys(&claims), set(&["iss", "iat", "exp", "identifier", "name", "email", "phone"]));
        assert_eq!(claims["iss"], "ACME");
        assert_eq!(claims["identifier"], id);
        assert_eq!(claims["name"], "Ada Lovelace");
        assert_eq!(claims["email"], "ada@example.com");
        assert_eq!(claims["phone"], "+14155550100");
        let iat = claims["iat"].as_i64().unwrap();
        assert!((iat - app.now()).abs() <= 2);
        assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);
        // Signed with the company secret, not something else.
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_aud = false;
        assert!(jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_secret(b"another-secret-0123456789"), &v).is_err());
    }

    async fn ccai_is_served_at_auth_token_from_the_session_cookie_and_can_use_hs384(backend) {
        let mut hs384 = ccai("mobile");
        ccai_keys(&mut hs384).alg = Some("HS384".into());
        hs384.ttl_seconds = Some(900);
        let app = spawn(backend, vec![ccai("web"), hs384]).await;
        let (id, jwt) = with_customer(&app).await;
        let cookie = format!("other=1; tollgate_session={jwt}");
        let token = token_of(get(&app, "/auth/token", None, Some(&cookie)).await).await;
        assert_eq!(header(&token)["alg"], "HS256", "/auth/token is the first ccai profile");
        assert_eq!(verify_hs(&token, CCAI_SECRET, Algorithm::HS256)["identifier"], id);

        let token = token_of(get(&app, "/widget_tokens/mobile", Some(&jwt), None).await).await;
        assert_eq!(header(&token), json!({"alg": "HS384", "typ": "JWT"}));
        let claims = verify_hs(&token, CCAI_SECRET, Algorithm::HS384);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    }

    async fn ccai_anonymous_visitors_keep_a_random_id_in_an_httponly_cookie(backend) {
        let app = spawn(backend, vec![ccai("web")]).await;
        let res = get(&app, "/widget_tokens/web", None, None).await;
        let cookie = visitor_cookie(&res);
        let claims = verify_hs(&token_of(res).await, CCAI_SECRET, Algorithm::HS256);
        assert_eq!(keys(&claims), set(&["iss", "iat", "exp", "identifier"]));
        let anon = claims["identifier"].as_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&anon).is_ok(), "UUID-like, never an email");

        // The same browser keeps its id …
        let res = get(&app, "/widget_tokens/web", None, Some(&cookie)).await;
        visitor_cookie(&res);
        let again = verify_hs(&token_of(res).await, CCAI_SECRET, Algorithm::HS256);
        assert_eq!(again["identifier"], anon.as_str());
        // … another browser gets another.
        let other = verify_hs(&token_of(get(&app, "/widget_tokens/web", None, None).await).await, CCAI_SECRET, Algorithm::HS256);
        assert_ne!(other["identifier"], anon.as_str());

        // The visitor cookie never passes as a customer session, nor as a bearer token.
        let value = cookie.split_once('=').unwrap().1;
        let res = get(&app, "/widget_tokens/web", Some(value), None).await;
        assert_eq!(error_of(res).await.0, 401);
        let res = get(&app, "/widget_tokens/web", None, Some(&format!("tollgate_session={value}"))).await;
        assert_eq!(error_of(res).await.0, 401);
    }
}
