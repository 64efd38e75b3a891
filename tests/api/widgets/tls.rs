//! HTTPS served by tollgate itself, with an encrypted PKCS#8 key.

use jsonwebtoken::Algorithm;
use secrecy::SecretString;
use tollgate::app::Application;
use tollgate::config::TlsSettings;

use super::*;
use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn https_with_an_encrypted_key_serves_a_token_to_a_client_trusting_the_test_ca(backend) {
        let db = TestDb::create(backend).await;
        let pki = TestPki::new();
        let mut settings = test_settings(&db.url);
        configure(&mut settings, vec![ccai("web")]);
        settings.named_secrets.insert("TLS_KEY_PASS".into(), SecretString::from(TestPki::PASSPHRASE.to_owned()));
        settings.tls = Some(TlsSettings {
            cert_path: pki.cert_path.clone(),
            key_path: pki.key_path.clone(),
            key_passphrase_env: Some("TLS_KEY_PASS".into()),
            client_ca_path: None,
        });
        let app = Application::build(settings.clone()).await.expect("starts with TLS");
        let port = app.port();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());

        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
            .resolve("localhost", ([127, 0, 0, 1], port).into())
            .build()
            .unwrap();
        let res = client.get(format!("https://localhost:{port}/widget_tokens/web")).send().await.expect("TLS handshake with the test CA");
        assert!(header_of(&res, "strict-transport-security").unwrap().contains("max-age="));
        let claims = verify_hs(&token_of(res).await, CCAI_SECRET, Algorithm::HS256);
        assert_eq!(claims["iss"], "ACME");

        // A client that does not trust the test CA is refused.
        let stranger = reqwest::Client::builder().resolve("localhost", ([127, 0, 0, 1], port).into()).build().unwrap();
        assert!(stranger.get(format!("https://localhost:{port}/healthz")).send().await.is_err());

        // The wrong passphrase is a start-up error that does not echo it.
        settings.named_secrets.insert("TLS_KEY_PASS".into(), SecretString::from("wrong phrase".to_owned()));
        let err = Application::build(settings).await.err().expect("refused");
        assert!(err.to_string().contains("wrong passphrase") && !err.to_string().contains("wrong phrase"), "{err}");
        handle.stop(true).await;
    }
}
