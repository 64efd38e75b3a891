//! CORS for the widget endpoints: allowed origins are echoed with credentials, others get no
//! CORS headers, preflights answer, and `*` never allows credentials.

use super::*;
use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn cors_echoes_an_allowed_origin_with_credentials(backend) {
        let app = spawn(backend, vec![ccai("web")]).await;
        let res = app.http.get(app.url("/widget_tokens/web")).header("origin", WEB).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some(WEB));
        assert_eq!(header_of(&res, "access-control-allow-credentials").as_deref(), Some("true"));
        assert_eq!(header_of(&res, "vary").as_deref(), Some("Origin"));
        // Errors too, so the widget can read a 401 and send the visitor to log in.
        let res = app.http.get(app.url("/widget_tokens/web")).header("origin", WEB).bearer_auth("x.y.z").send().await.unwrap();
        assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some(WEB));
        assert_eq!(error_of(res).await.0, 401);
    }

    async fn cors_gives_a_disallowed_origin_no_headers(backend) {
        let app = spawn(backend, vec![ccai("web")]).await;
        for method in [reqwest::Method::GET, reqwest::Method::OPTIONS] {
            let res = app.http.request(method.clone(), app.url("/widget_tokens/web"))
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "GET")
                .send().await.unwrap();
            for h in ["access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods"] {
                assert!(header_of(&res, h).is_none(), "{method} {h}");
            }
            // The GET is served (the browser withholds it); the preflight is refused outright.
            let expected = if method == reqwest::Method::GET { 200 } else { 400 };
            assert_eq!(res.status(), expected, "{method}");
            if expected == 400 {
                assert_eq!(error_of(res).await.1["error"], "invalid_request");
            }
        }
    }

    async fn cors_preflight_allows_the_methods_and_headers_a_widget_needs(backend) {
        let upstream = StandIn::start(300).await;
        let app = spawn(backend, vec![ccai("web"), axp(&upstream.url)]).await;
        for path in ["/widget_tokens/web", "/auth/token"] {
            let res = app.http.request(reqwest::Method::OPTIONS, app.url(path))
                .header("origin", WEB)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization")
                .send().await.unwrap();
            // actix-cors answers a preflight 200 (the Fetch standard takes any 2xx as "ok").
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some(WEB));
            assert_eq!(header_of(&res, "access-control-allow-credentials").as_deref(), Some("true"));
            assert!(header_of(&res, "access-control-allow-methods").unwrap().contains("GET"));
            assert!(header_of(&res, "access-control-allow-headers").unwrap().to_lowercase().contains("authorization"));
            assert_eq!(header_of(&res, "access-control-max-age").as_deref(), Some("600"));
        }
        // The axp profile lists no origin: same-origin only.
        let res = app.http.request(reqwest::Method::OPTIONS, app.url("/token")).header("origin", WEB).send().await.unwrap();
        assert!(header_of(&res, "access-control-allow-origin").is_none());
    }

    async fn cors_star_allows_any_origin_but_never_credentials(backend) {
        let mut p = ccai("web");
        p.allowed_origins = vec!["*".into()];
        let app = spawn(backend, vec![p]).await;
        let res = app.http.get(app.url("/widget_tokens/web")).header("origin", "https://any.example").send().await.unwrap();
        assert_eq!(header_of(&res, "access-control-allow-origin").as_deref(), Some("*"));
        assert!(header_of(&res, "access-control-allow-credentials").is_none());

        let db = TestDb::create(backend).await;
        let mut p = ccai("web");
        p.allowed_origins = vec!["*".into()];
        p.allow_credentials = Some(true);
        let err = start(&db, vec![p]).await.err().expect("refused");
        assert!(err.to_string().contains("cannot allow credentials"), "{err}");
    }
}
