//! Google Contact Center AI Platform (web and mobile SDKs): `{"token": <JWT>}`, HS256 (or
//! HS384) with the company secret; claims `iss` (company name), `iat`, `exp`, `identifier`, and
//! for a logged-in customer `name`, `email`, `phone` (E.164). The platform asks that
//! `identifier` be a UUID-like value and never an email: it is the opaque id.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{Value, json};

use super::config::CcaiConfig;
use super::{Visitor, e164, hmac_alg, hmac_key, sign_hs};
use crate::domain::Error;

pub struct Ccai {
    company: String,
    ttl: i64,
    header: Header,
    key: EncodingKey,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
    identifier: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
}

impl Ccai {
    pub fn from_config(
        c: &CcaiConfig,
        ttl: i64,
        secrets: &HashMap<String, SecretString>,
    ) -> Result<Self, String> {
        if c.issuer.is_empty() {
            return Err("issuer (the company name) is required".into());
        }
        let alg = hmac_alg(c.alg.as_deref(), &[Algorithm::HS256, Algorithm::HS384])?;
        Ok(Self {
            company: c.issuer.clone(),
            ttl,
            // {"alg", "typ": "JWT"}: no kid, as the platform's samples sign.
            header: Header::new(alg),
            key: hmac_key(&c.secret_env, "secret_env", secrets)?,
        })
    }

    pub fn issue(&self, visitor: &Visitor, now_secs: i64) -> Result<Value, Error> {
        let profile = visitor.profile();
        let claims = Claims {
            iss: &self.company,
            iat: now_secs,
            exp: now_secs + self.ttl,
            identifier: visitor.id(),
            name: profile.and_then(|p| p.name.as_deref()),
            email: profile.and_then(|p| p.email.as_deref()),
            phone: profile.and_then(|p| e164(p.phone.as_deref())),
        };
        Ok(json!({ "token": sign_hs(&self.header, &claims, &self.key)? }))
    }
}
