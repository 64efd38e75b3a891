//! DPoP (RFC 9449): tokens bound to a key the partner holds. A proof at the token endpoint gets
//! a `DPoP` token with `cnf.jkt`; `/getprofile` then wants the `DPoP` scheme and a fresh proof of
//! that key; introspection shows the binding. Refusals are in `refusals.rs`, server nonces in
//! `nonces.rs`, a Python partner (joserfc + requests) in `python.rs`.

mod nonces;
mod python;
mod refusals;

use aws_lc_rs::digest::{SHA256, digest};
use reqwest::Response;
use serde_json::{Value, json};
use tollgate::domain::provisioning::NewClient;

use crate::backend_test;
use crate::support::*;

/// A partner's DPoP key: proofs for any request, and its RFC 7638 thumbprint.
pub struct DpopKey(pub PartnerKey);

impl DpopKey {
    pub fn new(alg: &'static str) -> Self {
        Self(PartnerKey::generate(alg, None))
    }

    /// A proof for `htm` `htu`, issued at `iat`, with `ath` for `token` and a `nonce` if given.
    pub fn proof_at(
        &self,
        htm: &str,
        htu: &str,
        iat: i64,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut claims =
            json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": iat});
        if let Some(t) = token {
            claims["ath"] = json!(base64_url(digest(&SHA256, t.as_bytes()).as_ref()));
        }
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        self.signed(&claims, &json!({}))
    }

    /// A proof with these claims, header `typ` dpop+jwt and `jwk`, plus `extra_header`.
    pub fn signed(&self, claims: &Value, extra_header: &Value) -> String {
        let mut header = json!({"typ": "dpop+jwt", "jwk": self.0.public_jwk()});
        for (k, v) in extra_header.as_object().unwrap() {
            header[k] = v.clone();
        }
        self.0.sign(claims, &header)
    }

    /// RFC 7638 §3: SHA-256 of the required members, in order, without whitespace.
    pub fn jkt(&self) -> String {
        let jwk = self.0.public_jwk();
        let canonical = match jwk["kty"].as_str().unwrap() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk["crv"].as_str().unwrap(),
                jwk["x"].as_str().unwrap(),
                jwk["y"].as_str().unwrap()
            ),
            "RSA" => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                jwk["e"].as_str().unwrap(),
                jwk["n"].as_str().unwrap()
            ),
            _ => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                jwk["x"].as_str().unwrap()
            ),
        };
        base64_url(digest(&SHA256, canonical.as_bytes()).as_ref())
    }
}

/// The URL a proof names for `path`: the issuer's, as partners call it (RFC 9449 §4.3 item 9).
pub fn htu(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.settings.issuer)
}

