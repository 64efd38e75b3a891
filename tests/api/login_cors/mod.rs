//! Logging in from a page on another origin (issue 9): `/customer_authenticate` under the
//! origin policy of `login_allowed_origins` (by default the widget profiles' origins), always
//! with credentials, its errors included. `browser.rs` plays the same flow in Chromium.

pub(crate) mod browser;

use reqwest::Method;
use secrecy::SecretString;
use tollgate::app::Application;
use tollgate::config::Settings;

use crate::backend_test;
use crate::support::*;

const WEB: &str = "https://www.example.com";
const PASSWORD: &str = "correct horse battery";
const PATHS: [&str; 2] = ["/customer_authenticate", "/auth/customer_authenticate"];

/// Adds a ccai widget profile `name` for `origins`, with the secret it names.
fn with_widget(s: &mut Settings, name: &str, origins: &[&str]) {
    s.widget_profiles
        .push(crate::widgets::ccai_for(name, origins));
    s.named_secrets.insert(
        "CCAI_COMPANY_SECRET".into(),
        SecretString::from(crate::widgets::CCAI_SECRET),
    );
}

async fn spawn_listing(backend: Backend, origins: &[&str]) -> TestApp {
    let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
    let app = TestApp::spawn_with(backend, |s| s.login_allowed_origins = Some(origins)).await;
    app.create_customer("ada", PASSWORD).await;
    app
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap()
}

/// A form login from a page on `origin`.
async fn login_from(app: &TestApp, origin: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/customer_authenticate"))
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("username", "ada"), ("password", password)]))
        .send()
        .await
        .unwrap()
}

/// What a page on `origin` needs to read the answer and keep its cookie.
fn assert_readable_by(res: &reqwest::Response, origin: &str) {
    let status = res.status();
    assert_eq!(
        header_of(res, "access-control-allow-origin").as_deref(),
        Some(origin),
        "{status}"
    );
    assert_eq!(
        header_of(res, "access-control-allow-credentials").as_deref(),
        Some("true"),
        "{status}"
    );
    assert_eq!(
        header_of(res, "vary").as_deref(),
        Some("Origin"),
        "{status}"
    );
}

fn assert_no_cors_headers(res: &reqwest::Response) {
    for h in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
    ] {
        assert!(header_of(res, h).is_none(), "{h} on a {}", res.status());
    }
}

