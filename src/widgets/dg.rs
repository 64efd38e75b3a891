//! DigitalGenius chat widget: `{"token": <JWT>}`, header `{"alg": "HS256", "typ": "JWT",
//! "kid": <DG API key>}`, signed with the DG API secret; claims `scope: "user"`,
//! `external_id` (the opaque customer id), `iat`, `exp`. Logged-in customers only.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Value, json};

use super::config::DgConfig;
use super::{Visitor, hmac_key, named_secret, sign_hs};
use crate::domain::Error;

pub struct Dg {
    ttl: i64,
    header: Header,
    key: EncodingKey,
}

#[derive(Serialize)]
struct Claims<'a> {
    scope: &'static str,
    external_id: &'a str,
    iat: i64,
    exp: i64,
}

impl Dg {
    pub fn from_config(
        c: &DgConfig,
        ttl: i64,
        secrets: &HashMap<String, SecretString>,
    ) -> Result<Self, String> {
        if c.alg.as_deref().is_some_and(|a| a != "HS256") {
            return Err("dg tokens are HS256 only".into());
        }
        let api_key = named_secret(&c.api_key_env, "api_key_env", secrets)?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(api_key.expose_secret().to_owned());
        Ok(Self {
            ttl,
            header,
            key: hmac_key(&c.secret_env, "secret_env", secrets)?,
        })
    }

    pub fn issue(&self, visitor: &Visitor, now_secs: i64) -> Result<Value, Error> {
        let Visitor::Customer(id, _) = visitor else {
            return Err(Error::LoginRequired);
        };
        let claims = Claims {
            scope: "user",
            external_id: id.as_str(),
            iat: now_secs,
            exp: now_secs + self.ttl,
        };
        Ok(json!({ "token": sign_hs(&self.header, &claims, &self.key)? }))
    }
}
