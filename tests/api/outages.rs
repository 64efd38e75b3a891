//! Database outages that are not the request's fault, played on a real PostgreSQL the way an
//! operator or a failover would: the database refuses connections, its backends are
//! terminated, it turns read-only, it is dropped and re-created. Whatever the cause, every
//! endpoint that needs the database answers 503 with `Retry-After` and
//! `temporarily_unavailable`, never 500, and the server serves again by itself once the
//! database is back, without a restart. (PostgreSQL only: these are server-side events.)

use std::time::Duration;

use reqwest::Response;
use serde_json::Value;

use crate::support::*;

/// How long a recovered database may take to be served again. The pool finds dead
/// connections on their next use, and sessions opened during the outage are retired on the
/// first error they give, so recovery takes a request or two; the margin is for a busy machine.
const RECOVERY: Duration = Duration::from_secs(10);

/// What one request got back: enough to tell a 503 with `Retry-After` from a 500.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    error: Option<String>,
}

impl Answer {
    async fn of(res: Response) -> Self {
        let status = res.status().as_u16();
        let retry_after = header_of(&res, "retry-after");
        let body: Value = res.json().await.unwrap_or(Value::Null);
        Self {
            status,
            retry_after,
            error: body["error"].as_str().map(str::to_owned),
        }
    }

    fn is_unavailable(&self) -> bool {
        self.status == 503
            && self.retry_after.is_some()
            && self.error.as_deref() == Some("temporarily_unavailable")
    }
}

/// A server on a PostgreSQL database of its own, provisioned with what the endpoints that
/// touch the database need: a client, an API key, a customer and two access tokens.
struct Drill {
    app: TestApp,
    name: String,
    secret: String,
    api_key: String,
    customer: String,
    /// Read by `/getprofile`; never revoked.
    profile_token: String,
    /// Revoked by `/revoke`, again and again: each call writes, and a repeat changes nothing.
    revoked_token: String,
}

impl Drill {
    async fn start() -> Self {
        let app = TestApp::spawn(Backend::Postgres).await;
        let name = app.db.pg_name().expect("a PostgreSQL database").to_owned();
        let secret = app.create_client("desk", "profile:read").await;
        let (api_key, customer) = app.create_key_and_customer().await;
        let profile_token = app.token("desk", &secret, "profile:read").await;
        let revoked_token = app.token("desk", &secret, "profile:read").await;
        let drill = Self {
            app,
            name,
            secret,
            api_key,
            customer,
            profile_token,
            revoked_token,
        };
        for (path, answer) in drill.answers().await {
            assert_eq!(answer.status, 200, "{path} before the outage: {answer:?}");
        }
        drill
    }

    async fn readyz(&self) -> Answer {
        let res = self.app.http.get(self.app.url("/readyz")).send().await;
        Answer::of(res.unwrap()).await
    }

    async fn login(&self) -> Answer {
        Answer::of(self.app.login("ada", "correct horse battery").await).await
    }

    async fn revoke(&self) -> Answer {
        let body = form(&[("token", &self.revoked_token)]);
        let auth = Some(("desk", self.secret.as_str()));
        Answer::of(self.app.post_form("/revoke", auth, &body).await).await
    }

    async fn profile(&self) -> Answer {
        let res = self
            .app
            .http
            .post(self.app.url("/getprofile"))
            .bearer_auth(&self.profile_token)
            .header("api-key", &self.api_key)
            .header("X-Customer-Id", &self.customer)
            .send()
            .await;
        Answer::of(res.unwrap()).await
    }

    /// Every endpoint that needs the database: readiness, a login (reads the customer), a
    /// revocation (writes), a profile (reads the customer for a partner).
    async fn answers(&self) -> Vec<(&'static str, Answer)> {
        vec![
            ("/readyz", self.readyz().await),
            ("/customer_authenticate", self.login().await),
            ("/revoke", self.revoke().await),
            ("/getprofile", self.profile().await),
        ]
    }

    async fn assert_all_unavailable(&self, during: &str) {
        for (path, answer) in self.answers().await {
            assert!(
                answer.is_unavailable(),
                "{path} {during}: want 503 temporarily_unavailable with Retry-After, got {answer:?}"
            );
        }
    }

    /// Waits until every endpoint answers 200 again; a 500 on the way fails at once.
    async fn assert_recovers(&self, from: &str) -> Duration {
        eventually(RECOVERY, &format!("recovery from {from}"), async || {
            let answers = self.answers().await;
            for (path, answer) in &answers {
                assert_ne!(
                    answer.status, 500,
                    "{path} recovering from {from}: {answer:?}"
                );
            }
            answers.iter().all(|(_, answer)| answer.status == 200)
        })
        .await
    }