backend_test! {
    async fn a_listed_origin_is_preflighted_for_a_json_login(backend) {
        let app = spawn_listing(backend, &[WEB]).await;
        for path in PATHS {
            let res = preflight(&app, path, WEB).await;
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some(WEB));
            assert_eq!(header_of(&res, "access-control-allow-credentials").as_deref(), Some("true"));
            assert_eq!(header_of(&res, "access-control-allow-methods").as_deref(), Some("POST"));
            let headers = header_of(&res, "access-control-allow-headers").unwrap().to_lowercase();
            assert_eq!(headers, "content-type", "{path}");
            assert_eq!(header_of(&res, "access-control-max-age").as_deref(), Some("600"));
        }
    }

    async fn a_preflight_from_another_origin_or_for_another_method_gets_no_cors_headers(backend) {
        let app = spawn_listing(backend, &[WEB]).await;
        let res = preflight(&app, "/customer_authenticate", "https://evil.example").await;
        assert_no_cors_headers(&res);
        assert_eq!(error_of(res).await.1["error"], "invalid_request");
        let res = app.http.request(Method::OPTIONS, app.url("/customer_authenticate"))
            .header("origin", WEB)
            .header("access-control-request-method", "DELETE")
            .send().await.unwrap();
        assert!(header_of(&res, "access-control-allow-origin").is_none());
        assert_eq!(res.status(), 400);
    }

    async fn a_plain_options_is_answered_not_refused(backend) {
        let app = spawn_listing(backend, &[WEB]).await;
        for path in PATHS {
            let res = app.http.request(Method::OPTIONS, app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 204, "{path}");
        }
        // Other methods are still 405, naming what is allowed (RFC 9110 §15.5.6).
        let res = app.http.get(app.url("/customer_authenticate")).send().await.unwrap();
        assert_eq!(res.status(), 405);
        assert_eq!(header_of(&res, "allow").as_deref(), Some("POST, OPTIONS"));
    }

    async fn form_and_json_logins_from_a_listed_origin_are_readable_with_credentials(backend) {
        let app = spawn_listing(backend, &[WEB]).await;
        let res = login_from(&app, WEB, PASSWORD).await;
        assert_eq!(res.status(), 200);
        assert_readable_by(&res, WEB);
        for path in PATHS {
            let res = app.http.post(app.url(&format!("{path}?session=cookie")))
                .header("origin", WEB)
                .json(&serde_json::json!({"username": "ada", "password": PASSWORD}))
                .send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            assert_readable_by(&res, WEB);
            assert!(header_of(&res, "set-cookie").unwrap().starts_with("tollgate_session="));
        }
        // Origins compare without regard to case.
        let res = login_from(&app, "https://WWW.example.com", PASSWORD).await;
        assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some("https://WWW.example.com"));
    }

    async fn a_wrong_password_and_a_lockout_are_readable_too(backend) {
        let origins = vec![WEB.to_owned()];
        let app = TestApp::spawn_with(backend, |s| {
            s.login_allowed_origins = Some(origins);
            s.failures_per_minute = 2;
        }).await;
        to_the_start_of_a_minute(&[&app]);
        app.create_customer("ada", PASSWORD).await;
        for _ in 0..2 {
            let res = login_from(&app, WEB, "not the password").await;
            assert_readable_by(&res, WEB);
            let (status, body) = error_of(res).await;
            assert_eq!((status, body["error"].as_str().unwrap()), (401, "invalid_credentials"));
        }
        let res = login_from(&app, WEB, PASSWORD).await;
        assert_readable_by(&res, WEB);
        assert!(header_of(&res, "retry-after").is_some());
        assert_eq!(error_of(res).await.0, 429);
        // A malformed body too: the page can tell what it got wrong.
        let res = app.http.post(app.url("/customer_authenticate"))
            .header("origin", WEB).header("content-type", "text/plain").body("ada")
            .send().await.unwrap();
        assert_readable_by(&res, WEB);
        assert_eq!(error_of(res).await.0, 400);
    }

    async fn another_origin_is_served_without_cors_headers(backend) {
        let app = spawn_listing(backend, &[WEB]).await;
        // The browser withholds the answer from that page; same-origin callers are unaffected.
        let res = login_from(&app, "https://evil.example", PASSWORD).await;
        assert_eq!(res.status(), 200);
        assert_no_cors_headers(&res);
    }

    async fn without_the_setting_the_widget_profiles_origins_may_log_in(backend) {
        const SHOP: &str = "https://shop.example.com";
        let app = TestApp::spawn_with(backend, |s| {
            with_widget(s, "web", &[WEB]);
            with_widget(s, "shop", &[SHOP, WEB]);
            with_widget(s, "any", &["*"]);
        }).await;
        app.create_customer("ada", PASSWORD).await;
        for origin in [WEB, SHOP] {
            assert_readable_by(&login_from(&app, origin, PASSWORD).await, origin);
            assert_eq!(preflight(&app, "/customer_authenticate", origin).await.status(), 200);
        }
        // A `*` profile lets any origin read its widget tokens, never log in.
        let res = login_from(&app, "https://any.example", PASSWORD).await;
        assert_no_cors_headers(&res);
    }

    async fn without_any_origin_login_has_no_cors_headers(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_customer("ada", PASSWORD).await;
        assert_no_cors_headers(&login_from(&app, WEB, PASSWORD).await);
        // The preflight is answered, but without the headers the browser needs to go on.
        let res = preflight(&app, "/customer_authenticate", WEB).await;
        assert_eq!(res.status(), 204);
        assert_no_cors_headers(&res);
        // An empty setting says the same even where the widgets list origins.
        let app = TestApp::spawn_with(backend, |s| {
            with_widget(s, "web", &[WEB]);
            s.login_allowed_origins = Some(Vec::new());
        }).await;
        assert_no_cors_headers(&login_from(&app, WEB, PASSWORD).await);
    }

    async fn star_or_a_malformed_origin_stops_the_start(backend) {
        let db = TestDb::create(backend).await;
        for (origins, expected) in [
            (vec!["*"], "cannot allow credentials"),
            (vec!["https://www.example.com/login"], "is not an origin"),
        ] {
            let mut s = test_settings(&db.url);
            s.login_allowed_origins = Some(origins.iter().map(|o| (*o).to_owned()).collect());
            let err = Application::build(s).await.err().expect("refused").to_string();
            assert!(err.contains("login_allowed_origins") && err.contains(expected), "{err}");
        }
    }
}
