//! `getprofile`: a partner, holding an API key and an access token with `profile:read`, reads
//! the profile of a customer it names by customer token or opaque id.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::domain::form::media_type_is;
use crate::domain::hashing::bind;
use crate::domain::revocation::is_revoked;
use crate::domain::types::{ApiKey, CustomerId};
use crate::domain::{Authority, Error};
use crate::store::ApiKeyRecord;

pub const REQUIRED_SCOPE: &str = "profile:read";
pub const API_NAME: &str = "getprofile";

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

pub struct ProfileRequest {
    bearer: Result<String, Error>,
    api_key: Option<String>,
    customer: Result<CustomerRef, Error>,
}

#[derive(Deserialize, Default)]
struct ProfileBody {
    customer_token: Option<String>,
    customer_id: Option<String>,
}

impl ProfileRequest {
    /// Never fails by itself: failures are kept and reported in the order the guard checks,
    /// so a request without a token gets 401 whatever else is wrong with it.
    pub fn parse(raw: &RawProfileRequest<'_>) -> Self {
        Self {
            bearer: bearer_token(raw.authorization).map(str::to_owned),
            api_key: raw.api_key.map(str::to_owned),
            customer: customer_ref(raw),
        }
    }
}

/// RFC 6750 §2.1: `Authorization: Bearer <b64token>`; the scheme is case-insensitive.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, Error> {
    let header = authorization.ok_or(Error::MissingToken)?;
    let (scheme, token) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // §3.1: a request without bearer credentials gets a challenge without an error code.
        return Err(Error::MissingToken);
    }
    let token = token.trim();
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !ok {
        return Err(Error::InvalidToken("the bearer token is malformed"));
    }
    Ok(token)
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

pub async fn get_profile(
    auth: &Authority,
    req: ProfileRequest,
    now_secs: i64,
) -> Result<Map<String, Value>, Error> {
    // Cheap checks first: a request without a valid token never reaches argon2.
    let grant = auth.tokens.verify_access_token(&req.bearer?, now_secs)?;
    if is_revoked(auth, &grant.jti).await? {
        return Err(Error::InvalidToken("the token has been revoked"));
    }
    if !grant.scope.contains(REQUIRED_SCOPE) {
        return Err(Error::InsufficientScope(REQUIRED_SCOPE));
    }
    check_api_key(auth, req.api_key.as_deref(), API_NAME, now_secs).await?;
    let customer_id = match req.customer? {
        CustomerRef::Id(id) => id,
        CustomerRef::Token(t) => auth.tokens.verify_customer_token(&t, now_secs)?,
    };
    let profile = auth
        .store
        .profile(customer_id.as_str())
        .await?
        .ok_or(Error::UnknownCustomer)?;
    let mut out = match serde_json::from_str::<Value>(&profile.attributes) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    // The core fields win over any attribute of the same name.
    out.insert("customer_id".into(), json!(profile.customer_id));
    out.insert("name".into(), json!(profile.name));
    out.insert("email".into(), json!(profile.email));
    out.insert("phone".into(), json!(profile.phone));
    Ok(out)
}

/// An API key must exist, be unrevoked, match its hash and be allowed to call `api`. Unknown
/// and revoked keys are verified against the dummy hash, so all failures take one time.
pub async fn check_api_key(
    auth: &Authority,
    presented: Option<&str>,
    api: &'static str,
    now_secs: i64,
) -> Result<(), Error> {
    let raw = presented.ok_or(Error::MissingApiKey)?;
    let key = ApiKey::parse(raw.trim()).map_err(|_| Error::InvalidApiKey)?;
    let cached = |auth: &Authority| {
        auth.api_keys.check(
            &auth.freshness,
            key.prefix(),
            key.secret().as_bytes(),
            now_secs,
        )
    };
    let record = match cached(auth) {
        Some(record) => record,
        None => {
            let _flight = auth
                .api_keys
                .single_flight(key.prefix(), auth.hasher.max_wait())
                .await?;
            if let Some(record) = cached(auth) {
                return allowed(&record, api);
            }
            let epoch = auth.freshness.epoch();
            let record = auth
                .store
                .api_key(key.prefix())
                .await?
                .filter(|r| !r.revoked);
            let phc = record.as_ref().map(|r| r.key_hash.clone());
            let ok = auth
                .hasher
                .verify(phc, bind(key.prefix(), key.secret()))
                .await?;
            match record {
                Some(r) if ok => {
                    let (prefix, secret) = (key.prefix(), key.secret().as_bytes());
                    auth.api_keys
                        .remember(&auth.freshness, epoch, prefix, secret, r.clone(), None);
                    r
                }
                _ => return Err(Error::InvalidApiKey),
            }
        }
    };
    allowed(&record, api)
}

fn allowed(record: &ApiKeyRecord, api: &'static str) -> Result<(), Error> {
    if record.apis.split(' ').any(|a| a == api) {
        Ok(())
    } else {
        Err(Error::ApiKeyNotAllowed(api))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keys::{Alg, KeySet};
    use crate::domain::tokens::TokenService;

    proptest::proptest! {
        #[test]
        fn bearer_and_jwt_parsing_never_panic(header in proptest::option::of("\\PC{0,300}"), token in "[A-Za-z0-9._~+/=-]{0,300}") {
            let _ = bearer_token(header.as_deref());
            let tokens = TokenService::new(KeySet::ephemeral(Alg::Es256).unwrap(), "i".into(), "a".into(), 60, 60);
            proptest::prop_assert!(tokens.verify_access_token(&token, 0).is_err());
            proptest::prop_assert!(tokens.verify_customer_token(&token, 0).is_err());
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_syntax_checked() {
        assert_eq!(bearer_token(Some("bearer abc.def")).unwrap(), "abc.def");
        assert!(matches!(
            bearer_token(Some("Bearer a b")),
            Err(Error::InvalidToken(_))
        ));
        assert!(matches!(
            bearer_token(Some("Basic abc")),
            Err(Error::MissingToken)
        ));
        assert!(matches!(bearer_token(None), Err(Error::MissingToken)));
    }
}
