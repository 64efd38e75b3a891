use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn environment_overrides_defaults() {
    let s = Settings::from_env(&env(&[
        ("TOLLGATE_ACCESS_TOKEN_TTL", "60"),
        ("TOLLGATE_SIGNING_ALG", "EdDSA"),
    ]))
    .unwrap();
    assert_eq!(s.access_token_ttl, 60);
    assert_eq!(s.signing_alg, Alg::EdDsa);
}

#[test]
fn a_misspelt_variable_is_an_error() {
    let err = Settings::from_env(&env(&[("TOLLGATE_ACCES_TOKEN_TTL", "60")])).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownEnv(name) if name == "TOLLGATE_ACCES_TOKEN_TTL"));
}

#[test]
fn weak_argon2_parameters_are_rejected() {
    let err = Settings::from_env(&env(&[("TOLLGATE_ARGON2_MEMORY_KIB", "1024")])).unwrap_err();
    assert!(err.to_string().contains("weaker than the OWASP minimum"));
}

#[test]
fn unknown_file_keys_are_an_error_and_env_wins_over_the_file() {
    let dir = std::env::temp_dir().join(format!("tollgate-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.toml");
    std::fs::write(
        &path,
        "issuer = \"https://a.example\"\naccess_token_ttl = 10\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let s = Settings::from_env(&env(&[
        ("TOLLGATE_CONFIG", p),
        ("TOLLGATE_ACCESS_TOKEN_TTL", "20"),
    ]))
    .unwrap();
    assert_eq!(s.issuer, "https://a.example");
    assert_eq!(s.access_token_ttl, 20);

    std::fs::write(&path, "isuer = \"https://a.example\"\n").unwrap();
    let err = Settings::from_env(&env(&[("TOLLGATE_CONFIG", p)])).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

fn with_file(toml: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("tollgate-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.toml");
    std::fs::write(&path, toml).unwrap();
    let p = path.to_str().unwrap().to_owned();
    (dir, p)
}

const WIDGET: &str = "[[widget_profiles]]\nname = \"web\"\nkind = \"ccai\"\n\
                      issuer = \"ACME\"\nallowed_origins = [\"https://www.example.com\"]\n\
                      secret_env = \"TOLLGATE_CCAI_SECRET\"\n";

