//! The built `tollgate` binary, run as an admin (or an init system) would run it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use secrecy::ExposeSecret;
use serde_json::Value;

use super::db::{TestDb, test_master_key};

/// `tollgate args…` in a clean environment that holds only the database URL, the test master
/// key (so the binary opens what the test servers seal), a spool directory of its own and
/// `RUST_LOG=warn`: nothing from the
/// developer's shell reaches it. A later `.env(…)` overrides any of these.
pub fn tollgate_command(database_url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("TOLLGATE_MASTER_KEY", test_master_key().expose_secret())
        .env("RUST_LOG", "warn")
        .env(
            "TOLLGATE_SPOOL_DIR",
            std::env::temp_dir()
                .join("tollgate-test-spools")
                .join(uuid::Uuid::new_v4().simple().to_string()),
        );
    cmd
}

/// Runs `tollgate args…` on `db` to its end, with `stdin` written to it (closed at once when
/// `None`), and returns its exit status and output.
pub fn run_tollgate(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = tollgate_command(&db.url, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tollgate");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// The JSON a command printed; fails, with its stderr, unless it exited 0.
pub fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `tollgate args…` on `db`, which must succeed, and the JSON it printed.
pub fn tollgate_json(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Value {
    json_of(&run_tollgate(db, args, stdin))
}

/// Creates customer `username` as an admin would, with the password on stdin; returns what the
/// binary printed.
pub fn create_customer_by_cli(db: &TestDb, username: &str, password: &str) -> Value {
    let args = [
        "customer",
        "create",
        "--username",
        username,
        "--password-stdin",
    ];
    tollgate_json(db, &args, Some(password))
}
