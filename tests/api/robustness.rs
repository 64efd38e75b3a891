//! Faults and floods: a database outage gives 503 and heals by itself; a flood of logins is
//! queued or refused fast while tokens keep flowing.

use std::time::{Duration, Instant};

use crate::backend_test;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503_and_the_server_recovers_by_itself() {
    // PostgreSQL only: an embedded SQLite file has no connection to lose.
    let (app, proxy) = TestApp::spawn_behind_proxy(500).await;
    app.create_customer("ada", "correct horse battery").await;
    assert_eq!(
        app.login("ada", "correct horse battery").await.status(),
        200
    );

    proxy.cut().await;
    let res = app.login("ada", "correct horse battery").await;
    assert_eq!(header_of(&res, "retry-after").as_deref(), Some("5"));
    let (status, body) = error_of(res).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (503, "temporarily_unavailable")
    );
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no database detail leaks: {body}"
    );
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.login("ada", "correct horse battery").await;
        if res.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: still {}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

backend_test! {
    async fn a_login_flood_is_refused_fast_and_tokens_keep_flowing(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.argon2.queue = 2;
            s.argon2.max_wait_ms = 300;
            // This is about the hashing pool: the failure limits (which hold a slot per attempt
            // in flight) must not answer first.
            s.failures_per_minute = 1000;
        }).await;
        let secret = app.create_client("p1", "a").await;
        app.create_customer("ada", "correct horse battery").await;
        let started = Instant::now();
        let flood: Vec<_> = (0..40).map(|_| {
            let http = app.http.clone();
            let url = app.url("/customer_authenticate");
            tokio::spawn(async move {
                let t = Instant::now();
                let res = http.post(url).header("content-type", "application/x-www-form-urlencoded")
                    .body("username=ada&password=wrong-password").send().await.unwrap();
                (res.status().as_u16(), res.headers().get("retry-after").is_some(), t.elapsed())
            })
        }).collect();
        // While the flood runs, the health endpoint answers promptly.
        let t = Instant::now();
        assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
        assert!(t.elapsed() < Duration::from_secs(1), "healthz took {:?}", t.elapsed());
        let mut refused = 0;
        for h in flood {
            let (status, retry_after, took) = h.await.unwrap();
            assert!(status == 401 || status == 503, "status {status}");
            if status == 503 {
                refused += 1;
                assert!(retry_after, "503 without Retry-After");
            }
            assert!(took < Duration::from_secs(5), "a request hung for {took:?}");
        }
        assert!(refused > 0, "a queue of 2 must refuse some of 40 concurrent logins");
        assert!(started.elapsed() < Duration::from_secs(10));
        // Afterwards everything works again.
        app.token("p1", &secret, "a").await;
    }

    async fn hostile_requests_get_json_4xx_never_500(backend) {
        let app = TestApp::spawn(backend).await;
        let long = "a".repeat(10_000);
        let paths = ["/access_token", "/customer_authenticate", "/getprofile"];
        for path in paths {
            let url = app.url(path);
            let reqs = vec![
                app.http.post(&url).body(vec![0u8, 159, 146, 150, 255]),
                app.http.post(&url).header("content-type", "application/json").body("{\"username\": {\"$gt\": \"\"}}"),
                app.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body("%%%%&&&==="),
                app.http.post(&url).header("authorization", format!("Bearer {long}")).header("api-key", &long),
                app.http.post(&url).header("authorization", "Basic").header("content-type", "application/x-www-form-urlencoded").body("grant_type=client_credentials"),
                app.http.post(&url).header("authorization", reqwest::header::HeaderValue::from_bytes(b"Bearer \xffx").unwrap()),
                app.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body(format!("grant_type=client_credentials&scope={long}")),
            ];
            for (i, req) in reqs.into_iter().enumerate() {
                let res = req.send().await.unwrap();
                let (status, _) = error_of(res).await;
                assert!((400..500).contains(&status), "{path} case {i}: {status}");
            }
        }
        let res = app.http.delete(app.url("/getprofile")).send().await.unwrap();
        assert_eq!(error_of(res).await.0, 405);
    }
}

/// RFC 6749 §5.2 / RFC 6750 §3: `error_description` is limited to %x20-21 / %x23-5B / %x5D-7E.
fn assert_description_is_rfc_clean(what: &str, description: &str) {
    assert!(
        description.bytes().all(|b| b == 0x20
            || b == 0x21
            || (0x23..=0x5b).contains(&b)
            || (0x5d..=0x7e).contains(&b)),
        "{what}: {description:?}"
    );
    assert!(
        description.len() <= 200,
        "{what}: {} bytes",
        description.len()
    );
}

backend_test! {
    async fn error_descriptions_keep_to_the_rfc_character_set(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("desk", "profile:read").await;
        let long = "x".repeat(5000);
        let hostile_names = ["a\"b", "a\\b", "a%0D%0Ab", "%C3%A9t%C3%A9", "%01%02", &long];
        let mut cases: Vec<(String, reqwest::RequestBuilder)> = Vec::new();
        for name in hostile_names {
            let body = format!("{name}=1&{name}=2&grant_type=client_credentials");
            cases.push((format!("repeated {name:.20}"), app.http.post(app.url("/access_token"))
                .header("content-type", "application/x-www-form-urlencoded").body(body.clone())));
            cases.push((format!("login repeated {name:.20}"), app.http.post(app.url("/customer_authenticate"))
                .header("content-type", "application/x-www-form-urlencoded").body(body)));
        }
        cases.push(("wrong content type".into(), app.http.post(app.url("/access_token")).body("grant_type=client_credentials")));
        cases.push(("credentials in the URL".into(), app.http.post(app.url("/access_token?client_id=desk"))
            .header("content-type", "application/x-www-form-urlencoded").body("grant_type=client_credentials")));
        cases.push(("scope not allowed".into(), app.http.post(app.url("/access_token"))
            .header("authorization", basic("desk", &secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=client_credentials&scope={}", "admin:all ".repeat(400)))));
        cases.push(("bad token".into(), app.http.post(app.url("/getprofile")).header("authorization", "Bearer a.b.c")));
        for (what, req) in cases {
            let res = req.send().await.unwrap();
            let challenge = header_of(&res, "www-authenticate");
            let (status, body) = error_of(res).await;
            assert!((400..500).contains(&status), "{what}: {status}");
            assert_description_is_rfc_clean(&what, body["error_description"].as_str().unwrap());
            if let Some(c) = challenge.as_deref().and_then(|c| c.split("error_description=\"").nth(1)) {
                assert_description_is_rfc_clean(&what, c.trim_end_matches('"'));
            }
        }
    }

    async fn a_body_sent_one_byte_at_a_time_is_cut_off_with_408(backend) {
        let app = TestApp::spawn_with(backend, |s| s.body_timeout_ms = 1_000).await;
        let addr = app.address.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(b"POST /access_token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ng").await.unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while started.elapsed() < Duration::from_secs(6) {
            tokio::select! {
                n = stream.read(&mut buf) => {
                    let n = n.unwrap_or(0);
                    if n == 0 { break; }
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") { break; }
                }
                _ = tokio::time::sleep(Duration::from_millis(400)) => {
                    let _ = stream.write_all(b"r").await;
                }
            }
        }
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "after {:?}: {text:?}", started.elapsed());
        assert!(text.contains("\"error\""), "a JSON error body: {text}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
}
