//! `POST /customer_authenticate`: customer tokens whose subject is the opaque customer id.

use std::time::Instant;

use serde_json::Value;

use crate::backend_test;
use crate::support::*;

const CUSTOMER_AUD: &str = "http://tollgate.test/customer";

backend_test! {
    async fn login_answers_in_the_partner_shape(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_customer("ada", "correct horse battery").await;
        for path in ["/customer_authenticate", "/auth/customer_authenticate"] {
            let body = form(&[("username", "ada"), ("password", "correct horse battery")]);
            let res = app.post_form(path, None, &body).await;
            assert_eq!(res.status(), 200);
            assert_eq!(header_of(&res, "cache-control").as_deref(), Some("no-store"));
            assert!(header_of(&res, "set-cookie").is_none(), "no cookie unless asked");
            let json: Value = res.json().await.unwrap();
            let obj = json.as_object().unwrap();
            assert_eq!(obj.len(), 3);
            assert!(json["issued_at"].as_str().unwrap().parse::<u64>().is_ok());
            assert_eq!(json["expires_in"], "3600");
            let jwt = json["JWT"].as_str().unwrap();
            assert_eq!(header(jwt)["typ"], "JWT");
            verify_with_jwks(jwt, &app.jwks().await, CUSTOMER_AUD);
        }
    }

    async fn json_logins_work_and_usernames_ignore_case(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_customer("Ada@Example.com", "correct horse battery").await;
        let res = app.http.post(app.url("/customer_authenticate"))
            .json(&serde_json::json!({"username": "ada@example.COM", "password": "correct horse battery"}))
            .send().await.unwrap();
        assert_eq!(res.status(), 200);
    }

    async fn the_subject_is_opaque_stable_and_distinct(backend) {
        let app = TestApp::spawn(backend).await;
        let ada = app.create_customer("ada", "correct horse battery").await;
        let bob = app.create_customer("bob", "another fine password").await;
        let jwks = app.jwks().await;
        let t1 = verify_with_jwks(&app.customer_token("ada", "correct horse battery").await, &jwks, CUSTOMER_AUD);
        let t2 = verify_with_jwks(&app.customer_token("ada", "correct horse battery").await, &jwks, CUSTOMER_AUD);
        let t3 = verify_with_jwks(&app.customer_token("bob", "another fine password").await, &jwks, CUSTOMER_AUD);
        assert_eq!(t1["sub"], ada);
        assert_eq!(t1["sub"], t2["sub"], "stable across logins");
        assert_eq!(t3["sub"], bob);
        assert_ne!(t1["sub"], t3["sub"], "distinct per customer");
        assert!(uuid::Uuid::parse_str(t1["sub"].as_str().unwrap()).is_ok());
        // Nothing personal: only the registered claims, and no trace of name, email, username.
        let mut keys: Vec<&str> = t1.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["aud", "exp", "iat", "iss", "jti", "sub"]);
        // The bare username "ada" is also a hex string that a random `sub` or `jti` may contain,
        // so it is looked for as a whole JSON string.
        let text = t1.to_string().to_lowercase();
        for pii in ["\"ada\"", "lovelace", "ada@", "example.com", "+1415"] {
            assert!(!text.contains(pii), "{pii} in {text}");
        }
    }

    async fn unknown_user_and_wrong_password_get_one_answer(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_customer("ada", "correct horse battery").await;
        let (mut wrong, mut unknown, mut answers) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            let t = Instant::now();
            let res = app.login("ada", "incorrect horse").await;
            wrong.push(t.elapsed());
            answers.push(error_of(res).await);
            let t = Instant::now();
            let res = app.login("nobody", "incorrect horse").await;
            unknown.push(t.elapsed());
            answers.push(error_of(res).await);
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
        assert_eq!(answers[0].0, 401);
        let (w, u) = (median(wrong), median(unknown));
        assert!(u.as_secs_f64() > 0.5 * w.as_secs_f64(), "unknown {u:?} vs wrong {w:?}");
    }

    async fn session_cookie_is_set_when_asked(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_customer("ada", "correct horse battery").await;
        let body = form(&[("username", "ada"), ("password", "correct horse battery")]);
        let res = app.post_form("/customer_authenticate?session=cookie", None, &body).await;
        assert_eq!(res.status(), 200);
        let cookie = header_of(&res, "set-cookie").expect("a session cookie");
        let json: Value = res.json().await.unwrap();
        assert!(cookie.starts_with(&format!("tollgate_session={};", json["JWT"].as_str().unwrap())));
        for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
            assert!(cookie.contains(attr), "{attr} missing from {cookie}");
        }
        let res = app.post_form("/customer_authenticate?session=sometimes", None, &body).await;
        assert_eq!(error_of(res).await.0, 400);
    }

    async fn cookie_sessions_can_be_the_default(backend) {
        let app = TestApp::spawn_with(backend, |s| s.customer_session = tollgate::config::SessionMode::Cookie).await;
        app.create_customer("ada", "correct horse battery").await;
        let res = app.login("ada", "correct horse battery").await;
        assert!(header_of(&res, "set-cookie").is_some());
        let body = form(&[("username", "ada"), ("password", "correct horse battery")]);
        let res = app.post_form("/customer_authenticate?session=none", None, &body).await;
        assert!(header_of(&res, "set-cookie").is_none());
    }

    async fn malformed_logins_are_400(backend) {
        let app = TestApp::spawn(backend).await;
        let url = app.url("/customer_authenticate");
        let reqs = vec![
            ("no password", app.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body("username=ada")),
            ("text body", app.http.post(&url).header("content-type", "text/plain").body("ada:pw")),
            ("broken json", app.http.post(&url).header("content-type", "application/json").body("{\"username\": ")),
            ("json array", app.http.post(&url).header("content-type", "application/json").body("[1,2]")),
            ("repeated", app.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body("username=a&username=b&password=x")),
        ];
        for (what, req) in reqs {
            let (status, body) = error_of(req.send().await.unwrap()).await;
            assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_request"), "{what}");
        }
    }
}

backend_test! {
    async fn usernames_are_ascii_and_never_folded_into_another(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_customer("kate", "correct horse battery").await;
        assert_eq!(app.login("KATE", "correct horse battery").await.status(), 200, "ASCII case is folded");
        // U+212A KELVIN SIGN lower-cases to "k": it must not log in as kate.
        let res = app.login("\u{212A}ate", "correct horse battery").await;
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
        let spec = tollgate::domain::provisioning::NewCustomer {
            username: "K\u{0301}ate".into(),
            password: secrecy::SecretString::from("correct horse battery"),
            name: None, email: None, phone: None, attributes: None,
        };
        let err = tollgate::domain::provisioning::create_customer(&app.store, spec, &app.settings.argon2, app.now()).await;
        assert!(err.is_err(), "a non-ASCII username is refused at creation too");
    }
}
