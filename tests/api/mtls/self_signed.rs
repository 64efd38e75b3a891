//! `self_signed_tls_client_auth` (RFC 8705 §2.2): the certificate, self-signed, carries one of
//! the client's registered public keys. Over tollgate's own TLS (which now completes the
//! handshake with a certificate of no CA, and tells `tls_client_auth` it did not chain), and
//! through a trusted proxy, where tollgate checks the chain itself when it knows the CA.

use std::net::IpAddr;

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::{Value, json};
use tollgate::domain::provisioning::{NewClient, NewClientAuth};
use tollgate::store::{ClientJwks, TlsSubject};

use super::*;
use crate::backend_test;
use crate::support::*;

/// The public JWK of a P-256 rcgen key (`public_key_raw` is the uncompressed point).
fn ec_jwk(key: &KeyPair) -> Value {
    let raw = key.public_key_raw();
    json!({"kty": "EC", "crv": "P-256", "x": base64_url(&raw[1..33]), "y": base64_url(&raw[33..])})
}

fn self_signed_client(id: &str, jwks: Value) -> NewClient {
    NewClient {
        auth: NewClientAuth::SelfSignedTlsClientAuth(ClientJwks::Inline(jwks.to_string())),
        ..new_client(id, "profile:read introspect", None)
    }
}

