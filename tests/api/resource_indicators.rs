//! Audience-bound tokens (RFC 8707): clients granted several audiences, `resource` choosing
//! among them (else `invalid_target`), `aud` as a string or an array, `/getprofile` taking an
//! array that contains the server's audience, introspection returning `aud` as issued, and
//! `client update --audience` replacing a client's audiences on running servers.

use std::time::Duration;

use serde_json::{Value, json};
use tollgate::domain::provisioning::NewClient;

use crate::backend_test;
use crate::support::*;

/// The server's own API audience in these tests (`TOLLGATE_AUDIENCE` is unset: the issuer).
const OWN: &str = "http://tollgate.test";
const CRM: &str = "https://crm.bank.example/api";
const IVR: &str = "urn:bank:ivr";

async fn client_with_audiences(
    app: &TestApp,
    id: &str,
    scopes: &str,
    audiences: &[&str],
) -> String {
    app.create_client_with(NewClient {
        audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
        ..new_client(id, scopes, None)
    })
    .await
}

/// A token request for `id` naming `resources`; the raw answer.
async fn request(app: &TestApp, id: &str, secret: &str, resources: &[&str]) -> reqwest::Response {
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend(resources.iter().map(|r| ("resource", *r)));
    app.post_form("/access_token", Some((id, secret)), &form(&pairs))
        .await
}

async fn aud_of(app: &TestApp, id: &str, secret: &str, resources: &[&str]) -> Value {
    let res = request(app, id, secret, resources).await;
    assert_eq!(res.status(), 200, "{resources:?}");
    let body: Value = res.json().await.unwrap();
    claims(body["access_token"].as_str().unwrap())["aud"].clone()
}

