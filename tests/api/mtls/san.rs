//! `tls_client_auth` by an IP address or an email address among the certificate's subject
//! alternative names (RFC 8705 §2.1.2 `tls_client_auth_san_ip`, `tls_client_auth_san_email`),
//! registered with the CLI.

use rcgen::{KeyPair, SanType};
use serde_json::Value;

use super::*;
use crate::backend_test;
use crate::support::*;

fn cert_with(pki: &Pki, sans: Vec<SanType>) -> ClientCert {
    pki.issue("partner", None, sans, KeyPair::generate().unwrap(), true)
}

fn ip(text: &str) -> SanType {
    SanType::IpAddress(text.parse().unwrap())
}

fn email(text: &str) -> SanType {
    SanType::Rfc822Name(text.try_into().unwrap())
}

backend_test! {
    async fn tls_client_auth_matches_an_ip_address_or_an_email_among_the_alt_names(backend) {
        let pki = Pki::new();
        let app = TlsApp::start(backend, &pki).await;
        let create = |id: &str, flag: &str, value: &str| {
            tollgate_json(&app.db, &["client", "create", "--id", id, "--scope", "a", "--auth-method", "tls_client_auth", flag, value], None)
        };
        create("by-ip4", "--tls-san-ip", "192.0.2.1");
        // Registered in the long form, presented in the short one: the same address.
        create("by-ip6", "--tls-san-ip", "2001:0db8:0:0:0:0:0:1");
        create("by-email", "--tls-san-email", "partner@example.com");
        let shown = tollgate_json(&app.db, &["client", "show", "--id", "by-ip6"], None);
        assert_eq!(shown["tls_client_auth_san_ip"], "2001:db8::1", "{shown}");
        let shown = tollgate_json(&app.db, &["client", "show", "--id", "by-email"], None);
        assert_eq!(shown["tls_client_auth_san_email"], "partner@example.com", "{shown}");

        let url = app.url("/access_token");
        let good = cert_with(&pki, vec![ip("192.0.2.1"), ip("2001:db8::1"), email("partner@example.com")]);
        let http = https_client(&pki, app.port, Some(&good));
        for id in ["by-ip4", "by-ip6", "by-email"] {
            let body = eventually_token(&http, &url, id).await;
            assert_eq!(claims(body["access_token"].as_str().unwrap())["cnf"]["x5t#S256"], x5t(&good.der), "{id}");
        }

        // Neighbouring values: another address of each family, the v4-mapped form of the v4
        // address, another mailbox (the local part is case-sensitive, RFC 5280 §7.5), and the
        // values as a DNS name instead of an IP entry.
        let near = cert_with(&pki, vec![
            ip("192.0.2.2"), ip("2001:db8::2"), ip("::ffff:192.0.2.1"),
            email("Partner@example.com"), email("partner@example.org"),
            SanType::DnsName("partner.example.com".try_into().unwrap()),
        ]);
        let http = https_client(&pki, app.port, Some(&near));
        for id in ["by-ip4", "by-ip6", "by-email"] {
            let (status, err) = error_of(cert_token(&http, &url, id).await).await;
            assert_eq!((status, err["error"].as_str()), (401, Some("invalid_client")), "{id}: {err}");
        }
        // The domain of a mailbox is not case-sensitive.
        let upper = cert_with(&pki, vec![email("partner@EXAMPLE.com")]);
        let http = https_client(&pki, app.port, Some(&upper));
        assert_eq!(cert_token(&http, &url, "by-email").await.status(), 200);

        // Bad values are refused by the CLI, and the kinds of name are exclusive.
        for args in [
            &["--tls-san-ip", "192.0.2.300"][..],
            &["--tls-san-email", "no-at-sign"],
            &["--tls-san-ip", "192.0.2.1", "--tls-san-email", "p@example.com"],
        ] {
            let mut all = vec!["client", "create", "--id", "bad", "--scope", "a", "--auth-method", "tls_client_auth"];
            all.extend_from_slice(args);
            let out = run_tollgate(&app.db, &all, None);
            assert!(!out.status.success(), "{args:?}");
        }
        let listed: Value = tollgate_json(&app.db, &["client", "list"], None);
        assert!(!listed.to_string().contains("\"bad\""), "{listed}");
        app.stop().await;
    }
}
