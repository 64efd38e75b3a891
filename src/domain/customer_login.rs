//! Customer login: username and password for a short-lived customer token whose subject is the
//! opaque customer id.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::form::{Form, media_type_is};
use crate::domain::hashing::bind;
use crate::domain::limits::Keys;
use crate::domain::tokens::Issued;
use crate::domain::types::CustomerId;
use crate::domain::{Authority, Error};

const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 1024;

pub struct LoginRequest {
    username: String,
    password: SecretString,
}

#[derive(Deserialize)]
struct JsonLogin {
    username: Option<String>,
    password: Option<String>,
}

/// Usernames compare case-insensitively: they are stored and looked up lower-cased and trimmed.
pub fn normalize_username(raw: &str) -> String {
    raw.trim().to_lowercase()
}

impl LoginRequest {
    /// Accepts a form or a JSON object with `username` and `password`.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, Error> {
        let (username, password) =
            if media_type_is(content_type, "application/x-www-form-urlencoded") {
                let mut form = Form::parse(body).map_err(Error::InvalidRequest)?;
                (form.take("username"), form.take("password"))
            } else if media_type_is(content_type, "application/json") {
                let json: JsonLogin = serde_json::from_slice(body).map_err(|_| {
                    Error::invalid_request(
                        "the body is not a JSON object with username and password",
                    )
                })?;
                (json.username, json.password)
            } else {
                return Err(Error::invalid_request(
                    "the body must be application/x-www-form-urlencoded or application/json",
                ));
            };
        let username = username
            .map(|u| normalize_username(&u))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Error::invalid_request("username is required"))?;
        let password = password
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::invalid_request("password is required"))?;
        if username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
            return Err(Error::invalid_request("username or password is too long"));
        }
        Ok(Self {
            username,
            password: SecretString::from(password),
        })
    }
}

/// One answer, in one time, for an unknown user and a wrong password: an unknown user is
/// verified against the dummy hash.
pub async fn login(
    auth: &Authority,
    req: LoginRequest,
    caller: &Caller,
    now_millis: i64,
) -> Result<Issued, Error> {
    let now_secs = now_millis.div_euclid(1000);
    let keys = Keys::user(&req.username, caller.source.as_deref());
    if let Some(retry_after) = auth.limits.blocked(&keys, now_secs).await {
        return Err(Error::TooManyRequests(retry_after));
    }
    let found = auth.store.customer_login(&req.username).await?;
    let (phc, context) = match &found {
        Some(c) => (Some(c.password_hash.clone()), c.customer_id.as_str()),
        None => (None, ""),
    };
    let ok = auth
        .hasher
        .verify(phc, bind(context, req.password.expose_secret()))
        .await?;
    let customer = match found {
        Some(c) if ok => c,
        other => {
            // The username is personal data: the trail keeps the customer id when there is one.
            let mut event = AuditEvent::new(AuditKind::LoginFailed, caller, now_millis);
            if let Some(c) = other {
                event = event.customer(&c.customer_id);
            }
            auth.audit.record(event);
            let failures = auth.limits.failed(&keys, now_secs).await;
            tokio::time::sleep(auth.limits.login_delay(failures)).await;
            return Err(Error::InvalidCredentials);
        }
    };
    auth.audit.record(
        AuditEvent::new(AuditKind::LoginSucceeded, caller, now_millis)
            .customer(&customer.customer_id),
    );
    let id = CustomerId::parse(&customer.customer_id)
        .map_err(|_| Error::Internal("a stored customer id is malformed".into()))?;
    auth.tokens.issue_customer_token(&id, now_millis)
}
