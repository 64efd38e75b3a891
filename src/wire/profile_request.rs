//! The `/getprofile` request: a bearer token, an API key and exactly one way of naming the
//! customer (`customer-auth: JWT …`, JSON `customer_token` / `customer_id`, or `X-Customer-Id`).

use serde::Deserialize;
use utoipa::ToSchema;

use crate::types::CustomerId;
use crate::wire::Error;
use crate::wire::bearer::{PresentedToken, access_token};
use crate::wire::form::media_type_is;

/// How the caller names the customer.
pub enum CustomerRef {
    /// A customer token from `/customer_authenticate`.
    Token(String),
    Id(CustomerId),
}

/// The raw parts of the request the guard needs.
pub struct RawProfileRequest<'a> {
    pub authorization: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub customer_auth: Option<&'a str>,
    pub customer_id_header: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// One way to name the customer (the headers are the others); exactly one must be used.
#[derive(ToSchema, Deserialize, Default)]
pub struct ProfileBody {
    /// A customer token from /customer_authenticate.
    #[schema(min_length = 1)]
    pub customer_token: Option<String>,
    /// The opaque customer id.
    #[schema(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub customer_id: Option<String>,
}

/// Never fails by itself: each part keeps its own failure, reported in the order the guard
/// checks, so a request without a token gets 401 whatever else is wrong with it.
pub struct ProfileRequest {
    /// The access token, as bearer or DPoP-bound (RFC 9449 §7.1).
    pub token: Result<PresentedToken, Error>,
    pub api_key: Option<String>,
    pub customer: Result<CustomerRef, Error>,
}

impl ProfileRequest {
    pub fn parse(raw: &RawProfileRequest<'_>) -> Self {
        Self {
            token: access_token(raw.authorization),
            api_key: raw.api_key.map(str::to_owned),
            customer: customer_ref(raw),
        }
    }
}

fn customer_ref(raw: &RawProfileRequest<'_>) -> Result<CustomerRef, Error> {
    let body: ProfileBody = if raw.body.iter().all(u8::is_ascii_whitespace) {
        ProfileBody::default()
    } else if media_type_is(raw.content_type, "application/json") {
        serde_json::from_slice(raw.body)
            .map_err(|_| Error::invalid_request("the body must be a JSON object"))?
    } else {
        return Err(Error::invalid_request("the body must be application/json"));
    };
    let header_token = match raw.customer_auth {
        Some(h) => {
            let (scheme, token) = h.trim().split_once(' ').unwrap_or(("", ""));
            if !scheme.eq_ignore_ascii_case("jwt") || token.trim().is_empty() {
                return Err(Error::invalid_request(
                    "customer-auth must be `JWT <customer token>`",
                ));
            }
            Some(token.trim().to_owned())
        }
        None => None,
    };
    let mut named = [
        header_token.map(CustomerRef::Token),
        body.customer_token.map(CustomerRef::Token),
        body.customer_id.map(|id| parse_id(&id)).transpose()?,
        raw.customer_id_header.map(parse_id).transpose()?,
    ]
    .into_iter()
    .flatten();
    match (named.next(), named.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(Error::invalid_request(
            "name the customer: customer-auth header, customer_token, customer_id or X-Customer-Id",
        )),
        (Some(_), Some(_)) => Err(Error::invalid_request("name the customer only once")),
    }
}

fn parse_id(raw: &str) -> Result<CustomerRef, Error> {
    CustomerId::parse(raw.trim())
        .map(CustomerRef::Id)
        .map_err(Error::invalid_request)
}
