//! Requests so malformed that actix-http refuses them before any handler runs (an unparseable
//! request, headers over its limits, headers that never finish) still get the JSON error body
//! every other error has, over plain TCP and over TLS (issue 9, item 9).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate::app::Application;
use tollgate::config::TlsSettings;

use crate::support::*;

/// One HTTP/1.1 response parsed by hand: the status, the headers (lower-cased names), the body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Splits `bytes` into the responses it holds, by their `content-length`.
    fn parse_all(mut bytes: &[u8]) -> Vec<Raw> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let end = bytes
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or_else(|| {
                    panic!("no end of head in {:?}", String::from_utf8_lossy(bytes))
                });
            let head = std::str::from_utf8(&bytes[..end]).unwrap();
            let mut lines = head.split("\r\n");
            let status = lines.next().unwrap()[9..12].parse().unwrap();
            let headers: Vec<(String, String)> = lines
                .map(|l| {
                    let (n, v) = l.split_once(':').unwrap();
                    (n.to_ascii_lowercase(), v.trim().to_owned())
                })
                .collect();
            let len: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let body = bytes[end + 4..end + 4 + len].to_vec();
            bytes = &bytes[end + 4 + len..];
            out.push(Raw {
                status,
                headers,
                body,
            });
        }
        out
    }

    /// Asserts the shape every tollgate error has, and returns its `error_description`.
    fn assert_json_error(&self, status: u16) -> String {
        assert_eq!(self.status, status);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("connection"), Some("close"));
        let json: Value = serde_json::from_slice(&self.body).expect("a JSON body");
        assert_eq!(json["error"], "invalid_request", "{json}");
        json["error_description"].as_str().unwrap().to_owned()
    }
}

/// Sends `request` on a fresh connection and reads until the server closes it.
async fn exchange(app: &TestApp, request: &[u8]) -> Vec<Raw> {
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // The server may stop reading (and close) before an oversized request is all sent.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    // A server that closes with part of the request unread may end with a reset rather than a
    // clean close; what arrived before it is the answer.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection after a framework error");
    Raw::parse_all(&answer)
}

#[tokio::test]
async fn requests_the_http_parser_refuses_get_json_errors() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    let garbage = exchange(&app, b"\x16\x03\x01 not http at all\r\n\r\n").await;
    assert_eq!(garbage.len(), 1);
    let d = garbage[0].assert_json_error(400);
    assert_eq!(d, "the request is not valid HTTP/1.1");

    let bad_header = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    )
    .await;
    bad_header[0].assert_json_error(400);

    // actix-http's limit on a request head is 128 KiB.
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(132_000)
    );
    let too_large = exchange(&app, big.as_bytes()).await;
    assert_eq!(
        too_large[0].assert_json_error(431),
        "the request headers are too large"
    );

    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let too_many = exchange(
        &app,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    )
    .await;
    too_many[0].assert_json_error(431);
}

#[tokio::test]
async fn a_good_request_pipelined_before_a_bad_one_is_answered_intact() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let answers = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n",
    )
    .await;
    assert_eq!(answers.len(), 2, "one answer each");
    assert_eq!(answers[0].status, 200);
    let healthz: Value = serde_json::from_slice(&answers[0].body).unwrap();
    assert!(healthz.is_object(), "{healthz}");
    answers[1].assert_json_error(400);
}

#[tokio::test]
async fn headers_that_never_finish_get_a_json_408() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let started = Instant::now();
    let answers = exchange(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
    let d = answers[0].assert_json_error(408);
    assert_eq!(d, "the request headers did not arrive in time");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn over_tls_too_the_parser_s_refusals_are_json() {
    let db = TestDb::create(Backend::Sqlite).await;
    let pki = TestPki::new();
    let mut settings = test_settings(&db.url);
    settings.named_secrets.insert(
        "TLS_KEY_PASS".into(),
        SecretString::from(TestPki::PASSPHRASE.to_owned()),
    );
    settings.tls = Some(TlsSettings {
        cert_path: pki.cert_path.clone(),
        key_path: pki.key_path.clone(),
        key_passphrase_env: Some("TLS_KEY_PASS".into()),
        client_ca_path: None,
    });
    let app = Application::build(settings).await.expect("starts with TLS");
    let port = app.port();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());

    let ca = pki.ca_pem.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut roots = rustls::RootCertStore::empty();
        use rustls_pki_types::pem::PemObject;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap())
            .unwrap();
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nNOT HTTP\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        // The server closes after the error; a missing close_notify is not the test's concern.
        let _ = tls.read_to_end(&mut answer);
        answer
    })
    .await
    .unwrap();
    let answers = Raw::parse_all(&answer);
    assert_eq!(answers[0].status, 200);
    assert!(answers[0].header("strict-transport-security").is_some());
    answers[1].assert_json_error(400);
    handle.stop(true).await;
}
