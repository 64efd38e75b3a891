//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662).

use std::time::Duration;

use serde_json::Value;

use crate::backend_test;
use crate::support::*;

async fn introspect(app: &TestApp, auth: (&str, &str), token: &str) -> (u16, Value) {
    let res = app
        .post_form("/introspect", Some(auth), &form(&[("token", token)]))
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

backend_test! {
    async fn a_revoked_token_is_refused_here_and_on_another_instance_within_five_seconds(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        let secret = first.create_client("desk", "profile:read").await;
        let token = first.token("desk", &secret, "profile:read").await;
        let (key, customer) = first.create_key_and_customer().await;
        assert_eq!(second.profile_status(&token, &key, &customer).await, 200);

        let res = first.post_form("/revoke", Some(("desk", &secret)), &form(&[("token", &token), ("token_type_hint", "access_token")])).await;
        assert_eq!(res.status(), 200);
        assert_eq!(first.profile_status(&token, &key, &customer).await, 401, "at once where it was revoked");
        eventually(Duration::from_secs(5), "revoked on the second instance", async || {
            second.profile_status(&token, &key, &customer).await == 401
        }).await;
        // Other tokens of the same client are untouched.
        let fresh = first.token("desk", &secret, "profile:read").await;
        assert_eq!(second.profile_status(&fresh, &key, &customer).await, 200);
    }

    async fn revocation_needs_the_owning_client(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("desk", "a").await;
        let other = app.create_client("other", "a").await;
        let token = app.token("desk", &secret, "a").await;
        let res = app.post_form("/revoke", None, &form(&[("token", &token)])).await;
        assert_eq!(error_of(res).await.0, 401, "no client authentication");
        let res = app.post_form("/revoke", Some(("desk", "wrong-secret-wrong-secret")), &form(&[("token", &token)])).await;
        assert_eq!(error_of(res).await.0, 401);
        let res = app.post_form("/revoke", Some(("other", &other)), &form(&[("token", &token)])).await;
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_request"), "someone else's token");
        // RFC 7009 §2.2: an invalid token is not an error.
        let res = app.post_form("/revoke", Some(("desk", &secret)), &form(&[("token", "garbage")])).await;
        assert_eq!(res.status(), 200);
        let res = app.post_form("/revoke", Some(("desk", &secret)), "").await;
        assert_eq!(error_of(res).await.0, 400, "token is required");
    }

    async fn introspection_says_active_only_for_live_tokens_of_ours(backend) {
        let app = TestApp::spawn(backend).await;
        let rs_secret = app.create_client("resource-server", "introspect").await;
        let rs = ("resource-server", rs_secret.as_str());
        let secret = app.create_client("desk", "profile:read").await;
        let token = app.token("desk", &secret, "profile:read").await;

        let (status, body) = introspect(&app, rs, &token).await;
        assert_eq!(status, 200);
        assert_eq!(body["active"], true);
        assert_eq!(body["client_id"], "desk");
        assert_eq!(body["scope"], "profile:read");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["iss"], "http://tollgate.test");
        assert_eq!(body["jti"], claims(&token)["jti"]);
        assert_eq!(body["exp"], claims(&token)["exp"]);

        let customer_token = {
            app.create_customer("ada", "correct horse battery").await;
            app.customer_token("ada", "correct horse battery").await
        };
        for (what, t) in [("garbage", "not-a-token".to_owned()), ("customer token", customer_token)] {
            let (status, body) = introspect(&app, rs, &t).await;
            assert_eq!((status, body), (200, serde_json::json!({"active": false})), "{what}");
        }

        let res = app.post_form("/revoke", Some(("desk", &secret)), &form(&[("token", &token)])).await;
        assert_eq!(res.status(), 200);
        assert_eq!(introspect(&app, rs, &token).await.1, serde_json::json!({"active": false}), "revoked");

        let other = app.token("desk", &secret, "profile:read").await;
        app.clock.advance_secs(3600 + 31);
        assert_eq!(introspect(&app, rs, &other).await.1, serde_json::json!({"active": false}), "expired");
    }

    async fn introspection_is_only_for_clients_allowed_to(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("desk", "profile:read").await;
        let token = app.token("desk", &secret, "profile:read").await;
        let res = app.post_form("/introspect", Some(("desk", &secret)), &form(&[("token", &token)])).await;
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (403, "access_denied"));
        let res = app.post_form("/introspect", None, &form(&[("token", &token)])).await;
        assert_eq!(error_of(res).await.0, 401);
    }

    async fn metadata_lists_revocation_and_introspection(backend) {
        let app = TestApp::spawn(backend).await;
        let m: Value = send_json(app.http.get(app.url("/.well-known/oauth-authorization-server"))).await;
        assert_eq!(m["revocation_endpoint"], "http://tollgate.test/revoke");
        assert_eq!(m["introspection_endpoint"], "http://tollgate.test/introspect");
    }
}

backend_test! {
    async fn a_disabled_client_loses_every_power_within_five_seconds(backend) {
        let (first, second) = TestApp::spawn_two(backend).await;
        let rs_secret = first.create_client("resource-server", "introspect").await;
        let secret = first.create_client("desk", "profile:read introspect").await;
        let token = first.token("desk", &secret, "profile:read").await;
        let spare = first.token("desk", &secret, "profile:read").await;
        let (key, customer) = first.create_key_and_customer().await;
        for app in [&first, &second] {
            assert_eq!(app.profile_status(&token, &key, &customer).await, 200);
            assert_eq!(introspect(app, ("desk", &secret), &token).await.1["active"], true);
        }
        first.db.sql("UPDATE clients SET enabled = 0 WHERE client_id = 'desk'").await;
        // Every power goes within the five seconds the caches may lag, on every instance.
        for app in [&first, &second] {
            eventually(Duration::from_secs(5), "the disabled client's token is refused", async || {
                app.profile_status(&token, &key, &customer).await == 401
            }).await;
            eventually(Duration::from_secs(5), "its tokens are inactive for everyone", async || {
                introspect(app, ("resource-server", &rs_secret), &token).await == (200, serde_json::json!({"active": false}))
            }).await;
            eventually(Duration::from_secs(5), "it cannot introspect", async || {
                introspect(app, ("desk", &secret), &token).await.0 == 400
            }).await;
            eventually(Duration::from_secs(5), "it cannot revoke", async || {
                let res = app.post_form("/revoke", Some(("desk", &secret)), &form(&[("token", &spare)])).await;
                res.status() == 400
            }).await;
            let res = app.post_form("/access_token", Some(("desk", &secret)), "grant_type=client_credentials").await;
            let (status, body) = error_of(res).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
        }
    }
}
