//! DG widget tokens: the API key as `kid`, only the external id as a claim, customers only.

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::*;
use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn dg_token_has_the_api_key_as_kid_and_only_the_external_id(backend) {
        let app = spawn(backend, vec![dg()]).await;
        let (id, jwt) = with_customer(&app).await;
        let res = app.http.post(app.url("/widget_tokens/dg")).bearer_auth(&jwt).send().await.unwrap();
        let token = token_of(res).await;
        assert_eq!(header(&token), json!({"alg": "HS256", "typ": "JWT", "kid": DG_API_KEY}));
        let claims = verify_hs(&token, DG_SECRET, Algorithm::HS256);
        assert_eq!(keys(&claims), set(&["scope", "external_id", "iat", "exp"]));
        assert_eq!(claims["scope"], "user");
        assert_eq!(claims["external_id"], id);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
        assert_no_pii(&claims);
    }

    async fn dg_refuses_anonymous_visitors(backend) {
        let app = spawn(backend, vec![dg()]).await;
        let res = get(&app, "/widget_tokens/dg", None, None).await;
        assert!(header_of(&res, "set-cookie").is_none());
        let (status, body) = error_of(res).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "login_required");
    }
}