backend_test! {
    async fn a_self_signed_certificate_with_a_registered_key_gets_a_bound_token(backend) {
        let pki = Pki::new();
        let app = TlsApp::start(backend, &pki).await;
        let ec = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let partner = PartnerKey::generate("RS256", None);
        let ed = PartnerKey::generate("EdDSA", None);
        let jwks = json!({"keys": [ec_jwk(&ec), partner.public_jwk(), ed.public_jwk()]});
        app.create(self_signed_client("self", jwks)).await;
        let url = app.url("/access_token");

        // Each kind of key tollgate takes: EC, RSA, Ed25519 (the key material is compared).
        let certs = [
            self_signed("partner-ec", ec),
            self_signed("partner-rsa", KeyPair::from_pem(&partner.private_pem()).unwrap()),
            self_signed("partner-ed", KeyPair::from_pem(&ed.private_pem()).unwrap()),
        ];
        for cert in &certs {
            let http = https_client(&pki, app.port, Some(cert));
            let res = cert_token(&http, &url, "self").await;
            assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["token_type"], "Bearer");
            // RFC 8705 §3: certificate-bound, as for tls_client_auth.
            let at = body["access_token"].as_str().unwrap();
            assert_eq!(claims(at)["cnf"], json!({"x5t#S256": x5t(&cert.der)}));
            // The holder introspecting its own token with the same certificate.
            let res = http.post(app.url("/introspect")).form(&[("client_id", "self"), ("token", at)]).send().await.unwrap();
            let doc: Value = res.json().await.unwrap();
            assert_eq!((doc["active"].clone(), doc["cnf"]["x5t#S256"].clone()), (json!(true), json!(x5t(&cert.der))), "{doc}");
        }

        // A self-signed certificate of another key, or none: 401 invalid_client.
        let stranger = https_client(&pki, app.port, Some(&self_signed("partner-ec", KeyPair::generate().unwrap())));
        let none = https_client(&pki, app.port, None);
        for (who, http) in [("another key", &stranger), ("no certificate", &none)] {
            let (status, err) = error_of(cert_token(http, &url, "self").await).await;
            assert_eq!((status, err["error"].as_str()), (401, Some("invalid_client")), "{who}: {err}");
        }
        // The method is only the certificate's: neither a secret nor an assertion signed with
        // a registered key stands in for it.
        let res = none.post(&url).basic_auth("self", Some("0123456789abcdef0123")).form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        assert_eq!(error_of(res).await.0, 401);
        let assertion = partner.sign(&json!({
            "iss": "self", "sub": "self", "aud": url, "jti": "j1",
            "iat": tollgate::clock::Clock::now_secs(&tollgate::clock::SystemClock),
            "exp": tollgate::clock::Clock::now_secs(&tollgate::clock::SystemClock) + 60,
        }), &json!({}));
        let body = assertion_body(&assertion, &[]);
        let res = none.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
        let (status, err) = error_of(res).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_client")), "{err}");

        let doc: Value = none.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
        let methods = doc["token_endpoint_auth_methods_supported"].as_array().unwrap();
        assert!(methods.contains(&json!("self_signed_tls_client_auth")) && methods.contains(&json!("tls_client_auth")), "{doc}");
        app.stop().await;
    }

    async fn a_self_signed_certificate_does_not_pass_tls_client_auth_even_naming_the_client(backend) {
        let pki = Pki::new();
        let app = TlsApp::start(backend, &pki).await;
        let spec = NewClient {
            auth: NewClientAuth::TlsClientAuth(TlsSubject::Dn("O=Partner Inc,CN=agent-desk".into())),
            ..new_client("by-dn", "a", None)
        };
        app.create(spec).await;
        let url = app.url("/access_token");
        // The same subject and alternative names, but no CA behind it.
        let forged = https_client(&pki, app.port, Some(&pki.client_with("agent-desk", Some("Partner Inc"), false)));
        let (status, err) = error_of(cert_token(&forged, &url, "by-dn").await).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_client")), "{err}");
        // The CA-issued one passes.
        let issued = https_client(&pki, app.port, Some(&pki.client_with("agent-desk", Some("Partner Inc"), true)));
        assert_eq!(cert_token(&issued, &url, "by-dn").await.status(), 200);
        // The refusal is on the audit trail with its reason (written in the background).
        let mut found = false;
        for _ in 0..50 {
            let rows = app.store.audit_events_since(0, 1000).await.unwrap();
            found = rows.iter().any(|r| r.detail.as_deref().is_some_and(|d| d.contains("does not chain to the configured CA")));
            if found {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(found, "no audit event names the chain");
        app.stop().await;
    }

    async fn the_cli_registers_a_self_signed_client_and_set_jwks_rotates_its_key(backend) {
        let pki = Pki::new();
        let app = TlsApp::start(backend, &pki).await;
        let (old, new) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
        let new_jwk = ec_jwk(&new);
        let file = std::env::temp_dir().join(format!("tollgate-ss-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(&file, json!({"keys": [ec_jwk(&old)]}).to_string()).unwrap();
        let out = tollgate_json(&app.db, &["client", "create", "--id", "cli-ss", "--scope", "a", "--auth-method", "self_signed_tls_client_auth", "--jwks-file", file.to_str().unwrap()], None);
        assert_eq!(out["token_endpoint_auth_method"], "self_signed_tls_client_auth", "{out}");
        assert!(out.get("client_secret").is_none());
        let shown = tollgate_json(&app.db, &["client", "show", "--id", "cli-ss"], None);
        assert_eq!(shown["token_endpoint_auth_method"], "self_signed_tls_client_auth", "{shown}");

        let (old_cert, new_cert) = (self_signed("p", old), self_signed("p", new));
        let url = app.url("/access_token");
        let with_old = https_client(&pki, app.port, Some(&old_cert));
        let with_new = https_client(&pki, app.port, Some(&new_cert));
        eventually_token(&with_old, &url, "cli-ss").await;
        assert_eq!(cert_token(&with_new, &url, "cli-ss").await.status(), 401);

        std::fs::write(&file, json!({"keys": [new_jwk]}).to_string()).unwrap();
        let out = tollgate_json(&app.db, &["client", "set-jwks", "--id", "cli-ss", "--jwks-file", file.to_str().unwrap()], None);
        assert_eq!(out["updated"], json!(["jwks"]), "{out}");
        // Within the cache bound every instance uses the new key, and only it.
        eventually_token(&with_new, &url, "cli-ss").await;
        assert_eq!(cert_token(&with_old, &url, "cli-ss").await.status(), 401);

        // The CLI refuses the method without keys, and keys with tls_client_auth.
        let refused = run_tollgate(&app.db, &["client", "create", "--id", "x", "--scope", "a", "--auth-method", "self_signed_tls_client_auth"], None);
        assert!(!refused.status.success());
        let refused = run_tollgate(&app.db, &["client", "create", "--id", "x", "--scope", "a", "--auth-method", "self_signed_tls_client_auth", "--jwks-file", file.to_str().unwrap(), "--tls-subject", "CN=x"], None);
        assert!(!refused.status.success());
        let _ = std::fs::remove_file(&file);
        app.stop().await;
    }

    async fn behind_a_proxy_self_signed_passes_and_the_chain_is_checked_by_tollgate(backend) {
        let pki = Pki::new();
        let ca_path = pki.tls().client_ca_path.unwrap();
        let app = TestApp::spawn_with(backend, |s| {
            s.client_cert_header = Some("x-client-cert".into());
            s.trusted_proxies = vec!["127.0.0.2".parse::<IpAddr>().unwrap()];
            s.client_cert_ca_path = Some(ca_path);
        }).await;
        to_the_start_of_a_minute(&[&app]);
        let key = KeyPair::generate().unwrap();
        app.create_client_with(self_signed_client("self", json!({"keys": [ec_jwk(&key)]}))).await;
        app.create_client_with(NewClient {
            auth: NewClientAuth::TlsClientAuth(TlsSubject::Dn("CN=agent-desk".into())),
            ..new_client("by-dn", "a", None)
        }).await;
        let proxy = reqwest::Client::builder().local_address("127.0.0.2".parse::<IpAddr>().unwrap()).build().unwrap();
        let form = |id: &'static str| [("grant_type", "client_credentials"), ("client_id", id)];
        let send = |header: String, id: &'static str| {
            proxy.post(app.url("/access_token")).header("x-client-cert", header).form(&form(id)).send()
        };

        let mine = self_signed("partner", key);
        let res = send(forwarded(&mine), "self").await.unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let at = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims(&at)["cnf"]["x5t#S256"], x5t(&mine.der));
        let other = self_signed("partner", KeyPair::generate().unwrap());
        let (status, err) = error_of(send(forwarded(&other), "self").await.unwrap()).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_client")), "{err}");
        // Sent around the proxy, the header proves nothing.
        let res = reqwest::Client::new().post(app.url("/access_token")).header("x-client-cert", forwarded(&mine)).form(&form("self")).send().await.unwrap();
        assert_eq!(error_of(res).await.0, 401);

        // The proxy let a self-signed certificate through (it must, for the client above):
        // tollgate checks the chain itself, so a forged subject gets nowhere.
        let forged = pki.client("agent-desk", false);
        let (status, err) = error_of(send(forwarded(&forged), "by-dn").await.unwrap()).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_client")), "{err}");
        let issued = pki.client("agent-desk", true);
        assert_eq!(send(forwarded(&issued), "by-dn").await.unwrap().status(), 200);
        let doc = send_json(app.http.get(app.url("/.well-known/oauth-authorization-server"))).await;
        assert!(doc["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("self_signed_tls_client_auth")), "{doc}");

        // Wrong keys count against the failure limits like wrong secrets (10 per client and
        // address a minute; one was spent above): then 429, even for the right key.
        let mut statuses = Vec::new();
        for _ in 0..10 {
            statuses.push(error_of(send(forwarded(&other), "self").await.unwrap()).await.0);
        }
        assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
        assert_eq!(send(forwarded(&mine), "self").await.unwrap().status(), 429);
    }
}
