//! Bad customer credentials on every widget kind: forged, wrongly signed, garbage, non-bearer
//! and expired tokens, by header and by cookie, all get 401 and never reach upstream.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::*;
use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn bad_customer_credentials_get_401_on_every_kind(backend) {
        let upstream = StandIn::start(120).await;
        let app = spawn(backend, vec![ccai("web"), dg(), zendesk(), axp(&upstream.url)]).await;
        let (_, jwt) = with_customer(&app).await;
        let (head, rest) = jwt.split_once('.').unwrap();
        let (payload, _) = rest.split_once('.').unwrap();
        // Forged: the payload names another customer, the signature is the original one.
        let mut claims = claims(&jwt);
        claims["sub"] = json!(uuid::Uuid::new_v4().to_string());
        let forged_payload = base64_url(&serde_json::to_vec(&claims).unwrap());
        let forged = jwt.replacen(payload, &forged_payload, 1);
        // Wrongly signed: a well-formed token signed with a key that is not the server's.
        let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
        h.kid = header(&jwt)["kid"].as_str().map(str::to_owned);
        let wrong = jsonwebtoken::encode(&h, &crate::support::claims(&jwt), &EncodingKey::from_secret(b"not the server key at all")).unwrap();
        let garbage = format!("{head}.e30.c2ln");
        let visitor_forged = format!("tollgate_visitor={wrong}");

        let paths = ["/widget_tokens/web", "/widget_tokens/dg", "/widget_tokens/zendesk", "/widget_tokens/axp"];
        for path in paths {
            for bad in [&forged, &wrong, &garbage] {
                let res = app.http.post(app.url(path)).bearer_auth(bad).send().await.unwrap();
                assert_eq!(error_of(res).await.0, 401, "{path} bearer");
                let res = app.http.post(app.url(path)).header("cookie", format!("tollgate_session={bad}")).send().await.unwrap();
                assert_eq!(error_of(res).await.0, 401, "{path} cookie");
            }
            let res = app.http.post(app.url(path)).header("authorization", "Basic YTpi").send().await.unwrap();
            assert_eq!(error_of(res).await.0, 401, "{path} non-bearer");
            let res = app.http.post(app.url(path)).header("cookie", &visitor_forged).send().await.unwrap();
            assert_eq!(error_of(res).await.0, 401, "{path} forged visitor cookie");
        }
        // Expired: the genuine token, an hour and more later.
        app.clock.advance_secs(3600 + 60);
        for path in paths {
            let res = app.http.post(app.url(path)).bearer_auth(&jwt).send().await.unwrap();
            let (status, body) = error_of(res).await;
            assert_eq!(status, 401, "{path} expired");
            assert_eq!(body["error_description"], "the token has expired");
            let res = app.http.post(app.url(path)).header("cookie", format!("tollgate_session={jwt}")).send().await.unwrap();
            assert_eq!(error_of(res).await.0, 401, "{path} expired cookie");
        }
        assert_eq!(upstream.exchanges(), 0, "no upstream call for a refused visitor");
    }
}
