//! Issuing and verifying the two kinds of JWT tollgate signs: RFC 9068 access tokens for
//! clients, and customer tokens whose subject is the opaque customer id.

use std::sync::{Arc, RwLock};

use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};

use crate::security::KeyError;
use crate::security::keys::{self, Alg, KeySet, MasterKey, TokenType};
use crate::store::Store;
use crate::types::{ClientId, CustomerId, ScopeSet};

/// Why a token was refused: a short fixed text, safe to show the client (RFC 6750 §3
/// `error_description`).
pub type Rejection = &'static str;

/// Clock skew tolerated when checking `exp`, in seconds.
const LEEWAY_SECS: i64 = 30;

/// RFC 9068 §2.2 claims.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub scope: String,
}

/// A customer token carries who, for how long, and nothing personal.
#[derive(Debug, Serialize, Deserialize)]
pub struct CustomerClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

pub struct Issued {
    pub token: String,
    pub jti: String,
    pub expires_in: u64,
    pub issued_at_millis: i64,
}

/// A verified access token, reduced to what resource checks need.
#[derive(Debug)]
pub struct AccessGrant {
    pub client_id: String,
    pub scope: ScopeSet,
    pub jti: String,
}

/// How long a new key is published before it signs: longer than the JWKS `max-age` (300 s),
/// so no resource server meets a `kid` its cached JWKS lacks.
pub const DEFAULT_PUBLISH_AHEAD: i64 = 600;

pub struct TokenService {
    key_store: Option<(MasterKey, Alg)>,
    keys: RwLock<Arc<KeySet>>,
    issuer: String,
    default_audience: String,
    customer_audience: String,
    /// Audience of anonymous-visitor tokens (issue 4): distinct, so such a token can never
    /// pass as a customer token, nor a customer token as an anonymous one.
    anonymous_audience: String,
    access_ttl: u64,
    customer_ttl: u64,
}

impl TokenService {
    pub fn new(
        keys: KeySet,
        issuer: String,
        default_audience: String,
        access_ttl: u64,
        customer_ttl: u64,
    ) -> Self {
        Self {
            keys: RwLock::new(Arc::new(keys)),
            customer_audience: format!("{issuer}/customer"),
            anonymous_audience: format!("{issuer}/anonymous"),
            issuer,
            default_audience,
            access_ttl,
            customer_ttl,
            key_store: None,
        }
    }

    /// Lets `reload` and `rotate_if_due` read and add keys in the database.
    pub fn with_key_store(mut self, master: MasterKey, alg: Alg) -> Self {
        self.key_store = Some((master, alg));
        self
    }

    /// Rebuilds the key set from the database (after a rotation anywhere).
    pub async fn reload(&self, store: &Store, now: i64) -> Result<(), KeyError> {
        if let Some((master, alg)) = &self.key_store {
            self.replace_keys(keys::load_or_create(store, master, *alg, now).await?);
        }
        Ok(())
    }

    /// Scheduled rotation: when the newest key is `every_secs` old, add the next one. Two
    /// instances may try at once; the database lets one succeed.
    pub async fn rotate_if_due(
        &self,
        store: &Store,
        every_secs: i64,
        now: i64,
    ) -> Result<Option<keys::Rotation>, KeyError> {
        let Some((master, alg)) = &self.key_store else {
            return Ok(None);
        };
        if every_secs <= 0 || now - self.keys().newest_created_at() < every_secs {
            return Ok(None);
        }
        let max_ttl = ttl_i64(self.access_ttl.max(self.customer_ttl));
        let rotation =
            keys::rotate(store, master, *alg, DEFAULT_PUBLISH_AHEAD, max_ttl, now).await?;
        self.reload(store, now).await?;
        Ok(rotation)
    }

    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace_keys(&self, keys: KeySet) {
        let mut guard = match self.keys.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(keys);
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn default_audience(&self) -> &str {
        &self.default_audience
    }

    pub fn issue_access_token(
        &self,
        client_id: &ClientId,
        audience: Option<&str>,
        scope: &ScopeSet,
        now_millis: i64,
    ) -> Result<Issued, KeyError> {
        let iat = now_millis.div_euclid(1000);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: client_id.to_string(),
            client_id: client_id.to_string(),
            aud: audience.unwrap_or(&self.default_audience).to_owned(),
            iat,
            exp: iat + ttl_i64(self.access_ttl),
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scope.to_string(),
        };
        let token = self
            .keys()
            .active(iat)?
            .sign_jwt(TokenType::Access, &claims)?;
        Ok(Issued {
            token,
            jti: claims.jti,
            expires_in: self.access_ttl,
            issued_at_millis: now_millis,
        })
    }

    pub fn issue_customer_token(
        &self,
        customer: &CustomerId,
        now_millis: i64,
    ) -> Result<Issued, KeyError> {
        let aud = &self.customer_audience;
        self.issue_plain(customer.as_str(), aud, self.customer_ttl, now_millis)
    }

