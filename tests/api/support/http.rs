//! Reading and writing HTTP the way a partner would: form bodies, Basic credentials, error
//! bodies, headers, and the shape of JSON answers.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Response;
use serde_json::Value;

/// An HTTP Basic header, with id and secret form-encoded first as RFC 6749 §2.3.1 requires.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_component(s);
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

fn form_component(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_component(k), form_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Sends `req` and reads the answer's body as JSON, whatever its status.
pub async fn send_json(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// The status and JSON body of an error answer, after checking it is JSON with an error code.
pub async fn error_of(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ct.starts_with("application/json"),
        "status {status}: content-type {ct:?}"
    );
    let body: Value = res.json().await.expect("a JSON error body");
    assert!(body["error"].is_string(), "no error code in {body}");
    (status, body)
}

pub fn header_of(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// The member names of a JSON object, to compare with [`set`]: an answer or a token carries
/// exactly these fields, nothing more.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs every future on a task of its own, all at once, and returns their outputs in order:
/// requests that really overlap.
pub async fn futures_join<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
