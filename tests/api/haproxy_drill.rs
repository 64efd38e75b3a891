//! The quota drill, deployed the way production is (issue 13): two `tollgate serve` processes
//! behind a real HAProxy (Debian's package; `.ci/run` installs it), sharing one PostgreSQL
//! database and one Redis. A partner's quota holds over both instances together.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is stopped however the test ends, with its stderr read as it comes (a
/// full pipe would stall it).
struct Process {
    name: &'static str,
    child: Child,
    logs: Option<std::thread::JoinHandle<String>>,
}

impl Process {
    fn spawn(name: &'static str, mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut stderr = child.stderr.take().unwrap();
        let logs = std::thread::spawn(move || {
            let mut logs = String::new();
            let _ = stderr.read_to_string(&mut logs);
            logs
        });
        Self {
            name,
            child,
            logs: Some(logs),
        }
    }

    /// SIGTERM, then the exit status and what it logged.
    fn stop(&mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        let logs = self
            .logs
            .take()
            .map(|l| l.join().unwrap())
            .unwrap_or_default();
        (status, logs)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.logs.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn haproxy_binary() -> String {
    for candidate in ["/usr/sbin/haproxy", "/usr/bin/haproxy"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.to_owned();
        }
    }
    panic!("HAProxy is not installed: `apt-get install haproxy` (.ci/run does it when missing)");
}

/// HAProxy in front of `servers`, balancing each request round-robin and naming the instance
/// that answered in `X-Served-By`.
fn haproxy_config(port: u16, servers: &[u16]) -> String {
    let mut cfg = format!(
        "global\n  maxconn 512\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n\
         frontend partners\n  bind 127.0.0.1:{port}\n  default_backend tollgate\n\
         backend tollgate\n  balance roundrobin\n  option httpchk GET /healthz\n\
         \x20 http-response set-header X-Served-By %[srv_name]\n"
    );
    for (i, server_port) in servers.iter().enumerate() {
        cfg.push_str(&format!(
            "  server tollgate{i} 127.0.0.1:{server_port} check inter 200ms\n"
        ));
    }
    cfg
}

async fn wait_for(url: &str, what: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "{what} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits out the last minute of a UTC day: the drill's daily quota window must not end while
/// it runs.
async fn clear_of_a_day_boundary() {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let left = 86_400 - secs % 86_400;
    if left < 60 {
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_holds_over_two_instances_behind_haproxy() {
    tollgate::widgets::axp::install_crypto_provider();
    let haproxy = haproxy_binary();
    let db = TestDb::create(Backend::Postgres).await;
    let prefix = format!("tollgate-drill-{}", uuid::Uuid::new_v4().simple());
    const QUOTA: usize = 40;
    const REQUESTS: usize = 100;

    // Provisioned before the instances start, as an admin's migration would.
    let created = tollgate_json(
        &db,
        &[
            "client",
            "create",
            "--id",
            "partner",
            "--scope",
            "a",
            "--quota",
            &format!("{QUOTA}/d"),
        ],
        None,
    );
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let bystander = tollgate_json(
        &db,
        &["client", "create", "--id", "bystander", "--scope", "a"],
        None,
    )["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let ports = [free_port(), free_port()];
    let mut instances: Vec<Process> = ports
        .iter()
        .map(|port| {
            let mut cmd = tollgate_command(&db.url, &["serve"]);
            cmd.env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
                .env("TOLLGATE_REDIS_URL", REDIS_URL)
                .env("TOLLGATE_REDIS_PREFIX", &prefix);
            Process::spawn("tollgate", cmd)
        })
        .collect();
    for port in ports {
        wait_for(&format!("http://127.0.0.1:{port}/healthz"), "tollgate").await;
    }
    let lb_port = free_port();
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_config(lb_port, &ports)).unwrap();
    let mut cmd = Command::new(&haproxy);
    // -db: stay in the foreground, so the test owns the process.
    cmd.arg("-db").arg("-f").arg(&cfg);
    let mut lb = Process::spawn("haproxy", cmd);
    let base = format!("http://127.0.0.1:{lb_port}");
    wait_for(&format!("{base}/healthz"), "HAProxy").await;

    let http = reqwest::Client::new();
    let token = |id: &'static str, secret: String| {
        let req = http
            .post(format!("{base}/access_token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        async move {
            let res = req.send().await.unwrap();
            let served_by = header_of(&res, "x-served-by").unwrap_or_default();
            (res.status().as_u16(), served_by)
        }
    };
    // Both instances in rotation before the count starts (health checks every 200 ms).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "HAProxy never used both instances"
        );
        let (status, by) = token("bystander", bystander.clone()).await;
        assert_eq!(status, 200);
        seen.insert(by);
    }

    clear_of_a_day_boundary().await;
    // In waves of 10 concurrent requests: HAProxy spreads them over both instances.
    let mut answers = Vec::new();
    for _ in 0..REQUESTS / 10 {
        let wave = (0..10).map(|_| tokio::spawn(token("partner", secret.clone())));
        for handle in wave.collect::<Vec<_>>() {
            answers.push(handle.await.unwrap());
        }
    }
    let count = |status: u16, by: Option<&str>| {
        answers
            .iter()
            .filter(|(s, b)| *s == status && by.is_none_or(|by| by == b))
            .count()
    };
    let two_hundreds = count(200, None);
    let per_instance = [count(200, Some("tollgate0")), count(200, Some("tollgate1"))];
    assert_eq!(
        two_hundreds, QUOTA,
        "the quota over both instances together: {answers:?}"
    );
    assert_eq!(count(429, None), REQUESTS - QUOTA, "{answers:?}");
    assert_eq!(per_instance.iter().sum::<usize>(), two_hundreds);
    assert!(
        per_instance.iter().all(|n| *n > 0),
        "both instances issued tokens: {per_instance:?}"
    );
    // The bystander is untouched through either instance.
    for _ in 0..4 {
        assert_eq!(token("bystander", bystander.clone()).await.0, 200);
    }

    // HAProxy answers SIGTERM with a hard stop (exit 143): nothing to check there.
    lb.stop();
    for instance in &mut instances {
        let (status, logs) = instance.stop();
        assert!(
            status.success(),
            "{} exited {status:?}: {logs}",
            instance.name
        );
    }

    // Both instances stopped on SIGTERM, flushing their usage counters: the usage table, as
    // `tollgate usage` prints it, accounts for exactly the tokens the partner received.
    let out = run_tollgate(
        &db,
        &["usage", "--client", "partner", "--since", "1h"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let used: i64 = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["tokens"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(
        used,
        i64::try_from(two_hundreds).unwrap(),
        "usage table against the 200s"
    );
    let _ = std::fs::remove_dir_all(dir);
}
