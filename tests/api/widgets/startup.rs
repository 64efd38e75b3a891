//! Bad widget configuration stops `tollgate serve` at start-up (issue 14, "Bad input"), with a
//! message naming the profile and the key at fault. The real binary, a real configuration file.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::presets::{AC, IS, SK, hex_sid};
use crate::support::*;

/// Runs `tollgate serve` with `toml` as its configuration file and `env`; returns its stderr
/// once it has exited, failing the test if it is still serving after 20 s.
fn serve_with(toml: &str, env: &[(&str, &str)]) -> String {
    let dir = std::env::temp_dir().join(format!("tollgate-startup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("tollgate.toml");
    std::fs::write(&config, toml).unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let mut cmd = tollgate_command(&db, &["serve"]);
    cmd.env("TOLLGATE_CONFIG", &config)
        .env("TOLLGATE_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run tollgate");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("tollgate started with:\n{toml}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What is wrong, the configuration, its environment, what the message must name.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a [&'a str]);

const SECRET: (&str, &str) = ("VENDOR_SECRET", "a-vendor-secret-0123456789abcdef");

fn twilio(extra: &str) -> String {
    format!(
        "[[widget_profiles]]\nname = \"tw\"\nkind = \"twilio\"\naccount_sid = \"{}\"\n\
         api_key_sid = \"{}\"\nservice_sid = \"{}\"\nsecret_env = \"VENDOR_SECRET\"\n{extra}",
        hex_sid(AC),
        hex_sid(SK),
        hex_sid(IS)
    )
}

#[test]
fn bad_widget_profiles_stop_start_up_naming_the_profile_and_the_key() {
    let zendesk = |extra: &str| {
        format!(
            "[[widget_profiles]]\nname = \"zd\"\nkind = \"zendesk\"\nsecret_env = \"VENDOR_SECRET\"\n{extra}"
        )
    };
    let cases: Vec<Case> = vec![
        (
            "an unknown kind",
            "[[widget_profiles]]\nname = \"gx\"\nkind = \"genesys\"\n".into(),
            vec![],
            &["\"gx\"", "kind", "genesys"],
        ),
        (
            "a preset without a key its vendor requires",
            zendesk(""),
            vec![SECRET],
            &["\"zd\"", "kid"],
        ),
        (
            "an RS key where the vendor verifies an HMAC",
            zendesk("kid = \"app_1\"\nalg = \"RS256\"\n"),
            vec![SECRET],
            &["\"zd\"", "alg", "HS256", "RS256"],
        ),
        (
            "claim paths that collide",
            "[[widget_profiles]]\nname = \"gen\"\nkind = \"generic\"\nsecret_env = \"VENDOR_SECRET\"\n\
             claims = { a = 1 }\ncustomer_claims = { id = \"id\", \"a.b\" = \"email\" }\n"
                .into(),
            vec![SECRET],
            &["\"gen\"", "customer_claims.a.b", "claims.a"],
        ),
        (
            "a default for a claim no customer field fills",
            "[[widget_profiles]]\nname = \"gen\"\nkind = \"generic\"\nsecret_env = \"VENDOR_SECRET\"\n\
             customer_claims = { id = \"id\" }\ncustomer_claim_defaults = { tier = \"basic\" }\n"
                .into(),
            vec![SECRET],
            &["\"gen\"", "customer_claim_defaults.tier"],
        ),
        (
            "a ttl above the vendor's maximum",
            twilio("ttl_seconds = 86401\n"),
            vec![SECRET],
            &["\"tw\"", "ttl_seconds", "86400"],
        ),
        (
            "a secret variable that is empty",
            zendesk("kid = \"app_1\"\n"),
            vec![("VENDOR_SECRET", "")],
            &["\"zd\"", "secret_env", "VENDOR_SECRET"],
        ),
        (
            "a Twilio SID of the wrong kind",
            twilio("").replace(&hex_sid(SK), &hex_sid(AC)),
            vec![SECRET],
            &["\"tw\"", "api_key_sid"],
        ),
        (
            "a configured secret for a key tollgate generates",
            "[[widget_profiles]]\nname = \"sf\"\nkind = \"generic\"\nalg = \"RS256\"\n\
             secret_env = \"VENDOR_SECRET\"\ncustomer_claims = { sub = \"id\" }\n"
                .into(),
            vec![SECRET],
            &["\"sf\"", "secret_env", "generated"],
        ),
    ];
    for (what, toml, env, needles) in cases {
        let stderr = serve_with(&toml, &env);
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{what}: {needle:?} not in {stderr}"
            );
        }
        assert!(
            !stderr.contains("a-vendor-secret"),
            "{what}: the secret leaked: {stderr}"
        );
    }
}
