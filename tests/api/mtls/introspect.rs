//! `/introspect` and certificate-bound tokens (RFC 8705 §3.2, RFC 7662): every answer about a
//! bound token carries `cnf."x5t#S256"`, so a resource server can check the binding itself;
//! the holder asking about its own bound token must present that certificate, or gets 401
//! `invalid_token`.

use serde_json::{Value, json};

use super::*;
use crate::backend_test;
use crate::support::*;

async fn introspect(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
    token: &str,
) -> reqwest::Response {
    http.post(url)
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

backend_test! {
    async fn the_holder_introspects_its_bound_token_only_with_its_certificate(backend) {
        let pki = Pki::new();
        let app = TlsApp::start(backend, &pki).await;
        let holder = app.create(binding_client("holder")).await.unwrap();
        let rs = app.create(new_client("resource-server", "introspect", None)).await.unwrap();
        let mine = pki.client("partner", true);
        let with_mine = https_client(&pki, app.port, Some(&mine));
        let res = token(&with_mine, &app.base, "holder", &holder, &[]).await;
        assert_eq!(res.status(), 200);
        let at = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        let url = app.url("/introspect");

        let doc: Value = introspect(&with_mine, &url, "holder", &holder, &at).await.json().await.unwrap();
        assert_eq!(doc["active"], true, "{doc}");
        assert_eq!(doc["cnf"], json!({"x5t#S256": x5t(&mine.der)}));

        // Another certificate (of the same CA, or self-signed), or none: 401 invalid_token.
        let theirs = https_client(&pki, app.port, Some(&pki.client("other", true)));
        let forged = https_client(&pki, app.port, Some(&self_signed("partner", rcgen::KeyPair::generate().unwrap())));
        let none = https_client(&pki, app.port, None);
        for (who, http) in [("another certificate", &theirs), ("a self-signed one", &forged)] {
            let res = introspect(http, &url, "holder", &holder, &at).await;
            let (status, err) = error_of(res).await;
            assert_eq!((status, err["error"].as_str()), (401, Some("invalid_token")), "{who}: {err}");
            assert!(err["error_description"].as_str().unwrap().contains("bound to another"), "{err}");
        }
        let (status, err) = error_of(introspect(&none, &url, "holder", &holder, &at).await).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_token")), "{err}");

        // A resource server asking with its own credentials, no certificate: the plain RFC 7662
        // answer, with the binding for it to check.
        let res = introspect(&none, &url, "resource-server", &rs, &at).await;
        assert_eq!(res.status(), 200);
        let doc: Value = res.json().await.unwrap();
        assert_eq!(doc["active"], true, "{doc}");
        assert_eq!(doc["client_id"], "holder");
        assert_eq!(doc["cnf"]["x5t#S256"], x5t(&mine.der));

        // An unbound token of the holder needs no certificate (nothing to compare).
        let plain = app.create(new_client("plain", "introspect", None)).await.unwrap();
        let res = token(&none, &app.base, "plain", &plain, &[]).await;
        let unbound = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        let doc: Value = introspect(&none, &url, "plain", &plain, &unbound).await.json().await.unwrap();
        assert_eq!(doc["active"], true, "{doc}");
        assert!(doc.get("cnf").is_none(), "{doc}");
        app.stop().await;
    }
}
