//! The README's cross-origin login in a real browser (issue 9): a page on another origin than
//! tollgate logs a customer in with `fetch(…, {credentials: 'include'})` and a JSON body (so it
//! is preflighted), reads the answer, keeps the session cookie, and fetches a widget token with
//! it. Headless Debian `chromium`, driven by `tests/browser/login_cors.mjs` (playwright-core).
//!
//! Every host is `localhost`, each on a port of its own: one site, distinct origins, as
//! `www.example.com` and `auth.example.com` are; and Chromium takes http://localhost as
//! potentially trustworthy, so it keeps the `Secure` session cookie over plain HTTP.
//!
//! SQLite only: what is tested is the browser's side of CORS, which no store changes, and one
//! Chromium at a time is load enough for the suite's two cores.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{PASSWORD, with_widget};
use crate::support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The node script has its own 60 s deadline; this one is for a node that does not end.
const LIMIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_logs_in_reads_the_answer_and_keeps_the_session() {
    let browser_dir = browser_dir();
    let page = serve_page(&browser_dir).await;
    let unlisted = serve_page(&browser_dir).await;
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.login_allowed_origins = Some(vec![page.clone()]);
        with_widget(s, "web", &[&page]);
    })
    .await;
    let customer = app.create_customer("ada", PASSWORD).await;
    // The browser reaches tollgate by name, as the page's origin names it.
    let tollgate = app.address.replace("127.0.0.1", "localhost");

    let started = Instant::now();
    let report = run_browser(
        &browser_dir,
        &serde_json::json!({
            "tollgate": tollgate, "page": page, "unlistedPage": unlisted,
            "username": "ada", "password": PASSWORD, "widget": "web",
        }),
    )
    .await;
    eprintln!("browser scenario took {:?}", started.elapsed());

    // The JSON login was preflighted, the preflight passed, and the page read the token.
    let login = &report["login"];
    assert_eq!(
        login["rejected"], false,
        "the page's fetch rejected: {report:#}"
    );
    assert_eq!(login["status"], 200, "{report:#}");
    let jwt = login["body"]["JWT"].as_str().expect("a JWT in the body");
    let preflights = report["preflights"].as_array().unwrap();
    let login_preflight = |origin: &str| {
        preflights
            .iter()
            .find(|p| {
                p["origin"] == origin
                    && p["url"]
                        .as_str()
                        .unwrap()
                        .contains("/customer_authenticate")
            })
            .unwrap_or_else(|| panic!("no preflight from {origin}: {report:#}"))
    };
    assert_eq!(login_preflight(&page)["status"], 200, "{report:#}");

    // The session cookie is kept by the browser, and out of the page's reach.
    let cookies = report["cookies"].as_array().unwrap();
    let session = cookies
        .iter()
        .find(|c| c["name"] == "tollgate_session")
        .unwrap_or_else(|| panic!("no session cookie: {report:#}"));
    assert_eq!(session["value"], jwt);
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["secure"], true);
    assert_eq!(session["sameSite"], "Lax");
    let document_cookie = report["documentCookie"].as_str().unwrap();
    assert!(
        !document_cookie.contains("tollgate_session"),
        "{document_cookie}"
    );

    // The next step of the widget flow: the cookie alone gets the page a widget token.
    let widget = &report["widget"];
    assert_eq!(
        (&widget["rejected"], &widget["status"]),
        (&false.into(), &200.into()),
        "{report:#}"
    );
    let token = widget["body"]["token"].as_str().expect("a widget token");
    assert_eq!(
        claims(token)["identifier"],
        customer.as_str(),
        "not anonymous"
    );

    // A wrong password is an answer the page can read, not a network error.
    let wrong = &report["wrongPassword"];
    assert_eq!(wrong["rejected"], false, "{report:#}");
    assert_eq!(wrong["status"], 401, "{report:#}");
    assert_eq!(wrong["body"]["error"], "invalid_credentials", "{report:#}");

    // An origin tollgate does not list: the preflight is refused, the fetch rejects, and the
    // login itself is never sent.
    let other = &report["unlisted"];
    assert_eq!(other["rejected"], true, "{report:#}");
    assert_ne!(login_preflight(&unlisted)["status"], 200, "{report:#}");
}

/// `tests/browser/`, after checking that what the test needs is installed: a missing piece
/// fails the test with the command that installs it, never skips it.
pub(crate) fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "the browser test needs node: apt-get install -y nodejs npm"
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs {CHROMIUM}: apt-get update && apt-get install -y chromium"
    );
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "the browser test needs playwright-core: npm ci --prefix tests/browser \
         (never `npx playwright install`: the test uses Debian's chromium)"
    );
    dir
}

/// Serves `login_page.html` to every GET on a port of its own; returns the page's origin.
async fn serve_page(browser_dir: &Path) -> String {
    serve_file(&browser_dir.join("login_page.html")).await
}

/// Serves the HTML file `path` to every GET on a port of its own; returns the page's origin.
pub(crate) async fn serve_file(path: &Path) -> String {
    let html = std::fs::read(path).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        html.len()
    )
    .into_bytes();
    response.extend_from_slice(&html);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                // The request matters not; read its head, then answer and close.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    origin
}

/// Runs `login_cors.mjs` with `params` and returns the JSON report it printed.
async fn run_browser(browser_dir: &Path, params: &Value) -> Value {
    run_script(browser_dir, "login_cors.mjs", params).await
}

/// Runs the node script `script` of `tests/browser/` with `params`; the JSON it printed.
pub(crate) async fn run_script(browser_dir: &Path, script: &str, params: &Value) -> Value {
    let child = Command::new("node")
        .arg(browser_dir.join(script))
        .arg(params.to_string())
        .current_dir(browser_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let pid = child.id();
    let waited = tokio::time::timeout(
        LIMIT,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let Ok(output) = waited else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("{script} did not finish within {LIMIT:?}");
    };
    let output = output.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}"))
}
