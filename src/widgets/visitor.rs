//! Who the widget visitor is: a logged-in customer (customer JWT as bearer token or session
//! cookie) or an anonymous visitor (a random id in a signed cookie). A credential that is
//! present but does not verify is refused, never taken as "anonymous".

use crate::domain::{Authority, Error};
use crate::security::tokens::Issued;
use crate::store::Profile;
use crate::types::CustomerId;
use crate::wire::bearer::bearer_token;

/// How long an anonymous visitor keeps the same id; the cookie is renewed on every use.
pub const ANONYMOUS_TTL_SECS: u64 = 30 * 24 * 3600;

pub enum Visitor {
    Customer(CustomerId, Profile),
    /// A random UUID, stable for one browser while its cookie lives.
    Anonymous(String),
}

impl Visitor {
    /// The opaque id vendors see: the customer id or the anonymous id, never personal data.
    pub fn id(&self) -> &str {
        match self {
            Self::Customer(id, _) => id.as_str(),
            Self::Anonymous(id) => id,
        }
    }

    pub fn profile(&self) -> Option<&Profile> {
        match self {
            Self::Customer(_, p) => Some(p),
            Self::Anonymous(_) => None,
        }
    }
}

/// The raw credentials of a widget request.
#[derive(Default)]
pub struct Credentials<'a> {
    pub authorization: Option<&'a str>,
    pub session_cookie: Option<String>,
    pub anonymous_cookie: Option<String>,
}

/// The visitor, and an anonymous cookie to (re)set when the visitor is anonymous.
pub async fn resolve(
    authority: &Authority,
    credentials: &Credentials<'_>,
    anonymous_allowed: bool,
    now_millis: i64,
) -> Result<(Visitor, Option<Issued>), Error> {
    let now_secs = now_millis.div_euclid(1000);
    let customer_token = match (
        credentials.authorization,
        credentials.session_cookie.as_deref(),
    ) {
        // An Authorization header wins; it must then be a valid bearer customer token.
        (Some(header), _) => Some(bearer_token(Some(header)).map_err(|_| {
            Error::InvalidCustomerToken("the Authorization header is not a bearer token")
        })?),
        (None, Some(cookie)) => Some(cookie),
        (None, None) => None,
    };
    if let Some(token) = customer_token {
        let id = authority
            .tokens
            .verify_customer_token(token, now_secs)
            .map_err(Error::InvalidCustomerToken)?;
        let profile = authority
            .store
            .profile(&id)
            .await?
            // A valid token for a customer deleted since: the session is no longer good.
            .ok_or(Error::InvalidCustomerToken("the customer no longer exists"))?;
        return Ok((Visitor::Customer(id, profile), None));
    }
    if !anonymous_allowed {
        return Err(Error::LoginRequired);
    }
    let id = match credentials.anonymous_cookie.as_deref() {
        Some(cookie) => authority
            .tokens
            .verify_anonymous_token(cookie, now_secs)
            .map_err(Error::InvalidCustomerToken)?,
        None => uuid::Uuid::new_v4().hyphenated().to_string(),
    };
    let cookie = authority
        .tokens
        .issue_anonymous_token(&id, ANONYMOUS_TTL_SECS, now_millis)?;
    Ok((Visitor::Anonymous(id), Some(cookie)))
}