    /// A signed, stable id for an anonymous widget visitor, kept in an HttpOnly cookie.
    pub fn issue_anonymous_token(
        &self,
        visitor_id: &str,
        ttl: u64,
        now_millis: i64,
    ) -> Result<Issued, KeyError> {
        self.issue_plain(visitor_id, &self.anonymous_audience, ttl, now_millis)
    }

    /// A `typ: JWT` token for `sub`; its own audience keeps it from passing as any other kind.
    fn issue_plain(
        &self,
        sub: &str,
        aud: &str,
        ttl: u64,
        now_millis: i64,
    ) -> Result<Issued, KeyError> {
        let iat = now_millis.div_euclid(1000);
        let claims = CustomerClaims {
            iss: self.issuer.clone(),
            sub: sub.to_owned(),
            aud: aud.to_owned(),
            iat,
            exp: iat + ttl_i64(ttl),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = self
            .keys()
            .active(iat)?
            .sign_jwt(TokenType::Plain, &claims)?;
        Ok(Issued {
            token,
            jti: claims.jti,
            expires_in: ttl,
            issued_at_millis: now_millis,
        })
    }

    pub fn verify_anonymous_token(&self, token: &str, now_secs: i64) -> Result<String, Rejection> {
        let claims: CustomerClaims = self.verify(
            token,
            TokenType::Plain,
            Some(&self.anonymous_audience),
            now_secs,
        )?;
        uuid::Uuid::try_parse(&claims.sub)
            .map(|id| id.hyphenated().to_string())
            .map_err(|_| "the visitor cookie is malformed")
    }

    /// RFC 9068 §4 validation of an access token meant for this server's own APIs.
    pub fn verify_access_token(
        &self,
        token: &str,
        now_secs: i64,
    ) -> Result<AccessGrant, Rejection> {
        let claims: AccessClaims = self.verify(
            token,
            TokenType::Access,
            Some(&self.default_audience),
            now_secs,
        )?;
        let scope = ScopeSet::parse(&claims.scope).map_err(|_| "the token's scope is malformed")?;
        Ok(AccessGrant {
            client_id: claims.client_id,
            scope,
            jti: claims.jti,
        })
    }

    /// An access token of ours for any audience: for introspection and revocation, which
    /// answer about every token this server issued.
    pub fn inspect_access_token(
        &self,
        token: &str,
        now_secs: i64,
    ) -> Result<AccessClaims, Rejection> {
        self.verify(token, TokenType::Access, None, now_secs)
    }

    pub fn verify_customer_token(
        &self,
        token: &str,
        now_secs: i64,
    ) -> Result<CustomerId, Rejection> {
        let claims: CustomerClaims = self.verify(
            token,
            TokenType::Plain,
            Some(&self.customer_audience),
            now_secs,
        )?;
        CustomerId::parse(&claims.sub).map_err(|_| "the token's subject is malformed")
    }

    fn verify<C>(
        &self,
        token: &str,
        typ: TokenType,
        audience: Option<&str>,
        now_secs: i64,
    ) -> Result<C, Rejection>
    where
        C: serde::de::DeserializeOwned + HasExpiry,
    {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "the token is malformed")?;
        // RFC 9068 §4: the resource server MUST check `typ` is at+jwt; conversely a customer
        // token endpoint must refuse an access token, so each side insists on its own type.
        let typ_ok = match typ {
            TokenType::Access => header.typ.as_deref().is_some_and(|t| {
                t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
            }),
            TokenType::Plain => header
                .typ
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case("JWT")),
        };
        if !typ_ok {
            return Err("the token is not of the expected type");
        }
        let kid = header.kid.ok_or("the token names no key")?;
        let keys = self.keys();
        let vk = keys
            .verifying_key(&kid, now_secs)
            .ok_or("the token is signed by an unknown key")?;
        // The algorithm comes from our key, never from the token header (RFC 8725 §3.1): a
        // header saying "none" or "HS256" for an EC key is refused by this check.
        if header.alg != vk.alg {
            return Err("the token's algorithm does not match its key");
        }
        let mut validation = Validation::new(vk.alg);
        validation.set_issuer(&[&self.issuer]);
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
        // Expiry is checked below against our clock, not the library's.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<C>(token, &vk.key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => "the token's signature is invalid",
                ErrorKind::InvalidAudience => "the token is not meant for this audience",
                ErrorKind::InvalidIssuer => "the token was issued by someone else",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is malformed",
            }
        })?;
        if data.claims.exp() + LEEWAY_SECS <= now_secs {
            return Err("the token has expired");
        }
        Ok(data.claims)
    }
}

pub trait HasExpiry {
    fn exp(&self) -> i64;
}

impl HasExpiry for AccessClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

impl HasExpiry for CustomerClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

fn ttl_i64(ttl: u64) -> i64 {
    i64::try_from(ttl).unwrap_or(i64::MAX / 2)
}
