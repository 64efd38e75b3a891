//! The customer login request (`/customer_authenticate`): a form or a JSON object with
//! `username` and `password`, and the `?session=` choice.

use std::str::FromStr;

use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::types::Username;
use crate::wire::Error;
use crate::wire::form::{Form, media_type_is};

const MAX_PASSWORD: usize = 1024;

/// The login fields, as a form or a JSON object. Other members and parameters are ignored.
#[derive(ToSchema, Deserialize, Default)]
pub struct LoginForm {
    /// `types::Username`'s policy: printable ASCII without spaces (around it, spaces are
    /// trimmed), at most 256 characters.
    #[schema(
        min_length = 1,
        pattern = r"^[\t\n\r ]*[\x21-\x7E]{1,256}[\t\n\r ]*$",
        required = true,
        nullable = false
    )]
    pub username: Option<String>,
    #[schema(min_length = 1, max_length = 1024, required = true, nullable = false)]
    pub password: Option<String>,
}

pub struct LoginRequest {
    pub username: Username,
    pub password: SecretString,
}

impl LoginRequest {
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, Error> {
        let fields = if media_type_is(content_type, "application/x-www-form-urlencoded") {
            let mut form = Form::parse(body).map_err(Error::InvalidRequest)?;
            LoginForm {
                username: form.take("username"),
                password: form.take("password"),
            }
        } else if media_type_is(content_type, "application/json") {
            serde_json::from_slice(body).map_err(|_| {
                Error::invalid_request("the body is not a JSON object with username and password")
            })?
        } else {
            return Err(Error::invalid_request(
                "the body must be application/x-www-form-urlencoded or application/json",
            ));
        };
        let username = fields
            .username
            .ok_or_else(|| Error::invalid_request("username is required"))?;
        let username = Username::parse(&username).map_err(Error::invalid_request)?;
        let password = fields
            .password
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::invalid_request("password is required"))?;
        // Counted in characters, as the schema's maxLength is.
        if password.chars().count() > MAX_PASSWORD {
            return Err(Error::invalid_request("username or password is too long"));
        }
        Ok(Self {
            username,
            password: SecretString::from(password),
        })
    }
}

/// `?session=`: whether `/customer_authenticate` also sets the session cookie; also the
/// server-wide default (`TOLLGATE_CUSTOMER_SESSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    None,
    Cookie,
}

impl FromStr for SessionMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "cookie" => Ok(Self::Cookie),
            other => Err(format!("expected none or cookie, got {other:?}")),
        }
    }
}

/// The `session` query parameter, or `default` when the request does not say.
pub fn session_mode(query: &str, default: SessionMode) -> Result<SessionMode, Error> {
    let form = Form::parse(query.as_bytes()).map_err(Error::InvalidRequest)?;
    match form.get("session") {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| Error::invalid_request("session must be cookie or none")),
    }
}
