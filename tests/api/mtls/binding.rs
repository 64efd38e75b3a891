//! Certificate-bound tokens and `tls_client_auth` by subject DN and SAN DNS, over tollgate's
//! own TLS and through a trusted proxy.

use std::net::IpAddr;

use serde_json::{Value, json};
use tollgate::domain::provisioning::{NewClient, NewClientAuth};
use tollgate::store::TlsSubject;

use super::*;
use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn over_tollgates_own_tls_a_bound_token_works_only_with_its_certificate(backend) {
        let pki = Pki::new();
        let tls = TlsApp::start(backend, &pki).await;
        let (port, base, store, settings) = (tls.port, tls.base.clone(), tls.store.clone(), tls.settings.clone());
        let now = tollgate::clock::SystemClock.now_secs();
        let create = |spec| tollgate::domain::provisioning::create_client(&store, spec, &settings.argon2, settings.default_audience(), now);
        use secrecy::ExposeSecret;
        use tollgate::clock::Clock;
        let secret = create(binding_client("bound")).await.unwrap().1.unwrap().expose_secret().to_owned();
        let plain_secret = create(new_client("plain", "profile:read", None)).await.unwrap().1.unwrap().expose_secret().to_owned();
        let api_key = tollgate::domain::provisioning::create_api_key(&store, "p", &["getprofile".into()], &settings.argon2, now).await.unwrap().expose_secret().to_owned();
        let customer = tollgate::domain::provisioning::create_customer(&store, tollgate::domain::provisioning::NewCustomer {
            username: "ada".into(), password: secrecy::SecretString::from("correct horse battery".to_owned()),
            name: None, email: None, phone: None, attributes: None,
        }, &settings.argon2, now).await.unwrap().to_string();

        let mine = pki.client("partner", true);
        let with_mine = https_client(&pki, port, Some(&mine));
        let res = token(&with_mine, &base, "bound", &secret, &[]).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer", "RFC 8705 keeps the Bearer type");
        let at = body["access_token"].as_str().unwrap();
        assert_eq!(claims(at)["cnf"], json!({"x5t#S256": x5t(&mine.der)}));
        assert_eq!(profile(&with_mine, &base, at, &api_key, &customer, &[]).await.status(), 200);

        // The token alone, or with another certificate of the same CA: 401 invalid_token.
        let without = https_client(&pki, port, None);
        let (status, err) = error_of(profile(&without, &base, at, &api_key, &customer, &[]).await).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_token")), "{err}");
        let theirs = https_client(&pki, port, Some(&pki.client("other", true)));
        let (status, err) = error_of(profile(&theirs, &base, at, &api_key, &customer, &[]).await).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_token")), "{err}");

        // A binding client without a certificate gets no token; others are not asked for one.
        let (status, err) = error_of(token(&without, &base, "bound", &secret, &[]).await).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_request")), "{err}");
        let res = token(&without, &base, "plain", &plain_secret, &[]).await;
        assert_eq!(res.status(), 200);
        let plain: Value = res.json().await.unwrap();
        assert!(claims(plain["access_token"].as_str().unwrap()).get("cnf").is_none());

        // Introspection shows the binding to the resource server that asks.
        let res = with_mine.post(format!("{base}/introspect")).basic_auth("bound", Some(&secret)).form(&[("token", at)]).send().await.unwrap();
        let introspected: Value = res.json().await.unwrap();
        assert_eq!(introspected["cnf"]["x5t#S256"], x5t(&mine.der));
        assert_eq!(introspected["token_type"], "Bearer");

        // A certificate that does not chain to the CA completes the handshake (RFC 8705 §2.2
        // and §3 need no CA) and binds tokens like any other; only tls_client_auth refuses it
        // (self_signed.rs).
        let stranger_cert = pki.client("stranger", false);
        let stranger = https_client(&pki, port, Some(&stranger_cert));
        assert_eq!(stranger.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
        let res = token(&stranger, &base, "bound", &secret, &[]).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(claims(body["access_token"].as_str().unwrap())["cnf"]["x5t#S256"], x5t(&stranger_cert.der));

        let doc: Value = without.get(format!("{base}/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
        tls.stop().await;
    }

    async fn behind_a_proxy_the_certificate_header_is_believed_only_from_the_proxy(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.client_cert_header = Some("x-client-cert".into());
            s.trusted_proxies = vec!["127.0.0.2".parse::<IpAddr>().unwrap()];
        }).await;
        let pki = Pki::new();
        let secret = app.create_client_with(binding_client("bound")).await;
        let (api_key, customer) = app.create_key_and_customer().await;
        let mine = pki.client("partner", true);
        let header = percent_encoding::utf8_percent_encode(&mine.pem, percent_encoding::NON_ALPHANUMERIC).to_string();
        // The proxy: connections from 127.0.0.2. A client going around it: from 127.0.0.1.
        let proxy = reqwest::Client::builder().local_address("127.0.0.2".parse::<IpAddr>().unwrap()).build().unwrap();
        let direct = reqwest::Client::new();

        let res = token(&proxy, &app.address, "bound", &secret, &[("x-client-cert", &header)]).await;
        assert_eq!(res.status(), 200);
        let at = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims(&at)["cnf"]["x5t#S256"], x5t(&mine.der));
        assert_eq!(profile(&proxy, &app.address, &at, &api_key, &customer, &[("x-client-cert", &header)]).await.status(), 200);

        // Sent directly, the header is ignored: no certificate, so no token and no profile.
        let (status, err) = error_of(token(&direct, &app.address, "bound", &secret, &[("x-client-cert", &header)]).await).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_request")), "{err}");
        let (status, err) = error_of(profile(&direct, &app.address, &at, &api_key, &customer, &[("x-client-cert", &header)]).await).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_token")), "{err}");

        // Another certificate through the proxy: refused.
        let other = percent_encoding::utf8_percent_encode(&pki.client("other", true).pem, percent_encoding::NON_ALPHANUMERIC).to_string();
        let (status, err) = error_of(profile(&proxy, &app.address, &at, &api_key, &customer, &[("x-client-cert", &other)]).await).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_token")), "{err}");

        // Garbage from the proxy: 400, no token, never 500.
        for garbage in ["garbage", "-----BEGIN%20CERTIFICATE-----%0AAAAA%0A-----END%20CERTIFICATE-----", "%FF%FE"] {
            let (status, err) = error_of(token(&proxy, &app.address, "bound", &secret, &[("x-client-cert", garbage)]).await).await;
            assert_eq!((status, err["error"].as_str()), (400, Some("invalid_request")), "{garbage}: {err}");
            assert!(err.get("access_token").is_none());
        }
        let doc = send_json(app.http.get(app.url("/.well-known/oauth-authorization-server"))).await;
        assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
    }

    async fn tls_client_auth_authenticates_by_the_certificates_subject_or_alt_name(backend) {
        let pki = Pki::new();
        let tls = TlsApp::start(backend, &pki).await;
        let (port, base, store, settings) = (tls.port, tls.base.clone(), tls.store.clone(), tls.settings.clone());
        use tollgate::clock::Clock;
        let now = tollgate::clock::SystemClock.now_secs();
        for (id, subject) in [
            ("by-dn", TlsSubject::Dn("O=Partner Inc, CN=agent-desk".into())),
            ("by-dns", TlsSubject::SanDns("agent-desk.partner.example".into())),
        ] {
            let spec = NewClient { auth: NewClientAuth::TlsClientAuth(subject), ..new_client(id, "a introspect", None) };
            tollgate::domain::provisioning::create_client(&store, spec, &settings.argon2, settings.default_audience(), now).await.unwrap();
        }
        let cert = pki.client_with("agent-desk", Some("Partner Inc"), true);
        let http = https_client(&pki, port, Some(&cert));
        let form = |id: &str| [("grant_type", "client_credentials"), ("client_id", id)].map(|(k, v)| (k.to_owned(), v.to_owned()));
        for id in ["by-dn", "by-dns"] {
            let res = http.post(format!("{base}/access_token")).form(&form(id)).send().await.unwrap();
            assert_eq!(res.status(), 200, "{id}: {}", res.text().await.unwrap());
            let body: Value = res.json().await.unwrap();
            // RFC 8705 §3: a client that authenticated with its certificate gets bound tokens.
            assert_eq!(claims(body["access_token"].as_str().unwrap())["cnf"]["x5t#S256"], x5t(&cert.der), "{id}");
        }
        // The same certificate authenticates at /introspect too.
        let res = http.post(format!("{base}/introspect")).form(&[("client_id", "by-dn"), ("token", "x")]).send().await.unwrap();
        assert_eq!(res.status(), 200);

        // A certificate of the same CA naming someone else, or none: 401 invalid_client.
        let other = https_client(&pki, port, Some(&pki.client_with("other-desk", Some("Partner Inc"), true)));
        let none = https_client(&pki, port, None);
        for (who, client) in [("another subject", &other), ("no certificate", &none)] {
            for id in ["by-dn", "by-dns"] {
                let res = client.post(format!("{base}/access_token")).form(&form(id)).send().await.unwrap();
                let (status, err) = error_of(res).await;
                assert_eq!((status, err["error"].as_str()), (401, Some("invalid_client")), "{who}, {id}: {err}");
            }
        }
        // A secret client cannot authenticate with a certificate; a certificate client has no secret.
        let doc: Value = none.get(format!("{base}/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
        assert!(doc["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("tls_client_auth")), "{doc}");
        let res = http.post(format!("{base}/access_token")).basic_auth("by-dn", Some("anything")).form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        assert_eq!(error_of(res).await.0, 401);
        tls.stop().await;
    }

    async fn tls_client_auth_through_a_trusted_proxy_and_by_the_cli(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.client_cert_header = Some("x-client-cert".into());
            s.trusted_proxies = vec!["127.0.0.2".parse::<IpAddr>().unwrap()];
        }).await;
        to_the_start_of_a_minute(&[&app]);
        let pki = Pki::new();
        let out = tollgate_json(&app.db, &["client", "create", "--id", "cli-mtls", "--scope", "a", "--auth-method", "tls_client_auth", "--tls-subject", "CN=agent-desk"], None);
        assert_eq!(out["token_endpoint_auth_method"], "tls_client_auth", "{out}");
        assert!(out.get("client_secret").is_none());
        let cert = pki.client("agent-desk", true);
        let header = percent_encoding::utf8_percent_encode(&cert.pem, percent_encoding::NON_ALPHANUMERIC).to_string();
        let proxy = reqwest::Client::builder().local_address("127.0.0.2".parse::<IpAddr>().unwrap()).build().unwrap();
        let form = [("grant_type", "client_credentials"), ("client_id", "cli-mtls")];
        let res = eventually_ok(&proxy, &app.url("/access_token"), &form, &header).await;
        assert_eq!(claims(res["access_token"].as_str().unwrap())["cnf"]["x5t#S256"], x5t(&cert.der));
        // The same header sent around the proxy proves nothing.
        let res = reqwest::Client::new().post(app.url("/access_token")).header("x-client-cert", &header).form(&form).send().await.unwrap();
        let (status, err) = error_of(res).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("invalid_client")), "{err}");
        // The failure limits of secrets apply (10 per client and address a minute).
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let res = reqwest::Client::new().post(app.url("/access_token")).form(&form).send().await.unwrap();
            statuses.push(error_of(res).await.0);
        }
        assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
        // The CLI refuses a half-given method.
        let refused = run_tollgate(&app.db, &["client", "create", "--id", "x", "--scope", "a", "--auth-method", "tls_client_auth"], None);
        assert!(!refused.status.success());
    }

    async fn without_a_way_for_certificates_to_arrive_the_metadata_says_so(backend) {
        let app = TestApp::spawn(backend).await;
        let doc = send_json(app.http.get(app.url("/.well-known/oauth-authorization-server"))).await;
        assert_eq!(doc["tls_client_certificate_bound_access_tokens"], false);
        assert!(!doc["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("tls_client_auth")));
    }

    async fn bind_certificate_is_set_by_the_cli(backend) {
        let app = TestApp::spawn(backend).await;
        tollgate_json(&app.db, &["client", "create", "--id", "cli-bound", "--scope", "a", "--bind-certificate"], None);
        let shown = tollgate_json(&app.db, &["client", "show", "--id", "cli-bound"], None);
        assert_eq!(shown["bind_certificate"], true, "{shown}");
        let updated = tollgate_json(&app.db, &["client", "update", "--id", "cli-bound", "--bind-certificate", "false"], None);
        assert_eq!(updated["bind_certificate"], false, "{updated}");
    }
}
