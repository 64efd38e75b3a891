//! Server nonces (RFC 9449 §8, §9): with `TOLLGATE_DPOP_NONCE=required`, a proof without a
//! current nonce gets `use_dpop_nonce` and a `DPoP-Nonce` to retry with; a nonce one instance
//! issued is good at another; nonces rotate and expire.

use super::{DpopKey, dpop_token, htu, profile, token_request};
use crate::backend_test;
use crate::support::*;
use tollgate::domain::dpop::NonceMode;

backend_test! {
    async fn a_required_nonce_is_asked_for_and_accepted_by_every_instance(backend) {
        let a = TestApp::spawn_with(backend, |s| s.dpop_nonce = NonceMode::Required).await;
        let b = TestApp::spawn_on(a.db.clone(), |s| s.dpop_nonce = NonceMode::Required).await;
        let secret = a.create_client("partner", "profile:read").await;
        let (api_key, customer) = a.create_key_and_customer().await;
        let key = DpopKey::new("ES256");
        let url = htu(&a, "/access_token");

        // §8.1: no nonce yet: 400 use_dpop_nonce with one to use.
        let res = token_request(&a, "partner", &secret, Some(&key.proof_at("POST", &url, a.now(), None, None))).await;
        let nonce = header_of(&res, "dpop-nonce").expect("a DPoP-Nonce header");
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
        // A made-up nonce is no better.
        let res = token_request(&a, "partner", &secret, Some(&key.proof_at("POST", &url, a.now(), None, Some("made-up")))).await;
        assert_eq!(error_of(res).await.1["error"], "use_dpop_nonce");

        // The nonce from instance a, at instance b.
        let res = token_request(&b, "partner", &secret, Some(&key.proof_at("POST", &url, b.now(), None, Some(&nonce)))).await;
        assert_eq!(res.status(), 200);
        let next = header_of(&res, "dpop-nonce").expect("a fresh nonce with the token (RFC 9449 section 8.2)");
        let token: serde_json::Value = res.json().await.unwrap();
        let at = token["access_token"].as_str().unwrap();

        // §9: the resource asks for a nonce the same way, with a 401 and a DPoP challenge.
        let purl = htu(&a, "/getprofile");
        let res = profile(&a, &format!("DPoP {at}"), Some(&key.proof_at("POST", &purl, a.now(), Some(at), None)), &api_key, &customer).await;
        let fresh = header_of(&res, "dpop-nonce").expect("a DPoP-Nonce header");
        let challenge = header_of(&res, "www-authenticate").unwrap();
        assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"use_dpop_nonce\""), "{challenge}");
        assert_eq!(error_of(res).await.0, 401);
        let res = profile(&b, &format!("DPoP {at}"), Some(&key.proof_at("POST", &purl, b.now(), Some(at), Some(&fresh))), &api_key, &customer).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

        // Nonces rotate: two periods on, the old one is refused and a new one given.
        a.clock.advance_secs(150);
        let res = token_request(&a, "partner", &secret, Some(&key.proof_at("POST", &url, a.now(), None, Some(&next)))).await;
        let later = header_of(&res, "dpop-nonce").expect("a DPoP-Nonce header");
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
        assert_ne!(later, next);
    }

    async fn without_the_setting_no_nonce_is_needed(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("partner", "a").await;
        let token = dpop_token(&app, "partner", &secret, &DpopKey::new("EdDSA")).await;
        assert_eq!(token["token_type"], "DPoP");
    }
}