/// A client-credentials request by HTTP Basic with `proof` (if any) in the `DPoP` header.
pub async fn token_request(app: &TestApp, id: &str, secret: &str, proof: Option<&str>) -> Response {
    let mut req = app
        .http
        .post(app.url("/access_token"))
        .header("authorization", basic(id, secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials");
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    req.send().await.unwrap()
}

/// A DPoP-bound token for `key`; fails unless the server answers 200.
pub async fn dpop_token(app: &TestApp, id: &str, secret: &str, key: &DpopKey) -> Value {
    let proof = key.proof_at("POST", &htu(app, "/access_token"), app.now(), None, None);
    let res = token_request(app, id, secret, Some(&proof)).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

/// `POST /getprofile` with `authorization` and `proof` (if any) for the customer.
pub async fn profile(
    app: &TestApp,
    authorization: &str,
    proof: Option<&str>,
    api_key: &str,
    customer: &str,
) -> Response {
    let mut req = app
        .http
        .post(app.url("/getprofile"))
        .header("authorization", authorization)
        .header("api-key", api_key)
        .header("X-Customer-Id", customer);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    req.send().await.unwrap()
}

pub fn client_requiring_dpop(id: &str, scopes: &str) -> NewClient {
    NewClient {
        require_dpop: true,
        ..new_client(id, scopes, None)
    }
}

backend_test! {
    async fn a_proof_gets_a_dpop_token_bound_to_its_key_which_getprofile_accepts_with_a_proof(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("partner", "profile:read").await;
        let (api_key, customer) = app.create_key_and_customer().await;
        for alg in ["ES256", "ES384", "RS256", "PS256", "EdDSA"] {
            let key = DpopKey::new(alg);
            let token = dpop_token(&app, "partner", &secret, &key).await;
            assert_eq!(token["token_type"], "DPoP", "{alg}");
            let at = token["access_token"].as_str().unwrap();
            let claims = verify_with_jwks(at, &app.jwks().await, &app.settings.issuer);
            assert_eq!(claims["cnf"]["jkt"], key.jkt(), "{alg}: cnf.jkt is the RFC 7638 thumbprint");

            let proof = key.proof_at("POST", &htu(&app, "/getprofile"), app.now(), Some(at), None);
            let res = profile(&app, &format!("DPoP {at}"), Some(&proof), &api_key, &customer).await;
            assert_eq!(res.status(), 200, "{alg}: {}", res.text().await.unwrap());
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["customer_id"], customer.as_str());
        }
        // Without a proof, the same request is a bearer token request as before.
        let plain = token_request(&app, "partner", &secret, None).await;
        let plain: Value = plain.json().await.unwrap();
        assert_eq!(plain["token_type"], "Bearer");
        assert!(claims(plain["access_token"].as_str().unwrap()).get("cnf").is_none());
        assert_eq!(app.profile_status(plain["access_token"].as_str().unwrap(), &api_key, &customer).await, 200);
    }

    async fn a_dpop_token_without_its_proof_is_refused_at_getprofile(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("partner", "profile:read").await;
        let (api_key, customer) = app.create_key_and_customer().await;
        let key = DpopKey::new("ES256");
        let token = dpop_token(&app, "partner", &secret, &key).await;
        let at = token["access_token"].as_str().unwrap();
        let url = htu(&app, "/getprofile");
        let now = app.now();
        let expect = async |res: Response, error: &str, what: &str| {
            let challenge = header_of(&res, "www-authenticate").unwrap_or_default();
            let (status, body) = error_of(res).await;
            assert_eq!((status, body["error"].as_str()), (401, Some(error)), "{what}: {body}");
            assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
            assert!(challenge.contains(&format!("error=\"{error}\"")), "{what}: {challenge}");
            assert!(challenge.contains("algs=\"ES256 ES384 RS256 PS256 EdDSA\""), "{what}: {challenge}");
        };
        // RFC 9449 §7.1: a stolen DPoP token presented as a bearer token.
        let res = profile(&app, &format!("Bearer {at}"), None, &api_key, &customer).await;
        expect(res, "invalid_token", "as Bearer").await;
        let proof = key.proof_at("POST", &url, now, Some(at), None);
        let res = profile(&app, &format!("Bearer {at}"), Some(&proof), &api_key, &customer).await;
        expect(res, "invalid_token", "as Bearer with a proof").await;
        let res = profile(&app, &format!("DPoP {at}"), None, &api_key, &customer).await;
        expect(res, "invalid_dpop_proof", "no proof").await;
        let thief = DpopKey::new("ES256");
        let proof = thief.proof_at("POST", &url, now, Some(at), None);
        let res = profile(&app, &format!("DPoP {at}"), Some(&proof), &api_key, &customer).await;
        expect(res, "invalid_token", "another key's proof").await;
        let proof = key.proof_at("POST", &url, now, None, None);
        let res = profile(&app, &format!("DPoP {at}"), Some(&proof), &api_key, &customer).await;
        expect(res, "invalid_dpop_proof", "no ath").await;
        let proof = key.proof_at("POST", &url, now, Some("another token"), None);
        let res = profile(&app, &format!("DPoP {at}"), Some(&proof), &api_key, &customer).await;
        expect(res, "invalid_dpop_proof", "ath of another token").await;
        let proof = key.proof_at("POST", &htu(&app, "/access_token"), now, Some(at), None);
        let res = profile(&app, &format!("DPoP {at}"), Some(&proof), &api_key, &customer).await;
        expect(res, "invalid_dpop_proof", "htu of the token endpoint").await;
        // A good proof once; the same proof again is a replay (§11.1).
        let proof = key.proof_at("POST", &url, now, Some(at), None);
        assert_eq!(profile(&app, &format!("DPoP {at}"), Some(&proof), &api_key, &customer).await.status(), 200);
        let res = profile(&app, &format!("DPoP {at}"), Some(&proof), &api_key, &customer).await;
        expect(res, "invalid_dpop_proof", "replayed proof").await;
        // A bearer token under the DPoP scheme is not bound to anything.
        let bearer = app.token("partner", &secret, "profile:read").await;
        let proof = key.proof_at("POST", &url, now, Some(&bearer), None);
        let res = profile(&app, &format!("DPoP {bearer}"), Some(&proof), &api_key, &customer).await;
        expect(res, "invalid_token", "unbound token as DPoP").await;
    }

    async fn a_client_registered_with_require_dpop_gets_no_token_without_a_proof(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client_with(client_requiring_dpop("strict", "a")).await;
        let res = token_request(&app, "strict", &secret, None).await;
        let (status, body) = error_of(res).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("must send a DPoP proof"), "{body}");
        let token = dpop_token(&app, "strict", &secret, &DpopKey::new("ES256")).await;
        assert_eq!(token["token_type"], "DPoP");
        // A client without the setting may still ask for a bearer token.
        let other = app.create_client("relaxed", "a").await;
        assert_eq!(app.token_status("relaxed", &other).await, 200);
    }

    async fn a_proof_is_used_once_across_instances(backend) {
        let (a, b) = TestApp::spawn_two(backend).await;
        let secret = a.create_client("partner", "a").await;
        let key = DpopKey::new("ES256");
        let proof = key.proof_at("POST", &htu(&a, "/access_token"), a.now(), None, None);
        assert_eq!(token_request(&a, "partner", &secret, Some(&proof)).await.status(), 200);
        let (status, body) = error_of(token_request(&b, "partner", &secret, Some(&proof)).await).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("jti"), "{body}");
    }

    async fn a_busy_key_is_verified_on_its_own_table_and_still_refuses_forgeries(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("partner", "a").await;
        let key = DpopKey::new("ES256");
        for _ in 0..tollgate::security::es256::BUSY_AFTER {
            assert_eq!(app.state.authority.proof_keys.tables(), 0);
            dpop_token(&app, "partner", &secret, &key).await;
        }
        assert_eq!(app.state.authority.proof_keys.tables(), 1);
        // On the table: a proof of the key still gets a token bound to it.
        let token = dpop_token(&app, "partner", &secret, &key).await;
        assert_eq!(claims(token["access_token"].as_str().unwrap())["cnf"]["jkt"], key.jkt());
        // The key's own header (so the one held) over another key's signature.
        let forger = DpopKey::new("ES256");
        let claims = json!({"jti": "forged", "htm": "POST", "htu": htu(&app, "/access_token"), "iat": app.now()});
        let forged = forger.0.sign(&claims, &json!({"typ": "dpop+jwt", "jwk": key.0.public_jwk()}));
        assert_eq!(forged.split('.').next(), key.proof_at("POST", "x", 0, None, None).split('.').next());
        let (status, body) = error_of(token_request(&app, "partner", &secret, Some(&forged)).await).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
        // And a replayed proof, signed well.
        let proof = key.proof_at("POST", &htu(&app, "/access_token"), app.now(), None, None);
        assert_eq!(token_request(&app, "partner", &secret, Some(&proof)).await.status(), 200);
        let (status, body) = error_of(token_request(&app, "partner", &secret, Some(&proof)).await).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    }

    async fn introspection_shows_the_binding_and_the_token_type(backend) {
        let app = TestApp::spawn(backend).await;
        let secret = app.create_client("partner", "a").await;
        let rs = app.create_client("resource-server", "introspect").await;
        let key = DpopKey::new("ES256");
        let token = dpop_token(&app, "partner", &secret, &key).await;
        let introspect = async |t: &str| -> Value {
            let res = app.post_form("/introspect", Some(("resource-server", &rs)), &form(&[("token", t)])).await;
            assert_eq!(res.status(), 200);
            res.json().await.unwrap()
        };
        let bound = introspect(token["access_token"].as_str().unwrap()).await;
        assert_eq!(bound["active"], true);
        assert_eq!(bound["token_type"], "DPoP");
        assert_eq!(bound["cnf"], json!({"jkt": key.jkt()}));
        let plain = introspect(&app.token("partner", &secret, "a").await).await;
        assert_eq!(plain["token_type"], "Bearer");
        assert!(plain.get("cnf").is_none(), "{plain}");
    }

    async fn metadata_lists_the_dpop_algorithms(backend) {
        let app = TestApp::spawn(backend).await;
        let doc = send_json(app.http.get(app.url("/.well-known/oauth-authorization-server"))).await;
        assert_eq!(doc["dpop_signing_alg_values_supported"], json!(["ES256", "ES384", "RS256", "PS256", "EdDSA"]));
    }

    async fn require_dpop_is_set_by_the_cli_and_reaches_the_server(backend) {
        let app = TestApp::spawn(backend).await;
        let created = tollgate_json(&app.db, &["client", "create", "--id", "cli-partner", "--scope", "a", "--require-dpop"], None);
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let shown = tollgate_json(&app.db, &["client", "show", "--id", "cli-partner"], None);
        assert_eq!(shown["require_dpop"], true, "{shown}");
        assert_eq!(token_request(&app, "cli-partner", &secret, None).await.status(), 400);
        let updated = tollgate_json(&app.db, &["client", "update", "--id", "cli-partner", "--require-dpop", "false"], None);
        assert_eq!(updated["require_dpop"], false, "{updated}");
        eventually(std::time::Duration::from_secs(10), "the change on the server", async || {
            token_request(&app, "cli-partner", &secret, None).await.status() == 200
        }).await;
        let updated = tollgate_json(&app.db, &["client", "update", "--id", "cli-partner", "--require-dpop", "true"], None);
        assert_eq!(updated["require_dpop"], true);
        eventually(std::time::Duration::from_secs(10), "the change on the server", async || {
            token_request(&app, "cli-partner", &secret, None).await.status() == 400
        }).await;
    }
}
