//! `getprofile`: a partner, holding an API key and an access token with `profile:read`, reads
//! the profile of a customer it names by customer token or opaque id.

use crate::domain::usage::Credential;
use serde_json::{Map, Value, json};

use crate::domain::client_auth::client_is_active;
use crate::domain::revocation::is_revoked;
use crate::domain::{Authority, Error, dpop, mtls};
use crate::security::hashing::bind;
use crate::store::ApiKeyRecord;
use crate::types::ApiKey;
use crate::wire::client_cert::ClientCertificate;
use crate::wire::dpop::DpopRequest;
use crate::wire::profile_request::{CustomerRef, ProfileRequest};

pub const REQUIRED_SCOPE: &str = "profile:read";
pub const API_NAME: &str = "getprofile";

pub async fn get_profile(
    auth: &Authority,
    req: ProfileRequest,
    dpop_req: &DpopRequest,
    cert: &ClientCertificate,
    now_secs: i64,
) -> Result<Map<String, Value>, Error> {
    // Cheap checks first: a request without a valid token never reaches argon2.
    let presented = req.token?;
    let grant = auth
        .tokens
        .verify_access_token(&presented.token, now_secs)
        .map_err(Error::InvalidToken)?;
    // RFC 9449 §7.1: a DPoP-bound token only with a proof of its key.
    dpop::check_binding(auth, &presented, grant.cnf.as_ref(), dpop_req, now_secs).await?;
    // RFC 8705 §3: a certificate-bound token only over a connection with that certificate.
    mtls::check_binding(grant.cnf.as_ref(), cert)?;
    if is_revoked(auth, &grant.jti).await? {
        return Err(Error::InvalidToken("the token has been revoked"));
    }
    if !client_is_active(auth, &grant.client_id).await? {
        return Err(Error::InvalidToken("the token's client is disabled"));
    }
    if !grant.scope.contains(REQUIRED_SCOPE) {
        return Err(Error::InsufficientScope(REQUIRED_SCOPE));
    }
    check_api_key(auth, req.api_key.as_deref(), API_NAME, now_secs).await?;
    let customer_id = match req.customer? {
        CustomerRef::Id(id) => id,
        CustomerRef::Token(t) => auth
            .tokens
            .verify_customer_token(&t, now_secs)
            .map_err(Error::InvalidCustomerToken)?,
    };
    let profile = auth
        .store
        .profile(&customer_id)
        .await?
        .ok_or(Error::UnknownCustomer)?;
    let mut out = profile.attributes;
    // The core fields win over any attribute of the same name.
    out.insert("customer_id".into(), json!(profile.customer_id.as_str()));
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
                auth.usage
                    .used(Credential::ApiKey, key.prefix(), now_secs * 1000);
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
    auth.usage
        .used(Credential::ApiKey, key.prefix(), now_secs * 1000);
    allowed(&record, api)
}

fn allowed(record: &ApiKeyRecord, api: &'static str) -> Result<(), Error> {
    if record.apis.iter().any(|a| a == api) {
        Ok(())
    } else {
        Err(Error::ApiKeyNotAllowed(api))
    }
}

#[cfg(test)]
mod tests {
    use crate::security::keys::{Alg, KeySet};
    use crate::security::tokens::TokenService;

    proptest::proptest! {
        #[test]
        fn jwt_verification_never_panics_and_never_passes(token in "[A-Za-z0-9._~+/=-]{0,300}") {
            let tokens = TokenService::new(KeySet::ephemeral(Alg::Es256).unwrap(), "i".into(), "a".into(), 60, 60);
            proptest::prop_assert!(tokens.verify_access_token(&token, 0).is_err());
            proptest::prop_assert!(tokens.verify_customer_token(&token, 0).is_err());
        }
    }
}