backend_test! {
    async fn resources_choose_among_the_clients_audiences(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = client_with_audiences(&app, "desk", "profile:read", &[CRM, OWN, IVR]).await;
        assert_eq!(aud_of(&app, "desk", &secret, &[]).await, json!([CRM, OWN, IVR]), "all of them");
        assert_eq!(aud_of(&app, "desk", &secret, &[IVR]).await, json!(IVR), "one is a string");
        assert_eq!(aud_of(&app, "desk", &secret, &[IVR, CRM]).await, json!([IVR, CRM]), "exactly those asked");
        assert_eq!(aud_of(&app, "desk", &secret, &[CRM, CRM]).await, json!(CRM), "a repeat adds nothing");
        // RFC 8707 §2: not the client's, or not an absolute URI: invalid_target.
        for resources in [&["https://other.example/api"][..], &[CRM, "https://other.example/api"], &["crm"], &["https://crm.bank.example/api#x"]] {
            let (status, body) = error_of(request(&app, "desk", &secret, resources).await).await;
            assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_target"), "{resources:?}");
            assert!(!body["error_description"].as_str().unwrap().contains("other.example"), "never echoed");
        }
        // One audience of its own: a string, as before.
        let single = client_with_audiences(&app, "one", "a", &[CRM]).await;
        assert_eq!(aud_of(&app, "one", &single, &[]).await, json!(CRM));
    }

    async fn a_client_without_audiences_gets_the_servers(backend) {
        let app = TestApp::spawn_with(backend, |s| s.audience = Some("tollgate-api".into())).await;
        let secret = app.create_client("plain", "a").await;
        assert_eq!(aud_of(&app, "plain", &secret, &[]).await, json!("tollgate-api"));
        assert_eq!(aud_of(&app, "plain", &secret, &["tollgate-api"]).await, json!("tollgate-api"));
        let (status, body) = error_of(request(&app, "plain", &secret, &[CRM]).await).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_target"));
    }

    async fn getprofile_takes_an_aud_array_containing_its_audience_and_nothing_else(backend) {
        let app = TestApp::spawn(backend).await;
        let (api_key, customer) = app.create_key_and_customer().await;
        let secret = client_with_audiences(&app, "desk", "profile:read", &[CRM, OWN]).await;
        let token_for = async |resources: &[&str]| {
            let res = request(&app, "desk", &secret, resources).await;
            let body: Value = res.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        };
        let both = token_for(&[]).await;
        assert_eq!(claims(&both)["aud"], json!([CRM, OWN]));
        assert_eq!(app.profile_status(&both, &api_key, &customer).await, 200);
        let own = token_for(&[OWN]).await;
        assert_eq!(app.profile_status(&own, &api_key, &customer).await, 200);
        // A token bound to the CRM alone is refused, saying why.
        let crm = token_for(&[CRM]).await;
        let res = app.http.post(app.url("/getprofile")).bearer_auth(&crm).header("api-key", &api_key)
            .header("X-Customer-Id", &customer).send().await.unwrap();
        let challenge = header_of(&res, "www-authenticate").unwrap();
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (401, "invalid_token"));
        assert!(body["error_description"].as_str().unwrap().contains("aud"), "{body}");
        assert!(challenge.contains("error=\"invalid_token\"") && challenge.contains("aud"), "{challenge}");
        // And an array without the server's audience.
        let other = client_with_audiences(&app, "other", "profile:read", &[CRM, IVR]).await;
        let res = request(&app, "other", &other, &[]).await;
        let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims(&token)["aud"], json!([CRM, IVR]));
        assert_eq!(app.profile_status(&token, &api_key, &customer).await, 401);
    }

    async fn introspection_returns_aud_as_issued(backend) {
        let app = TestApp::spawn(backend).await;
        let rs = app.create_client("rs", "introspect").await;
        let secret = client_with_audiences(&app, "desk", "a", &[CRM, IVR]).await;
        for (resources, aud) in [(&[][..], json!([CRM, IVR])), (&[IVR][..], json!(IVR))] {
            let res = request(&app, "desk", &secret, resources).await;
            let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
            let body = form(&[("token", &token)]);
            let res = app.post_form("/introspect", Some(("rs", &rs)), &body).await;
            let answer: Value = res.json().await.unwrap();
            assert_eq!((answer["active"].clone(), answer["aud"].clone()), (json!(true), aud));
        }
    }

    async fn the_cli_grants_and_replaces_audiences_on_running_servers(backend) {
        let db = std::sync::Arc::new(TestDb::create(backend).await);
        let created = tollgate_json(&db, &["client", "create", "--id", "desk", "--scope", "a",
            "--audience", CRM, "--audience", IVR], None);
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let app = TestApp::spawn_on(db.clone(), |_| {}).await;
        assert_eq!(aud_of(&app, "desk", &secret, &[]).await, json!([CRM, IVR]));

        let out = tollgate_json(&db, &["client", "update", "--id", "desk", "--audience", IVR], None);
        assert_eq!((&out["client_id"], &out["audiences"]), (&json!("desk"), &json!([IVR])));
        eventually(Duration::from_secs(5), "the new audiences", async || {
            request(&app, "desk", &secret, &[CRM]).await.status() == 400
        }).await;
        assert_eq!(aud_of(&app, "desk", &secret, &[]).await, json!(IVR));

        // Back to the server's own audience.
        let out = tollgate_json(&db, &["client", "update", "--id", "desk", "--server-audience"], None);
        assert_eq!(out["client_id"], "desk");
        assert_eq!(out["audiences"].as_array().unwrap().len(), 1);
        eventually(Duration::from_secs(5), "the server's audience", async || {
            request(&app, "desk", &secret, &[IVR]).await.status() == 400
        }).await;
        assert_eq!(aud_of(&app, "desk", &secret, &[]).await, json!(OWN));

        // Refused: no change given, an audience that is no absolute URI, an unknown client.
        for (args, reason) in [
            (&["client", "update", "--id", "desk"][..], "nothing to change"),
            (&["client", "update", "--id", "desk", "--audience", "crm"][..], "absolute URI"),
            (&["client", "update", "--id", "nobody", "--audience", CRM][..], "no client nobody"),
            (&["client", "create", "--id", "x", "--scope", "a", "--audience", "not a uri"][..], "absolute URI"),
        ] {
            let out = run_tollgate(&db, args, None);
            assert!(!out.status.success(), "{args:?}");
            let err = String::from_utf8(out.stderr).unwrap();
            assert!(err.contains(reason), "{args:?}: {err}");
        }
    }
}
