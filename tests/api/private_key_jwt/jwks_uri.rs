//! A partner that publishes its keys at a `jwks_uri`, served here by a real HTTP server on
//! loopback: fetched once and cached, fetched again when an unknown `kid` arrives (at most once
//! a minute), and a failing fetch keeps the keys already held.

use serde_json::json;
use tollgate::store::ClientJwks;

use super::{create_key_client, post};
use crate::backend_test;
use crate::support::*;

async fn status(app: &TestApp, key: &PartnerKey) -> u16 {
    let jwt = key.sign(&assertion_claims(app, "partner"), &json!({}));
    post(app, "/access_token", &assertion_body(&jwt, &[]))
        .await
        .status()
        .as_u16()
}

backend_test! {
    async fn published_keys_are_cached_and_fetched_again_after_a_rotation(backend) {
        let app = TestApp::spawn(backend).await;
        let first = PartnerKey::generate("ES256", Some("2026-01"));
        let second = PartnerKey::generate("RS256", Some("2026-07"));
        let third = PartnerKey::generate("EdDSA", Some("2027-01"));
        let site = JwksServer::start(jwks_of(&[&first])).await;
        create_key_client(&app, "partner", "a", ClientJwks::Uri(site.url.clone())).await;

        assert_eq!(status(&app, &first).await, 200);
        assert_eq!(status(&app, &first).await, 200);
        assert_eq!(site.hits(), 1, "fetched once, then cached");

        // The partner rotates. The unknown kid makes tollgate fetch again, but at most once a
        // minute: the first fetch was just now.
        site.publish(jwks_of(&[&second]));
        assert_eq!(status(&app, &second).await, 401);
        assert_eq!(site.hits(), 1, "no fetch within the minute");
        app.clock.advance_secs(61);
        assert_eq!(status(&app, &second).await, 200);
        assert_eq!(site.hits(), 2);
        assert_eq!(status(&app, &first).await, 401, "the retired key is gone");

        // Unknown kids within the minute: no new fetch, however many arrive.
        site.publish(jwks_of(&[&second, &third]));
        for _ in 0..5 {
            assert_eq!(status(&app, &third).await, 401);
        }
        assert_eq!(site.hits(), 2, "at most one fetch a minute");
        app.clock.advance_secs(61);
        assert_eq!(status(&app, &third).await, 200);
        assert_eq!(site.hits(), 3);
        assert_eq!(status(&app, &second).await, 200);
        assert_eq!(site.hits(), 3, "known kids need no fetch");
    }

    async fn a_failing_fetch_keeps_the_keys_held(backend) {
        let app = TestApp::spawn(backend).await;
        let key = PartnerKey::generate("ES256", Some("k1"));
        let site = JwksServer::start(jwks_of(&[&key])).await;
        create_key_client(&app, "partner", "a", ClientJwks::Uri(site.url.clone())).await;
        assert_eq!(status(&app, &key).await, 200);

        site.answer_with(500);
        app.clock.advance_secs(61);
        let unknown = PartnerKey::generate("ES256", Some("k2"));
        assert_eq!(status(&app, &unknown).await, 401);
        assert_eq!(site.hits(), 2, "the unknown kid was looked for");
        assert_eq!(status(&app, &key).await, 200, "the held key still works");

        // A set that is not a JWK Set is a failure too.
        site.answer_with(200);
        site.publish("{\"not\": \"a set\"}".into());
        app.clock.advance_secs(61);
        assert_eq!(status(&app, &unknown).await, 401);
        assert_eq!(site.hits(), 3);
        assert_eq!(status(&app, &key).await, 200);
    }

    async fn the_partner_site_down_from_the_start_is_invalid_client_not_an_error(backend) {
        let app = TestApp::spawn(backend).await;
        let key = PartnerKey::generate("ES256", Some("k1"));
        let site = JwksServer::start(jwks_of(&[&key])).await;
        site.answer_with(503);
        create_key_client(&app, "partner", "a", ClientJwks::Uri(site.url.clone())).await;
        let jwt = key.sign(&assertion_claims(&app, "partner"), &json!({}));
        let (status, body) = error_of(post(&app, "/access_token", &assertion_body(&jwt, &[])).await).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (401, "invalid_client"));
        site.answer_with(200);
        app.clock.advance_secs(61);
        assert_eq!(self::status(&app, &key).await, 200);
    }
}
