//! Signing-key rotation: the next key is published before it signs, the old one stays
//! published until its tokens have expired, and every instance follows within seconds.

use std::time::Duration;

use serde_json::Value;

use crate::backend_test;
use crate::support::*;

/// Waits up to five seconds for `app`'s JWK Set to satisfy `ok`.
async fn wait_for(app: &TestApp, what: &str, mut ok: impl FnMut(&Value) -> bool) {
    eventually(Duration::from_secs(5), what, async || ok(&app.jwks().await)).await;
}

backend_test! {
    async fn a_rotated_key_is_published_first_signs_later_and_the_old_one_stays_until_its_tokens_expire(backend) {
        let (app, second) = TestApp::spawn_two(backend).await;
        let secret = app.create_client("desk", "profile:read").await;
        let old_token = app.token("desk", &secret, "profile:read").await;
        let old_kid = header(&old_token)["kid"].as_str().unwrap().to_owned();

        let rotation = tollgate_json(&app.db, &["keys", "rotate", "--publish-ahead", "1h"], None);
        let new_kid = rotation["kid"].as_str().unwrap().to_owned();
        assert_eq!(rotation["retiring"], serde_json::json!([old_kid]));
        // Published on every instance within 5 s, before it signs anything.
        for instance in [&app, &second] {
            wait_for(instance, "the next key", |j| kids(j).contains(&new_kid)).await;
            let t = instance.token("desk", &secret, "profile:read").await;
            assert_eq!(header(&t)["kid"], old_kid.as_str(), "the next key signs too early");
        }
        let listed = tollgate_json(&app.db, &["keys", "list"], None);
        let state = |kid: &str| listed["keys"].as_array().unwrap().iter()
            .find(|k| k["kid"] == kid).unwrap()["state"].as_str().unwrap().to_owned();
        assert_eq!((state(&old_kid), state(&new_kid)), ("active".to_owned(), "next".to_owned()));

        // An hour on, the new key signs; the old one is still published for its tokens.
        app.clock.advance_secs(3600 + 1);
        let new_token = app.token("desk", &secret, "profile:read").await;
        assert_eq!(header(&new_token)["kid"], new_kid.as_str());
        let jwks = app.jwks().await;
        assert!(kids(&jwks).contains(&old_kid));
        verify_with_jwks(&new_token, &jwks, "http://tollgate.test");
        // Once every token of the old key has expired, it leaves the JWKS.
        app.clock.advance_secs(3600 + 61);
        assert_eq!(kids(&app.jwks().await), vec![new_kid.clone()]);
    }

    async fn scheduled_rotation_adds_the_next_key_when_the_newest_is_old_enough(backend) {
        let app = TestApp::spawn_with(backend, |s| s.key_rotation_days = 30).await;
        assert_eq!(kids(&app.jwks().await).len(), 1);
        app.clock.advance_secs(31 * 86_400);
                wait_for(&app, "the scheduled key", |j| kids(j).len() == 2).await;
        app.state.authority.audit.flush().await;
        let rows = app.store.audit_events_since(0, 100).await.unwrap();
        assert!(rows.iter().any(|r| r.event == "key_rotated" && r.source.as_deref() == Some("schedule")));
        // A second instance, seeing the same due rotation, does not add a third key.
        let second = TestApp::spawn_on(app.db.clone(), |s| s.key_rotation_days = 30).await;
        second.clock.advance_secs(31 * 86_400);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(kids(&second.jwks().await).len(), 2);
    }
}
