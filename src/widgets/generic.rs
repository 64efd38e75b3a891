//! A claim template, enough for Zendesk-messaging-style tokens (`kid`, `scope: "user"`,
//! `external_id`, `name`, `email`) without code: static claims, customer fields mapped to
//! claim names, and either an HMAC secret or the server's own (published) signing key.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::config::GenericConfig;
use super::{Visitor, e164, hmac_alg, hmac_key, sign_hs};
use crate::domain::{Authority, Error};
use crate::security::keys::TokenType;

/// Customer fields a claim may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// The opaque customer id (or, when anonymous visitors are allowed, the anonymous id).
    Id,
    Name,
    Email,
    Phone,
}

// One per profile, built once: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Signer {
    Hmac(Header, EncodingKey),
    /// The server's active key, verifiable through the JWKS.
    Server,
}

pub struct Generic {
    issuer: Option<String>,
    audience: Option<String>,
    ttl: i64,
    signer: Signer,
    static_claims: Map<String, Value>,
    mapped: Vec<(String, Field)>,
    allow_anonymous: bool,
}

/// The registered claims (RFC 7519 §4.1): tollgate sets them from typed keys (`issuer`,
/// `audience`) or computes them (`iat`, `exp`), never copies them from a template. A template
/// that could set `sub`, `aud` or `nbf` on a token signed with the server's key could mint
/// something that looks like one of tollgate's own tokens. Of these, only `sub` may carry a
/// customer field (vendors name the user by it).
const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];
const MAPPABLE: [&str; 1] = ["sub"];

impl Generic {
    pub fn from_config(
        c: &GenericConfig,
        ttl: i64,
        secrets: &HashMap<String, SecretString>,
    ) -> Result<Self, String> {
        let signer = if c.alg.as_deref() == Some("server") {
            if c.kid.is_some() || c.secret_env.is_some() {
                return Err("alg = \"server\" takes neither kid nor secret_env".into());
            }
            Signer::Server
        } else {
            let alg = hmac_alg(
                c.alg.as_deref(),
                &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
            )?;
            let mut header = Header::new(alg);
            header.kid.clone_from(&c.kid);
            let secret_env = c
                .secret_env
                .as_deref()
                .ok_or("secret_env must name an environment variable")?;
            Signer::Hmac(header, hmac_key(secret_env, "secret_env", secrets)?)
        };
        let mut mapped = Vec::new();
        for (claim, field) in &c.customer_claims {
            let field = match field.as_str() {
                "id" => Field::Id,
                "name" => Field::Name,
                "email" => Field::Email,
                "phone" => Field::Phone,
                other => {
                    return Err(format!(
                        "customer_claims.{claim}: unknown field {other:?} (id, name, email, phone)"
                    ));
                }
            };
            mapped.push((claim.clone(), field));
        }
        if !mapped.iter().any(|(_, f)| *f == Field::Id) {
            return Err("customer_claims must map some claim to \"id\"".into());
        }
        let clash = c
            .claims
            .keys()
            .map(String::as_str)
            .find(|k| REGISTERED.contains(k));
        if let Some(k) = clash {
            return Err(format!(
                "claims.{k}: {k:?} is a registered claim tollgate sets itself \
                 (use issuer/audience for iss/aud)"
            ));
        }
        let clash = c
            .customer_claims
            .keys()
            .map(String::as_str)
            .find(|k| REGISTERED.contains(k) && !MAPPABLE.contains(k));
        if let Some(k) = clash {
            return Err(format!(
                "customer_claims.{k}: {k:?} is a registered claim tollgate sets itself"
            ));
        }
        if let Some(k) = c.claims.keys().find(|k| c.customer_claims.contains_key(*k)) {
            return Err(format!("the claim {k:?} is both static and mapped"));
        }
        Ok(Self {
            issuer: c.issuer.clone(),
            audience: c.audience.clone(),
            ttl,
            signer,
            static_claims: c.claims.clone(),
            mapped,
            allow_anonymous: c.allow_anonymous.unwrap_or(false),
        })
    }

    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    pub fn uses_server_key(&self) -> bool {
        matches!(self.signer, Signer::Server)
    }

    pub fn allows_anonymous(&self) -> bool {
        self.allow_anonymous
    }

    pub fn issue(
        &self,
        authority: &Authority,
        visitor: &Visitor,
        now_secs: i64,
    ) -> Result<Value, Error> {
        let mut claims = self.static_claims.clone();
        if let Some(iss) = &self.issuer {
            claims.insert("iss".into(), json!(iss));
        }
        if let Some(aud) = &self.audience {
            claims.insert("aud".into(), json!(aud));
        }
        claims.insert("iat".into(), json!(now_secs));
        claims.insert("exp".into(), json!(now_secs + self.ttl));
        let profile = visitor.profile();
        for (claim, field) in &self.mapped {
            let value = match field {
                Field::Id => Some(visitor.id()),
                Field::Name => profile.and_then(|p| p.name.as_deref()),
                Field::Email => profile.and_then(|p| p.email.as_deref()),
                Field::Phone => profile.and_then(|p| e164(p.phone.as_deref())),
            };
            if let Some(v) = value {
                claims.insert(claim.clone(), json!(v));
            }
        }
        let token = match &self.signer {
            Signer::Hmac(header, key) => sign_hs(header, &claims, key)?,
            Signer::Server => authority
                .tokens
                .keys()
                .active(now_secs)?
                .sign_jwt(TokenType::Widget, &claims)?,
        };
        Ok(json!({ "token": token }))
    }
}