    /// Ends every session on the database but the admin's own, as `pg_terminate_backend`
    /// does in a failover or an operator's clean-up: the server's pooled connections die.
    async fn terminate_backends(&self) {
        admin_sql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        ))
        .await;
    }

    async fn alter_database(&self, change: &str) {
        admin_sql(&format!("ALTER DATABASE {} {change}", self.name)).await;
    }

    /// How many `event` rows the audit trail holds, once everything recorded is written.
    async fn audit_count(&self, event: &str) -> usize {
        self.app.state.authority.audit.flush().await;
        let rows = self.app.store.audit_events_since(0, 10_000).await.unwrap();
        rows.iter().filter(|r| r.event == event).count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_refusing_connections_gives_503_and_is_served_again_once_it_accepts() {
    let drill = Drill::start().await;
    // SQLSTATE 55000: "database … is not currently accepting connections".
    drill.alter_database("ALLOW_CONNECTIONS false").await;
    drill.terminate_backends().await;
    drill
        .assert_all_unavailable("while the database refuses connections")
        .await;

    drill.alter_database("ALLOW_CONNECTIONS true").await;
    drill.assert_recovers("refused connections").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_never_give_500_and_the_server_carries_on() {
    let drill = Drill::start().await;
    let done = std::sync::atomic::AtomicBool::new(false);
    // Terminate the server's sessions every 50 ms for three seconds while two callers keep
    // every endpoint busy: connections die idle in the pool, mid-query and while opening.
    let terminator = async {
        for _ in 0..60 {
            drill.terminate_backends().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let caller = async || {
        let mut seen = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            for (path, answer) in drill.answers().await {
                assert!(
                    answer.status == 200 || answer.is_unavailable(),
                    "{path} while backends are terminated: {answer:?}"
                );
                seen.push(answer.status);
            }
        }
        seen
    };
    let ((), first, second) = tokio::join!(terminator, caller(), caller());
    assert!(!first.is_empty() && !second.is_empty());
    drill.assert_recovers("terminated backends").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_after_failover_refuses_writes_with_503_and_takes_them_again() {
    let drill = Drill::start().await;
    let logins_before = drill.audit_count("login_succeeded").await;
    // A failover to a standby, or an operator fencing the old primary: new sessions are
    // read-only (SQLSTATE 25006 on the first write).
    drill
        .alter_database("SET default_transaction_read_only = on")
        .await;
    drill.terminate_backends().await;
    let revoke = drill.revoke().await;
    assert!(
        revoke.is_unavailable(),
        "a write on a read-only database: {revoke:?}"
    );
    // Reads are still served, and the login's audit event cannot be written.
    assert_eq!(drill.profile().await.status, 200);
    assert_eq!(drill.login().await.status, 200);
    assert_eq!(drill.audit_count("login_succeeded").await, logins_before);

    // Writable again, and this time nobody terminates the read-only sessions opened meanwhile:
    // the server has to retire them itself.
    drill
        .alter_database("RESET default_transaction_read_only")
        .await;
    eventually(
        RECOVERY,
        "a write once the database is writable",
        async || {
            let revoke = drill.revoke().await;
            assert_ne!(revoke.status, 500, "{revoke:?}");
            revoke.status == 200
        },
    )
    .await;
    // The audit trail's own connection is retired too.
    eventually(RECOVERY, "the audit trail written again", async || {
        assert_eq!(drill.login().await.status, 200);
        drill.audit_count("login_succeeded").await > logins_before
    })
    .await;
    drill.assert_recovers("a read-only database").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_database_gives_503_and_a_recreated_one_is_served_once_migrated() {
    let drill = Drill::start().await;
    // SQLSTATE 57P01 on the terminated sessions, then 3D000: the database does not exist.
    admin_sql(&format!("DROP DATABASE {} WITH (FORCE)", drill.name)).await;
    drill
        .assert_all_unavailable("while the database is gone")
        .await;

    // SQLSTATE 42P01 until the schema is back: an empty database serves nothing either.
    admin_sql(&format!("CREATE DATABASE {}", drill.name)).await;
    drill
        .assert_all_unavailable("before the schema is migrated")
        .await;

    let migrated = tollgate::app::open_store(&drill.app.settings)
        .await
        .expect("the schema migrates");
    migrated.close().await;
    // The new database is empty: what was provisioned before is gone, and nothing the server
    // cached about it may still pass.
    eventually(RECOVERY, "the re-created database served", async || {
        let answers = drill.answers().await;
        for (path, answer) in &answers {
            assert_ne!(answer.status, 500, "{path} after re-creation: {answer:?}");
        }
        let statuses: Vec<u16> = answers.iter().map(|(_, a)| a.status).collect();
        statuses == [200, 401, 401, 401]
    })
    .await;
    drill
        .app
        .create_customer("ada", "correct horse battery")
        .await;
    assert_eq!(drill.login().await.status, 200);
}