#[test]
fn widget_secrets_come_from_the_variables_the_file_names_even_tollgate_prefixed_ones() {
    let (dir, p) = with_file(WIDGET);
    let s = Settings::from_env(&env(&[
        ("TOLLGATE_CONFIG", &p),
        ("TOLLGATE_CCAI_SECRET", "a-company-secret-of-some-length"),
    ]))
    .unwrap();
    assert_eq!(s.widget_profiles.len(), 1);
    assert!(matches!(
        s.widget_profiles[0].kind,
        crate::widgets::config::KindConfig::Ccai(_)
    ));
    assert!(s.named_secrets.contains_key("TOLLGATE_CCAI_SECRET"));
    assert!(!format!("{s:?}").contains("a-company-secret"));
    // The variable named is required; another TOLLGATE_ variable is still unknown.
    let err = Settings::from_env(&env(&[("TOLLGATE_CONFIG", &p)])).unwrap_err();
    assert!(err.to_string().contains("TOLLGATE_CCAI_SECRET"), "{err}");
    let err = Settings::from_env(&env(&[
        ("TOLLGATE_CONFIG", &p),
        ("TOLLGATE_CCAI_SECRET", "a-company-secret-of-some-length"),
        ("TOLLGATE_CCAI_SECRT", "typo"),
    ]))
    .unwrap_err();
    assert!(matches!(err, ConfigError::UnknownEnv(n) if n == "TOLLGATE_CCAI_SECRT"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn malformed_widget_profiles_are_configuration_errors() {
    let cases = [
        ("colour = \"red\"\n", "unknown field"),
        ("ttl_seconds = \"soon\"\n", "ttl_seconds"),
    ];
    for (extra, expected) in cases {
        let (dir, p) = with_file(&format!("{WIDGET}{extra}"));
        let err = Settings::from_env(&env(&[
            ("TOLLGATE_CONFIG", &p),
            ("TOLLGATE_CCAI_SECRET", "a-company-secret-of-some-length"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains(expected), "{extra}: {err}");
        assert!(
            err.to_string().contains("\"web\""),
            "names the profile: {err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
    let (dir, p) = with_file(&WIDGET.replace("kind = \"ccai\"\n", ""));
    let err = Settings::from_env(&env(&[("TOLLGATE_CONFIG", &p)])).unwrap_err();
    assert!(err.to_string().contains("kind is required"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn login_origins_come_from_the_setting_or_else_from_the_widget_profiles() {
    let s = Settings::from_env(&env(&[(
        "TOLLGATE_LOGIN_ALLOWED_ORIGINS",
        " https://www.example.com, https://shop.example.com ,",
    )]))
    .unwrap();
    assert_eq!(
        s.login_origins(),
        ["https://www.example.com", "https://shop.example.com"]
    );
    // Set but empty: no cross-origin login, whatever the widgets list.
    let (dir, p) = with_file(WIDGET);
    let secret = ("TOLLGATE_CCAI_SECRET", "a-company-secret-of-some-length");
    let s = Settings::from_env(&env(&[
        ("TOLLGATE_CONFIG", &p),
        secret,
        ("TOLLGATE_LOGIN_ALLOWED_ORIGINS", ""),
    ]))
    .unwrap();
    assert!(s.login_origins().is_empty());
    std::fs::remove_dir_all(dir).unwrap();

    // Unset: every widget profile's listed origins, once each, and never `*`.
    let second = WIDGET.replace("\"web\"", "\"shop\"").replace(
        "[\"https://www.example.com\"]",
        "[\"https://WWW.example.com\", \"https://shop.example.com\"]",
    );
    let star = WIDGET
        .replace("\"web\"", "\"any\"")
        .replace("[\"https://www.example.com\"]", "[\"*\"]");
    let (dir, p) = with_file(&format!("{WIDGET}{second}{star}"));
    let s = Settings::from_env(&env(&[("TOLLGATE_CONFIG", &p), secret])).unwrap();
    assert_eq!(
        s.login_origins(),
        ["https://www.example.com", "https://shop.example.com"]
    );
    std::fs::remove_dir_all(dir).unwrap();

    let (dir, p) = with_file("login_allowed_origins = [\"https://a.example\"]\n");
    let s = Settings::from_env(&env(&[("TOLLGATE_CONFIG", &p)])).unwrap();
    assert_eq!(s.login_origins(), ["https://a.example"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn failure_limits_must_be_positive_and_may_be_huge() {
    for (name, value, ok) in [
        ("TOLLGATE_FAILURES_PER_MINUTE", "0", false),
        ("TOLLGATE_ADDRESS_FAILURES_PER_MINUTE", "0", false),
        ("TOLLGATE_LIMITER_MAX_KEYS", "0", false),
        ("TOLLGATE_FAILURES_PER_MINUTE", "-1", false),
        ("TOLLGATE_FAILURES_PER_MINUTE", "1", true),
        ("TOLLGATE_ADDRESS_FAILURES_PER_MINUTE", "1000000000", true),
        ("TOLLGATE_FAILURES_PER_MINUTE", "10000000000", false),
    ] {
        let result = Settings::from_env(&env(&[(name, value)]));
        assert_eq!(result.is_ok(), ok, "{name}={value}: {:?}", result.err());
        if let Err(e) = result {
            assert!(
                e.to_string().contains("must be at least") || e.to_string().contains(name),
                "{e}"
            );
        }
    }
}

#[test]
fn the_issuer_follows_the_listen_address_unless_set() {
    let issuer = |pairs: &[(&str, &str)]| Settings::from_env(&env(pairs)).map(|s| s.issuer);
    assert_eq!(issuer(&[]).unwrap(), "http://127.0.0.1:8080");
    assert_eq!(
        issuer(&[("TOLLGATE_LISTEN", "127.0.0.1:9000")]).unwrap(),
        "http://127.0.0.1:9000"
    );
    assert_eq!(
        issuer(&[("TOLLGATE_LISTEN", "[::1]:9000")]).unwrap(),
        "http://[::1]:9000"
    );
    for unspecified in ["0.0.0.0:9000", "[::]:9000"] {
        let err = issuer(&[("TOLLGATE_LISTEN", unspecified)]).unwrap_err();
        assert!(err.to_string().contains("TOLLGATE_ISSUER"), "{err}");
        let set = [
            ("TOLLGATE_LISTEN", unspecified),
            ("TOLLGATE_ISSUER", "https://auth.example.com"),
        ];
        assert_eq!(issuer(&set).unwrap(), "https://auth.example.com");
    }
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let s = Settings::from_env(&env(&[(
        "TOLLGATE_MASTER_KEY",
        "c2VjcmV0LWtleS1tYXRlcmlhbA",
    )]))
    .unwrap();
    let printed = format!("{s:?}");
    assert!(!printed.contains("c2VjcmV0LWtleS1tYXRlcmlhbA"));
}

#[test]
fn sender_constraint_settings_parse_and_are_checked() {
    let s = Settings::from_env(&env(&[
        ("TOLLGATE_DPOP_NONCE", "required"),
        ("TOLLGATE_DPOP_PROOF_MAX_AGE", "120"),
        ("TOLLGATE_CLIENT_CERT_HEADER", "X-Client-Cert"),
        ("TOLLGATE_TRUSTED_PROXIES", "10.0.0.5, ::1"),
        (
            "TOLLGATE_CLIENT_CERT_CA_PATH",
            "/etc/tollgate/partner-ca.pem",
        ),
    ]))
    .unwrap();
    assert_eq!(s.dpop_nonce, crate::domain::dpop::NonceMode::Required);
    assert_eq!(s.dpop_proof_max_age, 120);
    assert_eq!(s.client_cert_header.as_deref(), Some("x-client-cert"));
    assert_eq!(s.trusted_proxies.len(), 2);
    assert_eq!(
        s.client_cert_ca_path.as_deref(),
        Some(std::path::Path::new("/etc/tollgate/partner-ca.pem"))
    );
    for bad in [
        vec![("TOLLGATE_DPOP_NONCE", "sometimes")],
        vec![("TOLLGATE_DPOP_PROOF_MAX_AGE", "0")],
        vec![("TOLLGATE_TRUSTED_PROXIES", "proxy.internal")],
        vec![("TOLLGATE_CLIENT_CERT_HEADER", "X-Client-Cert")],
        // A CA for a header nobody sends.
        vec![(
            "TOLLGATE_CLIENT_CERT_CA_PATH",
            "/etc/tollgate/partner-ca.pem",
        )],
    ] {
        assert!(Settings::from_env(&env(&bad)).is_err(), "{bad:?}");
    }
}
